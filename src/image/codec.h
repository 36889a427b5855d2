// JPEG and PNG coding for RGB frames and face crops, on libjpeg-turbo (TurboJPEG API) and libpng, with
// the EXIF orientation read by libexif.
//
// Why not OpenCV's imgcodecs, which the project used first: Debian's build of it pulls in about 120
// shared libraries (GDAL, DICOM, OpenEXR ... formats no camera sends) whose loading cost ~150 ms at every
// process start, which every Lambda cold start and every CLI call paid. The pixels are the same: both
// decode JPEG with libjpeg-turbo's default (accurate integer IDCT, fancy upsampling), as Pillow does.
#pragma once

#include <string>
#include <string_view>

#include <opencv2/core.hpp>

namespace facepipe::image {

// CV_8UC3 RGB; CMYK and YCCK JPEGs are converted as Pillow converts them. Error(kInvalidInput) when the data
// cannot be decoded. No size checks: decode.h does them.
cv::Mat decode_jpeg(std::string_view bytes);
// Grey, palette and 16-bit images become 8-bit RGB; an alpha channel is dropped (as Pillow's convert('RGB')).
cv::Mat decode_png(std::string_view bytes);

// The EXIF Orientation tag (1-8) of a JPEG, 1 when there is none.
int exif_orientation(std::string_view jpeg);
// Turns `rgb` so that it displays upright for an EXIF orientation 1-8.
cv::Mat apply_orientation(const cv::Mat& rgb, int orientation);

// CV_8UC3 RGB -> file bytes.
std::string encode_jpeg(const cv::Mat& rgb, int quality = 90);
std::string encode_png(const cv::Mat& rgb);

}  // namespace facepipe::image
