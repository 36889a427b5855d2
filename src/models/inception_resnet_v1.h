// facenet-pytorch's InceptionResnetV1 (the VGGFace2 / CASIA-Webface layout), inference only, on oneDNN.
// Loaded from a torch.save state dict (its `logits.*` classifier is skipped); gives L2-normalised
// 512-d embeddings for any input size (240x240 as the course feeds MTCNN's crops, or 160x160).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "face/embedder.h"
#include "nn/precision.h"

namespace facepipe::models {

class InceptionResnetV1 : public face::Embedder {
 public:
  // `weights`: a state dict file such as inception_resnet_v1/20180402-114759-vggface2.pt.
  // `input_size`: 240 feeds the 240x240 crop straight in (the course's pipeline); 160 first shrinks it
  // with area interpolation (torch's interpolate(mode='area')), as a 160-input deployment would.
  // `precision`: what the convolutions compute in (nn/precision.h; the caller checks the CPU has it).
  // The id does not change with it: bf16 and int8 embeddings match a gallery enrolled in fp32 (README
  // "Precision"). int8 takes its input ranges from the calibration for this weight file
  // (nn::find_calibration, which throws Error(kInvalidInput) saying how to make one when there is none).
  static std::unique_ptr<InceptionResnetV1> load(const std::filesystem::path& weights, int input_size = 240,
                                                 nn::Precision precision = nn::Precision::kF32);
  ~InceptionResnetV1() override;

  // "irv1-<weights stem>/box240" or "irv1-<weights stem>/box240-area160"; the stem of the official
  // file is shortened to "vggface2".
  std::string id() const override;
  int dim() const override { return 512; }
  // MTCNN-style box crop, 240x240, no margin (image_size=240, margin=0).
  face::CropSpec crop_spec() const override { return {face::CropSpec::Method::kBox, 240, 0}; }
  // uint8 RGB crops -> standardised (x - 127.5) / 128 -> (area resize) -> one batch.
  std::vector<face::Embedding> embed(const std::vector<cv::Mat>& crops) override;

  // Lower level: `n` standardised crops, 3 x size x size float each, contiguous. Runs them as one batch
  // at `size` exactly (no resizing) and returns n x 512 floats.
  std::vector<float> forward(const float* nchw, int n, int size);

 private:
  struct Net;
  InceptionResnetV1(std::unique_ptr<Net> net, std::string stem, int input_size);
  std::unique_ptr<Net> net_;
  std::string stem_;
  int input_size_;
};

// (x - 127.5) / 128 of a uint8 RGB crop, as CHW floats (facenet-pytorch's fixed_image_standardization).
void standardize_chw(const cv::Mat& rgb, float* out);

}  // namespace facepipe::models
