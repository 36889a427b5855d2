// Gallery search at scale, on synthetic embeddings (random unit vectors, one face per person): exact search
// and the IVF (gallery/index.h) at 10^4, 10^5 and 10^6 people, 128-d and 512-d.
//
// Queries: "near" = a stored face plus noise (0.02 per element: a new photo of a known face, which has a
// true nearest); "random" = random unit vectors (nobody's face). Recall@1 of the IVF against exact is
// reported for both, but only near queries matter: a random query's nearest stored face is ~1.3 away at
// best, far beyond any match threshold (0.6-1.1), so it is "Unknown" whichever face the IVF returns.
//
//   build/gallery_bench                                   # 10^4 and 10^5
//   FACEPIPE_BENCH_MILLION=1 build/gallery_bench          # adds 10^6 (2 GB of fp32 at 512-d)
//   FACEPIPE_BENCH_BASELINES=1 build/gallery_bench        # also the loop the index replaced, oneDNN matmul
//   FACEPIPE_BENCH_GALLERY=/tmp/g.db build/gallery_bench --benchmark_filter=Open
//       # open time of a gallery file; made first when missing (FACEPIPE_BENCH_GALLERY_ROWS, default 10^6,
//       # 128-d synthetic rows)
//
// Counters: bytes_per_embedding (the index's own accounting), index_MB, train_s (IVF: sample, k-means,
// assignment of every row, rebuild of the lists), nlist, recall_near, recall_random.
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "gallery/gallery.h"
#include "gallery/index.h"

namespace {

using facepipe::gallery::EmbeddingIndex;
using facepipe::gallery::IndexMode;

struct Synthetic {
  int dim = 0;
  size_t rows = 0;
  std::vector<float> matrix;  // rows x dim, row-major (kept only for the baselines)
  std::vector<std::vector<float>> near, random;
  std::vector<int64_t> exact_near, exact_random;  // exact search's answers (ground truth)
  std::unique_ptr<EmbeddingIndex> index;
  double train_seconds = 0;
};

bool baselines() { return std::getenv("FACEPIPE_BENCH_BASELINES") != nullptr; }

// One data set at a time (10^6 x 512 is 2 GB): built on first use, replaced when the size changes.
Synthetic& data(int dim, size_t rows) {
  static Synthetic s;
  if (s.dim == dim && s.rows == rows) return s;
  s = Synthetic{};
  s.dim = dim;
  s.rows = rows;
  const size_t d = static_cast<size_t>(dim);
  std::mt19937 rng(42);
  std::normal_distribution<float> n(0.f, 1.f);
  s.matrix.resize(rows * d);
  auto unit = [&](float* v) {
    float norm = 0;
    for (size_t k = 0; k < d; ++k) norm += (v[k] = n(rng)) * v[k];
    for (size_t k = 0; k < d; ++k) v[k] /= std::sqrt(norm);
  };
  for (size_t r = 0; r < rows; ++r) unit(&s.matrix[r * d]);
  for (int q = 0; q < 128; ++q) {
    const size_t r = std::uniform_int_distribution<size_t>(0, rows - 1)(rng);
    std::vector<float> v(s.matrix.begin() + static_cast<std::ptrdiff_t>(r * d),
                         s.matrix.begin() + static_cast<std::ptrdiff_t>((r + 1) * d));
    for (auto& x : v) x += 0.02f * n(rng);
    s.near.push_back(std::move(v));
  }
  for (int q = 0; q < 64; ++q) {
    std::vector<float> v(d);
    unit(v.data());
    s.random.push_back(std::move(v));
  }
  s.index = std::make_unique<EmbeddingIndex>();
  s.index->reset(dim);
  constexpr size_t kChunk = 65536;
  for (size_t r0 = 0; r0 < rows; r0 += kChunk) {
    const size_t r1 = std::min(rows, r0 + kChunk);
    std::vector<int64_t> keys;
    std::vector<std::string> persons;
    for (size_t r = r0; r < r1; ++r) {
      keys.push_back(static_cast<int64_t>(r + 1));
      persons.push_back("person" + std::to_string(r));
    }
    std::vector<float> chunk(s.matrix.begin() + static_cast<std::ptrdiff_t>(r0 * d),
                             s.matrix.begin() + static_cast<std::ptrdiff_t>(r1 * d));
    s.index->add_many(keys, persons, chunk);
  }
  if (!baselines()) s.matrix = {};
  for (const auto& q : s.near) s.exact_near.push_back(s.index->nearest_exact(q.data()).key);
  for (const auto& q : s.random) s.exact_random.push_back(s.index->nearest_exact(q.data()).key);
  const auto t0 = std::chrono::steady_clock::now();
  s.index->train();
  s.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.index->set_mode(IndexMode::kIvf);  // trained on every row: no background retrain
  return s;
}

void counters(benchmark::State& state, const Synthetic& s) {
  const double bytes = static_cast<double>(s.index->memory_bytes());
  state.counters["bytes_per_embedding"] = bytes / static_cast<double>(s.rows);
  state.counters["index_MB"] = bytes / 1e6;
}

// Exact nearest over every row (IndexMode::kExact, and kAuto below kIvfAutoRows).
void BM_Exact(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  size_t q = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.index->nearest_exact(s.near[q++ % s.near.size()].data()));
  counters(state, s);
}

// The IVF at nprobe = range(2) (0 = the default), with its recall@1 against exact.
void BM_Ivf(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  s.index->set_nprobe(static_cast<size_t>(state.range(2)));
  size_t q = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.index->nearest(s.near[q++ % s.near.size()].data()));
  double near = 0, random = 0;
  for (size_t i = 0; i < s.near.size(); ++i)
    near += s.index->nearest(s.near[i].data()).key == s.exact_near[i];
  for (size_t i = 0; i < s.random.size(); ++i)
    random += s.index->nearest(s.random[i].data()).key == s.exact_random[i];
  const auto info = s.index->ivf_info();
  state.counters["recall_near"] = near / static_cast<double>(s.near.size());
  state.counters["recall_random"] = random / static_cast<double>(s.random.size());
  state.counters["nlist"] = static_cast<double>(info.nlist);
  state.counters["nprobe"] = static_cast<double>(info.nprobe);
  state.counters["train_s"] = s.train_seconds;
  counters(state, s);
  s.index->set_nprobe(0);
}

// The loop Gallery::match ran before the index (row-major, one thread), for the ratio.
void BM_ReferenceLoop(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  const size_t d = static_cast<size_t>(s.dim);
  size_t q = 0;
  for (auto _ : state) {
    const float* e = s.near[q++ % s.near.size()].data();
    float best = std::numeric_limits<float>::infinity();
    size_t best_i = 0;
    for (size_t i = 0; i < s.rows; ++i) {
      const float* row = &s.matrix[i * d];
      float sum = 0;
      for (size_t k = 0; k < d; ++k) {
        const float diff = e[k] - row[k];
        sum += diff * diff;
      }
      if (sum < best) {
        best = sum;
        best_i = i;
      }
    }
    benchmark::DoNotOptimize(best_i);
  }
}

// oneDNN's matmul as the alternative: q (1 x d) times the gallery transposed (d x N) gives q.x for every
// row, then ||x||^2 - 2 q.x (||q||^2 is the same for all) and the argmin. Row norms precomputed.
void BM_OneDnnMatmul(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  using dnnl::memory;
  const auto d = static_cast<memory::dim>(s.dim), n = static_cast<memory::dim>(s.rows);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  memory::desc q_md({1, d}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc x_md({d, n}, memory::data_type::f32,
                    memory::format_tag::ba);  // row-major N x d, read as d x N
  memory::desc out_md({1, n}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, x_md, out_md), eng));
  std::vector<float> query(s.near[0]), dots(s.rows), norms(s.rows);
  for (size_t r = 0; r < s.rows; ++r) {
    float sum = 0;
    for (int k = 0; k < s.dim; ++k)
      sum += s.matrix[r * static_cast<size_t>(s.dim) + static_cast<size_t>(k)] *
             s.matrix[r * static_cast<size_t>(s.dim) + static_cast<size_t>(k)];
    norms[r] = sum;
  }
  memory q_mem(q_md, eng, query.data()), x_mem(x_md, eng, s.matrix.data()), out_mem(out_md, eng, dots.data());
  size_t q = 0;
  for (auto _ : state) {
    const auto& src = s.near[q++ % s.near.size()];
    std::copy(src.begin(), src.end(), query.begin());
    mm.execute(strm, {{DNNL_ARG_SRC, q_mem}, {DNNL_ARG_WEIGHTS, x_mem}, {DNNL_ARG_DST, out_mem}});
    strm.wait();
    float best = std::numeric_limits<float>::infinity();
    size_t best_i = 0;
    for (size_t r = 0; r < s.rows; ++r) {
      const float v = norms[r] - 2 * dots[r];
      if (v < best) {
        best = v;
        best_i = r;
      }
    }
    benchmark::DoNotOptimize(best_i);
  }
}

// FACEPIPE_BENCH_GALLERY, made when missing: synthetic 128-d rows through Gallery::add_bulk (what
// `facepipe gallery import` runs), then opened once with the IVF so the file holds a trained quantizer.
std::string gallery_file() {
  static const std::string path = [] {
    const std::string p = std::getenv("FACEPIPE_BENCH_GALLERY");
    if (!std::filesystem::exists(p)) {
      const char* env = std::getenv("FACEPIPE_BENCH_GALLERY_ROWS");
      const size_t rows = env ? std::strtoul(env, nullptr, 10) : 1000000;
      auto g = facepipe::gallery::Gallery::open(p, "synthetic/128", IndexMode::kExact);
      std::mt19937 rng(42);
      std::normal_distribution<float> n(0.f, 1.f);
      size_t r = 0;
      g->add_bulk([&](std::string& name, facepipe::face::Embedding& e) {
        if (r == rows) return false;
        name = "person" + std::to_string(r++);
        e.resize(128);
        float norm = 0;
        for (auto& x : e) norm += (x = n(rng)) * x;
        for (auto& x : e) x /= std::sqrt(norm);
        return true;
      });
    }
    auto g = facepipe::gallery::Gallery::open(p, "", IndexMode::kIvf);
    g->wait_index();  // trains and saves the IVF when the file has none
    return p;
  }();
  return path;
}

// Opening a gallery file: SQLite read + index load, exact (no IVF) or with the saved IVF.
void BM_GalleryOpen(benchmark::State& state) {
  const std::string path = gallery_file();
  const IndexMode mode = state.range(0) ? IndexMode::kAuto : IndexMode::kExact;
  for (auto _ : state) {
    auto g = facepipe::gallery::Gallery::open(path, "", mode);
    benchmark::DoNotOptimize(g->dim());
    state.counters["ivf"] = g->index_status().ivf;
  }
}

}  // namespace

// Registered by size, then kind, so one data set serves every kind before the next is built.
int main(int argc, char** argv) {
  const bool million = std::getenv("FACEPIPE_BENCH_MILLION") != nullptr;
  for (int64_t dim : {128, 512})
    for (int64_t people : {10000, 100000, 1000000}) {
      if (people == 1000000 && !million) continue;
      benchmark::RegisterBenchmark("Exact", BM_Exact)
          ->Args({dim, people})
          ->ArgNames({"dim", "people"})
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      for (int64_t nprobe : {0, 8, 16, 32, 64})
        benchmark::RegisterBenchmark("Ivf", BM_Ivf)
            ->Args({dim, people, nprobe})
            ->ArgNames({"dim", "people", "nprobe"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      if (baselines()) {
        benchmark::RegisterBenchmark("ReferenceLoop", BM_ReferenceLoop)
            ->Args({dim, people})
            ->ArgNames({"dim", "people"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark("OneDnnMatmul", BM_OneDnnMatmul)
            ->Args({dim, people})
            ->ArgNames({"dim", "people"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  if (std::getenv("FACEPIPE_BENCH_GALLERY"))
    benchmark::RegisterBenchmark("GalleryOpen", BM_GalleryOpen)
        ->ArgName("ivf")
        ->Arg(0)
        ->Arg(1)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
