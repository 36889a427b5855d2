// PReLU followed by max pooling, in one pass over the activation (MTCNN's conv -> PReLU -> max pool).
// oneDNN 2.6 cannot fuse a PReLU into its JIT convolutions, so the PReLU was a separate pass that read
// and wrote the convolution's whole output, which the pooling then read again: for PNet's first layer on
// a 1080p frame that is 47 MB three times. Here the convolution's output is read once and only the
// pooled quarter is written. Bit-identical to the two steps (the same PReLU expression per element, then
// the same max). The slopes may be negative, so PReLU cannot simply move after the max; it moves after a
// max and a min (prelu_pool.cpp says why that is exact), which costs two PReLUs per output, not k^2.
#pragma once

#include <vector>

#include "nn/layers.h"

namespace facepipe::nn {

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
