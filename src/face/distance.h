// Distances between embeddings, written once so that every match (gallery, enrolment's repeat check, the
// CompreFace API) gives bit-identical numbers.
#pragma once

#include <cmath>
#include <cstddef>

#include "face/types.h"

namespace facepipe::face {

// Sum of (a[k] - b[k])^2 over k < n, in float and in index order, as the reference's torch code sums.
inline float squared_l2_distance(const float* a, const float* b, size_t n) {
  float sum = 0;
  for (size_t k = 0; k < n; ++k) {
    const float diff = a[k] - b[k];
    sum += diff * diff;
  }
  return sum;
}

// Euclidean distance over the first min(a.size(), b.size()) values (callers check the sizes).
inline float l2_distance(const Embedding& a, const Embedding& b) {
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  return std::sqrt(squared_l2_distance(a.data(), b.data(), n));
}

}  // namespace facepipe::face
