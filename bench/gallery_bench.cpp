// Gallery search at scale, on synthetic embeddings (random unit vectors, one face per person; each query is
// a stored face plus noise, so it has a true nearest): the gallery's index (gallery/index.h) against the
// loop it replaced and against oneDNN's matmul, at 10^4 and 10^5 people, 128-d and 512-d.
//
//   build/gallery_bench                                   # 10^4 and 10^5: a short run
//   FACEPIPE_BENCH_MILLION=1 build/gallery_bench          # adds 10^6 (2 GB of fp32 at 512-d: run once)
//   FACEPIPE_BENCH_GALLERY=/tmp/g.db build/gallery_bench --benchmark_filter=Open   # open time of a file
//
// Counters: bytes_per_embedding (the index's own accounting, gallery/index.h) and index_MB.
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "gallery/gallery.h"
#include "gallery/index.h"

namespace {

using facepipe::gallery::EmbeddingIndex;

struct Synthetic {
  int dim = 0;
  size_t rows = 0;
  std::vector<float> matrix;  // rows x dim, row-major (the old Gallery's layout)
  std::vector<std::vector<float>> queries;
  std::unique_ptr<EmbeddingIndex> index;
};

// One data set at a time (10^6 x 512 is 2 GB): built on first use, replaced when the size changes.
Synthetic& data(int dim, size_t rows) {
  static Synthetic s;
  if (s.dim == dim && s.rows == rows) return s;
  s = Synthetic{};
  s.dim = dim;
  s.rows = rows;
  std::mt19937 rng(42);
  std::normal_distribution<float> n(0.f, 1.f);
  s.matrix.resize(rows * static_cast<size_t>(dim));
  for (size_t r = 0; r < rows; ++r) {
    float* v = &s.matrix[r * static_cast<size_t>(dim)];
    float norm = 0;
    for (int k = 0; k < dim; ++k) norm += (v[k] = n(rng)) * v[k];
    for (int k = 0; k < dim; ++k) v[k] /= std::sqrt(norm);
  }
  for (int q = 0; q < 64; ++q) {
    const size_t r = std::uniform_int_distribution<size_t>(0, rows - 1)(rng);
    std::vector<float> v(s.matrix.begin() + static_cast<std::ptrdiff_t>(r * static_cast<size_t>(dim)),
                         s.matrix.begin() + static_cast<std::ptrdiff_t>((r + 1) * static_cast<size_t>(dim)));
    for (auto& x : v) x += 0.02f * n(rng);
    s.queries.push_back(std::move(v));
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
    std::vector<float> chunk(s.matrix.begin() + static_cast<std::ptrdiff_t>(r0 * static_cast<size_t>(dim)),
                             s.matrix.begin() + static_cast<std::ptrdiff_t>(r1 * static_cast<size_t>(dim)));
    s.index->add_many(keys, persons, chunk);
  }
  return s;
}

void counters(benchmark::State& state, const Synthetic& s) {
  const double bytes = static_cast<double>(s.index->memory_bytes());
  state.counters["bytes_per_embedding"] = bytes / static_cast<double>(s.rows);
  state.counters["index_MB"] = bytes / 1e6;
}

// The gallery's search: exact nearest over every row (what Gallery::match runs).
void BM_IndexNearest(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  size_t q = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.index->nearest(s.queries[q++ % s.queries.size()].data()));
  counters(state, s);
}

// Gallery::nearest_people / distances: every person's nearest distance.
void BM_IndexPerPerson(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  size_t q = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(s.index->per_person(s.queries[q++ % s.queries.size()].data()));
  counters(state, s);
}

// The loop Gallery::match ran before the index (row-major, one thread), for the ratio.
void BM_ReferenceLoop(benchmark::State& state) {
  auto& s = data(static_cast<int>(state.range(0)), static_cast<size_t>(state.range(1)));
  const size_t d = static_cast<size_t>(s.dim);
  size_t q = 0;
  for (auto _ : state) {
    const float* e = s.queries[q++ % s.queries.size()].data();
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
  std::vector<float> query(s.queries[0]), dots(s.rows), norms(s.rows);
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
    const auto& src = s.queries[q++ % s.queries.size()];
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

// Opening a gallery file: SQLite read + index load (FACEPIPE_BENCH_GALLERY names the file).
void BM_GalleryOpen(benchmark::State& state) {
  const char* path = std::getenv("FACEPIPE_BENCH_GALLERY");
  for (auto _ : state) {
    auto g = facepipe::gallery::Gallery::open(path);
    benchmark::DoNotOptimize(g->dim());
  }
}

}  // namespace

// Registered by size, then kind, so one data set serves every kind before the next is built.
int main(int argc, char** argv) {
  const bool million = std::getenv("FACEPIPE_BENCH_MILLION") != nullptr;
  for (int64_t dim : {128, 512})
    for (int64_t people : {10000, 100000, 1000000}) {
      if (people == 1000000 && !million) continue;
      for (auto [name, fn] : std::initializer_list<std::pair<const char*, void (*)(benchmark::State&)>>{
               {"IndexNearest", BM_IndexNearest},
               {"IndexPerPerson", BM_IndexPerPerson},
               {"ReferenceLoop", BM_ReferenceLoop},
               {"OneDnnMatmul", BM_OneDnnMatmul}})
        benchmark::RegisterBenchmark(name, fn)
            ->Args({dim, people})
            ->ArgNames({"dim", "people"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  if (std::getenv("FACEPIPE_BENCH_GALLERY"))
    benchmark::RegisterBenchmark("GalleryOpen", BM_GalleryOpen)->Unit(benchmark::kMillisecond)->Iterations(3);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
