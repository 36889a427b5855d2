#include "models/pnet_stem.h"

#include <algorithm>
#include <cstddef>

#include "core/error.h"
#include "nn/prelu_pool.h"

namespace facepipe::models {

namespace {

constexpr int kOut = 10;    // conv1's output channels
constexpr int kLanes = 16;  // floats a vector holds (one AVX-512 register; two AVX2, four SSE ones)
using Vec = float __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
  Vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec v) { __builtin_memcpy(p, &v, sizeof v); }

struct StemArgs {
  const float* in;  // 3 planes of height x width
  int height, width;
  const float* weights;  // [27][10]
  const float* bias;
  const float* slopes;
  float* out;  // out_height x out_width x 10
  int out_height, out_width;
};

// Convolution row r, columns [0, cw) rounded up to whole vectors, into rows[oc * stride + x]: ten
// accumulators of 16 columns each, 27 taps, a broadcast weight times a vector of inputs per tap.
inline __attribute__((always_inline)) void conv_row(const StemArgs& a, int r, int cw, float* rows,
                                                    int stride) {
  const long long plane = static_cast<long long>(a.height) * a.width;
  for (int x = 0; x < cw; x += kLanes) {
    Vec acc[kOut];
#pragma GCC unroll 10
    for (int oc = 0; oc < kOut; ++oc) acc[oc] = Vec{};
    for (int ic = 0; ic < 3; ++ic)
      for (int ky = 0; ky < 3; ++ky) {
        const float* src = a.in + ic * plane + static_cast<long long>(r + ky) * a.width + x;
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; ++kx) {
          const Vec s = load(src + kx);
          const float* tap = a.weights + static_cast<ptrdiff_t>(((ic * 3 + ky) * 3 + kx) * kOut);
#pragma GCC unroll 10
          for (int oc = 0; oc < kOut; ++oc) acc[oc] += tap[oc] * s;
        }
      }
#pragma GCC unroll 10
    for (int oc = 0; oc < kOut; ++oc)
      store(rows + static_cast<ptrdiff_t>(oc) * stride + x, acc[oc] + a.bias[oc]);
  }
}

using nn::prelu;

// Compiled for AVX-512, AVX2 and baseline x86-64 and picked by the loader for the CPU it runs on (GCC's
// target_clones; the build targets baseline x86-64).
__attribute__((target_clones("avx512f", "avx2", "default"))) void run_stem(const StemArgs& a) {
  const int conv_h = a.height - 2, conv_w = a.width - 2;
  const int stride = (conv_w + kLanes - 1) / kLanes * kLanes;
  std::vector<float> row0(static_cast<size_t>(kOut) * stride), row1(row0.size()), hi_col(stride),
      lo_col(stride), pooled(static_cast<size_t>(kOut) * a.out_width);
  for (int py = 0; py < a.out_height; ++py) {
    // The window's convolution rows: 2py and 2py + 1 (only the first at an odd bottom edge).
    conv_row(a, 2 * py, conv_w, row0.data(), stride);
    const bool two_rows = 2 * py + 1 < conv_h;
    if (two_rows) conv_row(a, 2 * py + 1, conv_w, row1.data(), stride);
    const float* second = two_rows ? row1.data() : row0.data();
    const int full = conv_w / 2;  // windows with two columns; an odd right edge has one more
    for (int oc = 0; oc < kOut; ++oc) {
      const float* top = row0.data() + static_cast<size_t>(oc) * stride;
      const float* bottom = second + static_cast<size_t>(oc) * stride;
      float* __restrict hi = hi_col.data();
      float* __restrict lo = lo_col.data();
#pragma omp simd
      for (int x = 0; x < conv_w; ++x) {
        hi[x] = top[x] < bottom[x] ? bottom[x] : top[x];
        lo[x] = bottom[x] < top[x] ? bottom[x] : top[x];
      }
      const float slope = a.slopes[oc];
      float* __restrict dst = pooled.data() + static_cast<size_t>(oc) * a.out_width;
#pragma omp simd
      for (long long px = 0; px < full; ++px) {
        const float h = hi[2 * px] < hi[2 * px + 1] ? hi[2 * px + 1] : hi[2 * px];
        const float l = lo[2 * px + 1] < lo[2 * px] ? lo[2 * px + 1] : lo[2 * px];
        const float from_hi = prelu(h, slope), from_lo = prelu(l, slope);
        dst[px] = from_hi < from_lo ? from_lo : from_hi;
      }
      for (long long px = full; px < a.out_width; ++px) {  // the single-column window
        const float from_hi = prelu(hi[2 * px], slope), from_lo = prelu(lo[2 * px], slope);
        dst[px] = from_hi < from_lo ? from_lo : from_hi;
      }
    }
    float* out_row = a.out + static_cast<size_t>(py) * a.out_width * kOut;
    for (int px = 0; px < a.out_width; ++px)
      for (int oc = 0; oc < kOut; ++oc)
        out_row[px * kOut + oc] = pooled[static_cast<size_t>(oc) * a.out_width + px];
  }
}

// MaxPool2d(2, 2, ceil_mode=True)'s output length: the last window must start inside the input.
int pooled_length(int n) {
  int out = (n - 2 + 1) / 2 + 1;
  if ((out - 1) * 2 >= n) --out;
  return out;
}

}  // namespace

PnetStem::PnetStem(const weights::Tensor& weight, const std::vector<float>& bias,
                   const std::vector<float>& slopes)
    : weights_(static_cast<size_t>(27) * kOut), bias_(bias), slopes_(slopes) {
  if (weight.shape != std::vector<int64_t>{kOut, 3, 3, 3} || bias.size() != kOut || slopes.size() != kOut)
    throw Error(ErrorKind::kInvalidInput,
                "PNet's conv1 must be 10 x 3 x 3 x 3 with 10 biases and 10 PReLU slopes");
  for (int oc = 0; oc < kOut; ++oc)
    for (int tap = 0; tap < 27; ++tap) weights_[tap * kOut + oc] = weight.data[oc * 27 + tap];
}

void PnetStem::forward(const float* planar, int height, int width, std::vector<float>& out, int& out_height,
                       int& out_width) const {
  if (height < 4 || width < 4) throw Error(ErrorKind::kInvalidInput, "PNet needs an input of at least 4 x 4");
  out_height = pooled_length(height - 2);
  out_width = pooled_length(width - 2);
  out.resize(static_cast<size_t>(out_height) * out_width * kOut);
  run_stem({planar, height, width, weights_.data(), bias_.data(), slopes_.data(), out.data(), out_height,
            out_width});
}

}  // namespace facepipe::models
