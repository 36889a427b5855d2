#include "nn/layers.h"

#include <malloc.h>

#include <cmath>

#include "core/error.h"
#include "nn/calibration.h"

namespace facepipe::nn {

// Inference allocates and frees multi-megabyte activations for every frame. Above glibc's mmap threshold
// each is a fresh mmap whose pages the kernel zeroes on first touch and unmaps on free: measured here as
// 2x slower 1080p frames (276 -> 125 ms) and 40% run-to-run jitter in MTCNN. Keeping such blocks on the
// heap (and not trimming it below 512 MB) reuses the same pages frame after frame. Done at load time so
// every program that links the inference layer (facepipe, benchmarks, tests) gets it.
[[maybe_unused]] const bool kHeapKeepsLargeBlocks = [] {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  return true;
}();

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

Act from_nchw(const float* data, int n, int c, int h, int w) {
  memory::desc md({n, c, h, w}, dt::f32, tag::nchw);
  return {memory(md, cpu_engine(), const_cast<float*>(data))};
}

Act from_nhwc(const float* data, int n, int c, int h, int w) {
  memory::desc md({n, c, h, w}, dt::f32, tag::nhwc);
  return {memory(md, cpu_engine(), const_cast<float*>(data))};
}

namespace {

// Scratchpads: oneDNN's default ("library") scratchpad is one buffer shared by all primitives, which is
// only safe when a single thread executes primitives at a time (Debian builds oneDNN without
// DNNL_ENABLE_CONCURRENT_EXEC). The service detects in HTTP threads while recognition embeds in its
// worker: a 500-request load run came back with 3 corrupted embeddings ("Unknown"). So every primitive is
// created with a user scratchpad, and each thread passes a buffer of its own.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// This thread's scratchpad for `md` (grown as needed; one primitive executes at a time per thread).
memory thread_scratchpad(const memory::desc& md) {
  thread_local std::vector<unsigned char> buffer;
  const size_t size = md.get_size();
  if (buffer.size() < size) buffer.resize(size);
  return memory(md, cpu_engine(), size == 0 ? nullptr : buffer.data());
}

// Reorders `from` into `to` (layouts differ), with this thread's scratchpad.
void reorder(dnnl::stream& stream, const memory& from, const memory& to) {
  const dnnl::reorder::primitive_desc pd(from, to, user_scratchpad());
  dnnl::reorder(pd).execute(stream, {{DNNL_ARG_FROM, from},
                                     {DNNL_ARG_TO, to},
                                     {DNNL_ARG_SCRATCHPAD, thread_scratchpad(pd.scratchpad_desc())}});
}

// `x` in layout `md`: itself when it already is, else a reordered copy.
memory as_layout(dnnl::stream& stream, const memory& x, const memory::desc& md) {
  if (x.get_desc() == md) return x;
  memory out(md, cpu_engine());
  reorder(stream, x, out);
  return out;
}

}  // namespace

std::vector<float> to_nchw(dnnl::stream& stream, const Act& act) {
  const auto d = act.dims();
  memory::desc md(d, dt::f32, d.size() == 4 ? tag::nchw : tag::nc);
  std::vector<float> out(static_cast<size_t>(md.get_size() / sizeof(float)));
  memory dst(md, cpu_engine(), out.data());
  reorder(stream, act.mem, dst);
  stream.wait();
  return out;
}

BatchNorm batch_norm_from(const weights::StateDict& dict, const std::string& prefix, int64_t channels,
                          float eps) {
  BatchNorm bn;
  bn.gamma = weights::expect(dict, prefix + ".weight", {channels}).data;
  bn.beta = weights::expect(dict, prefix + ".bias", {channels}).data;
  bn.mean = weights::expect(dict, prefix + ".running_mean", {channels}).data;
  bn.var = weights::expect(dict, prefix + ".running_var", {channels}).data;
  bn.eps = eps;
  return bn;
}

Conv2d::Conv2d(const ConvSpec& spec, weights::Tensor weight, const std::vector<float>& bias,
               const BatchNorm* bn, Activation act, std::vector<float> prelu, float residual_scale)
    : spec_(spec),
      weight_(std::move(weight.data)),
      prelu_(std::move(prelu)),
      act_(act),
      residual_(residual_scale != 0) {
  const std::vector<int64_t> want = {spec.out_channels, spec.in_channels, spec.kernel_h, spec.kernel_w};
  if (weight.shape != want) throw Error(ErrorKind::kInvalidInput, "convolution weight has the wrong shape");
  const size_t per_out = weight_.size() / static_cast<size_t>(spec.out_channels);
  bias_.assign(static_cast<size_t>(spec.out_channels), 0.f);
  if (!bias.empty()) bias_ = bias;
  // Fold BatchNorm (y = gamma * (x - mean) / sqrt(var + eps) + beta) and the residual scale into the
  // weights and bias, so the convolution alone produces the block's output. Done in double so the
  // folded float matches PyTorch's unfolded arithmetic to rounding.
  for (size_t o = 0; o < static_cast<size_t>(spec.out_channels); ++o) {
    double mul = 1, add = 0;
    if (bn) {
      mul = bn->gamma[o] / std::sqrt(static_cast<double>(bn->var[o]) + bn->eps);
      add = bn->beta[o] - bn->mean[o] * mul;
    }
    if (residual_) {
      mul *= residual_scale;
      add *= residual_scale;
    }
    for (size_t i = 0; i < per_out; ++i)
      weight_[o * per_out + i] = static_cast<float>(weight_[o * per_out + i] * mul);
    bias_[o] = static_cast<float>(bias_[o] * mul + add);
  }
  if (act_ == Activation::kPrelu && prelu_.size() != static_cast<size_t>(spec.out_channels))
    throw Error(ErrorKind::kInvalidInput, "PReLU needs one slope per output channel");
  const memory::dims oihw = {spec.out_channels, spec.in_channels, spec.kernel_h, spec.kernel_w};
  if (spec.precision == Precision::kInt8) {
    if (!(spec.src_scale > 0) || spec.dst_scale < 0 || act_ == Activation::kPrelu ||
        (spec.dst_scale > 0 && act_ != Activation::kRelu))
      throw Error(ErrorKind::kInternal,
                  "int8 convolution '" + spec.name +
                      "' needs an input scale, and a ReLU for a u8 result, and no PReLU");
    // Symmetric per-output-channel weight scales: each channel's largest magnitude maps to 127.
    weight_scale_.resize(static_cast<size_t>(spec.out_channels));
    for (size_t o = 0; o < weight_scale_.size(); ++o) {
      float max = 0;
      for (size_t i = 0; i < per_out; ++i) max = std::max(max, std::abs(weight_[o * per_out + i]));
      weight_scale_[o] = max > 0 ? 127.f / max : 1.f;
    }
    // oneDNN 2.x adds the bias to the int32 accumulator before the output scale: it must be in the
    // accumulator's units (input scale x weight scale).
    for (size_t o = 0; o < bias_.size(); ++o) bias_[o] *= spec.src_scale * weight_scale_[o];
    low_weight_.resize(weight_.size());
    for (size_t i = 0; i < weight_.size(); ++i)
      low_weight_[i] = static_cast<char>(std::lround(weight_[i] * weight_scale_[i / per_out]));
    std::vector<float>().swap(weight_);
    user_weights_ = memory({oihw, dt::s8, tag::oihw}, cpu_engine(), low_weight_.data());
  } else if (spec.precision == Precision::kBf16) {
    // oneDNN's reorder rounds to nearest even, as the packing reorder from fp32 would.
    low_weight_.resize(weight_.size() * 2);
    user_weights_ = memory({oihw, dt::bf16, tag::oihw}, cpu_engine(), low_weight_.data());
    dnnl::stream stream(cpu_engine());
    reorder(stream, memory({oihw, dt::f32, tag::oihw}, cpu_engine(), weight_.data()), user_weights_);
    stream.wait();
    std::vector<float>().swap(weight_);
  } else {
    user_weights_ = memory({oihw, dt::f32, tag::oihw}, cpu_engine(), weight_.data());
  }
}

Conv2d::Plan& Conv2d::plan_for(const memory::dims& in) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = plans_.find(in);
  if (it != plans_.end()) return it->second;
  const memory::dim oh = (in[2] + memory::dim{2} * spec_.pad_h - spec_.kernel_h) / spec_.stride + 1;
  const memory::dim ow = (in[3] + memory::dim{2} * spec_.pad_w - spec_.kernel_w) / spec_.stride + 1;
  if (in[1] != spec_.in_channels || oh <= 0 || ow <= 0)
    throw Error(ErrorKind::kInvalidInput, "convolution input of the wrong size");
  const tag act_tag = spec_.channels_last ? tag::nhwc : tag::any;
  const bool int8 = spec_.precision == Precision::kInt8;
  const dt data = spec_.precision == Precision::kBf16 ? dt::bf16 : int8 ? dt::u8 : dt::f32;
  memory::desc src_md({in[0], in[1], in[2], in[3]}, data, act_tag);
  memory::desc w_md({spec_.out_channels, spec_.in_channels, spec_.kernel_h, spec_.kernel_w},
                    int8 ? dt::s8 : data, tag::any);
  memory::desc b_md({spec_.out_channels}, dt::f32, tag::a);
  const dt result = int8 ? (spec_.dst_scale > 0 ? dt::u8 : dt::f32) : spec_.fp32_result ? dt::f32 : data;
  memory::desc dst_md({in[0], spec_.out_channels, oh, ow}, result, act_tag);
  dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, w_md, b_md, dst_md,
      {spec_.stride, spec_.stride}, {spec_.pad_h, spec_.pad_w}, {spec_.pad_h, spec_.pad_w});
  dnnl::post_ops ops;
  if (residual_) ops.append_sum(1.f);
  if (act_ == Activation::kRelu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr = user_scratchpad();
  attr.set_post_ops(ops);
  if (int8) {
    // int32 accumulator -> the result's units: fp32 (1), or u8 at dst_scale.
    const float to = spec_.dst_scale > 0 ? spec_.dst_scale : 1.f;
    std::vector<float> scales(weight_scale_.size());
    for (size_t o = 0; o < scales.size(); ++o) scales[o] = to / (spec_.src_scale * weight_scale_[o]);
    attr.set_output_scales(1 << 1, scales);
  }
  dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());

  Plan plan;
  plan.prim = dnnl::convolution_forward(pd);
  plan.src_md = pd.src_desc();
  plan.dst_md = pd.dst_desc();
  plan.scratchpad_md = pd.scratchpad_desc();
  dnnl::stream stream(cpu_engine());
  plan.weights = packed_weights(pd.weights_desc());
  plan.bias = memory(b_md, cpu_engine(), bias_.data());
  if (act_ == Activation::kPrelu) {
    // A PReLU post-op would push oneDNN 2.6 onto its reference (unvectorised) convolution, ~50x
    // slower; a separate in-place PReLU primitive keeps the JIT convolution.
    memory::desc slope_md({1, spec_.out_channels, 1, 1}, result, tag::any);
    dnnl::prelu_forward::desc prelu_desc(dnnl::prop_kind::forward_inference, plan.dst_md, slope_md);
    dnnl::prelu_forward::primitive_desc prelu_pd(prelu_desc, user_scratchpad(), cpu_engine());
    plan.prelu = dnnl::prelu_forward(prelu_pd);
    plan.prelu_scratchpad_md = prelu_pd.scratchpad_desc();
    memory user_slopes({{1, spec_.out_channels, 1, 1}, dt::f32, tag::nchw}, cpu_engine(), prelu_.data());
    plan.prelu_weights = memory(prelu_pd.weights_desc(), cpu_engine());
    reorder(stream, user_slopes, plan.prelu_weights);
    stream.wait();
  }
  return plans_.emplace(in, std::move(plan)).first->second;
}

memory Conv2d::packed_weights(const memory::desc& md) {
  for (const memory& m : packed_)
    if (m.get_desc() == md) return m;
  dnnl::stream stream(cpu_engine());
  memory packed(md, cpu_engine());
  if (packed_.empty()) {
    // The first packing reads the construction's OIHW weights (fp32, s8 or bf16) and frees them; later
    // layouts are reordered from that first packed copy.
    reorder(stream, user_weights_, packed);
    stream.wait();
    user_weights_ = memory();
    std::vector<float>().swap(weight_);
    std::vector<char>().swap(low_weight_);
  } else {
    reorder(stream, packed_.front(), packed);
    stream.wait();
  }
  packed_.push_back(packed);
  return packed;
}

Act Conv2d::forward(dnnl::stream& stream, const Act& x, const Act* residual) {
  if (residual_ != (residual != nullptr))
    throw Error(ErrorKind::kInternal, "convolution called with/without a residual against its construction");
  if (RangeRecorder* recorder = current_range_recorder(); recorder && spec_.precision == Precision::kF32)
    recorder->record(spec_.name, x.mem);
  Plan& plan = plan_for(x.dims());
  memory src = source_for(stream, plan, x.mem);
  memory dst = residual ? as_layout(stream, residual->mem, plan.dst_md) : memory(plan.dst_md, cpu_engine());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                          {DNNL_ARG_WEIGHTS, plan.weights},
                                          {DNNL_ARG_BIAS, plan.bias},
                                          {DNNL_ARG_DST, dst},
                                          {DNNL_ARG_SCRATCHPAD, thread_scratchpad(plan.scratchpad_md)}};
  plan.prim.execute(stream, args);
  if (act_ == Activation::kPrelu)
    plan.prelu.execute(stream, {{DNNL_ARG_SRC, dst},
                                {DNNL_ARG_WEIGHTS, plan.prelu_weights},
                                {DNNL_ARG_DST, dst},
                                {DNNL_ARG_SCRATCHPAD, thread_scratchpad(plan.prelu_scratchpad_md)}});
  return {dst};
}

memory Conv2d::source_for(dnnl::stream& stream, Plan& plan, const memory& x) {
  if (spec_.precision != Precision::kInt8 || x.get_desc().data_type() != dt::f32)
    return as_layout(stream, x, plan.src_md);
  dnnl::reorder quantize;  // a handle: another thread may replace the plan's while this one runs it
  memory::desc scratchpad_md;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (plan.quantize_from != x.get_desc()) {
      // u8 = saturate(round(x * src_scale)): what the calibration's range maps onto 0..255.
      dnnl::primitive_attr attr = user_scratchpad();
      attr.set_output_scales(0, {spec_.src_scale});
      const dnnl::reorder::primitive_desc pd(cpu_engine(), x.get_desc(), cpu_engine(), plan.src_md, attr);
      plan.quantize = dnnl::reorder(pd);
      plan.quantize_from = x.get_desc();
      plan.quantize_scratchpad_md = pd.scratchpad_desc();
    }
    quantize = plan.quantize;
    scratchpad_md = plan.quantize_scratchpad_md;
  }
  memory src(plan.src_md, cpu_engine());
  quantize.execute(
      stream,
      {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, src}, {DNNL_ARG_SCRATCHPAD, thread_scratchpad(scratchpad_md)}});
  return src;
}

Act MaxPool2d::forward(dnnl::stream& stream, const Act& x) {
  const auto in = x.dims();
  Plan* plan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(in);
    if (it == plans_.end()) {
      // PyTorch: out = floor_or_ceil((H - k) / s) + 1; in ceil mode the last window must start inside
      // the input. The extra right padding makes oneDNN produce exactly that many outputs; padded cells
      // never win a max.
      auto out_size = [&](memory::dim n) {
        memory::dim span = n - kernel_;
        if (span < 0) throw Error(ErrorKind::kInvalidInput, "pooling input smaller than its kernel");
        memory::dim out = (ceil_mode_ ? (span + stride_ - 1) / stride_ : span / stride_) + 1;
        if (ceil_mode_ && (out - 1) * stride_ >= n) --out;
        return out;
      };
      const memory::dim oh = out_size(in[2]), ow = out_size(in[3]);
      const memory::dim pad_b = (oh - 1) * stride_ + kernel_ - in[2],
                        pad_r = (ow - 1) * stride_ + kernel_ - in[3];
      // The result in the source's data type (bf16 networks pool bf16).
      memory::desc dst_md({in[0], in[1], oh, ow}, x.mem.get_desc().data_type(), tag::any);
      dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                       x.mem.get_desc(), dst_md, {stride_, stride_}, {kernel_, kernel_},
                                       {0, 0}, {pad_b, pad_r});
      dnnl::pooling_forward::primitive_desc pd(desc, user_scratchpad(), cpu_engine());
      it = plans_
               .emplace(in,
                        Plan{dnnl::pooling_forward(pd), pd.src_desc(), pd.dst_desc(), pd.scratchpad_desc()})
               .first;
    }
    plan = &it->second;
  }
  memory src = as_layout(stream, x.mem, plan->src_md);
  memory dst(plan->dst_md, cpu_engine());
  plan->prim.execute(stream, {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_DST, dst},
                              {DNNL_ARG_SCRATCHPAD, thread_scratchpad(plan->scratchpad_md)}});
  return {dst};
}

Act Concat::forward(dnnl::stream& stream, const std::vector<Act>& parts) {
  std::vector<memory::dim> key;
  for (const auto& p : parts) {
    const auto d = p.dims();
    key.insert(key.end(), d.begin(), d.end());
  }
  Plan* plan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      std::vector<memory::desc> mds;
      mds.reserve(parts.size());
      for (const auto& p : parts) mds.push_back(p.mem.get_desc());
      dnnl::concat::primitive_desc pd(1, mds, cpu_engine(), user_scratchpad());
      it = plans_.emplace(key, Plan{dnnl::concat(pd), mds, pd.dst_desc(), pd.scratchpad_desc()}).first;
    }
    plan = &it->second;
  }
  std::unordered_map<int, memory> args;
  for (size_t i = 0; i < parts.size(); ++i)
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = as_layout(stream, parts[i].mem, plan->src_mds[i]);
  memory dst(plan->dst_md, cpu_engine());
  args[DNNL_ARG_DST] = dst;
  args[DNNL_ARG_SCRATCHPAD] = thread_scratchpad(plan->scratchpad_md);
  plan->prim.execute(stream, args);
  return {dst};
}

Linear::Linear(const weights::Tensor& weight, std::vector<float> bias, Activation act,
               std::vector<float> prelu)
    : weight_(weight.data), bias_(std::move(bias)), prelu_(std::move(prelu)), act_(act) {
  if (weight.shape.size() != 2) throw Error(ErrorKind::kInvalidInput, "linear weight must be 2-D");
  out_ = static_cast<int>(weight.shape[0]);
  in_ = static_cast<int>(weight.shape[1]);
  if (bias_.empty()) bias_.assign(static_cast<size_t>(out_), 0.f);
  if (bias_.size() != static_cast<size_t>(out_) ||
      (act_ == Activation::kPrelu && prelu_.size() != bias_.size()))
    throw Error(ErrorKind::kInvalidInput, "linear bias/PReLU size differs from the output size");
}

std::vector<float> Linear::forward(const float* x, int n) const {
  std::vector<float> y(static_cast<size_t>(n) * out_);
  for (int r = 0; r < n; ++r) std::copy(bias_.begin(), bias_.end(), y.begin() + static_cast<long>(r) * out_);
  // Row-major: Y[n x out] = X[n x in] * W^T[in x out] + Y.
  dnnl::sgemm('N', 'T', n, out_, in_, 1.f, x, in_, weight_.data(), in_, 1.f, y.data(), out_);
  if (act_ == Activation::kRelu)
    for (auto& v : y) v = v > 0 ? v : 0;
  if (act_ == Activation::kPrelu)
    for (size_t i = 0; i < y.size(); ++i)
      if (y[i] < 0) y[i] *= prelu_[i % static_cast<size_t>(out_)];
  return y;
}

}  // namespace facepipe::nn
