#include "nn/resample.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include <vector>

namespace facepipe::nn {
namespace {

// The input span [begin[i], end[i]) that output cell i of `out` averages over an axis of `in` cells:
// PyTorch's start_index/end_index, in the same integer arithmetic.
struct Windows {
  std::vector<int> begin, end;
};
Windows windows(int in, int out) {
  Windows w{std::vector<int>(out), std::vector<int>(out)};
  for (int i = 0; i < out; ++i) {
    w.begin[i] = static_cast<int>((static_cast<long long>(i) * in) / out);
    w.end[i] = static_cast<int>(((static_cast<long long>(i + 1) * in) + out - 1) / out);
  }
  return w;
}

// dst[k] = (sums[k] / areas[k] - offset) * scale: the exact quotient, then the affine in that order.
// Compiled for AVX-512, AVX2 and baseline x86-64, picked by the loader for the CPU it runs on (GCC's
// target_clones; the build targets baseline x86-64).
__attribute__((target_clones("avx512f", "avx2", "default"))) void divide_affine(const float* sums, const float* areas,
                                                                              int n, float offset, float scale,
                                                                              float* dst) {
#pragma omp simd
  for (int k = 0; k < n; ++k) dst[k] = (sums[k] / areas[k] - offset) * scale;
}

}  // namespace

void adaptive_avg_pool2d(const float* in, int channels, int height, int width, float* out, int out_height,
                         int out_width) {
  const Windows rows = windows(height, out_height), cols = windows(width, out_width);
  const std::vector<int>&y0 = rows.begin, &y1 = rows.end, &x0 = cols.begin, &x1 = cols.end;
  // Rows are independent: split them over oneDNN's OpenMP threads (the pyramid of a 1080p frame spent a
  // quarter of MTCNN's time here on one core while the other spun). Each cell keeps PyTorch's summation
  // order.
#pragma omp parallel for collapse(2) \
    schedule(static) if (static_cast <long long>(channels) * out_height * out_width > 4096)
  for (int c = 0; c < channels; ++c) {
    for (int i = 0; i < out_height; ++i) {
      const float* plane = in + static_cast<long long>(c) * height * width;
      float* dst = out + static_cast<long long>(c) * out_height * out_width;
      for (int j = 0; j < out_width; ++j) {
        float sum = 0;  // float accumulation in row-major order, as PyTorch's CPU kernel
        for (int y = y0[i]; y < y1[i]; ++y) {
          const float* row = plane + static_cast<long long>(y) * width;
          for (int x = x0[j]; x < x1[j]; ++x) sum += row[x];
        }
        dst[static_cast<long long>(i) * out_width + j] =
            sum / static_cast<float>((y1[i] - y0[i]) * (x1[j] - x0[j]));
      }
    }
  }
}

void adaptive_avg_pool2d_rgb8(const unsigned char* in, int height, int width, long stride, float* out,
                              int out_height, int out_width) {
  const Windows rows = windows(height, out_height), cols = windows(width, out_width);
  const std::vector<int>&y0 = rows.begin, &y1 = rows.end, &x0 = cols.begin, &x1 = cols.end;
  const long long plane = static_cast<long long>(out_height) * out_width;
#pragma omp parallel for schedule(static) if (plane > 4096)
  for (int i = 0; i < out_height; ++i) {
    for (int j = 0; j < out_width; ++j) {
      float r = 0, g = 0, b = 0;  // per channel, the same order as the planar version
      for (int y = y0[i]; y < y1[i]; ++y) {
        const unsigned char* px = in + static_cast<long long>(y) * stride + 3LL * x0[j];
        for (int x = x0[j]; x < x1[j]; ++x, px += 3) {
          r += static_cast<float>(px[0]);
          g += static_cast<float>(px[1]);
          b += static_cast<float>(px[2]);
        }
      }
      const auto area = static_cast<float>((y1[i] - y0[i]) * (x1[j] - x0[j]));
      const long long at = static_cast<long long>(i) * out_width + j;
      out[at] = r / area;
      out[plane + at] = g / area;
      out[2 * plane + at] = b / area;
    }
  }
}

RgbIntegral::RgbIntegral(const unsigned char* in, int height, int width, long stride)
    : in_(in), height_(height), width_(width), stride_(stride) {
  // 32-bit sums hold any frame up to 16.8 MP exactly (255 x 16.8M < 2^32); decode limits allow 40 MP, so
  // larger frames skip the table and resample directly.
  if (static_cast<long long>(height) * width * 255 >= (1LL << 32)) return;
  const size_t row = (static_cast<size_t>(width) + 1) * 3;
  // Not zero-filled: every entry is written below (zero-filling 25 MB for a 1080p frame cost a pass).
  sums_.reset(new unsigned int[(static_cast<size_t>(height) + 1) * row]);
  unsigned int* table = sums_.get();
  std::fill(table, table + row, 0u);
  // One pass, the columns split over the cores (MTCNN builds the table before its parallel pyramid): a
  // thread owns a range of whole pixels and, row by row, adds the row's running sum to the row above. A
  // range that does not start at the left edge first sums the pixels to its left. Integer sums: the same
  // table however it is split.
  const long long cells = static_cast<long long>(height) * width;
#pragma omp parallel if (cells > 65536)
  {
    const int threads = omp_get_num_threads(), me = omp_get_thread_num();
    const int per = (width + threads - 1) / threads;
    const int begin = std::min(width, me * per), end = std::min(width, (me + 1) * per);
    for (int y = 0; y < height; ++y) {
      const unsigned char* px = in + static_cast<long long>(y) * stride;
      const unsigned int* above = table + static_cast<size_t>(y) * row;
      unsigned int* here = table + static_cast<size_t>(y + 1) * row;
      unsigned int run[3] = {0, 0, 0};
      for (int x = 0; x < begin; ++x)
        for (int c = 0; c < 3; ++c) run[c] += px[3 * x + c];
      if (begin == 0) here[0] = here[1] = here[2] = 0;
      for (int x = begin; x < end; ++x)
        for (int c = 0; c < 3; ++c) {
          run[c] += px[3 * x + c];
          here[3 * (x + 1) + c] = above[3 * (x + 1) + c] + run[c];
        }
    }
  }
}

void RgbIntegral::resample(float* out, int out_height, int out_width, const Output& how) const {
  resample_rect(0, 0, height_, width_, out, out_height, out_width, how);
}

void RgbIntegral::resample_region(int top, int left, int height, int width, float* out, int out_height,
                                  int out_width, const Output& how) const {
  if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > height_ || left + width > width_)
    throw std::out_of_range("RgbIntegral::resample_region: the rectangle is not inside the frame");
  resample_rect(top, left, height, width, out, out_height, out_width, how);
}

void RgbIntegral::resample_rect(int top, int left, int height, int width, float* out, int out_height,
                                int out_width, const Output& how) const {
  const long long plane = static_cast<long long>(out_height) * out_width;
  // The largest window: beyond 2^24 / 255 pixels a float sum may round, so PyTorch's result depends on
  // the order of summation; only the direct path reproduces that.
  const long long window = (static_cast<long long>(height) / out_height + 2) * (width / out_width + 2);
  const unsigned char* origin = in_ + static_cast<long long>(top) * stride_ + 3LL * left;
  if (!sums_ || window * 255 >= (1LL << 24)) {
    std::vector<float> planar(static_cast<size_t>(3 * plane));
    adaptive_avg_pool2d_rgb8(origin, height, width, stride_, planar.data(), out_height, out_width);
    for (long long i = 0; i < 3 * plane; ++i) out[i] = (planar[i] - how.offset) * how.scale;
    return;
  }
  const Windows rows = windows(height, out_height), cols = windows(width, out_width);
  const std::vector<int>&y0 = rows.begin, &y1 = rows.end, &x0 = cols.begin, &x1 = cols.end;
  const size_t row = (static_cast<size_t>(width_) + 1) * 3;
  // Per output row: the window sums by lookup (scalar: four loads a channel), then one vectorised pass of
  // divisions (the exact float quotient PyTorch computes; a division per value was most of the time).
#pragma omp parallel if (plane > 4096)
  {
    std::vector<float> sums(3 * static_cast<size_t>(out_width)), areas(3 * static_cast<size_t>(out_width));
#pragma omp for schedule(static)
    for (int i = 0; i < out_height; ++i) {
      const unsigned int* top_row = &sums_[static_cast<size_t>(top + y0[i]) * row + 3 * static_cast<size_t>(left)];
      const unsigned int* bottom_row =
          &sums_[static_cast<size_t>(top + y1[i]) * row + 3 * static_cast<size_t>(left)];
      const int window_rows = y1[i] - y0[i];
      for (int j = 0; j < out_width; ++j) {
        const auto area = static_cast<float>(window_rows * (x1[j] - x0[j]));
        const size_t l = 3 * static_cast<size_t>(x0[j]), r = 3 * static_cast<size_t>(x1[j]);
        for (int c = 0; c < 3; ++c) {
          const size_t at = c * static_cast<size_t>(out_width) + j;  // channel-major within the row
          sums[at] = static_cast<float>(bottom_row[r + c] - bottom_row[l + c] - top_row[r + c] + top_row[l + c]);
          areas[at] = area;
        }
      }
      for (int c = 0; c < 3; ++c)
        divide_affine(sums.data() + static_cast<ptrdiff_t>(c) * out_width,
                      areas.data() + static_cast<ptrdiff_t>(c) * out_width, out_width, how.offset, how.scale,
                      out + c * plane + static_cast<long long>(i) * out_width);
    }
  }
}

}  // namespace facepipe::nn
