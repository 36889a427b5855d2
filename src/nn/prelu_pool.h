// PReLU followed by max pooling, in one pass over the activation (RNet's and ONet's conv -> PReLU -> max
// pool; PNet's first stage is models/pnet_stem). oneDNN 2.6 cannot fuse a PReLU into its JIT
// convolutions, so the PReLU was a separate pass that read and wrote the convolution's whole output,
// which the pooling then read again: for PNet's first layer on a 1080p frame that was 47 MB three times.
// Here the convolution's output is read once and only the pooled quarter is written. Bit-identical to
// the two steps (the same PReLU expression per element, then the same max). The slopes may be negative,
// so PReLU cannot simply move after the max; it moves after a max and a min (prelu_pool.cpp says why that
// is exact), which costs two PReLUs per output, not k^2.
#pragma once

#include <algorithm>
#include <vector>

#include "nn/layers.h"

namespace facepipe::nn {

// PyTorch's (and oneDNN's) PReLU, x > 0 ? x : slope * x, written as max(x, 0) + slope * min(x, 0): the
// same value (one of the two terms is an exact zero; a product contracted into an FMA is rounded once,
// as the product alone), up to the sign of a zero result, and it vectorises where GCC 12 leaves the
// conditional form scalar.
inline float prelu(float x, float slope) { return std::max(x, 0.f) + slope * std::min(x, 0.f); }

class PreluMaxPool2d {
 public:
  // `slopes`: one per channel; pooling as MaxPool2d (PyTorch's output-size rule, `ceil_mode`).
  PreluMaxPool2d(std::vector<float> slopes, int kernel, int stride, bool ceil_mode);
  // x in any layout; the result keeps x's channel blocking (nChw8c/nChw16c/nchw) or is plain NCHW.
  Act forward(dnnl::stream& stream, const Act& x) const;

 private:
  std::vector<float> slopes_;
  int kernel_, stride_;
  bool ceil_mode_;
};

}  // namespace facepipe::nn
