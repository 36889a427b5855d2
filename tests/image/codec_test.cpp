// Image coding on libjpeg-turbo / libpng / libexif: round trips, EXIF orientation, alpha handling, and
// refusal of damaged data. Pixel parity with Pillow on real camera JPEGs is checked by the MTCNN golden
// test (its crops are bit-exact with facenet-pytorch's, which decodes with Pillow).
#include "image/codec.h"

#include <png.h>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "image/decode.h"
#include "testutil/testutil.h"

namespace facepipe::image {
namespace {

cv::Mat gradient(int h, int w) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 255 / w, y * 255 / h, (x + y) % 256);
  return m;
}

TEST(Codec, PngRoundTripIsExactAndJpegIsClose) {
  const cv::Mat rgb = gradient(37, 53);
  const cv::Mat png = decode(encode_png(rgb));
  EXPECT_EQ(cv::norm(png, rgb, cv::NORM_INF), 0);
  const cv::Mat jpeg = decode(encode_jpeg(rgb, 95));
  ASSERT_EQ(jpeg.size(), rgb.size());
  EXPECT_GT(cv::PSNR(jpeg, rgb), 30);
}

TEST(Codec, RealFramesDecodeInRgbOrder) {
  const cv::Mat frame = load_rgb(facepipe::testing::datasets() / "video_frames/Obama/frame_001.jpg");
  EXPECT_EQ(frame.cols, 1920);
  EXPECT_EQ(frame.rows, 1080);
  // Re-encoding as PNG and decoding again gives the very same pixels.
  EXPECT_EQ(cv::norm(decode(encode_png(frame)), frame, cv::NORM_INF), 0);
}

// A JPEG with an APP1 Exif segment carrying only the Orientation tag.
std::string with_orientation(const std::string& jpeg, int orientation) {
  const unsigned char tiff[] = {'I',
                                'I',
                                42,
                                0,
                                8,
                                0,
                                0,
                                0,  // little-endian TIFF, IFD at 8
                                1,
                                0,  // one entry
                                0x12,
                                0x01,
                                3,
                                0,
                                1,
                                0,
                                0,
                                0,  // Orientation, SHORT, count 1
                                static_cast<unsigned char>(orientation),
                                0,
                                0,
                                0,  // its value
                                0,
                                0,
                                0,
                                0};  // no next IFD
  std::string app1 =
      std::string("Exif\0\0", 6) + std::string(reinterpret_cast<const char*>(tiff), sizeof tiff);
  const size_t len = app1.size() + 2;
  std::string segment = {static_cast<char>(0xFF), static_cast<char>(0xE1), static_cast<char>(len >> 8),
                         static_cast<char>(len & 0xFF)};
  return jpeg.substr(0, 2) + segment + app1 + jpeg.substr(2);
}

TEST(Codec, ExifOrientationIsApplied) {
  cv::Mat rgb(40, 60, CV_8UC3, cv::Scalar(0, 0, 0));
  rgb(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(255, 255, 255));  // a white square top-left
  const std::string plain = encode_jpeg(rgb, 95);
  EXPECT_EQ(exif_orientation(plain), 1);
  for (int o : {3, 6, 8}) {
    const std::string tagged = with_orientation(plain, o);
    ASSERT_EQ(exif_orientation(tagged), o);
    const cv::Mat shown = decode(tagged);
    // 6: the camera was turned 90 degrees clockwise to show it upright: the square goes top-right.
    const cv::Point expected = o == 3 ? cv::Point(55, 35) : o == 6 ? cv::Point(35, 5) : cv::Point(5, 55);
    EXPECT_EQ(shown.size(), o == 3 ? cv::Size(60, 40) : cv::Size(40, 60)) << o;
    EXPECT_GT(shown.at<cv::Vec3b>(expected)[0], 200) << "orientation " << o;
  }
}

TEST(Codec, PngAlphaIsDroppedNotComposited) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = 2;
  image.height = 1;
  image.format = PNG_FORMAT_RGBA;
  const unsigned char pixels[] = {200, 100, 50, 0, 10, 20, 30, 255};  // the first pixel fully transparent
  png_alloc_size_t size = 0;
  ASSERT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, pixels, 0, nullptr), 0);
  std::string bytes(size, '\0');
  ASSERT_NE(png_image_write_to_memory(&image, bytes.data(), &size, 0, pixels, 0, nullptr), 0);
  bytes.resize(size);
  const cv::Mat rgb = decode(bytes);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(200, 100, 50));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 1), cv::Vec3b(10, 20, 30));
}

TEST(Codec, DamagedDataIsRefused) {
  const std::string jpeg = encode_jpeg(gradient(64, 64), 90);
  EXPECT_THROW(decode(jpeg.substr(0, jpeg.size() / 2)), Error);  // truncated
  std::string garbage = jpeg;
  for (size_t i = 200; i < garbage.size() - 2; ++i) garbage[i] = static_cast<char>(0xFF);
  EXPECT_THROW(decode_jpeg(garbage.substr(0, 20)), Error);
  EXPECT_THROW(decode_png("\x89PNG\r\n\x1a\n not really"), Error);
  EXPECT_THROW(decode("GIF89a..."), Error);
}

}  // namespace
}  // namespace facepipe::image
