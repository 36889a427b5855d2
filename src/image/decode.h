// Image decoding: JPEG and PNG bytes -> RGB pixels (image/codec.h), with the checks a service facing
// untrusted input needs. The declared size is read from the header and refused above a limit before
// anything is decoded (a decompression bomb must not allocate gigabytes), and a truncated file is
// refused rather than decoded into a half-grey picture (libjpeg only warns).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include <opencv2/core.hpp>

namespace facepipe::image {

struct DecodeLimits {
  int64_t max_pixels = 40'000'000;  // 40 MP: far above any camera frame, far below a bomb
  int max_side = 16'384;
};

// CV_8UC3 in RGB order, a JPEG's EXIF orientation applied (as cameras and browsers show it).
// Error(kInvalidInput) for empty, unknown-format, corrupt or truncated data; Error(kTooLarge) when the
// header declares more than `limits` allows.
cv::Mat decode(std::string_view bytes, const DecodeLimits& limits = {});

// decode() of a file's contents; Error(kNotFound) when it cannot be read.
cv::Mat load_rgb(const std::filesystem::path& path, const DecodeLimits& limits = {});

struct ImageInfo {
  enum class Format { kJpeg, kPng } format;
  int width = 0, height = 0;
};
// Format and declared size from the header alone. Error(kInvalidInput) when neither JPEG nor PNG.
ImageInfo probe(std::string_view bytes);
// Error(kInvalidInput) for a zero size, Error(kTooLarge) when `info` exceeds `limits` (what decode() checks
// before allocating; callers that budget memory by pixels check it before queueing the work).
void check_limits(const ImageInfo& info, const DecodeLimits& limits);

}  // namespace facepipe::image
