// MTCNN face detection with facenet-pytorch's semantics (models/mtcnn.py + utils/detect_face.py):
// the scale pyramid, PNet proposals, per-scale and cross-scale NMS, RNet refinement, ONet boxes and
// landmarks, box regression, square-up and clipping, all in float32 as the reference computes them,
// so boxes agree with it to the pixel. Faces come back largest first (its select_largest=True order).
#pragma once

#include <array>
#include <filesystem>
#include <memory>

#include "face/detector.h"
#include "models/mtcnn_nets.h"

namespace facepipe::engine {

struct MtcnnOptions {
  int min_face_size = 20;
  std::array<float, 3> thresholds = {0.6f, 0.7f, 0.7f};
  double factor = 0.709;
  // PNet's convolutions after its first stage, and RNet's and ONet's (models/mtcnn_nets.h).
  nn::Precision precision = nn::Precision::kF32;
};

class Mtcnn : public face::Detector {
 public:
  // Loads pnet.pt, rnet.pt and onet.pt from `mtcnn_dir`.
  Mtcnn(const std::filesystem::path& mtcnn_dir, MtcnnOptions options = {});
  std::vector<face::Detection> detect(const cv::Mat& rgb) override;

 private:
  std::unique_ptr<models::MtcnnNets> nets_;
  MtcnnOptions options_;
};

}  // namespace facepipe::engine
