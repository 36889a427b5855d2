// A compact inference layer on oneDNN (the CPU library PyTorch itself uses), for the few layer kinds
// facepipe's networks need. Each layer owns its weights and caches one oneDNN primitive per input
// shape (MTCNN's PNet runs at a dozen pyramid sizes; batches vary), created on first use and reused.
// Activations stay in whatever blocked layout oneDNN prefers between layers (`format_tag::any`);
// only the network's input and output are plain NCHW.
//
// Thread safety: every layer may be called from several threads at once; primitive creation is
// guarded, execution is oneDNN's (re-entrant for CPU primitives).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "nn/precision.h"
#include "weights/tensor.h"

namespace facepipe::nn {

dnnl::engine& cpu_engine();

// An activation: a oneDNN memory of logical dims (N, C, H, W) in any layout.
struct Act {
  dnnl::memory mem;
  dnnl::memory::dims dims() const { return mem.get_desc().dims(); }
};

// Wraps a plain NCHW float buffer (not copied: it must outlive the call that uses the Act).
Act from_nchw(const float* data, int n, int c, int h, int w);
// The same for a plain NHWC (channels-last, interleaved) buffer.
Act from_nhwc(const float* data, int n, int c, int h, int w);
// Copies an activation out as plain NCHW floats.
std::vector<float> to_nchw(dnnl::stream& stream, const Act& act);

enum class Activation { kNone, kRelu, kPrelu };

// BatchNorm parameters (inference: running statistics), folded into the preceding convolution.
struct BatchNorm {
  std::vector<float> gamma, beta, mean, var;
  float eps = 1e-5f;
};
// Reads "<prefix>.weight/.bias/.running_mean/.running_var" of `channels` from a state dict.
BatchNorm batch_norm_from(const weights::StateDict& dict, const std::string& prefix, int64_t channels,
                          float eps);

struct ConvSpec {
  int out_channels = 0, in_channels = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride = 1;
  int pad_h = 0, pad_w = 0;
  // Source and result in plain NHWC instead of oneDNN's choice: for a few channels (PNet's 10 and 16)
  // a blocked layout pads them to 8/16-channel blocks and oneDNN's NHWC kernels run faster (PNet's
  // 10 -> 16 convolution: 11 instead of 18.5 ms of CPU on a 1080p frame's first level).
  bool channels_last = false;
  // kBf16: weights packed as bf16, source and result bf16 (a network's fp32 input is converted by the
  // first layer's reorder); bias and accumulation stay fp32 (nn/precision.h).
  Precision precision = Precision::kF32;
  // With kBf16: the result is fp32 (still computed on bf16 units) for a hand-written consumer that reads
  // fp32 (nn/prelu_pool.h), instead of a bf16 result it would have to convert in a pass of its own.
  bool fp32_result = false;
  // With kInt8: the input is quantised as u8 = round(x * src_scale) (it follows a ReLU, so it is never
  // negative; nn/calibration.h gives the scale); the result is fp32, or u8 at `dst_scale` when that is
  // set, for a consumer that is itself an int8 convolution with that src_scale.
  float src_scale = 0, dst_scale = 0;
  // The layer's name in its network (the state dict prefix): what calibration tables are keyed by.
  std::string name{};
};

// Convolution with BatchNorm folded in at construction and the activation fused as a post-op.
// With a residual, computes act(scale * conv(x) + residual): the scale is folded into the weights and
// the residual is accumulated by oneDNN's sum post-op.
class Conv2d {
 public:
  // `weight` OIHW; `bias` may be empty; `bn` optional (applied after conv+bias); `prelu` one slope per
  // output channel when `act` is kPrelu; `residual_scale` != 0 makes forward() take a residual.
  // `weight` is taken by value: callers that move it in spare a copy (InceptionResnetV1's 92 MB).
  Conv2d(const ConvSpec& spec, weights::Tensor weight, const std::vector<float>& bias, const BatchNorm* bn,
         Activation act, std::vector<float> prelu = {}, float residual_scale = 0);

  // y = act(conv(x)) or, when constructed with a residual scale, act(scale * conv(x) + residual). The
  // residual's buffer may be reused for the output (it is consumed).
  Act forward(dnnl::stream& stream, const Act& x, const Act* residual = nullptr);
  int out_channels() const { return spec_.out_channels; }

 private:
  struct Plan {
    dnnl::convolution_forward prim;
    dnnl::memory::desc src_md, dst_md, scratchpad_md;
    dnnl::memory weights, bias;
    // kInt8: the fp32 -> u8 reorder of the input, made for the first input layout seen.
    dnnl::memory::desc quantize_from, quantize_scratchpad_md;
    dnnl::reorder quantize;
    dnnl::prelu_forward prelu;  // separate: oneDNN 2.6's JIT convolutions reject a PReLU post-op
    dnnl::memory prelu_weights;
    dnnl::memory::desc prelu_scratchpad_md;
  };
  Plan& plan_for(const dnnl::memory::dims& in);
  // `x` as the plan's source: quantised to u8 for kInt8 when it is fp32, else in the plan's layout.
  dnnl::memory source_for(dnnl::stream& stream, Plan& plan, const dnnl::memory& x);
  // The weights in layout `md`: shared by every plan that wants that layout (oneDNN usually picks one
  // layout for all batch sizes and frame sizes), so a network holds one packed copy of its weights.
  dnnl::memory packed_weights(const dnnl::memory::desc& md);

  ConvSpec spec_;
  // The folded OIHW weights until the first plan packs them; then released (a second layout, if oneDNN
  // ever wants one, is reordered from the packed copy): InceptionResnetV1 kept 92 MB twice. Held in the
  // precision the convolution runs at (fp32 in `weight_`, or s8 / bf16 bytes in `low_weight_`), so a
  // reduced-precision network does not keep its fp32 copy resident until the first frame.
  std::vector<float> weight_;
  std::vector<char> low_weight_;
  dnnl::memory user_weights_;  // the one of the two above that holds them, as oneDNN reads it
  std::vector<dnnl::memory> packed_;
  std::vector<float> bias_, prelu_;
  std::vector<float> weight_scale_;  // kInt8: s8 = round(w * weight_scale_[o]), per output channel
  Activation act_;
  bool residual_;
  std::mutex mu_;
  std::map<dnnl::memory::dims, Plan> plans_;
};

// Max pooling with PyTorch's output-size rule (floor, or ceil with `ceil_mode` as MTCNN uses).
class MaxPool2d {
 public:
  MaxPool2d(int kernel, int stride, bool ceil_mode)
      : kernel_(kernel), stride_(stride), ceil_mode_(ceil_mode) {}
  Act forward(dnnl::stream& stream, const Act& x);

 private:
  struct Plan {
    dnnl::pooling_forward prim;
    dnnl::memory::desc src_md, dst_md, scratchpad_md;
  };
  int kernel_, stride_;
  bool ceil_mode_;
  std::mutex mu_;
  std::map<dnnl::memory::dims, Plan> plans_;
};

// Concatenation along channels.
class Concat {
 public:
  Act forward(dnnl::stream& stream, const std::vector<Act>& parts);

 private:
  struct Plan {
    dnnl::concat prim;
    std::vector<dnnl::memory::desc> src_mds;
    dnnl::memory::desc dst_md, scratchpad_md;
  };
  std::mutex mu_;
  std::map<std::vector<dnnl::memory::dim>, Plan> plans_;
};

// Fully connected layer y = x W^T + b on rows of plain floats (oneDNN's sgemm), optional PReLU.
class Linear {
 public:
  // `weight` is (out, in) as PyTorch stores it.
  Linear(const weights::Tensor& weight, std::vector<float> bias, Activation act = Activation::kNone,
         std::vector<float> prelu = {});
  // x: n rows of in_features; returns n rows of out_features.
  std::vector<float> forward(const float* x, int n) const;
  int in_features() const { return in_; }
  int out_features() const { return out_; }
  std::vector<float>& mutable_weight() { return weight_; }

 private:
  int out_, in_;
  std::vector<float> weight_, bias_, prelu_;
  Activation act_;
};

}  // namespace facepipe::nn
