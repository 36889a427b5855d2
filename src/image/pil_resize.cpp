#include "image/pil_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace facepipe::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed-point precision for 8-bit images

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Per output index: first input index, tap count, and fixed-point weights (ksize per output).
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Taps compute_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // bilinear support is 1 input pixel, widened when shrinking
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double inv = 1.0 / filter_scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0;
    int x = 0;
    for (; x < xmax; ++x) {
      k[x] = triangle((x + xmin - center + 0.5) * inv);
      total += k[x];
    }
    for (x = 0; x < xmax; ++x)
      if (total != 0) k[x] /= total;
    for (x = 0; x < xmax; ++x) {
      const double v = k[x] * (1 << kPrecisionBits);
      t.weights[static_cast<size_t>(xx) * t.ksize + x] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

cv::Mat pil_resize_bilinear(const cv::Mat& src, int out_width, int out_height) {
  CV_Assert(src.type() == CV_8UC3 && out_width > 0 && out_height > 0);
  if (src.cols == out_width && src.rows == out_height) return src.clone();
  const Taps horizontal = compute_taps(src.cols, out_width);
  const Taps vertical = compute_taps(src.rows, out_height);
  // Horizontal pass only over the rows the vertical pass reads, as Pillow does.
  const int row_first = vertical.first[0];
  const int row_last = vertical.first[out_height - 1] + vertical.count[out_height - 1];
  cv::Mat mid;
  if (src.cols != out_width) {
    mid.create(row_last - row_first, out_width, CV_8UC3);
    for (int y = 0; y < mid.rows; ++y) {
      const uint8_t* in = src.ptr<uint8_t>(y + row_first);
      uint8_t* out = mid.ptr<uint8_t>(y);
      for (int xx = 0; xx < out_width; ++xx) {
        const int32_t* k = &horizontal.weights[static_cast<size_t>(xx) * horizontal.ksize];
        const int x0 = horizontal.first[xx];
        for (int c = 0; c < 3; ++c) {
          int32_t ss = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < horizontal.count[xx]; ++x) ss += in[(x + x0) * 3 + c] * k[x];
          out[xx * 3 + c] = clip8(ss);
        }
      }
    }
  } else {
    mid = src.rowRange(row_first, row_last);
  }
  if (src.rows == out_height) return mid.clone();
  cv::Mat dst(out_height, out_width, CV_8UC3);
  for (int yy = 0; yy < out_height; ++yy) {
    const int32_t* k = &vertical.weights[static_cast<size_t>(yy) * vertical.ksize];
    const int y0 = vertical.first[yy] - row_first;
    uint8_t* out = dst.ptr<uint8_t>(yy);
    for (int x = 0; x < out_width * 3; ++x) {
      int32_t ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < vertical.count[yy]; ++y) ss += mid.ptr<uint8_t>(y + y0)[x] * k[y];
      out[x] = clip8(ss);
    }
  }
  return dst;
}

}  // namespace facepipe::image
