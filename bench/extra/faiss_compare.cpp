// FAISS (Debian's libfaiss-dev 1.7.3) on the same synthetic galleries as bench/gallery_bench.cpp: flat
// (exact) and IVF (approximate) search latency for one query, and IVF's recall@1 against exact search.
// Not part of the build: FAISS was measured and not adopted (gallery/ivf.h says why). To rerun:
//
//   sudo apt-get install libfaiss-dev
//   g++ -O2 -fopenmp bench/extra/faiss_compare.cpp -o /tmp/faiss_compare -lfaiss -lblas -llapack
//   OMP_NUM_THREADS=2 /tmp/faiss_compare 128 100000 [nlist]  # dim, rows; nlist default 4 sqrt(rows)
//   # with OpenBLAS instead of the reference BLAS (apt-get install libopenblas0-pthread), for this run only:
//   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OMP_NUM_THREADS=2 /tmp/faiss_compare 512 1000000 1000
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  const int dim = argc > 1 ? std::atoi(argv[1]) : 128;
  const size_t rows = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100000;
  std::mt19937 rng(42);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> x(rows * dim);
  for (size_t r = 0; r < rows; ++r) {
    float norm = 0;
    for (int k = 0; k < dim; ++k) norm += (x[r * dim + k] = n(rng)) * x[r * dim + k];
    for (int k = 0; k < dim; ++k) x[r * dim + k] /= std::sqrt(norm);
  }
  constexpr int kQueries = 200;
  std::vector<float> q(kQueries * dim);
  for (int i = 0; i < kQueries; ++i) {
    const size_t r = std::uniform_int_distribution<size_t>(0, rows - 1)(rng);
    for (int k = 0; k < dim; ++k) q[i * dim + k] = x[r * dim + k] + 0.02f * n(rng);
  }
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  faiss::IndexFlatL2 flat(dim);
  flat.add(rows, x.data());
  std::vector<faiss::Index::idx_t> exact(kQueries);
  std::vector<float> dist(kQueries);
  auto t0 = Clock::now();
  for (int i = 0; i < kQueries; ++i) flat.search(1, &q[i * dim], 1, &dist[i], &exact[i]);  // one at a time
  auto t1 = Clock::now();
  std::printf("dim %d rows %zu: FAISS IndexFlatL2 %.2f ms/query, %.0f bytes/embedding\n", dim, rows,
              ms(t0, t1) / kQueries, 4.0 * dim);
  const size_t nlist = argc > 3 ? std::strtoul(argv[3], nullptr, 10)
                                : static_cast<size_t>(4 * std::sqrt(static_cast<double>(rows)));
  faiss::IndexFlatL2 quantizer(dim);
  faiss::IndexIVFFlat ivf(&quantizer, dim, nlist);
  const size_t train = std::min(rows, nlist * 64);  // the sample facepipe's own IVF trains on
  t0 = Clock::now();
  ivf.train(train, x.data());
  const auto trained = Clock::now();
  ivf.add(rows, x.data());
  t1 = Clock::now();
  std::printf("  IVF%zu,Flat: trained on %zu in %.1f s, filled in %.1f s\n", nlist, train,
              ms(t0, trained) / 1000, ms(trained, t1) / 1000);
  for (size_t nprobe : {4, 8, 16, 32, 64}) {
    ivf.nprobe = nprobe;
    std::vector<faiss::Index::idx_t> got(kQueries);
    t0 = Clock::now();
    for (int i = 0; i < kQueries; ++i) ivf.search(1, &q[i * dim], 1, &dist[i], &got[i]);
    t1 = Clock::now();
    int hits = 0;
    for (int i = 0; i < kQueries; ++i) hits += got[i] == exact[i];
    std::printf("  nprobe %3zu: %.3f ms/query, recall@1 %.3f\n", nprobe, ms(t0, t1) / kQueries,
                static_cast<double>(hits) / kQueries);
  }
  return 0;
}
