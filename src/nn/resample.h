// Area resampling of float planes, exactly torch.nn.functional.interpolate(mode='area'), which is
// adaptive_avg_pool2d: output cell (i, j) averages input rows [floor(i*H/oh), ceil((i+1)*H/oh)) and
// columns [floor(j*W/ow), ceil((j+1)*W/ow)). MTCNN's pyramid and crops use it, and so does the 160x160
// InceptionResnetV1 input.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace facepipe::nn {

// `in` is channels x height x width (contiguous), `out` channels x out_height x out_width.
void adaptive_avg_pool2d(const float* in, int channels, int height, int width, float* out, int out_height,
                         int out_width);

// The same for an interleaved 8-bit RGB image (height x width x 3, rows `stride` bytes apart), writing
// planar floats (3 x out_height x out_width). Bit-identical to converting to float first: the pixels are
// integers either way and each cell is summed in the same order; it reads a quarter of the bytes, which
// matters for MTCNN's pyramid (every level reads the whole frame).
void adaptive_avg_pool2d_rgb8(const unsigned char* in, int height, int width, long stride, float* out,
                              int out_height, int out_width);

// Area resampling of one 8-bit RGB frame at many sizes (MTCNN's pyramid), from a summed-area table built
// once: each output cell costs four lookups instead of a pass over its window. Bit-identical to
// adaptive_avg_pool2d_rgb8: pixels are integers, so a window's float sum is exact in any order while it
// stays below 2^24; larger windows (frames far above 4K resampled to a few pixels) take the direct path.
// How RgbIntegral writes each average: (average - offset) * scale, in that order (MTCNN's input
// normalisation is offset 127.5, scale 1/128); the defaults write the average itself.
struct ResampleOutput {
  float offset = 0, scale = 1;
};

class RgbIntegral {
 public:
  RgbIntegral(const unsigned char* in, int height, int width, long stride);
  using Output = ResampleOutput;
  // 3 x out_height x out_width planar floats.
  void resample(float* out, int out_height, int out_width, const Output& how = {}) const;
  // The same for the frame's rectangle of `height` x `width` pixels at (top, left) (MTCNN's RNet/ONet
  // crops: their windows span many pixels each, here four lookups).
  void resample_region(int top, int left, int height, int width, float* out, int out_height, int out_width,
                       const Output& how = {}) const;

 private:
  const unsigned char* in_;
  int height_, width_;
  long stride_;
  std::unique_ptr<unsigned int[]> sums_;  // (height+1) x (width+1) x 3, inclusive prefix sums; null: none

  void resample_rect(int top, int left, int height, int width, float* out, int out_height, int out_width,
                     const Output& how) const;
};

}  // namespace facepipe::nn
