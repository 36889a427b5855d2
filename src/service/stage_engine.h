// The engine parts one stage of the service needs (detector, embedder, gallery, threshold), built so
// that the crops the detection stage cuts and the gallery the recognition stage matches against come
// from the same embedder: the gallery names its embedder and the engine is rebuilt from that id.
// `serve`, `worker` and the Lambda functions all load their engine here.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"

namespace facepipe::service {

struct StageEngineOptions {
  std::string models_dir;          // empty: facepipe::models_dir() resolution
  std::string gallery_path;        // empty: no gallery (a detection-only stage without --gallery)
  std::string embedder = "auto";   // when no gallery names one
  std::optional<float> threshold;  // empty: the embedder's calibrated default
  bool need_detector = true;
  bool need_gallery = true;
  bool read_only_gallery = false;  // Lambda images are read-only
  // A missing gallery is created (for `embedder`) and an empty one accepted: people are then added through
  // the API (serve). Otherwise both are errors that say to enrol first.
  bool allow_empty_gallery = false;
};

struct StageEngine {
  std::unique_ptr<gallery::Gallery> gallery;  // null when neither needed nor given
  std::unique_ptr<face::Detector> detector;   // null unless need_detector
  std::unique_ptr<face::Embedder> embedder;   // always (detection needs its crop spec)
  float threshold = 0;
};

// Throws Error(kNotFound) for a missing gallery or model file, Error(kInvalidInput) for an empty gallery.
StageEngine load_stage_engine(const StageEngineOptions& options);

}  // namespace facepipe::service
