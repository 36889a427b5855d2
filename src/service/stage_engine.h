// The engine parts a stage needs (detector, embedder, gallery, threshold), built so that the crops the
// detection stage cuts and the gallery the recognition stage matches against come from the same embedder:
// the gallery names its embedder and the engine is rebuilt from that id. Every front end loads its engine
// here (`serve`, `worker`, the Lambda functions, the CLI's detect/embed/enroll/recognize/eval/clip/bench),
// so there is one convention for the choice of embedder and for the threshold.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine/loader.h"
#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"

namespace facepipe::service {

struct StageEngineOptions {
  std::string models_dir;    // empty: facepipe::models_dir() resolution
  nn::Precision precision = nn::Precision::kF32;  // the embedder's (engine::EngineOptions::precision)
  nn::Precision detector_precision = nn::Precision::kF32;  // MTCNN's (EngineOptions::detector_precision)
  std::string gallery_path;  // empty: no gallery (a detection-only stage without --gallery)
  engine::EmbedderKind embedder = engine::EmbedderKind::kAuto;  // see `embedder_must_match`
  int irv1_crop_size = 240;                                     // when no gallery names the embedder
  std::optional<float> threshold;  // empty: the embedder's calibrated default; 0: always the nearest
  bool need_detector = true;
  bool need_embedder = true;       // false: detector only (`facepipe detect`)
  bool need_gallery = true;        // true: gallery_path must exist and hold somebody
  // A missing gallery_path is created for the embedder and an empty one accepted: people are then added
  // by enrolment or through the API (serve --gallery). Otherwise both are errors that say to enrol first.
  bool create_gallery = false;
  bool read_only_gallery = false;  // Lambda images are read-only
  // When the gallery names an embedder and `embedder` is not kAuto: false = the gallery's wins (a
  // service stage's --embedder only applies when no gallery names one); true = a different one is
  // refused with Error(kConflict) (the CLI's explicit --embedder).
  bool embedder_must_match = false;
};

struct StageEngine {
  std::unique_ptr<gallery::Gallery> gallery;  // null when neither needed nor given
  std::unique_ptr<face::Detector> detector;   // null unless need_detector
  std::unique_ptr<face::Embedder> embedder;   // unless !need_embedder (detection needs its crop spec)
  float threshold = 0;
};

// Throws Error(kNotFound) for a missing gallery or model file, Error(kInvalidInput) for an empty gallery,
// Error(kConflict) for an explicit embedder the gallery was not made with (embedder_must_match).
StageEngine load_stage_engine(const StageEngineOptions& options);

}  // namespace facepipe::service
