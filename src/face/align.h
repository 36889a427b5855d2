// Landmark alignment: a similarity transform (rotation, uniform scale, translation) that maps the five
// MTCNN landmarks onto a canonical face template, used by embedders whose CropSpec is kAligned
// (the face-api / dlib ResNet-34 descriptor).
#pragma once

#include <array>

#include <opencv2/core.hpp>

#include "face/types.h"

namespace facepipe::face {

// Warps `rgb` (CV_8UC3) into a size x size aligned face chip (CV_8UC3). Bilinear sampling; pixels
// outside the frame are black.
cv::Mat align_face(const cv::Mat& rgb, const std::array<Point, 5>& landmarks, int size);

}  // namespace facepipe::face
