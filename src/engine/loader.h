// Builds the face engine's parts from the models directory: the detector and the embedder a deployment
// uses. Everything that runs the engine (service stages, CLI, Lambda, benchmarks) loads it here, so the
// choice of model and preprocessing lives in one place. Model file names: models.manifest (CMake
// generates engine/model_files.h from it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "face/detector.h"
#include "face/embedder.h"
#include "nn/precision.h"

namespace facepipe::engine {

enum class EmbedderKind {
  kAuto,        // kIrv1 when the VGGFace2 weights are present, else kFaceApi
  kIrv1,        // InceptionResnetV1, VGGFace2 weights (facenet-pytorch), 512-d
  kIrv1Random,  // InceptionResnetV1 with random weights: parity tests only
  kFaceApi,     // face-api.js / dlib ResNet-34, 128-d, aligned crops
};

// "auto", "irv1", "irv1-random", "faceapi" (the CLI's --embedder). Throws Error(kInvalidInput) naming
// the choices for anything else.
EmbedderKind parse_embedder_kind(const std::string& name);
std::string to_string(EmbedderKind kind);

struct EngineOptions {
  std::string models_dir;  // empty = facepipe::models_dir() resolution (flag/env/../shared/models)
  EmbedderKind embedder = EmbedderKind::kAuto;
  int irv1_crop_size = 240;  // the course feeds 240x240 crops straight into InceptionResnetV1
  // What the embedder's convolutions compute in (--precision; fp32 is PyTorch's arithmetic, README
  // "Precision" has what bf16 costs and gains). Checked against the CPU when the engine is made.
  nn::Precision precision = nn::Precision::kF32;
  // What MTCNN's convolutions compute in (--detector-precision). fp32 keeps facenet-pytorch's boxes to the
  // pixel (the golden parity tests); bf16's detection parity is measured in README "Precision".
  nn::Precision detector_precision = nn::Precision::kF32;
};

// Options that rebuild the embedder which produced `embedder_id` (e.g. a gallery's), everything else
// taken from `base`. Throws Error(kInvalidInput) for an id no known embedder produces.
EngineOptions options_for_embedder_id(const std::string& embedder_id, EngineOptions base);

// Throw Error(kNotFound) naming the missing model file and how to get it (scripts/models.sh), and
// make_embedder Error(kInvalidInput) for a precision this CPU has no units for (nn::require_supported).
std::unique_ptr<face::Detector> make_detector(const EngineOptions& options);
std::unique_ptr<face::Embedder> make_embedder(const EngineOptions& options);
// The size of the weight file(s) of the embedder `options` selects: what its int8 calibration table is
// keyed by (nn/calibration.h). Throws Error(kNotFound) as make_embedder does.
uint64_t embedder_weights_bytes(const EngineOptions& options);

}  // namespace facepipe::engine
