// Image coding on libjpeg-turbo / libpng / libexif: round trips, EXIF orientation, alpha handling, and
// refusal of damaged data. Pixel parity with Pillow on real camera JPEGs is checked by the MTCNN golden
// test (its crops are bit-exact with facenet-pytorch's, which decodes with Pillow).
#include "image/codec.h"

#include <png.h>
#include <unistd.h>

#include <fstream>

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

// CMYK and YCCK JPEGs against Pillow itself (Debian's python3-pil, libjpeg-turbo underneath as here):
// ImageMagick's `convert -colorspace CMYK` writes YCCK (Adobe transform 2), Pillow writes plain CMYK.
// Pillow's Image.open(f).convert("RGB") must give the very same pixels as decode().
namespace cmyk {

std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("fp_cmyk_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

// Pillow's RGB pixels of `jpeg` (raw, row-major), or an empty Mat when Pillow is missing.
cv::Mat pillow_rgb(const std::filesystem::path& jpeg, int w, int h) {
  const auto raw = scratch(jpeg.filename().string() + ".rgb");
  const auto r = facepipe::testing::run_command(
      "/usr/bin/python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); "
      "open(sys.argv[2], \"wb\").write(im.convert(\"RGB\").tobytes()); print(im.mode)' " +
          jpeg.string() + " " + raw.string(),
      true);
  EXPECT_EQ(r.exit_code, 0) << r.output << " (scripts/deps.sh installs python3-pil)";
  EXPECT_NE(r.output.find("CMYK"), std::string::npos) << r.output;
  const std::string bytes = facepipe::testing::read_file(raw);
  if (bytes.size() != size_t(w) * h * 3) return {};
  return cv::Mat(h, w, CV_8UC3, const_cast<char*>(bytes.data())).clone();
}

TEST(Codec, YcckJpegFromImageMagickDecodesAsPillowDoes) {
  const auto src = facepipe::testing::datasets() / "video_frames/Obama/frame_001.jpg";
  const auto out = scratch("cmyk.jpg");
  const auto r = facepipe::testing::run_command(
      "convert " + src.string() + " -resize 320x180 -colorspace CMYK -quality 90 " + out.string(), true);
  ASSERT_EQ(r.exit_code, 0) << r.output << " (scripts/deps.sh installs imagemagick)";
  const std::string bytes = facepipe::testing::read_file(out);
  const cv::Mat ours = decode(bytes);
  ASSERT_EQ(ours.cols, 320);
  ASSERT_EQ(ours.rows, 180);
  const cv::Mat theirs = pillow_rgb(out, 320, 180);
  ASSERT_FALSE(theirs.empty());
  EXPECT_EQ(cv::norm(ours, theirs, cv::NORM_INF), 0);
  // And it is still the picture: close to the RGB original at the same size.
  cv::Mat small;
  cv::resize(load_rgb(src), small, cv::Size(320, 180), 0, 0, cv::INTER_AREA);
  EXPECT_GT(cv::PSNR(ours, small), 15);
}

TEST(Codec, CmykJpegFromPillowDecodesAsPillowDoes) {
  // Pillow writes Adobe CMYK (no colour transform); ImageMagick above writes YCCK.
  const auto src = facepipe::testing::datasets() / "video_frames/Bean/frame_001.jpg";
  const auto out = scratch("pillow_cmyk.jpg");
  const auto r = facepipe::testing::run_command(
      "/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).resize((200, 120))"
      ".convert(\"CMYK\").save(sys.argv[2], quality=92)' " +
          src.string() + " " + out.string(),
      true);
  ASSERT_EQ(r.exit_code, 0) << r.output << " (scripts/deps.sh installs python3-pil)";
  const cv::Mat ours = decode(facepipe::testing::read_file(out));
  const cv::Mat theirs = pillow_rgb(out, 200, 120);
  ASSERT_FALSE(theirs.empty());
  EXPECT_EQ(cv::norm(ours, theirs, cv::NORM_INF), 0);
}

}  // namespace cmyk
}  // namespace
}  // namespace facepipe::image
