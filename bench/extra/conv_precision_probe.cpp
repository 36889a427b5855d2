// One convolution of InceptionResnetV1's shapes in fp32, bf16 and int8 (u8 source, s8 weights, per-channel
// output scales) on oneDNN, to see which units pay on a CPU before building a network on them (README
// "Precision"). Random data: only the time means anything. Not part of the build. To rerun:
//
//   g++ -O2 bench/extra/conv_precision_probe.cpp -o /tmp/conv_precision_probe -ldnnl
//   OMP_NUM_THREADS=1 /tmp/conv_precision_probe
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

// Best of 7 means of 20 runs, in ms; prints the kernel oneDNN chose.
double time_conv(engine& eng, stream& s, int ic, int oc, int hw, int k, dt src_dt, dt wei_dt) {
  const int pad = k / 2;
  const memory::desc src({1, ic, hw, hw}, src_dt, tag::any), wei({oc, ic, k, k}, wei_dt, tag::any),
      dst({1, oc, hw, hw}, src_dt, tag::any), bias({oc}, dt::f32, tag::a);
  convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src, wei, bias, dst,
                                 {1, 1}, {pad, pad}, {pad, pad});
  primitive_attr attr;
  if (src_dt == dt::u8) attr.set_output_scales(2, std::vector<float>(static_cast<size_t>(oc), 0.01f));
  post_ops ops;
  ops.append_eltwise(1.f, algorithm::eltwise_relu, 0, 0);
  attr.set_post_ops(ops);
  const convolution_forward::primitive_desc pd(desc, attr, eng);
  memory ms(pd.src_desc(), eng), mw(pd.weights_desc(), eng), mb(bias, eng), md(pd.dst_desc(), eng);
  convolution_forward conv(pd);
  auto once = [&] {
    conv.execute(s, {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}});
    s.wait();
  };
  once();
  double best = 1e9;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) once();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20);
  }
  std::printf("  %-32s", pd.impl_info_str());
  return best;
}

int main() {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  struct Shape {
    int ic, oc, hw, k;
  };
  for (const Shape& l : {Shape{192, 192, 27, 3}, Shape{896, 128, 13, 1}, Shape{32, 64, 117, 3}, Shape{256, 896, 13, 1}}) {
    std::printf("ic%d oc%d %dx%d k%d\n", l.ic, l.oc, l.hw, l.hw, l.k);
    const double f = time_conv(eng, s, l.ic, l.oc, l.hw, l.k, dt::f32, dt::f32);
    std::printf("fp32 %.3f ms\n", f);
    const double b = time_conv(eng, s, l.ic, l.oc, l.hw, l.k, dt::bf16, dt::bf16);
    std::printf("bf16 %.3f ms (%.2fx fp32)\n", b, b / f);
    const double q = time_conv(eng, s, l.ic, l.oc, l.hw, l.k, dt::u8, dt::s8);
    std::printf("int8 %.3f ms (%.2fx fp32)\n", q, q / f);
  }
}
