#include "image/codec.h"

#include <libexif/exif-data.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <memory>

#include "core/error.h"

namespace facepipe::image {
namespace {

struct TjCloser {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjCloser>;

// CMYK and YCCK JPEGs (print workflows, some scanners) -> RGB exactly as Pillow's
// Image.open().convert("RGB"): libjpeg hands out the stored CMYK (YCCK turned into CMYK); Pillow reads it as
// Adobe's inverted CMYK
// ("CMYK;I": ink = 255 - sample) and converts with r = (255 - k) - c * (255 - k) / 255, rounded as its
// MULDIV255 does. Written by hand: neither libjpeg nor OpenCV converts CMYK to RGB this way.
cv::Mat decode_cmyk_jpeg(void* tj, const unsigned char* data, unsigned long size, int width, int height) {
  cv::Mat cmyk(height, width, CV_8UC4);
  if (tjDecompress2(tj, data, size, cmyk.data, width, static_cast<int>(cmyk.step), height, TJPF_CMYK, 0) !=
          0 &&
      tjGetErrorCode(tj) == TJERR_FATAL)
    throw Error(ErrorKind::kInvalidInput, std::string("undecodable CMYK JPEG: ") + tjGetErrorStr2(tj));
  cv::Mat rgb(height, width, CV_8UC3);
  auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (int y = 0; y < height; ++y) {
    const unsigned char* in = cmyk.ptr<unsigned char>(y);
    unsigned char* out = rgb.ptr<unsigned char>(y);
    for (int x = 0; x < width; ++x, in += 4, out += 3) {
      const int nk = in[3];  // 255 - ink, the stored sample itself
      for (int c = 0; c < 3; ++c)
        out[c] = static_cast<unsigned char>(std::clamp(nk - muldiv255(255 - in[c], nk), 0, 255));
    }
  }
  return rgb;
}

}  // namespace

cv::Mat decode_jpeg(std::string_view bytes) {
  TjHandle tj(tjInitDecompress());
  if (!tj) throw Error(ErrorKind::kUnavailable, "cannot start the JPEG decoder");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), data, size, &width, &height, &subsampling, &colorspace) != 0)
    throw Error(ErrorKind::kInvalidInput, std::string("undecodable JPEG: ") + tjGetErrorStr2(tj.get()));
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    return decode_cmyk_jpeg(tj.get(), data, size, width, height);
  cv::Mat rgb(height, width, CV_8UC3);
  // Flags 0: accurate integer IDCT and fancy upsampling, libjpeg's defaults (what Pillow and OpenCV use).
  if (tjDecompress2(tj.get(), data, size, rgb.data, width, static_cast<int>(rgb.step), height, TJPF_RGB, 0) !=
          0 &&
      tjGetErrorCode(tj.get()) == TJERR_FATAL)
    throw Error(ErrorKind::kInvalidInput, std::string("undecodable JPEG: ") + tjGetErrorStr2(tj.get()));
  return rgb;
}

cv::Mat decode_png(std::string_view bytes) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) == 0)
    throw Error(ErrorKind::kInvalidInput, std::string("undecodable PNG: ") + image.message);
  // RGBA then drop the alpha: asking for RGB would composite onto black instead.
  image.format = PNG_FORMAT_RGBA;
  cv::Mat rgba(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC4);
  if (png_image_finish_read(&image, nullptr, rgba.data, static_cast<png_int_32>(rgba.step), nullptr) == 0) {
    const std::string why = image.message;
    png_image_free(&image);
    throw Error(ErrorKind::kInvalidInput, "undecodable PNG: " + why);
  }
  cv::Mat rgb(rgba.rows, rgba.cols, CV_8UC3);
  const int from_to[] = {0, 0, 1, 1, 2, 2};
  cv::mixChannels(&rgba, 1, &rgb, 1, from_to, 3);
  return rgb;
}

int exif_orientation(std::string_view jpeg) {
  ExifData* exif = exif_data_new_from_data(reinterpret_cast<const unsigned char*>(jpeg.data()),
                                           static_cast<unsigned>(jpeg.size()));
  if (exif == nullptr) return 1;
  int orientation = 1;
  if (ExifEntry* entry = exif_data_get_entry(exif, EXIF_TAG_ORIENTATION);
      entry != nullptr && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1)
    orientation = exif_get_short(entry->data, exif_data_get_byte_order(exif));
  exif_data_unref(exif);
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

cv::Mat apply_orientation(const cv::Mat& rgb, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2:
      cv::flip(rgb, out, 1);
      break;  // mirrored
    case 3:
      cv::rotate(rgb, out, cv::ROTATE_180);
      break;  // upside down
    case 4:
      cv::flip(rgb, out, 0);
      break;  // mirrored upside down
    case 5:
      cv::transpose(rgb, out);
      break;  // mirrored, 90 CCW
    case 6:
      cv::rotate(rgb, out, cv::ROTATE_90_CLOCKWISE);
      break;  // 90 CW
    case 7:
      cv::flip(rgb.t(), out, -1);
      break;  // mirrored, 90 CW
    case 8:
      cv::rotate(rgb, out, cv::ROTATE_90_COUNTERCLOCKWISE);
      break;  // 90 CCW
    default:
      out = rgb;
  }
  return out;
}

std::string encode_jpeg(const cv::Mat& rgb, int quality) {
  if (rgb.type() != CV_8UC3) throw Error(ErrorKind::kInternal, "encode_jpeg needs an 8-bit RGB image");
  TjHandle tj(tjInitCompress());
  if (!tj) throw Error(ErrorKind::kUnavailable, "cannot start the JPEG encoder");
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(tj.get(), rgb.data, rgb.cols, static_cast<int>(rgb.step), rgb.rows, TJPF_RGB, &buffer,
                  &size, TJSAMP_420, quality, 0) != 0) {
    tjFree(buffer);
    throw Error(ErrorKind::kInternal, std::string("cannot encode a JPEG: ") + tjGetErrorStr2(tj.get()));
  }
  std::string out(reinterpret_cast<const char*>(buffer), size);
  tjFree(buffer);
  return out;
}

std::string encode_png(const cv::Mat& rgb) {
  if (rgb.type() != CV_8UC3) throw Error(ErrorKind::kInternal, "encode_png needs an 8-bit RGB image");
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(rgb.cols);
  image.height = static_cast<png_uint_32>(rgb.rows);
  image.format = PNG_FORMAT_RGB;
  const auto stride = static_cast<png_int_32>(rgb.step);
  // One pass into a buffer of libpng's worst-case size: asking for the size first compressed every crop
  // twice (zlib was 10% of serve's CPU under load).
  png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
  std::string out(size, '\0');
  if (png_image_write_to_memory(&image, out.data(), &size, 0, rgb.data, stride, nullptr) == 0)
    throw Error(ErrorKind::kInternal, std::string("cannot encode a PNG: ") + image.message);
  out.resize(size);
  return out;
}

}  // namespace facepipe::image
