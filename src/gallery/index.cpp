#include "gallery/index.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/error.h"

// Why a hand-written kernel over an interleaved matrix, not oneDNN's matmul or FAISS (measured with
// bench/gallery_bench.cpp and bench/extra/faiss_compare.cpp, figures in README "Gallery size"):
// - One query against the gallery is a matrix-vector product: memory-bound, every stored float is read
//   once whatever computes it. oneDNN's matmul (M=1) and FAISS's IndexFlatL2 use
//   ||q||^2 + ||x||^2 - 2 q.x, whose rounding differs from the reference loop's and can swap two
//   near-equal people, and they were slower here (oneDNN 1.5-1.9x at 10^5-10^6 rows, FAISS flat 2.5x at
//   10^5 x 128). This kernel gives today's distances bit for bit: 8 rows interleaved per block, so each
//   AVX2 lane runs the reference's own sequence `sum += (q[k] - x[k])^2` for one row (no reassociation, no
//   FMA: index.cpp is built with -ffp-contract=off).
// - FAISS's IVF (approximate) is the way under 10 ms at 10^6 (2 GB of fp32 at 512-d cannot be read that
//   fast here), but it breaks the exact semantics the course and the golden tests depend on, its lists
//   cannot drop a row in O(1), and its training is slow on Debian's reference BLAS: measured, not adopted.
namespace facepipe::gallery {
namespace {

constexpr size_t kLanes = 8;

// Squared distances of `q` to the rows of blocks [b0, b1) into out[(b - b0) * kLanes + j]: portable.
void block_distances_scalar(const float* data, int dim, const float* q, size_t b0, size_t b1, float* out) {
  const size_t d = static_cast<size_t>(dim);
  for (size_t b = b0; b < b1; ++b) {
    float acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* block = data + b * d * kLanes;
    for (size_t k = 0; k < d; ++k)
      for (size_t j = 0; j < kLanes; ++j) {
        const float diff = q[k] - block[k * kLanes + j];
        acc[j] += diff * diff;
      }
    std::memcpy(out + (b - b0) * kLanes, acc, sizeof(acc));
  }
}

// The same with AVX2, four blocks at a time (four independent sums hide the add's latency). Deliberately
// no FMA: mul then add, as the reference rounds.
__attribute__((target("avx2"))) void block_distances_avx2(const float* data, int dim, const float* q,
                                                          size_t b0, size_t b1, float* out) {
  const size_t d = static_cast<size_t>(dim);
  const size_t stride = d * kLanes;
  size_t b = b0;
  for (; b + 4 <= b1; b += 4) {
    const float* p = data + b * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    for (size_t k = 0; k < d; ++k) {
      const __m256 qk = _mm256_broadcast_ss(q + k);
      const __m256 d0 = _mm256_sub_ps(qk, _mm256_loadu_ps(p + k * kLanes));
      const __m256 d1 = _mm256_sub_ps(qk, _mm256_loadu_ps(p + stride + k * kLanes));
      const __m256 d2 = _mm256_sub_ps(qk, _mm256_loadu_ps(p + 2 * stride + k * kLanes));
      const __m256 d3 = _mm256_sub_ps(qk, _mm256_loadu_ps(p + 3 * stride + k * kLanes));
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(d0, d0));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(d1, d1));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(d2, d2));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(d3, d3));
    }
    float* o = out + (b - b0) * kLanes;
    _mm256_storeu_ps(o, a0);
    _mm256_storeu_ps(o + kLanes, a1);
    _mm256_storeu_ps(o + 2 * kLanes, a2);
    _mm256_storeu_ps(o + 3 * kLanes, a3);
  }
  for (; b < b1; ++b) {
    const float* p = data + b * stride;
    __m256 a = _mm256_setzero_ps();
    for (size_t k = 0; k < d; ++k) {
      const __m256 diff = _mm256_sub_ps(_mm256_broadcast_ss(q + k), _mm256_loadu_ps(p + k * kLanes));
      a = _mm256_add_ps(a, _mm256_mul_ps(diff, diff));
    }
    _mm256_storeu_ps(out + (b - b0) * kLanes, a);
  }
}

using BlockKernel = void (*)(const float*, int, const float*, size_t, size_t, float*);
BlockKernel kernel() {
  static const BlockKernel k = __builtin_cpu_supports("avx2") ? block_distances_avx2 : block_distances_scalar;
  return k;
}

// Blocks per unit of work: 512 blocks = 4096 rows, 2 MB of 128-d rows; a stack buffer of their distances.
constexpr size_t kChunkBlocks = 512;
// Below this many floats (32 MB, twice the L3 cache) one thread is faster than waking a team; above it,
// the second core adds memory bandwidth. Measured: under load, a team over 10^4 x 512 was slower than one
// thread (bench/gallery_bench.cpp).
constexpr size_t kParallelFloats = size_t{1} << 23;

}  // namespace

EmbeddingIndex::ReadLock::ReadLock(const EmbeddingIndex& index) {
  while (index.writers_waiting_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  lock = std::shared_lock<std::shared_mutex>(index.mu_);
}

EmbeddingIndex::WriteLock::WriteLock(EmbeddingIndex& index) {
  index.writers_waiting_.fetch_add(1, std::memory_order_acq_rel);
  lock = std::unique_lock<std::shared_mutex>(index.mu_);
  index.writers_waiting_.fetch_sub(1, std::memory_order_acq_rel);
}

void EmbeddingIndex::reset(int dim) {
  WriteLock lock(*this);
  dim_ = dim;
  rows_ = 0;
  data_.clear();
  data_.shrink_to_fit();
  keys_.clear();
  slots_.clear();
  row_of_key_.clear();
  names_.clear();
  counts_.clear();
  free_slots_.clear();
  slot_of_.clear();
}

int EmbeddingIndex::dim() const {
  ReadLock lock(*this);
  return dim_;
}
size_t EmbeddingIndex::size() const {
  ReadLock lock(*this);
  return rows_;
}
size_t EmbeddingIndex::people() const {
  ReadLock lock(*this);
  return slot_of_.size();
}
size_t EmbeddingIndex::memory_bytes() const {
  ReadLock lock(*this);
  size_t names = 0;
  for (const auto& n : names_) names += sizeof(std::string) + n.capacity() + 2 * sizeof(void*) + 4;
  // unordered_map nodes: key + value + next pointer + cached hash, plus one bucket pointer each.
  const size_t key_map = row_of_key_.size() * (sizeof(int64_t) + sizeof(size_t) + 2 * sizeof(void*) + 8);
  return data_.capacity() * sizeof(float) + keys_.capacity() * sizeof(int64_t) +
         slots_.capacity() * sizeof(uint32_t) + counts_.capacity() * sizeof(uint32_t) + key_map + names;
}

uint32_t EmbeddingIndex::slot_for(const std::string& person) {
  auto it = slot_of_.find(person);
  if (it != slot_of_.end()) return it->second;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    names_[slot] = person;
    counts_[slot] = 0;
  } else {
    slot = static_cast<uint32_t>(names_.size());
    names_.push_back(person);
    counts_.push_back(0);
  }
  slot_of_.emplace(person, slot);
  return slot;
}

void EmbeddingIndex::release_slot(uint32_t slot) {
  slot_of_.erase(names_[slot]);
  names_[slot].clear();
  names_[slot].shrink_to_fit();
  free_slots_.push_back(slot);
}

void EmbeddingIndex::add_locked(int64_t key, uint32_t slot, const float* v) {
  if (!row_of_key_.emplace(key, rows_).second)
    throw Error(ErrorKind::kInternal, "gallery index: embedding " + std::to_string(key) + " added twice");
  const size_t d = static_cast<size_t>(dim_);
  if (rows_ % kLanes == 0) data_.resize(data_.size() + d * kLanes, 0.f);
  float* block = data_.data() + (rows_ / kLanes) * d * kLanes;
  const size_t lane = rows_ % kLanes;
  for (size_t k = 0; k < d; ++k) block[k * kLanes + lane] = v[k];
  keys_.push_back(key);
  slots_.push_back(slot);
  ++counts_[slot];
  ++rows_;
}

void EmbeddingIndex::add(int64_t key, const std::string& person, const float* v) {
  WriteLock lock(*this);
  if (dim_ == 0) throw Error(ErrorKind::kInternal, "gallery index: dimension not set");
  add_locked(key, slot_for(person), v);
}

void EmbeddingIndex::add_many(const std::vector<int64_t>& keys, const std::vector<std::string>& persons,
                              const std::vector<float>& rows) {
  if (keys.empty()) return;
  WriteLock lock(*this);
  if (dim_ == 0) throw Error(ErrorKind::kInternal, "gallery index: dimension not set");
  const size_t d = static_cast<size_t>(dim_);
  data_.reserve(((rows_ + keys.size() + kLanes - 1) / kLanes) * kLanes * d);
  keys_.reserve(rows_ + keys.size());
  slots_.reserve(rows_ + keys.size());
  row_of_key_.reserve(rows_ + keys.size());
  for (size_t i = 0; i < keys.size(); ++i) add_locked(keys[i], slot_for(persons[i]), rows.data() + i * d);
}

void EmbeddingIndex::remove_row_locked(size_t r) {
  const size_t d = static_cast<size_t>(dim_);
  const size_t last = rows_ - 1;
  const uint32_t slot = slots_[r];
  row_of_key_.erase(keys_[r]);
  if (r != last) {  // the last row takes the removed one's place
    const float* from = data_.data() + (last / kLanes) * d * kLanes + last % kLanes;
    float* to = data_.data() + (r / kLanes) * d * kLanes + r % kLanes;
    for (size_t k = 0; k < d; ++k) to[k * kLanes] = from[k * kLanes];
    keys_[r] = keys_[last];
    slots_[r] = slots_[last];
    row_of_key_[keys_[r]] = r;
  }
  // Zero the freed lane (erasure: a removed face's embedding does not linger in memory).
  float* freed = data_.data() + (last / kLanes) * d * kLanes + last % kLanes;
  for (size_t k = 0; k < d; ++k) freed[k * kLanes] = 0.f;
  keys_.pop_back();
  slots_.pop_back();
  --rows_;
  if (rows_ % kLanes == 0) data_.resize(data_.size() - d * kLanes);
  if (--counts_[slot] == 0) release_slot(slot);
}

bool EmbeddingIndex::remove(int64_t key) {
  WriteLock lock(*this);
  auto it = row_of_key_.find(key);
  if (it == row_of_key_.end()) return false;
  remove_row_locked(it->second);
  return true;
}

size_t EmbeddingIndex::remove_person(const std::string& person) {
  WriteLock lock(*this);
  auto it = slot_of_.find(person);
  if (it == slot_of_.end()) return 0;
  const uint32_t slot = it->second;
  size_t removed = 0;
  for (size_t r = rows_; r-- > 0;)  // backwards: a moved-in row has already been looked at
    if (slots_[r] == slot) {
      remove_row_locked(r);
      ++removed;
    }
  return removed;
}

void EmbeddingIndex::rename(const std::string& from, const std::string& to) {
  WriteLock lock(*this);
  auto it = slot_of_.find(from);
  if (it == slot_of_.end() || from == to) return;
  const uint32_t old_slot = it->second;
  auto target = slot_of_.find(to);
  if (target == slot_of_.end()) {  // a plain rename: the slot changes its name
    slot_of_.erase(it);
    names_[old_slot] = to;
    slot_of_.emplace(to, old_slot);
    return;
  }
  const uint32_t new_slot = target->second;  // a merge: the rows move to `to`
  for (size_t r = 0; r < rows_; ++r)
    if (slots_[r] == old_slot) slots_[r] = new_slot;
  counts_[new_slot] += counts_[old_slot];
  counts_[old_slot] = 0;
  release_slot(old_slot);
}

std::vector<float> EmbeddingIndex::row(int64_t key) const {
  ReadLock lock(*this);
  auto it = row_of_key_.find(key);
  if (it == row_of_key_.end()) return {};
  const size_t d = static_cast<size_t>(dim_), r = it->second;
  const float* p = data_.data() + (r / kLanes) * d * kLanes + r % kLanes;
  std::vector<float> out(d);
  for (size_t k = 0; k < d; ++k) out[k] = p[k * kLanes];
  return out;
}

uint64_t EmbeddingIndex::hash_row(const float* v, int dim) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the bytes
  const auto* bytes = reinterpret_cast<const unsigned char*>(v);
  for (size_t i = 0; i < static_cast<size_t>(dim) * sizeof(float); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

std::vector<std::pair<uint64_t, int64_t>> EmbeddingIndex::row_hashes() const {
  ReadLock lock(*this);
  std::vector<std::pair<uint64_t, int64_t>> out;
  out.reserve(rows_);
  const size_t d = static_cast<size_t>(dim_);
  std::vector<float> v(d);
  for (size_t r = 0; r < rows_; ++r) {
    const float* p = data_.data() + (r / kLanes) * d * kLanes + r % kLanes;
    for (size_t k = 0; k < d; ++k) v[k] = p[k * kLanes];
    out.emplace_back(hash_row(v.data(), dim_), keys_[r]);
  }
  return out;
}

void EmbeddingIndex::distances_locked(const float* q, float* out) const {
  const size_t blocks = (rows_ + kLanes - 1) / kLanes;
  const BlockKernel k = kernel();
  const bool parallel = rows_ * static_cast<size_t>(dim_) >= kParallelFloats;
#pragma omp parallel for schedule(static) if (parallel)
  for (size_t b0 = 0; b0 < blocks; b0 += kChunkBlocks)
    k(data_.data(), dim_, q, b0, std::min(blocks, b0 + kChunkBlocks), out + b0 * kLanes);
}

EmbeddingIndex::Nearest EmbeddingIndex::nearest(const float* q) const {
  ReadLock lock(*this);
  Nearest best;
  if (rows_ == 0) return best;
  const size_t blocks = (rows_ + kLanes - 1) / kLanes;
  const BlockKernel kern = kernel();
  const bool parallel = rows_ * static_cast<size_t>(dim_) >= kParallelFloats;
  size_t best_row = 0;
#pragma omp parallel if (parallel)
  {
    float buffer[kChunkBlocks * kLanes];
    float local = std::numeric_limits<float>::infinity();
    size_t local_row = 0;
    bool local_found = false;
#pragma omp for schedule(static) nowait
    for (size_t b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
      const size_t b1 = std::min(blocks, b0 + kChunkBlocks);
      kern(data_.data(), dim_, q, b0, b1, buffer);
      const size_t r1 = std::min(rows_, b1 * kLanes);
      for (size_t r = b0 * kLanes; r < r1; ++r) {
        const float s = buffer[r - b0 * kLanes];
        // Ties go to the earliest stored embedding (the seed's list order), whatever row it sits in.
        if (s < local || (s == local && local_found && keys_[r] < keys_[local_row])) {
          local = s;
          local_row = r;
          local_found = true;
        }
      }
    }
#pragma omp critical(facepipe_gallery_index)
    if (local_found && (!best.found || local < best.squared ||
                        (local == best.squared && keys_[local_row] < keys_[best_row]))) {
      best.found = true;
      best.squared = local;
      best_row = local_row;
    }
  }
  if (!best.found) {  // only NaN distances: cannot happen with finite rows and query; keep row 0
    best.found = true;
    best_row = 0;
  }
  best.person = names_[slots_[best_row]];
  best.key = keys_[best_row];
  return best;
}

std::vector<EmbeddingIndex::PersonBest> EmbeddingIndex::per_person(const float* q) const {
  ReadLock lock(*this);
  std::vector<PersonBest> out;
  if (rows_ == 0) return out;
  std::vector<float> dist(((rows_ + kLanes - 1) / kLanes) * kLanes);
  distances_locked(q, dist.data());
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> best(names_.size(), kInf);
  std::vector<int64_t> first(names_.size(), std::numeric_limits<int64_t>::max());
  for (size_t r = 0; r < rows_; ++r) {
    const uint32_t s = slots_[r];
    best[s] = std::min(best[s], dist[r]);
    first[s] = std::min(first[s], keys_[r]);
  }
  out.reserve(slot_of_.size());
  for (size_t s = 0; s < names_.size(); ++s)
    if (counts_[s] > 0) out.push_back({names_[s], best[s], first[s]});
  return out;
}

}  // namespace facepipe::gallery
