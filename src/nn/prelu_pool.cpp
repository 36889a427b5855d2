#include "nn/prelu_pool.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace facepipe::nn {

using dnnl::memory;
using tag = memory::format_tag;

namespace {

struct Shape {
  long long planes, blocks, h, w, oh, ow, kernel, stride;  // planes = images x channel blocks
};

// One pass: for every output cell, the max over its window of PReLU(x), B channels at a time (the
// layout's channel block; a compile-time width lets the compiler keep a block in one vector register).
template <int B>
void run(const Shape& s, const float* in, const float* slopes, float* out) {
  const long long rows = s.planes * s.oh;
#pragma omp parallel for schedule(static) if (rows * s.ow * B > 16384)
  for (long long r = 0; r < rows; ++r) {
    const long long y = r % s.oh, plane_index = r / s.oh;
    const float* plane = in + plane_index * s.h * s.w * B;
    const float* slope = slopes + (plane_index % s.blocks) * B;
    float* dst_row = out + (plane_index * s.oh + y) * s.ow * B;
    const long long y0 = y * s.stride, y1 = std::min(y0 + s.kernel, s.h);
    for (long long xo = 0; xo < s.ow; ++xo) {
      const long long x0 = xo * s.stride, x1 = std::min(x0 + s.kernel, s.w);
      float best[B];
      for (int k = 0; k < B; ++k) best[k] = -std::numeric_limits<float>::infinity();
      for (long long yy = y0; yy < y1; ++yy)
        for (long long xx = x0; xx < x1; ++xx) {
          const float* px = plane + (yy * s.w + xx) * B;
          for (int k = 0; k < B; ++k) {
            const float v = px[k] > 0 ? px[k] : slope[k] * px[k];  // PyTorch's (and oneDNN's) PReLU
            best[k] = best[k] < v ? v : best[k];
          }
        }
      for (int k = 0; k < B; ++k) dst_row[xo * B + k] = best[k];
    }
  }
}

// The same for any block width (NHWC with an unusual channel count).
void run_any(const Shape& s, int block, const float* in, const float* slopes, float* out) {
  const long long rows = s.planes * s.oh;
#pragma omp parallel for schedule(static) if (rows * s.ow * block > 16384)
  for (long long r = 0; r < rows; ++r) {
    const long long y = r % s.oh, plane_index = r / s.oh;
    const float* plane = in + plane_index * s.h * s.w * block;
    const float* slope = slopes + (plane_index % s.blocks) * block;
    float* dst_row = out + (plane_index * s.oh + y) * s.ow * block;
    const long long y0 = y * s.stride, y1 = std::min(y0 + s.kernel, s.h);
    for (long long xo = 0; xo < s.ow; ++xo) {
      const long long x0 = xo * s.stride, x1 = std::min(x0 + s.kernel, s.w);
      float* best = dst_row + xo * block;
      for (int k = 0; k < block; ++k) best[k] = -std::numeric_limits<float>::infinity();
      for (long long yy = y0; yy < y1; ++yy)
        for (long long xx = x0; xx < x1; ++xx) {
          const float* px = plane + (yy * s.w + xx) * block;
          for (int k = 0; k < block; ++k) {
            const float v = px[k] > 0 ? px[k] : slope[k] * px[k];
            best[k] = best[k] < v ? v : best[k];
          }
        }
    }
  }
}

}  // namespace

PreluMaxPool2d::PreluMaxPool2d(std::vector<float> slopes, int kernel, int stride, bool ceil_mode)
    : slopes_(std::move(slopes)), kernel_(kernel), stride_(stride), ceil_mode_(ceil_mode) {}

Act PreluMaxPool2d::forward(dnnl::stream& stream, const Act& x) const {
  const memory::dims d = x.dims();
  if (d.size() != 4 || d[1] != static_cast<memory::dim>(slopes_.size()))
    throw Error(ErrorKind::kInvalidInput, "PReLU+pool input has the wrong number of channels");
  const memory::dim n = d[0], c = d[1], h = d[2], w = d[3];
  // PyTorch: out = floor_or_ceil((H - k) / s) + 1; in ceil mode the last window must start inside.
  auto out_size = [&](memory::dim len) {
    const memory::dim span = len - kernel_;
    if (span < 0) throw Error(ErrorKind::kInvalidInput, "pooling input smaller than its kernel");
    memory::dim out = (ceil_mode_ ? (span + stride_ - 1) / stride_ : span / stride_) + 1;
    if (ceil_mode_ && (out - 1) * stride_ >= len) --out;
    return out;
  };
  const memory::dim oh = out_size(h), ow = out_size(w);

  // The channel block of x's layout (what oneDNN's convolutions write); anything else is made plain.
  memory src = x.mem;
  int block = 0;
  tag layout = tag::nchw;
  // NHWC is one block of all channels.
  for (auto [t, b] : {std::pair{tag::nChw8c, 8}, std::pair{tag::nChw16c, 16}, std::pair{tag::nchw, 1},
                      std::pair{tag::nhwc, static_cast<int>(c)}})
    if (x.mem.get_desc() == memory::desc(d, memory::data_type::f32, t)) {
      block = b;
      layout = t;
      break;
    }
  if (block == 0) {
    block = 1;
    src = memory(memory::desc(d, memory::data_type::f32, tag::nchw), cpu_engine());
    memory from = x.mem;
    dnnl::reorder(from, src).execute(stream, from, src);
  }
  stream.wait();
  memory dst(memory::desc({n, c, oh, ow}, memory::data_type::f32, layout), cpu_engine());
  const memory::dim blocks = (c + block - 1) / block;
  // Slopes padded to the block (padded channels hold zeros in oneDNN layouts and stay zero).
  std::vector<float> slopes(static_cast<size_t>(blocks * block), 0.f);
  std::copy(slopes_.begin(), slopes_.end(), slopes.begin());
  const float* in = static_cast<const float*>(src.get_data_handle());
  float* out = static_cast<float*>(dst.get_data_handle());
  const Shape shape{n * blocks, blocks, h, w, oh, ow, kernel_, stride_};
  switch (block) {
    case 1:
      run<1>(shape, in, slopes.data(), out);
      break;
    case 8:
      run<8>(shape, in, slopes.data(), out);
      break;
    case 10:  // PNet's first layer, NHWC
      run<10>(shape, in, slopes.data(), out);
      break;
    case 16:
      run<16>(shape, in, slopes.data(), out);
      break;
    default:
      run_any(shape, block, in, slopes.data(), out);
  }
  return {dst};
}

}  // namespace facepipe::nn
