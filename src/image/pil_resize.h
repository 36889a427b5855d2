// Pillow's Image.resize(..., Image.BILINEAR) for 8-bit RGB, reproduced exactly: two separable passes
// (horizontal then vertical) with a triangle filter whose support grows with the shrink factor
// (antialiasing), fixed-point coefficients with 22 fractional bits, and rounding to 8 bits between the
// passes. facenet-pytorch cuts face crops from PIL images this way, so parity with its crops needs it.
// Hand-written because no library reproduces Pillow's filter bit for bit (OpenCV's INTER_LINEAR does not
// antialias, INTER_AREA uses another kernel).
#pragma once

#include <opencv2/core.hpp>

namespace facepipe::image {

// `src` CV_8UC3; returns a CV_8UC3 image of out_width x out_height. Same size -> a copy (as Pillow).
cv::Mat pil_resize_bilinear(const cv::Mat& src, int out_width, int out_height);

}  // namespace facepipe::image
