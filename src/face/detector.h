// Face detection contract.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "face/types.h"

namespace facepipe::face {

class Detector {
 public:
  virtual ~Detector() = default;
  // Every face in `rgb` (CV_8UC3, RGB order), in the order the reference detector returns them.
  // An image without faces gives an empty vector. Thread-safe: one Detector may serve many threads.
  virtual std::vector<Detection> detect(const cv::Mat& rgb) = 0;
};

// Index of the face with the largest box area (facenet-pytorch `selection='largest'`), or -1 when empty.
int largest_face(const std::vector<Detection>& faces);

}  // namespace facepipe::face
