// The gallery's search index: every stored embedding in one contiguous fp32 matrix, each row tagged with
// its person and its key (the embeddings table's id, i.e. insertion order), searched exactly.
//
// Exact on purpose: the gallery's semantics are nearest neighbour by Euclidean distance over EVERY stored
// embedding, with ties going to the earliest stored one, and the golden/accuracy tests depend on them.
// The distances are bit-for-bit today's `sum += (q[k] - row[k])^2` loop (see index.cpp for why that layout
// and not oneDNN's matmul or FAISS).
//
// Memory: 4*dim bytes per embedding for the matrix, plus 12 bytes (key, person slot) and the key->row hash
// entry (~40 bytes in libstdc++), plus the person's name once per person: 2.1 KB per 512-d embedding, 0.57 KB
// per 128-d one (bench/gallery_bench.cpp reports the measured figure). fp16 would halve the matrix and int8
// quarter it, but both change distances and so the nearest person: not offered, fp32 only.
//
// Thread safety: any number of concurrent searches, alongside add/remove (a shared mutex: a writer waits
// for the searches in flight, new searches wait for it, and it is O(dim) for add/remove of a face, so
// matching never waits for a reload).
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace facepipe::gallery {

class EmbeddingIndex {
 public:
  struct Nearest {
    bool found = false;
    float squared = std::numeric_limits<float>::infinity();  // squared Euclidean distance
    std::string person;
    int64_t key = 0;
  };
  struct PersonBest {
    std::string person;
    float squared = 0;
    int64_t first_key = 0;  // the person's earliest stored embedding (ties keep insertion order)
  };

  // Drops everything; `dim` is the width of the rows to come (0 = unknown yet, set by the first add).
  void reset(int dim);
  int dim() const;
  size_t size() const;
  size_t people() const;  // people with at least one row
  size_t memory_bytes() const;

  // Adds a row; `key` must be new (Error(kInternal) otherwise) and `v` of dim() floats.
  void add(int64_t key, const std::string& person, const float* v);
  // Adds many rows at once under one lock (bulk import): keys[i], persons[i], rows i*dim..(i+1)*dim.
  void add_many(const std::vector<int64_t>& keys, const std::vector<std::string>& persons,
                const std::vector<float>& rows);
  // Removes a row by key; false when absent. O(dim): the last row moves into its place.
  bool remove(int64_t key);
  // Removes every row of `person` (O(rows)); returns how many.
  size_t remove_person(const std::string& person);
  // Moves every row of `from` to `to` (rename, or merge when `to` has rows).
  void rename(const std::string& from, const std::string& to);
  // The row of `key`, empty when absent.
  std::vector<float> row(int64_t key) const;
  // Every row's content hash (hash_row) with its key: bulk import's duplicate check, built once per import
  // rather than kept (it would cost 40 bytes more per embedding).
  std::vector<std::pair<uint64_t, int64_t>> row_hashes() const;
  static uint64_t hash_row(const float* v, int dim);

  // The nearest row to `q` (dim() floats): smallest squared distance, ties to the smallest key.
  Nearest nearest(const float* q) const;
  // Every person's nearest squared distance, in no particular order.
  std::vector<PersonBest> per_person(const float* q) const;

 private:
  static constexpr size_t kLanes = 8;  // rows interleaved per block (one AVX2 register of floats)
  void add_locked(int64_t key, uint32_t slot, const float* v);
  uint32_t slot_for(const std::string& person);
  void release_slot(uint32_t slot);
  void remove_row_locked(size_t r);
  void distances_locked(const float* q, float* out) const;

  // glibc's shared mutex prefers readers: under a steady stream of matches a writer would wait forever.
  // Readers therefore hold back while a writer waits (writer preference, writes being short and rare).
  struct ReadLock {
    explicit ReadLock(const EmbeddingIndex& index);
    std::shared_lock<std::shared_mutex> lock;
  };
  struct WriteLock {
    explicit WriteLock(EmbeddingIndex& index);
    std::unique_lock<std::shared_mutex> lock;
  };
  mutable std::shared_mutex mu_;
  mutable std::atomic<int> writers_waiting_{0};
  int dim_ = 0;
  size_t rows_ = 0;
  // Blocks of kLanes rows: block b holds element k of row b*kLanes+j at data_[(b*dim + k)*kLanes + j].
  std::vector<float> data_;
  std::vector<int64_t> keys_;    // per row
  std::vector<uint32_t> slots_;  // per row: person slot
  std::unordered_map<int64_t, size_t> row_of_key_;
  std::vector<std::string> names_;  // per slot ("" = free)
  std::vector<uint32_t> counts_;    // per slot: rows
  std::vector<uint32_t> free_slots_;
  std::unordered_map<std::string, uint32_t> slot_of_;
};

}  // namespace facepipe::gallery
