// The fast area-resampling paths of MTCNN's pyramid give exactly what the reference-order float path gives
// (torch's adaptive_avg_pool2d on the float image), at every pyramid level of a real 1080p frame.
#include "nn/resample.h"

#include <cstring>

#include <gtest/gtest.h>

#include "image/decode.h"
#include "testutil/testutil.h"

namespace facepipe::nn {
namespace {

TEST(Resample, IntegralAndRgb8PathsAreBitIdenticalToTheFloatPath) {
  const cv::Mat rgb = image::load_rgb(facepipe::testing::datasets() / "video_frames/Obama/frame_001.jpg");
  const int h = rgb.rows, w = rgb.cols;
  std::vector<float> chw(static_cast<size_t>(3) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) chw[(static_cast<size_t>(c) * h + y) * w + x] = rgb.at<cv::Vec3b>(y, x)[c];
  const RgbIntegral integral(rgb.data, h, w, static_cast<long>(rgb.step));
  int levels = 0;
  // MTCNN's pyramid for min_face_size 20, factor 0.709, plus odd sizes.
  std::vector<std::pair<int, int>> sizes;
  for (double s = 0.6; std::min(h, w) * s >= 12; s *= 0.709)
    sizes.emplace_back(static_cast<int>(h * s + 1), static_cast<int>(w * s + 1));
  sizes.insert(sizes.end(), {{1, 1}, {7, 1000}, {1080, 1920}, {1500, 2500}});
  for (const auto& [oh, ow] : sizes) {
    std::vector<float> want(static_cast<size_t>(3) * oh * ow), fast(want.size()), direct(want.size());
    adaptive_avg_pool2d(chw.data(), 3, h, w, want.data(), oh, ow);
    integral.resample(fast.data(), oh, ow);
    adaptive_avg_pool2d_rgb8(rgb.data, h, w, static_cast<long>(rgb.step), direct.data(), oh, ow);
    EXPECT_EQ(std::memcmp(want.data(), fast.data(), want.size() * sizeof(float)), 0) << oh << "x" << ow;
    EXPECT_EQ(std::memcmp(want.data(), direct.data(), want.size() * sizeof(float)), 0) << oh << "x" << ow;
    // MTCNN's form: normalised in the same pass, each value as the two steps compute it.
    std::vector<float> normalised(want.size());
    integral.resample(normalised.data(), oh, ow, RgbIntegral::Output{127.5f, 0.0078125f});
    size_t differing = 0;
    for (size_t i = 0; i < want.size(); ++i) differing += normalised[i] != (want[i] - 127.5f) * 0.0078125f;
    EXPECT_EQ(differing, 0u) << oh << "x" << ow;
    ++levels;
  }
  EXPECT_GE(levels, 10);
}

TEST(Resample, RegionsOfTheIntegralAreBitIdenticalToTheFloatPathOfTheCrop) {
  // RNet's and ONet's crops: rectangles of the frame (at its edges too) resized to 24 and 48.
  const cv::Mat rgb = image::load_rgb(facepipe::testing::datasets() / "video_frames/Obama/frame_001.jpg");
  const int h = rgb.rows, w = rgb.cols;
  const RgbIntegral integral(rgb.data, h, w, static_cast<long>(rgb.step));
  struct Rect {
    int top, left, height, width;
  };
  for (const Rect& r : {Rect{0, 0, 13, 13}, Rect{100, 200, 97, 131}, Rect{h - 50, w - 70, 50, 70},
                        Rect{0, 0, h, w}, Rect{5, 9, 1, 300}})
    for (int size : {24, 48}) {
      std::vector<float> chw(static_cast<size_t>(3) * r.height * r.width);
      for (int y = 0; y < r.height; ++y)
        for (int x = 0; x < r.width; ++x)
          for (int c = 0; c < 3; ++c)
            chw[(static_cast<size_t>(c) * r.height + y) * r.width + x] = rgb.at<cv::Vec3b>(r.top + y, r.left + x)[c];
      std::vector<float> want(static_cast<size_t>(3) * size * size), got(want.size());
      adaptive_avg_pool2d(chw.data(), 3, r.height, r.width, want.data(), size, size);
      integral.resample_region(r.top, r.left, r.height, r.width, got.data(), size, size);
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
          << r.top << "," << r.left << " " << r.height << "x" << r.width << " to " << size;
    }
  std::vector<float> out(3 * 24 * 24);
  EXPECT_THROW(integral.resample_region(h - 10, 0, 11, 10, out.data(), 24, 24), std::out_of_range);
  EXPECT_THROW(integral.resample_region(-1, 0, 10, 10, out.data(), 24, 24), std::out_of_range);
}

}  // namespace
}  // namespace facepipe::nn
