// face-api.js's face recognition net (a ResNet-34-style network derived from dlib's face descriptor):
// 150x150 RGB face chip in, 128-d descriptor out, Euclidean distance ~0.6 separating people (face-api's
// convention). Weights: the TF.js manifest of npm @vladmandic/face-api (models/faceapi/). Runs on oneDNN
// and reproduces face-api's forward pass: mean-RGB subtraction and /256, conv+scale layers (the
// per-channel scale folded into the convolution), residual and down-sampling blocks with their
// zero-padded shortcuts, global average, fully connected. The descriptor is returned as face-api
// returns it (not re-normalised).
#pragma once

#include <filesystem>
#include <memory>

#include "face/embedder.h"
#include "nn/precision.h"

namespace facepipe::models {

class FaceApiResNet : public face::Embedder {
 public:
  // `manifest`: face_recognition_model-weights_manifest.json (its .bin beside it).
  // `precision`: what the convolutions compute in (nn/precision.h); the id does not change with it.
  // int8 takes its input ranges from the calibration for these weights (nn::find_calibration, which
  // throws Error(kInvalidInput) saying how to make one when there is none).
  static std::unique_ptr<FaceApiResNet> load(const std::filesystem::path& manifest,
                                             nn::Precision precision = nn::Precision::kF32);
  // The size of the weight shards `manifest` lists: what a calibration table is keyed by.
  static uint64_t weights_bytes(const std::filesystem::path& manifest);
  ~FaceApiResNet() override;

  std::string id() const override { return "faceapi-resnet34/aligned150"; }
  int dim() const override { return 128; }
  face::CropSpec crop_spec() const override { return {face::CropSpec::Method::kAligned, 150, 0}; }
  // 150x150 uint8 RGB chips -> descriptors, as one batch.
  std::vector<face::Embedding> embed(const std::vector<cv::Mat>& crops) override;

 private:
  struct Net;
  explicit FaceApiResNet(std::unique_ptr<Net> net);
  std::unique_ptr<Net> net_;
};

}  // namespace facepipe::models
