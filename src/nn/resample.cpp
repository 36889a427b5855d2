#include "nn/resample.h"

#include <vector>

namespace facepipe::nn {

void adaptive_avg_pool2d(const float* in, int channels, int height, int width, float* out, int out_height,
                         int out_width) {
  // Window bounds per output row/column, computed once (integer arithmetic as PyTorch does).
  std::vector<int> y0(out_height), y1(out_height), x0(out_width), x1(out_width);
  for (int i = 0; i < out_height; ++i) {
    y0[i] = static_cast<int>((static_cast<long long>(i) * height) / out_height);
    y1[i] = static_cast<int>(((static_cast<long long>(i + 1) * height) + out_height - 1) / out_height);
  }
  for (int j = 0; j < out_width; ++j) {
    x0[j] = static_cast<int>((static_cast<long long>(j) * width) / out_width);
    x1[j] = static_cast<int>(((static_cast<long long>(j + 1) * width) + out_width - 1) / out_width);
  }
  // Rows are independent: split them over oneDNN's OpenMP threads (the pyramid of a 1080p frame spent a
  // quarter of MTCNN's time here on one core while the other spun). Each cell keeps PyTorch's summation order.
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<long long>(channels) * out_height * out_width > 4096)
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
        dst[static_cast<long long>(i) * out_width + j] = sum / static_cast<float>((y1[i] - y0[i]) * (x1[j] - x0[j]));
      }
    }
  }
}

void adaptive_avg_pool2d_rgb8(const unsigned char* in, int height, int width, long stride, float* out,
                              int out_height, int out_width) {
  std::vector<int> y0(out_height), y1(out_height), x0(out_width), x1(out_width);
  for (int i = 0; i < out_height; ++i) {
    y0[i] = static_cast<int>((static_cast<long long>(i) * height) / out_height);
    y1[i] = static_cast<int>(((static_cast<long long>(i + 1) * height) + out_height - 1) / out_height);
  }
  for (int j = 0; j < out_width; ++j) {
    x0[j] = static_cast<int>((static_cast<long long>(j) * width) / out_width);
    x1[j] = static_cast<int>(((static_cast<long long>(j + 1) * width) + out_width - 1) / out_width);
  }
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

}  // namespace facepipe::nn
