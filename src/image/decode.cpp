#include "image/decode.h"

#include <vector>

#include "image/codec.h"

#include "core/error.h"
#include "core/file.h"

namespace facepipe::image {
namespace {

uint32_t be16(const unsigned char* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const unsigned char* p) { return be16(p) << 16 | be16(p + 2); }

// JPEG: walk the marker segments from SOI to the first start-of-frame, which declares the size.
ImageInfo probe_jpeg(const unsigned char* p, size_t n) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (p[i] != 0xFF) throw Error(ErrorKind::kInvalidInput, "corrupt JPEG: bad marker in the header");
    const unsigned char marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      i += 2;
      continue;
    }
    const size_t len = be16(p + i + 2);
    if (len < 2) throw Error(ErrorKind::kInvalidInput, "corrupt JPEG: bad segment length");
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > n) break;
      return {ImageInfo::Format::kJpeg, static_cast<int>(be16(p + i + 7)), static_cast<int>(be16(p + i + 5))};
    }
    if (marker == 0xDA) break;  // start of scan before any frame header
    i += 2 + len;
  }
  throw Error(ErrorKind::kInvalidInput, "corrupt or truncated JPEG: no frame header");
}

}  // namespace

ImageInfo probe(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n == 0) throw Error(ErrorKind::kInvalidInput, "empty image");
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return probe_jpeg(p, n);
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::equal(kPng, kPng + 8, p)) {
    if (n < 24 || std::string_view(bytes.data() + 12, 4) != "IHDR")
      throw Error(ErrorKind::kInvalidInput, "corrupt or truncated PNG: no IHDR header");
    return {ImageInfo::Format::kPng, static_cast<int>(be32(p + 16)), static_cast<int>(be32(p + 20))};
  }
  throw Error(ErrorKind::kInvalidInput, "not a JPEG or PNG image (" + std::to_string(n) + " bytes)");
}

void check_limits(const ImageInfo& info, const DecodeLimits& limits) {
  if (info.width <= 0 || info.height <= 0)
    throw Error(ErrorKind::kInvalidInput, "image declares a zero size");
  if (info.width > limits.max_side || info.height > limits.max_side ||
      int64_t(info.width) * info.height > limits.max_pixels)
    throw Error(ErrorKind::kTooLarge, "image declares " + std::to_string(info.width) + "x" +
                                          std::to_string(info.height) + " pixels, above the limit of " +
                                          std::to_string(limits.max_pixels) + "; send a smaller frame");
}

cv::Mat decode(std::string_view bytes, const DecodeLimits& limits) {
  const ImageInfo info = probe(bytes);
  check_limits(info, limits);
  // Truncation: a complete JPEG ends with EOI (FF D9), possibly followed by padding some encoders
  // append; a complete PNG ends with its IEND chunk.
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (info.format == ImageInfo::Format::kJpeg) {
    size_t end = n;
    while (end > 2 && n - end < 4096 && p[end - 1] == 0) --end;
    if (end < 4 || p[end - 2] != 0xFF || p[end - 1] != 0xD9)
      throw Error(ErrorKind::kInvalidInput, "truncated JPEG (no end-of-image marker)");
  } else if (n < 12 || std::string_view(bytes.data() + n - 8, 4) != "IEND") {
    throw Error(ErrorKind::kInvalidInput, "truncated PNG (no IEND chunk)");
  }
  if (info.format == ImageInfo::Format::kPng) return decode_png(bytes);
  return apply_orientation(decode_jpeg(bytes), exif_orientation(bytes));
}

cv::Mat load_rgb(const std::filesystem::path& path, const DecodeLimits& limits) {
  const std::string bytes = read_file(path, "image");
  try {
    return decode(bytes, limits);
  } catch (const Error& e) {
    throw Error(e.kind(), "'" + path.string() + "': " + e.what());
  }
}

}  // namespace facepipe::image
