// JPEG/PNG decoding with the service's checks (declared size, truncation, EXIF orientation, CMYK).
#include <string_view>

#include "core/error.h"
#include "image/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  facepipe::image::DecodeLimits limits;
  limits.max_pixels = 4'000'000;  // what a sanitizer build can afford per input
  try {
    facepipe::image::decode(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  } catch (const facepipe::Error&) {
  }
  return 0;
}
