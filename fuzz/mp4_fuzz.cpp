// Clip demuxing and decoding from memory (libav through the custom I/O context), every frame delivered.
#include <string_view>

#include "core/error.h"
#include "video/clip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  facepipe::video::ClipLimits limits;
  limits.max_pixels = 1'000'000;
  limits.max_frames = 64;
  limits.max_decoded_pixels = 20'000'000;
  limits.max_delivered_pixels = 20'000'000;
  try {
    facepipe::video::decode_clip(
        std::string_view(reinterpret_cast<const char*>(data), size),
        facepipe::video::FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; }, limits);
  } catch (const facepipe::Error&) {
  }
  return 0;
}
