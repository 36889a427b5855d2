// The IVF's coarse quantizer: Lloyd's k-means on a sample, and the nearest centroid of many rows at once.
//
// Both are matrix products (rows x centroids), computed as ||c||^2 - 2 x.c with oneDNN's sgemm (already a
// dependency of the engine; ~110 GFLOPS on these 2 cores with AVX-512 under load): the assignment only
// ranks centroids, so the rounding of that form does not matter (search still scores rows exactly).
//
// Why not FAISS (Debian's libfaiss-dev 1.7.3), measured with bench/extra/faiss_compare.cpp on the same
// synthetic galleries, IVF1000,Flat on 64k sampled rows (README "Gallery size" has the figures and loads):
// - training + filling at 10^6 took 12.6 + 24.4 s (128-d) and 39.9 + 90.7 s (512-d) with OpenBLAS at
//   load 3-6 (443 s for k-means alone at 10^5 x 128 with Debian's reference BLAS); ours 9.6 s and 24 s in
//   all at load 4.5, and its speed does not hang on which BLAS update-alternatives picked machine-wide;
// - its search at 10^6 x 512, nprobe 32, took 53 ms a query (recall 0.985) where our exact kernel over the
//   same lists takes 8 ms;
// - its lists cannot drop a row in O(1) (remove_ids scans every list) and the gallery removes faces while
//   serving; it knows nothing of the gallery's ties (earliest stored embedding) or person slots;
// - its distances are ||q||^2 + ||x||^2 - 2 q.x, not the reference loop's rounding, so an IVF answer
//   would differ from the exact answer for the same row.
// The search itself is the gallery's own exact kernel over the probed lists (index.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace facepipe::gallery::ivf {

// The nearest of `k` centroids (row-major k x dim, `norms` their squared norms) for each of the `n` rows
// (row-major n x dim) into out[0..n).
void assign(const float* rows, size_t n, int dim, const float* centroids, const float* norms, size_t k,
            uint32_t* out);

// Squared norms of `k` row-major rows of `dim`.
std::vector<float> norms(const float* rows, size_t k, int dim);

// `k` centroids (row-major k x dim) from `n` >= k sample rows, `iterations` Lloyd rounds from k distinct
// sample rows picked with `seed`; an empty cluster is re-seeded by splitting the largest. Returns early
// (empty) when `stop` becomes true.
std::vector<float> kmeans(const float* sample, size_t n, int dim, size_t k, int iterations, uint64_t seed,
                          const std::atomic<bool>* stop = nullptr);

}  // namespace facepipe::gallery::ivf
