// The in-memory form of a weight tensor, whatever file it came from: float32, contiguous, C order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace facepipe::weights {

struct Tensor {
  std::vector<int64_t> shape;  // empty = scalar
  std::vector<float> data;     // numel() values, row-major
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// Parameter name (e.g. "conv2d_1a.conv.weight") -> tensor, sorted by name.
using StateDict = std::map<std::string, Tensor>;

// The tensor `name` of `dict` with exactly `shape`; Error(kInvalidInput) naming the key, the expected and
// the actual shape otherwise (a weight file of another architecture must not be half-loaded).
const Tensor& expect(const StateDict& dict, const std::string& name, const std::vector<int64_t>& shape);

}  // namespace facepipe::weights
