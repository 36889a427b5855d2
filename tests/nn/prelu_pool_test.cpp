// The fused PReLU + max pooling gives bit for bit what oneDNN's PReLU followed by its max pooling gives
// (the path MTCNN took before), in each layout the convolutions hand it, with MTCNN's ceil-mode windows
// and negative slopes.
#include "nn/prelu_pool.h"

#include <random>

#include <gtest/gtest.h>

namespace facepipe::nn {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

// PReLU then max pooling, with oneDNN's own primitives.
std::vector<float> two_steps(const std::vector<float>& nchw, const std::vector<float>& slopes, int n, int c,
                             int h, int w, int kernel, int stride) {
  dnnl::stream s(cpu_engine());
  std::vector<float> x = nchw;
  memory::desc md({n, c, h, w}, memory::data_type::f32, tag::nchw);
  memory src(md, cpu_engine(), x.data());
  memory slope(memory::desc({1, c, 1, 1}, memory::data_type::f32, tag::nchw), cpu_engine(),
               const_cast<float*>(slopes.data()));
  dnnl::prelu_forward::primitive_desc prelu_pd(
      dnnl::prelu_forward::desc(dnnl::prop_kind::forward_inference, md, slope.get_desc()), cpu_engine());
  dnnl::prelu_forward(prelu_pd).execute(
      s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, slope}, {DNNL_ARG_DST, src}});
  s.wait();
  MaxPool2d pool(kernel, stride, true);
  return to_nchw(s, pool.forward(s, {src}));
}

TEST(PreluMaxPool, MatchesPreluThenMaxPoolInEveryLayout) {
  std::mt19937 rng(7);
  std::normal_distribution<float> value(0.f, 1.f);
  struct Case {
    int n, c, h, w, kernel, stride;
  };
  // PNet's first layer (2x2, odd sizes: ceil mode's partial windows), RNet/ONet's 3x3 stride 2.
  for (const Case& k : {Case{1, 10, 37, 53, 2, 2}, Case{3, 28, 22, 22, 3, 2}, Case{2, 64, 10, 10, 2, 2},
                        Case{1, 5, 9, 8, 3, 2}, Case{2, 32, 23, 23, 3, 2}, Case{1, 48, 11, 11, 3, 2}}) {
    std::vector<float> x(static_cast<size_t>(k.n) * k.c * k.h * k.w), slopes(static_cast<size_t>(k.c));
    for (float& v : x) v = value(rng);
    for (float& v : slopes) v = value(rng);  // negative slopes too, as MTCNN's
    const std::vector<float> want = two_steps(x, slopes, k.n, k.c, k.h, k.w, k.kernel, k.stride);
    const PreluMaxPool2d fused(slopes, k.kernel, k.stride, true);
    for (tag layout : {tag::nchw, tag::nhwc, tag::nChw8c, tag::nChw16c}) {
      dnnl::stream s(cpu_engine());
      const Act plain = from_nchw(x.data(), k.n, k.c, k.h, k.w);
      memory in(memory::desc({k.n, k.c, k.h, k.w}, memory::data_type::f32, layout), cpu_engine());
      memory from = plain.mem;
      dnnl::reorder(from, in).execute(s, from, in);
      s.wait();
      const std::vector<float> got = to_nchw(s, fused.forward(s, {in}));
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(got[i], want[i]) << "layout " << static_cast<int>(layout) << " channels " << k.c << " at "
                                   << i;
    }
  }
}

TEST(PreluMaxPool, RefusesAWrongChannelCountOrATooSmallInput) {
  const PreluMaxPool2d fused(std::vector<float>(4, 0.25f), 3, 2, true);
  dnnl::stream s(cpu_engine());
  std::vector<float> x(3 * 5 * 5, 1.f);
  EXPECT_THROW(fused.forward(s, from_nchw(x.data(), 1, 3, 5, 5)), std::exception);
  std::vector<float> tiny(4 * 2 * 2, 1.f);
  EXPECT_THROW(fused.forward(s, from_nchw(tiny.data(), 1, 4, 2, 2)), std::exception);
}

}  // namespace
}  // namespace facepipe::nn
