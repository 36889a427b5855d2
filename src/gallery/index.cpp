#include "gallery/index.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "core/error.h"
#include "gallery/ivf.h"

// Why a hand-written kernel over an interleaved matrix, not oneDNN's matmul or FAISS (measured with
// bench/gallery_bench.cpp and bench/extra/faiss_compare.cpp, figures in README "Gallery size"):
// - One query against the gallery is a matrix-vector product: memory-bound, every stored float is read
//   once whatever computes it. oneDNN's matmul (M=1) and FAISS's IndexFlatL2 use
//   ||q||^2 + ||x||^2 - 2 q.x, whose rounding differs from the reference loop's and can swap two
//   near-equal people, and they were slower here (oneDNN 1.5-1.9x at 10^5-10^6 rows, FAISS flat 2.5x at
//   10^5 x 128). This kernel gives today's distances bit for bit: 8 rows interleaved per block, so each
//   AVX2 lane runs the reference's own sequence `sum += (q[k] - x[k])^2` for one row (no reassociation, no
//   FMA: index.cpp is built with -ffp-contract=off).
// - The IVF scores its candidates with the same kernel, list by list, so an IVF answer is the exact
//   distance to a real row, equal bit for bit to what exact search gives for that row (ivf.h says why our
//   own IVF and not FAISS's).
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

// Lists scanned per query by default, measured (bench/gallery_bench.cpp, README "Gallery size"): a near
// query's own list is among the few nearest centroids, but the wider the embedding the more the noise of a
// new photo moves it across cells: 16 lists of ~1000 keep recall@1 >= 0.99 at 128-d, 512-d needs 32.
size_t default_nprobe(size_t nlist, int dim) {
  return std::min(nlist, std::max<size_t>(16, static_cast<size_t>(dim) / 16));
}
// About sqrt(rows) lists: the probe (nlist centroids) and the scan (nprobe lists of rows/nlist) balance.
size_t default_nlist(size_t rows) {
  return std::max<size_t>(1, static_cast<size_t>(std::lround(std::sqrt(static_cast<double>(rows)))));
}
constexpr size_t kSamplePerList = 64;  // k-means sample: 64 rows per centroid (64k at 10^6)
constexpr int kIterations = 10;
constexpr int64_t kEmpty = std::numeric_limits<int64_t>::min();

// Keys are SQLite rowids: dense and ascending, so (nearly) the identity keeps the table's accesses in
// order at open (a scattering hash made every insert a cache miss); the high bits are folded in so that
// sparse keys still spread.
uint64_t mix(int64_t key) {
  const uint64_t k = static_cast<uint64_t>(key);
  return k ^ (k >> 29) ^ (k >> 47);
}

std::atomic<IndexMode>& default_mode() {
  static std::atomic<IndexMode> mode{[] {
    const char* env = std::getenv("FACEPIPE_INDEX");
    if (env == nullptr || *env == '\0') return IndexMode::kAuto;
    try {
      return parse_index_mode(env);
    } catch (const Error&) {
      return IndexMode::kAuto;
    }
  }()};
  return mode;
}

// Row-major copy of row `r` of an interleaved list.
void copy_row(const float* block_base, size_t dim, float* out) {
  for (size_t k = 0; k < dim; ++k) out[k] = block_base[k * kLanes];
}

}  // namespace

IndexMode parse_index_mode(const std::string& name) {
  if (name == "exact") return IndexMode::kExact;
  if (name == "ivf") return IndexMode::kIvf;
  if (name == "auto") return IndexMode::kAuto;
  throw Error(ErrorKind::kInvalidInput, "unknown index '" + name + "': exact, ivf or auto");
}
const char* index_mode_name(IndexMode mode) {
  switch (mode) {
    case IndexMode::kExact:
      return "exact";
    case IndexMode::kIvf:
      return "ivf";
    case IndexMode::kAuto:
      return "auto";
  }
  return "auto";
}
void set_default_index_mode(IndexMode mode) { default_mode().store(mode); }
IndexMode default_index_mode() { return default_mode().load(); }

// --- KeyTable ---

void EmbeddingIndex::KeyTable::clear() {
  keys_.clear();
  keys_.shrink_to_fit();
  values_.clear();
  values_.shrink_to_fit();
  size_ = 0;
}

void EmbeddingIndex::KeyTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap * 7 / 10 < n) cap *= 2;
  if (cap <= keys_.size()) return;
  std::vector<int64_t> old_keys(cap, kEmpty);
  std::vector<uint64_t> old_values(cap);
  old_keys.swap(keys_);
  old_values.swap(values_);
  size_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i)
    if (old_keys[i] != kEmpty) insert(old_keys[i], old_values[i]);
}

size_t EmbeddingIndex::KeyTable::slot(int64_t key) const {
  const size_t mask = keys_.size() - 1;
  size_t i = mix(key) & mask;
  while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask;
  return i;
}

bool EmbeddingIndex::KeyTable::insert(int64_t key, uint64_t value) {
  if (key == kEmpty) throw Error(ErrorKind::kInternal, "gallery index: key out of range");
  if ((size_ + 1) * 10 > keys_.size() * 7) reserve(size_ + 1);
  const size_t i = slot(key);
  if (keys_[i] == key) return false;
  keys_[i] = key;
  values_[i] = value;
  ++size_;
  return true;
}

uint64_t* EmbeddingIndex::KeyTable::find(int64_t key) {
  if (keys_.empty() || key == kEmpty) return nullptr;
  const size_t i = slot(key);
  return keys_[i] == key ? &values_[i] : nullptr;
}
const uint64_t* EmbeddingIndex::KeyTable::find(int64_t key) const {
  return const_cast<KeyTable*>(this)->find(key);
}

bool EmbeddingIndex::KeyTable::erase(int64_t key) {
  if (keys_.empty() || key == kEmpty) return false;
  const size_t mask = keys_.size() - 1;
  size_t i = slot(key);
  if (keys_[i] != key) return false;
  // Backward-shift deletion: later entries of the probe run move up, so no tombstones are needed.
  for (size_t j = (i + 1) & mask; keys_[j] != kEmpty; j = (j + 1) & mask) {
    const size_t home = mix(keys_[j]) & mask;
    // Entry j may fill the hole at i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    keys_[i] = keys_[j];
    values_[i] = values_[j];
    i = j;
  }
  keys_[i] = kEmpty;
  --size_;
  return true;
}

// --- locks ---

EmbeddingIndex::ReadLock::ReadLock(const EmbeddingIndex& index) {
  while (index.writers_waiting_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  lock = std::shared_lock<std::shared_mutex>(index.mu_);
}

EmbeddingIndex::WriteLock::WriteLock(EmbeddingIndex& index) : writers(index.writers_mu_) {
  index.writers_waiting_.fetch_add(1, std::memory_order_acq_rel);
  lock = std::unique_lock<std::shared_mutex>(index.mu_);
  index.writers_waiting_.fetch_sub(1, std::memory_order_acq_rel);
}

EmbeddingIndex::~EmbeddingIndex() { stop_training(); }

void EmbeddingIndex::stop_training() {
  stop_.store(true);
  if (trainer_.joinable()) trainer_.join();
  stop_.store(false);
}

void EmbeddingIndex::reset(int dim) {
  WriteLock lock(*this);
  generation_.fetch_add(1);  // a training under way is dropped, not swapped in
  dim_ = dim;
  rows_ = 0;
  lists_.clear();
  lists_.emplace_back();
  where_.clear();
  names_.clear();
  counts_.clear();
  free_slots_.clear();
  name_cells_.clear();
  name_hash_.clear();
  name_count_ = 0;
  nlist_ = 0;
  centroids_.clear();
  centroids_rm_.clear();
  centroid_norms_.clear();
  trained_rows_ = 0;
  pending_lists_.clear();
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
  return name_count_;
}
size_t EmbeddingIndex::memory_bytes() const {
  ReadLock lock(*this);
  size_t names = 0;
  // Each name once (heap only past the small-string buffer), its hash and its cell in the name table.
  for (const auto& n : names_) names += sizeof(std::string) + (n.capacity() > 15 ? n.capacity() + 1 : 0);
  names += name_hash_.capacity() * sizeof(uint64_t) + name_cells_.capacity() * sizeof(uint32_t);
  size_t lists = lists_.capacity() * sizeof(List);
  for (const auto& l : lists_)
    lists += l.data.capacity() * sizeof(float) + l.keys.capacity() * sizeof(int64_t) +
             l.slots.capacity() * sizeof(uint32_t);
  return lists + where_.memory_bytes() + counts_.capacity() * sizeof(uint32_t) + names +
         (centroids_.capacity() + centroids_rm_.capacity()) * sizeof(float);
}

// --- person name -> slot: open addressing over the slots (names_ holds each name once; a node-based map
// allocated and copied every name, and its lookups were most of a 10^6 gallery's open) ---

size_t EmbeddingIndex::name_cell(const std::string& name, uint64_t h) const {
  const size_t mask = name_cells_.size() - 1;
  size_t i = h & mask;
  while (name_cells_[i] != 0) {
    const uint32_t s = name_cells_[i] - 1;
    if (name_hash_[s] == h && names_[s] == name) break;
    i = (i + 1) & mask;
  }
  return i;
}

uint32_t EmbeddingIndex::find_slot(const std::string& name) const {
  if (name_cells_.empty()) return kNoSlot;
  const uint32_t cell = name_cells_[name_cell(name, std::hash<std::string>{}(name))];
  return cell == 0 ? kNoSlot : cell - 1;
}

void EmbeddingIndex::reserve_names(size_t n) {
  size_t cap = 16;
  while (cap * 7 / 10 < n) cap *= 2;
  if (cap <= name_cells_.size()) return;
  std::vector<uint32_t> old(cap, 0);
  old.swap(name_cells_);
  const size_t mask = cap - 1;
  for (uint32_t cell : old) {
    if (cell == 0) continue;
    size_t i = name_hash_[cell - 1] & mask;
    while (name_cells_[i] != 0) i = (i + 1) & mask;
    name_cells_[i] = cell;
  }
}

void EmbeddingIndex::insert_name(uint32_t slot) {
  if ((name_count_ + 1) * 10 > name_cells_.size() * 7) reserve_names(name_count_ + 1);
  name_cells_[name_cell(names_[slot], name_hash_[slot])] = slot + 1;
  ++name_count_;
}

void EmbeddingIndex::erase_name(uint32_t slot) {
  const size_t mask = name_cells_.size() - 1;
  size_t i = name_cell(names_[slot], name_hash_[slot]);
  if (name_cells_[i] != slot + 1) return;
  for (size_t j = (i + 1) & mask; name_cells_[j] != 0; j = (j + 1) & mask) {  // backward shift
    const size_t home = name_hash_[name_cells_[j] - 1] & mask;
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    name_cells_[i] = name_cells_[j];
    i = j;
  }
  name_cells_[i] = 0;
  --name_count_;
}

uint32_t EmbeddingIndex::slot_for(const std::string& person) {
  const uint64_t h = std::hash<std::string>{}(person);
  if ((name_count_ + 1) * 10 > name_cells_.size() * 7) reserve_names(name_count_ + 1);
  const size_t cell = name_cell(person, h);  // one probe: found, or where the new name goes
  if (name_cells_[cell] != 0) return name_cells_[cell] - 1;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    names_[slot] = person;
    counts_[slot] = 0;
    name_hash_[slot] = h;
  } else {
    slot = static_cast<uint32_t>(names_.size());
    names_.push_back(person);
    counts_.push_back(0);
    name_hash_.push_back(h);
  }
  name_cells_[cell] = slot + 1;
  ++name_count_;
  return slot;
}

void EmbeddingIndex::release_slot(uint32_t slot) {
  erase_name(slot);
  names_[slot].clear();
  names_[slot].shrink_to_fit();
  free_slots_.push_back(slot);
}

const float* EmbeddingIndex::row_ptr(const List& l, size_t r) const {
  return l.data.data() + (r / kLanes) * static_cast<size_t>(dim_) * kLanes + r % kLanes;
}

void EmbeddingIndex::add_locked(int64_t key, uint32_t slot, const float* v, uint32_t list) {
  List& l = lists_[list];
  const size_t r = l.rows();
  if (!where_.insert(key, (static_cast<uint64_t>(list) << 32) | r))
    throw Error(ErrorKind::kInternal, "gallery index: embedding " + std::to_string(key) + " added twice");
  const size_t d = static_cast<size_t>(dim_);
  if (r % kLanes == 0) l.data.resize(l.data.size() + d * kLanes, 0.f);
  float* block = l.data.data() + (r / kLanes) * d * kLanes;
  const size_t lane = r % kLanes;
  for (size_t k = 0; k < d; ++k) block[k * kLanes + lane] = v[k];
  l.keys.push_back(key);
  l.slots.push_back(slot);
  ++counts_[slot];
  ++rows_;
}

uint32_t EmbeddingIndex::nearest_list_locked(const float* v) const {
  if (nlist_ == 0) return 0;
  std::vector<float> dist(centroids_.size() / static_cast<size_t>(dim_));
  kernel()(centroids_.data(), dim_, v, 0, dist.size() / kLanes, dist.data());
  return static_cast<uint32_t>(std::min_element(dist.begin(), dist.begin() + static_cast<ptrdiff_t>(nlist_)) -
                               dist.begin());
}

void EmbeddingIndex::add(int64_t key, const std::string& person, const float* v) {
  WriteLock lock(*this);
  if (dim_ == 0) throw Error(ErrorKind::kInternal, "gallery index: dimension not set");
  add_locked(key, slot_for(person), v, nearest_list_locked(v));
  maybe_train_locked();
}

void EmbeddingIndex::add_many(const std::vector<int64_t>& keys, const std::vector<std::string>& persons,
                              const std::vector<float>& rows) {
  if (keys.empty()) return;
  WriteLock lock(*this);
  if (dim_ == 0) throw Error(ErrorKind::kInternal, "gallery index: dimension not set");
  const size_t d = static_cast<size_t>(dim_);
  std::vector<uint32_t> target(keys.size(), 0);
  if (nlist_ > 0) {
    // The list a loaded state gave the row, else its nearest centroid (batched: one sgemm).
    // Keys arrive ascending at open, as the state's are: a cursor walks both (a binary search per row
    // cost more than the row's copy); out-of-order keys search.
    std::vector<size_t> missing;
    auto it = pending_lists_.begin();
    for (size_t i = 0; i < keys.size(); ++i) {
      if (it == pending_lists_.end() || it->first > keys[i] || (i > 0 && keys[i] < keys[i - 1]))
        it = std::lower_bound(pending_lists_.begin(), pending_lists_.end(),
                              std::make_pair(keys[i], uint32_t{0}));
      while (it != pending_lists_.end() && it->first < keys[i]) ++it;
      if (it != pending_lists_.end() && it->first == keys[i] && it->second < nlist_)
        target[i] = it->second;
      else
        missing.push_back(i);
    }
    if (!missing.empty()) {
      std::vector<float> buf(missing.size() * d);
      for (size_t m = 0; m < missing.size(); ++m)
        std::copy_n(rows.data() + missing[m] * d, d, buf.data() + m * d);
      std::vector<uint32_t> got(missing.size());
      ivf::assign(buf.data(), missing.size(), dim_, centroids_rm_.data(), centroid_norms_.data(), nlist_,
                  got.data());
      for (size_t m = 0; m < missing.size(); ++m) target[missing[m]] = got[m];
    }
  } else {
    // Geometric growth: reserving exactly rows + this chunk reallocated (and copied, page-faulting anew)
    // the whole matrix on every chunk of a gallery's open, which was most of a 10^6 open's time.
    List& l = lists_[0];
    const size_t need = l.rows() + keys.size();
    if (need > l.keys.capacity()) reserve_list(l, std::max(need, l.keys.capacity() * 3 / 2));
  }
  where_.reserve(rows_ + keys.size());
  // Consecutive rows mostly belong to one person (or each to a new one): look the slot up once per run.
  std::vector<uint32_t> slots(keys.size());
  const std::string* last = nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (last == nullptr || persons[i] != *last) {
      slots[i] = slot_for(persons[i]);
      last = &persons[i];
    } else {
      slots[i] = slots[i - 1];
    }
  }
  if (nlist_ == 0) {
    for (size_t i = 0; i < keys.size(); ++i) add_locked(keys[i], slots[i], rows.data() + i * d, 0);
  } else {
    // List by list (a counting sort of the rows), so each list's tail block is filled while in cache: row
    // by row, a 10^6 open wrote to a thousand lists' tails in turn.
    std::vector<size_t> start(nlist_ + 1, 0), order(keys.size());
    for (uint32_t t : target) ++start[t + 1];
    for (size_t l = 0; l < nlist_; ++l) start[l + 1] += start[l];
    for (size_t i = 0; i < keys.size(); ++i) order[start[target[i]]++] = i;
    for (size_t i : order) add_locked(keys[i], slots[i], rows.data() + i * d, target[i]);
  }
  maybe_train_locked();
}

void EmbeddingIndex::reserve_list(List& l, size_t rows) {
  l.data.reserve((rows + kLanes - 1) / kLanes * kLanes * static_cast<size_t>(dim_));
  l.keys.reserve(rows);
  l.slots.reserve(rows);
}

void EmbeddingIndex::reserve(size_t rows) {
  WriteLock lock(*this);
  if (dim_ == 0) return;
  if (nlist_ == 0) {
    reserve_list(lists_[0], rows);
  } else if (!pending_lists_.empty()) {  // a loaded state: its lists' sizes
    std::vector<size_t> per_list(nlist_, 0);
    for (const auto& [key, list] : pending_lists_)
      if (list < nlist_) ++per_list[list];
    for (size_t l = 0; l < nlist_; ++l) reserve_list(lists_[l], per_list[l] + per_list[l] / 8);
  }
  where_.reserve(rows);
  reserve_names(rows);
  names_.reserve(rows);
  counts_.reserve(rows);
  name_hash_.reserve(rows);
}

void EmbeddingIndex::remove_row_locked(uint32_t list, size_t r) {
  List& l = lists_[list];
  const size_t d = static_cast<size_t>(dim_);
  const size_t last = l.rows() - 1;
  const uint32_t slot = l.slots[r];
  where_.erase(l.keys[r]);
  if (r != last) {  // the last row takes the removed one's place
    const float* from = row_ptr(l, last);
    float* to = l.data.data() + (r / kLanes) * d * kLanes + r % kLanes;
    for (size_t k = 0; k < d; ++k) to[k * kLanes] = from[k * kLanes];
    l.keys[r] = l.keys[last];
    l.slots[r] = l.slots[last];
    *where_.find(l.keys[r]) = (static_cast<uint64_t>(list) << 32) | r;
  }
  // Zero the freed lane (erasure: a removed face's embedding does not linger in memory).
  float* freed = l.data.data() + (last / kLanes) * d * kLanes + last % kLanes;
  for (size_t k = 0; k < d; ++k) freed[k * kLanes] = 0.f;
  l.keys.pop_back();
  l.slots.pop_back();
  --rows_;
  if (l.rows() % kLanes == 0) l.data.resize(l.data.size() - d * kLanes);
  if (--counts_[slot] == 0) release_slot(slot);
}

bool EmbeddingIndex::remove(int64_t key) {
  WriteLock lock(*this);
  const uint64_t* at = where_.find(key);
  if (at == nullptr) return false;
  remove_row_locked(static_cast<uint32_t>(*at >> 32), static_cast<size_t>(*at & 0xffffffffu));
  return true;
}

size_t EmbeddingIndex::remove_person(const std::string& person) {
  WriteLock lock(*this);
  const uint32_t slot = find_slot(person);
  if (slot == kNoSlot) return 0;
  size_t removed = 0, left = counts_[slot];
  for (uint32_t l = 0; l < lists_.size() && left > 0; ++l)
    for (size_t r = lists_[l].rows(); r-- > 0 && left > 0;)  // backwards: a moved-in row was looked at
      if (lists_[l].slots[r] == slot) {
        remove_row_locked(l, r);
        ++removed;
        --left;
      }
  return removed;
}

void EmbeddingIndex::rename(const std::string& from, const std::string& to) {
  WriteLock lock(*this);
  const uint32_t old_slot = find_slot(from);
  if (old_slot == kNoSlot || from == to) return;
  const uint32_t new_slot = find_slot(to);
  if (new_slot == kNoSlot) {  // a plain rename: the slot changes its name
    erase_name(old_slot);
    names_[old_slot] = to;
    name_hash_[old_slot] = std::hash<std::string>{}(to);
    insert_name(old_slot);
    return;
  }
  // A merge: the rows move to `to`.
  for (auto& l : lists_)
    for (auto& s : l.slots)
      if (s == old_slot) s = new_slot;
  counts_[new_slot] += counts_[old_slot];
  counts_[old_slot] = 0;
  release_slot(old_slot);
}

std::vector<float> EmbeddingIndex::row(int64_t key) const {
  ReadLock lock(*this);
  const uint64_t* at = where_.find(key);
  if (at == nullptr) return {};
  std::vector<float> out(static_cast<size_t>(dim_));
  copy_row(row_ptr(lists_[*at >> 32], *at & 0xffffffffu), out.size(), out.data());
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
  for (const auto& l : lists_)
    for (size_t r = 0; r < l.rows(); ++r) {
      copy_row(row_ptr(l, r), d, v.data());
      out.emplace_back(hash_row(v.data(), dim_), l.keys[r]);
    }
  return out;
}

// --- search ---

std::vector<EmbeddingIndex::Unit> EmbeddingIndex::units_locked(const std::vector<uint32_t>* lists) const {
  std::vector<Unit> units;
  auto add = [&](uint32_t l) {
    const size_t blocks = (lists_[l].rows() + kLanes - 1) / kLanes;
    for (size_t b0 = 0; b0 < blocks; b0 += kChunkBlocks)
      units.push_back(
          {l, static_cast<uint32_t>(b0), static_cast<uint32_t>(std::min(blocks, b0 + kChunkBlocks))});
  };
  if (lists == nullptr)
    for (uint32_t l = 0; l < lists_.size(); ++l) add(l);
  else
    for (uint32_t l : *lists) add(l);
  return units;
}

std::vector<uint32_t> EmbeddingIndex::probe_locked(const float* q, size_t nprobe) const {
  const size_t padded = centroids_.size() / static_cast<size_t>(dim_);
  std::vector<float> dist(padded);
  kernel()(centroids_.data(), dim_, q, 0, padded / kLanes, dist.data());
  std::vector<uint32_t> order(nlist_);
  std::iota(order.begin(), order.end(), 0u);
  nprobe = std::min(nprobe, nlist_);
  std::partial_sort(
      order.begin(), order.begin() + static_cast<ptrdiff_t>(nprobe), order.end(),
      [&](uint32_t a, uint32_t b) { return dist[a] < dist[b] || (dist[a] == dist[b] && a < b); });
  order.resize(nprobe);
  return order;
}

EmbeddingIndex::Nearest EmbeddingIndex::nearest_locked(const float* q,
                                                       const std::vector<uint32_t>* lists) const {
  Nearest best;
  const std::vector<Unit> units = units_locked(lists);
  size_t floats = 0;
  for (const auto& u : units) floats += (u.b1 - u.b0) * kLanes * static_cast<size_t>(dim_);
  const BlockKernel kern = kernel();
  const bool parallel = floats >= kParallelFloats;
  uint32_t best_list = 0;
  size_t best_row = 0;
  int64_t best_key = 0;
  const ptrdiff_t n_units = static_cast<ptrdiff_t>(units.size());
#pragma omp parallel if (parallel)
  {
    float buffer[kChunkBlocks * kLanes];
    float local = std::numeric_limits<float>::infinity();
    int64_t local_key = 0;
    uint32_t local_list = 0;
    size_t local_row = 0;
    bool local_found = false;
#pragma omp for schedule(static) nowait
    for (ptrdiff_t u = 0; u < n_units; ++u) {
      const Unit& unit = units[static_cast<size_t>(u)];
      const List& l = lists_[unit.list];
      kern(l.data.data(), dim_, q, unit.b0, unit.b1, buffer);
      const size_t r1 = std::min(l.rows(), static_cast<size_t>(unit.b1) * kLanes);
      for (size_t r = static_cast<size_t>(unit.b0) * kLanes; r < r1; ++r) {
        const float s = buffer[r - unit.b0 * kLanes];
        // Ties go to the earliest stored embedding (the seed's list order), whatever row it sits in.
        if (s < local || (s == local && local_found && l.keys[r] < local_key)) {
          local = s;
          local_key = l.keys[r];
          local_list = unit.list;
          local_row = r;
          local_found = true;
        }
      }
    }
#pragma omp critical(facepipe_gallery_index)
    if (local_found &&
        (!best.found || local < best.squared || (local == best.squared && local_key < best_key))) {
      best.found = true;
      best.squared = local;
      best_key = local_key;
      best_list = local_list;
      best_row = local_row;
    }
  }
  if (!best.found) {  // only NaN distances or nothing probed: the first row of the first non-empty list
    for (const auto& u : units) {
      best.found = true;
      best_list = u.list;
      best_row = 0;
      break;
    }
    if (!best.found) return best;
  }
  const List& l = lists_[best_list];
  best.person = names_[l.slots[best_row]];
  best.key = l.keys[best_row];
  return best;
}

EmbeddingIndex::Nearest EmbeddingIndex::nearest(const float* q) const {
  ReadLock lock(*this);
  if (rows_ == 0) return {};
  first_search_locked();
  if (nlist_ == 0 || mode_ == IndexMode::kExact) return nearest_locked(q, nullptr);
  const auto probe = probe_locked(q, nprobe_ ? nprobe_ : default_nprobe(nlist_, dim_));
  Nearest best = nearest_locked(q, &probe);
  // Every probed list empty (removals): fall back to every row rather than answer nothing.
  return best.found ? best : nearest_locked(q, nullptr);
}

EmbeddingIndex::Nearest EmbeddingIndex::nearest_exact(const float* q) const {
  ReadLock lock(*this);
  if (rows_ == 0) return {};
  return nearest_locked(q, nullptr);
}

std::vector<EmbeddingIndex::PersonBest> EmbeddingIndex::per_person_locked(
    const float* q, const std::vector<uint32_t>* lists) const {
  std::vector<PersonBest> out;
  const std::vector<Unit> units = units_locked(lists);
  std::vector<size_t> offset(units.size() + 1, 0);
  for (size_t u = 0; u < units.size(); ++u) offset[u + 1] = offset[u] + (units[u].b1 - units[u].b0) * kLanes;
  std::vector<float> dist(offset.back());
  const BlockKernel kern = kernel();
  const bool parallel = offset.back() * static_cast<size_t>(dim_) >= kParallelFloats;
  const ptrdiff_t n_units = static_cast<ptrdiff_t>(units.size());
#pragma omp parallel for schedule(static) if (parallel)
  for (ptrdiff_t u = 0; u < n_units; ++u) {
    const Unit& unit = units[static_cast<size_t>(u)];
    kern(lists_[unit.list].data.data(), dim_, q, unit.b0, unit.b1,
         dist.data() + offset[static_cast<size_t>(u)]);
  }
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> best(names_.size(), kInf);
  std::vector<int64_t> first(names_.size(), std::numeric_limits<int64_t>::max());
  std::vector<uint8_t> seen(names_.size(), 0);
  for (size_t u = 0; u < units.size(); ++u) {
    const List& l = lists_[units[u].list];
    const size_t r1 = std::min(l.rows(), static_cast<size_t>(units[u].b1) * kLanes);
    for (size_t r = static_cast<size_t>(units[u].b0) * kLanes; r < r1; ++r) {
      const uint32_t s = l.slots[r];
      best[s] = std::min(best[s], dist[offset[u] + r - units[u].b0 * kLanes]);
      first[s] = std::min(first[s], l.keys[r]);
      seen[s] = 1;
    }
  }
  for (size_t s = 0; s < names_.size(); ++s)
    if (counts_[s] > 0 && seen[s]) out.push_back({names_[s], best[s], first[s]});
  return out;
}

std::vector<EmbeddingIndex::PersonBest> EmbeddingIndex::per_person(const float* q, bool approximate) const {
  ReadLock lock(*this);
  if (rows_ == 0) return {};
  if (approximate) first_search_locked();
  if (!approximate || nlist_ == 0 || mode_ == IndexMode::kExact) return per_person_locked(q, nullptr);
  const auto probe = probe_locked(q, nprobe_ ? nprobe_ : default_nprobe(nlist_, dim_));
  auto out = per_person_locked(q, &probe);
  return out.empty() ? per_person_locked(q, nullptr) : out;
}

// --- IVF ---

void EmbeddingIndex::set_mode(IndexMode mode, std::function<void(const IvfState&)> on_trained) {
  WriteLock lock(*this);
  mode_ = mode;
  on_trained_ = std::move(on_trained);
  pending_lists_.clear();
  pending_lists_.shrink_to_fit();
  maybe_train_locked();
}

IndexMode EmbeddingIndex::mode() const {
  ReadLock lock(*this);
  return mode_;
}

bool EmbeddingIndex::training_due_locked() const {
  if (mode_ == IndexMode::kExact || stop_.load()) return false;
  const size_t min_rows = mode_ == IndexMode::kAuto ? kIvfAutoRows : kIvfMinRows;
  if (rows_ < min_rows) return false;
  return nlist_ == 0 || static_cast<double>(rows_) >= kRetrainGrowth * static_cast<double>(trained_rows_);
}

// Under the read or the write lock. Not before the first search unless forced: a command that opens a
// large gallery only to list or change it (people, gallery list) never trains.
void EmbeddingIndex::maybe_train_locked(bool force) {
  if (!force && !searched_.load()) return;
  if (!training_due_locked()) return;
  std::lock_guard<std::mutex> threads(trainer_mu_);
  if (training_.load()) return;
  // A finished trainer has cleared training_ as its very last step: joining it cannot wait on us.
  if (trainer_.joinable()) trainer_.join();
  training_.store(true);
  trainer_ = std::thread([this] {
    try {
      IvfState state = train_impl(0);
      std::function<void(const IvfState&)> cb;
      {
        ReadLock lock(*this);
        cb = on_trained_;
      }
      if (state.nlist > 0 && cb && !stop_.load()) cb(state);
    } catch (const std::exception&) {  // out of memory or an sgemm failure: keep searching exactly
    }
    training_.store(false);
  });
}

void EmbeddingIndex::train(size_t nlist) {
  training_.store(true);
  try {
    train_impl(nlist);
  } catch (...) {
    training_.store(false);
    throw;
  }
  training_.store(false);
}

void EmbeddingIndex::train_due() {
  {
    ReadLock lock(*this);
    maybe_train_locked(/*force=*/true);
  }
  wait_trained();
}

void EmbeddingIndex::first_search_locked() const {
  if (searched_.exchange(true)) return;
  const_cast<EmbeddingIndex*>(this)->maybe_train_locked();  // the index itself is never const
}

void EmbeddingIndex::wait_trained() const {
  while (training_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// Sample, k-means and the assignment of every row run without blocking anyone (short read locks); only the
// rebuild of the lists holds writers off (searches go on), and the swap is a few pointer moves.
IvfState EmbeddingIndex::train_impl(size_t nlist) {
  std::lock_guard<std::mutex> one(train_mu_);
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t generation = generation_.load();
  auto abandoned = [&] { return stop_.load() || generation_.load() != generation; };
  int dim = 0;
  size_t rows = 0;
  std::vector<float> sample;
  size_t n_sample = 0;
  {  // 1. a uniform sample of kSamplePerList rows per centroid
    ReadLock lock(*this);
    dim = dim_;
    rows = rows_;
    if (nlist == 0) nlist = default_nlist(rows);
    if (dim == 0 || nlist == 0 || rows < 2 * nlist) return {};
    n_sample = std::min(rows, nlist * kSamplePerList);
    std::vector<size_t> pick(rows);
    std::iota(pick.begin(), pick.end(), size_t{0});
    std::mt19937_64 rng(rows * 2654435761u + 17);
    for (size_t i = 0; i < n_sample; ++i)  // a partial Fisher-Yates shuffle
      std::swap(pick[i], pick[i + std::uniform_int_distribution<size_t>(0, rows - 1 - i)(rng)]);
    pick.resize(n_sample);
    std::sort(pick.begin(), pick.end());
    sample.resize(n_sample * static_cast<size_t>(dim));
    size_t l = 0, base = 0, i = 0;
    for (size_t p : pick) {
      while (p >= base + lists_[l].rows()) base += lists_[l++].rows();
      copy_row(row_ptr(lists_[l], p - base), static_cast<size_t>(dim), sample.data() + (i++) * dim);
    }
  }
  // 2. k-means on the sample
  std::vector<float> c = ivf::kmeans(sample.data(), n_sample, dim, nlist, kIterations, rows, &stop_);
  if (c.empty() || abandoned()) return {};
  sample = {};
  const std::vector<float> cn = ivf::norms(c.data(), nlist, dim);
  // 3. every row's nearest centroid, a piece at a time (rows may come and go meanwhile: keyed by key)
  std::vector<std::pair<int64_t, uint32_t>> assigned;
  assigned.reserve(rows + rows / 8);
  {
    constexpr size_t kPiece = 8192;
    std::vector<float> buf(kPiece * static_cast<size_t>(dim));
    std::vector<int64_t> keys;
    std::vector<uint32_t> got(kPiece);
    size_t n_lists = 0;
    {
      ReadLock lock(*this);
      n_lists = lists_.size();
    }
    for (size_t l = 0; l < n_lists; ++l)
      for (size_t r0 = 0;; r0 += kPiece) {
        keys.clear();
        {
          ReadLock lock(*this);
          if (abandoned()) return {};
          const List& list = lists_[l];
          for (size_t r = r0; r < std::min(list.rows(), r0 + kPiece); ++r) {
            copy_row(row_ptr(list, r), static_cast<size_t>(dim), buf.data() + (r - r0) * dim);
            keys.push_back(list.keys[r]);
          }
        }
        if (keys.empty()) break;
        ivf::assign(buf.data(), keys.size(), dim, c.data(), cn.data(), nlist, got.data());
        for (size_t i = 0; i < keys.size(); ++i) assigned.emplace_back(keys[i], got[i]);
      }
  }
  std::sort(assigned.begin(), assigned.end());
  assigned.erase(std::unique(assigned.begin(), assigned.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 assigned.end());
  // Centroids blocked like rows, for the search kernel (padding lanes hold zeros and are never ranked).
  const size_t d = static_cast<size_t>(dim);
  const size_t padded = (nlist + kLanes - 1) / kLanes * kLanes;
  std::vector<float> blocked(padded * d, 0.f);
  for (size_t i = 0; i < nlist; ++i)
    for (size_t k = 0; k < d; ++k)
      blocked[(i / kLanes) * d * kLanes + k * kLanes + i % kLanes] = c[i * d + k];

  // 4. rebuild the lists: writers wait (searches go on under the read lock), then swap.
  std::unique_lock<std::mutex> writers(writers_mu_);
  std::vector<List> fresh(nlist);
  KeyTable where;
  {
    ReadLock lock(*this);
    if (abandoned() || dim_ != dim) return {};
    // Where each current row goes: as assigned, or (added since) its nearest centroid now.
    std::vector<std::vector<uint32_t>> target(lists_.size());
    std::vector<size_t> per_list(nlist, 0);
    for (size_t l = 0; l < lists_.size(); ++l) {
      const List& list = lists_[l];
      target[l].resize(list.rows());
      for (size_t r = 0; r < list.rows(); ++r) {
        auto it =
            std::lower_bound(assigned.begin(), assigned.end(), std::make_pair(list.keys[r], uint32_t{0}));
        uint32_t t;
        if (it != assigned.end() && it->first == list.keys[r]) {
          t = it->second;
        } else {
          std::vector<float> v(d), dist(padded);
          copy_row(row_ptr(list, r), d, v.data());
          kernel()(blocked.data(), dim, v.data(), 0, padded / kLanes, dist.data());
          t = static_cast<uint32_t>(
              std::min_element(dist.begin(), dist.begin() + static_cast<ptrdiff_t>(nlist)) - dist.begin());
        }
        target[l][r] = t;
        ++per_list[t];
      }
    }
    for (size_t t = 0; t < nlist; ++t) {
      fresh[t].data.reserve((per_list[t] + kLanes - 1) / kLanes * kLanes * d);
      fresh[t].keys.reserve(per_list[t]);
      fresh[t].slots.reserve(per_list[t]);
    }
    where.reserve(rows_);
    for (size_t l = 0; l < lists_.size(); ++l) {
      const List& list = lists_[l];
      for (size_t r = 0; r < list.rows(); ++r) {
        List& f = fresh[target[l][r]];
        const size_t fr = f.rows();
        if (fr % kLanes == 0) f.data.resize(f.data.size() + d * kLanes, 0.f);
        float* block = f.data.data() + (fr / kLanes) * d * kLanes + fr % kLanes;
        const float* from = row_ptr(list, r);
        for (size_t k = 0; k < d; ++k) block[k * kLanes] = from[k * kLanes];
        f.keys.push_back(list.keys[r]);
        f.slots.push_back(list.slots[r]);
        where.insert(list.keys[r], (static_cast<uint64_t>(target[l][r]) << 32) | fr);
      }
    }
  }
  IvfState state;
  {
    writers_waiting_.fetch_add(1, std::memory_order_acq_rel);
    std::unique_lock<std::shared_mutex> lock(mu_);
    writers_waiting_.fetch_sub(1, std::memory_order_acq_rel);
    lists_.swap(fresh);
    where_ = std::move(where);
    centroids_ = std::move(blocked);
    centroids_rm_ = std::move(c);
    centroid_norms_ = cn;
    nlist_ = nlist;
    trained_rows_ = rows_;
    train_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state = state_locked();
  }
  writers.unlock();
  fresh.clear();  // the old lists, freed outside every lock
  return state;
}

IvfState EmbeddingIndex::state_locked() const {
  IvfState s;
  if (nlist_ == 0) return s;
  s.dim = dim_;
  s.nlist = nlist_;
  s.trained_rows = trained_rows_;
  s.centroids = centroids_rm_;
  s.lists.reserve(rows_);
  for (uint32_t l = 0; l < lists_.size(); ++l)
    for (int64_t k : lists_[l].keys) s.lists.emplace_back(k, l);
  std::sort(s.lists.begin(), s.lists.end());
  return s;
}

IvfState EmbeddingIndex::ivf_state() const {
  ReadLock lock(*this);
  return state_locked();
}

bool EmbeddingIndex::load_ivf(IvfState state) {
  WriteLock lock(*this);
  const size_t d = static_cast<size_t>(dim_);
  if (rows_ != 0 || dim_ == 0 || state.dim != dim_ || state.nlist == 0 ||
      state.centroids.size() != state.nlist * d || state.nlist > std::numeric_limits<uint32_t>::max())
    return false;
  if (!std::is_sorted(state.lists.begin(), state.lists.end())) return false;
  const size_t padded = (state.nlist + kLanes - 1) / kLanes * kLanes;
  centroids_.assign(padded * d, 0.f);
  for (size_t i = 0; i < state.nlist; ++i)
    for (size_t k = 0; k < d; ++k)
      centroids_[(i / kLanes) * d * kLanes + k * kLanes + i % kLanes] = state.centroids[i * d + k];
  centroid_norms_ = ivf::norms(state.centroids.data(), state.nlist, dim_);
  centroids_rm_ = std::move(state.centroids);
  nlist_ = state.nlist;
  trained_rows_ = state.trained_rows;
  lists_.clear();
  lists_.resize(nlist_);
  pending_lists_ = std::move(state.lists);
  return true;
}

EmbeddingIndex::IvfInfo EmbeddingIndex::ivf_info() const {
  ReadLock lock(*this);
  IvfInfo info;
  info.ready = nlist_ > 0 && mode_ != IndexMode::kExact;
  info.training = training_.load();
  info.nlist = nlist_;
  info.nprobe = nlist_ ? (nprobe_ ? std::min(nprobe_, nlist_) : default_nprobe(nlist_, dim_)) : 0;
  info.trained_rows = trained_rows_;
  info.train_seconds = train_seconds_;
  return info;
}

void EmbeddingIndex::set_nprobe(size_t nprobe) {
  WriteLock lock(*this);
  nprobe_ = nprobe;
}

}  // namespace facepipe::gallery
