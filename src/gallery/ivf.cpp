#include "gallery/ivf.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "core/error.h"

namespace facepipe::gallery::ivf {
namespace {

// Rows per sgemm: 4096 x 1024 centroids of scores is 16 MB.
constexpr size_t kChunk = 4096;

}  // namespace

std::vector<float> norms(const float* rows, size_t k, int dim) {
  std::vector<float> out(k);
  const size_t d = static_cast<size_t>(dim);
  for (size_t c = 0; c < k; ++c) {
    float s = 0;
    for (size_t j = 0; j < d; ++j) s += rows[c * d + j] * rows[c * d + j];
    out[c] = s;
  }
  return out;
}

void assign(const float* rows, size_t n, int dim, const float* centroids, const float* norms, size_t k,
            uint32_t* out) {
  if (n == 0 || k == 0) return;
  std::vector<float> dots(std::min(n, kChunk) * k);
  for (size_t r0 = 0; r0 < n; r0 += kChunk) {
    const size_t m = std::min(kChunk, n - r0);
    // dots (m x k) = rows[r0..] (m x dim) * centroids^T (dim x k), row-major.
    const dnnl_status_t st = dnnl_sgemm('N', 'T', static_cast<dnnl_dim_t>(m), static_cast<dnnl_dim_t>(k), dim,
                                        1.f, rows + r0 * static_cast<size_t>(dim), dim, centroids, dim, 0.f,
                                        dots.data(), static_cast<dnnl_dim_t>(k));
    if (st != dnnl_success) throw Error(ErrorKind::kInternal, "gallery IVF: sgemm failed");
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m; ++i) {
      const float* row = dots.data() + i * k;
      float best = std::numeric_limits<float>::infinity();
      uint32_t best_c = 0;
      for (size_t c = 0; c < k; ++c) {
        const float s = norms[c] - 2 * row[c];
        if (s < best) {
          best = s;
          best_c = static_cast<uint32_t>(c);
        }
      }
      out[r0 + i] = best_c;
    }
  }
}

std::vector<float> kmeans(const float* sample, size_t n, int dim, size_t k, int iterations, uint64_t seed,
                          const std::atomic<bool>* stop) {
  if (k == 0 || n < k) throw Error(ErrorKind::kInternal, "gallery IVF: fewer sample rows than centroids");
  const size_t d = static_cast<size_t>(dim);
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<float> c(k * d);
  for (size_t i = 0; i < k; ++i)
    std::copy_n(sample + order[i] * d, d, c.begin() + static_cast<ptrdiff_t>(i * d));
  std::vector<uint32_t> label(n);
  std::vector<double> sums(k * d);
  std::vector<size_t> count(k);
  for (int it = 0; it < iterations; ++it) {
    if (stop && stop->load()) return {};
    const auto cn = norms(c.data(), k, dim);
    assign(sample, n, dim, c.data(), cn.data(), k, label.data());
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(count.begin(), count.end(), size_t{0});
    for (size_t i = 0; i < n; ++i) {
      double* s = sums.data() + label[i] * d;
      const float* x = sample + i * d;
      for (size_t j = 0; j < d; ++j) s[j] += x[j];
      ++count[label[i]];
    }
    for (size_t i = 0; i < k; ++i)
      if (count[i] > 0)
        for (size_t j = 0; j < d; ++j) c[i * d + j] = static_cast<float>(sums[i * d + j] / count[i]);
    // Empty clusters: split the largest one in two (its centroid, nudged both ways), as is usual.
    for (size_t i = 0; i < k; ++i) {
      if (count[i] > 0) continue;
      const size_t big = static_cast<size_t>(std::max_element(count.begin(), count.end()) - count.begin());
      std::uniform_real_distribution<float> jitter(-1e-4f, 1e-4f);
      for (size_t j = 0; j < d; ++j) {
        const float e = jitter(rng);
        c[i * d + j] = c[big * d + j] * (1 + e);
        c[big * d + j] *= (1 - e);
      }
      count[i] = count[big] / 2;
      count[big] -= count[i];
    }
  }
  return c;
}

}  // namespace facepipe::gallery::ivf
