// PNet's first stage in one pass: conv1 (3 -> 10 channels, 3x3), PReLU, max pool 2x2 stride 2 (ceil
// mode), as facenet-pytorch's PNet runs them.
//
// Hand-written because no library here does it well: oneDNN 2.6 runs a 3-input-channel convolution at
// about a quarter of its speed on wider ones (8.9 ms for a 1080p frame's first pyramid level, 23 GMAC/s
// on one core), and it cannot fuse pooling, so the 10-channel full-resolution output (30 MB at that
// level) was written and read again. Here two convolution rows at a time stay in cache and only the
// pooled quarter is written.
//
// Numerics: float32 with fused multiply-adds in a fixed order (bias added last), so results differ from
// oneDNN's and PyTorch's by float rounding only (MTCNN's golden parity tests bound it); PReLU and the
// max are exact as in nn/prelu_pool.h.
#pragma once

#include <vector>

#include "weights/tensor.h"

namespace facepipe::models {

class PnetStem {
 public:
  // conv1.weight (10 x 3 x 3 x 3), conv1.bias (10), prelu1.weight (10).
  PnetStem(const weights::Tensor& weight, const std::vector<float>& bias, const std::vector<float>& slopes);

  // Floats forward() may read past the end of its input (it loads whole vectors); callers allocate that
  // much more.
  static constexpr int kReadPastEnd = 64;

  // `planar`: 3 x height x width floats, already normalised (height, width >= 4). Writes the pooled map,
  // out_height x out_width x 10 (channels-last, what conv2 reads), into `out`.
  void forward(const float* planar, int height, int width, std::vector<float>& out, int& out_height,
               int& out_width) const;

 private:
  std::vector<float> weights_;  // [27 taps (ic, ky, kx)][10 output channels]
  std::vector<float> bias_, slopes_;
};

}  // namespace facepipe::models
