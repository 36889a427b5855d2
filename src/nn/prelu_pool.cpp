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

// One output row of the pooling: the window's rows reduced to a max and a min per column (contiguous:
// vectorised over the whole row), then each output cell's columns, then PReLU of both and the larger.
// PReLU with a negative slope is V-shaped (decreasing below 0, increasing above), so its maximum over a
// window is at the window's largest or smallest input: max PReLU(x_i) = max(PReLU(max x_i), PReLU(min
// x_i)), the very values the two-step form compares (bit-identical), with two PReLUs per output instead
// of kernel^2.
struct PoolRow {
  const float* plane;  // the input image's block plane, h x w x block
  const float* slope;  // the block's slopes
  float* dst;          // the output row, ow x block
  float* col_max;      // scratch, w x block each
  float* col_min;
  float* lo;           // scratch, block
  long long w, block, y0, y1, ow, kernel, stride;
};

template <int B>
inline __attribute__((always_inline)) void pool_row(const PoolRow& r) {
  const long long block = B > 0 ? B : r.block, row_len = r.w * block;
  float* __restrict mx = r.col_max;
  float* __restrict mn = r.col_min;
  const float* first = r.plane + r.y0 * row_len;
  std::copy(first, first + row_len, mx);
  std::copy(first, first + row_len, mn);
  for (long long yy = r.y0 + 1; yy < r.y1; ++yy) {
    const float* __restrict row = r.plane + yy * row_len;
#pragma omp simd
    for (long long i = 0; i < row_len; ++i) {
      mx[i] = mx[i] < row[i] ? row[i] : mx[i];
      mn[i] = row[i] < mn[i] ? row[i] : mn[i];
    }
  }
  const float* __restrict slope = r.slope;
  float* __restrict lo = r.lo;
  for (long long xo = 0; xo < r.ow; ++xo) {
    const long long x0 = xo * r.stride, span = std::min(x0 + r.kernel, r.w) - x0;
    float* __restrict hi = r.dst + xo * block;  // the output cell accumulates the max
    // Each loop runs over the block's channels, contiguous: one or a few vector operations.
#pragma omp simd
    for (long long k = 0; k < block; ++k) {
      hi[k] = mx[x0 * block + k];
      lo[k] = mn[x0 * block + k];
    }
    for (long long xx = 1; xx < span; ++xx) {
      const float* __restrict hi_col = mx + (x0 + xx) * block;
      const float* __restrict lo_col = mn + (x0 + xx) * block;
#pragma omp simd
      for (long long k = 0; k < block; ++k) {
        hi[k] = hi[k] < hi_col[k] ? hi_col[k] : hi[k];
        lo[k] = lo_col[k] < lo[k] ? lo_col[k] : lo[k];
      }
    }
#pragma omp simd
    for (long long k = 0; k < block; ++k) {
      const float from_hi = prelu(hi[k], slope[k]), from_lo = prelu(lo[k], slope[k]);
      hi[k] = from_hi < from_lo ? from_lo : from_hi;
    }
  }
}

// The row kernel per block width (a compile-time width lets a block live in vector registers), each
// compiled for AVX-512, AVX2 and baseline x86-64 and picked by the loader for the CPU it runs on
// (GCC's target_clones): the build targets baseline x86-64, whose 4-wide SSE left these loops at
// 14% and 11% of MTCNN's time on a 720p frame (PNet's first layer, now models/pnet_stem, and RNet's).
using RowKernel = void (*)(const PoolRow&);
#define FACEPIPE_POOL_ROW(B)                                                                             \
  __attribute__((target_clones("avx512f", "avx2", "default"))) void pool_row_##B(const PoolRow& r) { \
    pool_row<B>(r);                                                                                     \
  }
FACEPIPE_POOL_ROW(0)
FACEPIPE_POOL_ROW(1)
FACEPIPE_POOL_ROW(8)
FACEPIPE_POOL_ROW(16)
FACEPIPE_POOL_ROW(28)
FACEPIPE_POOL_ROW(32)
FACEPIPE_POOL_ROW(48)
FACEPIPE_POOL_ROW(64)
#undef FACEPIPE_POOL_ROW

RowKernel row_kernel(int block) {
  switch (block) {
    case 1: return pool_row_1;
    case 8: return pool_row_8;
    case 16: return pool_row_16;
    case 28: return pool_row_28;  // RNet's first layer, NHWC in batches
    case 32: return pool_row_32;  // ONet's first layer
    case 48: return pool_row_48;
    case 64: return pool_row_64;
    default: return pool_row_0;
  }
}

void run(const Shape& s, int block, const float* in, const float* slopes, float* out) {
  const RowKernel kernel = row_kernel(block);
  const long long rows = s.planes * s.oh, row_len = s.w * block;
#pragma omp parallel if (rows * s.ow * block > 16384)
  {
    std::vector<float> col_max(static_cast<size_t>(row_len)), col_min(static_cast<size_t>(row_len)),
        lo(static_cast<size_t>(block));
#pragma omp for schedule(static)
    for (long long r = 0; r < rows; ++r) {
      const long long y = r % s.oh, plane_index = r / s.oh;
      const long long y0 = y * s.stride;
      kernel({in + plane_index * s.h * row_len, slopes + (plane_index % s.blocks) * block,
              out + (plane_index * s.oh + y) * s.ow * block, col_max.data(), col_min.data(), lo.data(), s.w, block, y0,
              std::min(y0 + s.kernel, s.h), s.ow, s.kernel, s.stride});
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
  run(shape, block, in, slopes.data(), out);
  return {dst};
}

}  // namespace facepipe::nn
