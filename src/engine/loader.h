// Builds the face engine's parts from the models directory: the detector and the embedder a
// deployment uses. The service, the CLI and the Lambda handlers all construct them here, so the
// choice of model and preprocessing lives in one place.
#pragma once

#include <memory>
#include <string>

#include "face/detector.h"
#include "face/embedder.h"

namespace facepipe::face {

struct EngineOptions {
  std::string models_dir;         // empty = facepipe::models_dir() resolution (flag/env/../shared/models)
  std::string embedder = "auto";  // "irv1" (InceptionResnetV1 VGGFace2), "faceapi" (ResNet-34 128-d),
                                  // "irv1-random" (parity tests only), "auto" = irv1 when the VGGFace2
                                  // weights are present, else faceapi
  int irv1_crop_size = 240;       // the course feeds 240x240 crops straight into InceptionResnetV1
  bool keep_all = true;           // detector returns every face (callers pick the largest when needed)
};

// Options that rebuild the embedder which produced `embedder_id` (e.g. a gallery's), everything else
// taken from `base`. Throws Error(kInvalidInput) for an id no known embedder produces.
EngineOptions options_for_embedder_id(const std::string& embedder_id, EngineOptions base);

std::unique_ptr<Detector> make_detector(const EngineOptions& options);
std::unique_ptr<Embedder> make_embedder(const EngineOptions& options);

}  // namespace facepipe::face
