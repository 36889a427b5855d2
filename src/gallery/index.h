// The gallery's search index: every stored embedding in fp32, each row tagged with its person and its key
// (the embeddings table's id, i.e. insertion order), searched exactly, or through an inverted file (IVF)
// for large galleries.
//
// Exact (IndexMode::kExact, and kAuto below kIvfAutoRows): nearest neighbour by Euclidean distance over
// EVERY stored embedding, ties to the earliest stored one, as the golden/accuracy tests expect. The
// distances are bit-for-bit the reference `sum += (q[k] - row[k])^2` loop (index.cpp says why that
// layout and not oneDNN's matmul or FAISS).
//
// IVF (kIvf, and kAuto from kIvfAutoRows rows): the rows are split into lists by a k-means coarse quantizer
// (about sqrt(rows) centroids, trained on 64 sampled rows per centroid); a search scores the rows of the
// `nprobe` lists whose centroids are nearest the query with the same exact kernel, so what it returns is
// an exact distance to a real stored row, but the nearest row may be missed if it sits in an unprobed
// list (recall@1 against exact: bench/gallery_bench.cpp, README "Gallery size"). Our own k-means (oneDNN's
// sgemm for the assignment products) rather than FAISS: see ivf.h for the measured figures.
// - Until an IVF is trained the index searches exactly, so opening never waits for training. Training
//   starts at the first search (or train_due), runs in the background and swaps the lists in atomically:
//   searches go on during it; adds and removes wait only for the final rebuild of the lists (about a
//   second at 10^6 x 512). Measured at 10^6 (sample, k-means, assignment, rebuild): 9.6 s at 128-d and
//   24 s at 512-d at load 4.5, 37 s / 102 s at load 12 (README "Gallery size").
// - Adds and removes go straight to their list (the nearest centroid; no retraining). When the index has
//   grown kRetrainGrowth times since training, it retrains in the background.
// - The trained centroids and each row's list are exported (ivf_state) for the gallery to persist beside
//   the embeddings, and imported (load_ivf) before the rows at open: reopening needs no training.
//
// Memory: 4*dim bytes per embedding for the rows, plus 12 bytes (key, person slot) and 16-32 bytes of the
// key->row table, plus the person's name once per person; the IVF adds its centroids (4*dim*sqrt(rows)
// bytes, 2 MB at 10^6 x 512). fp16 would halve the rows and int8 quarter them, but both change distances
// and so the nearest person: fp32 only (the lists are scanned with the exact kernel).
//
// Thread safety: any number of concurrent searches, alongside add/remove (a shared mutex: a writer waits
// for the searches in flight, new searches wait for it, and it is O(dim) for add/remove of a face, so
// matching never waits for a reload).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace facepipe::gallery {

// How galleries opened for matching are searched: `--index exact|ivf|auto` (cli/commands.cpp).
enum class IndexMode { kExact, kIvf, kAuto };
// "exact" | "ivf" | "auto"; Error(kInvalidInput) otherwise.
IndexMode parse_index_mode(const std::string& name);
const char* index_mode_name(IndexMode mode);
// The mode Gallery::open gives an index (process-wide; the CLI's --index sets it once at start). kAuto by
// default, or $FACEPIPE_INDEX.
void set_default_index_mode(IndexMode mode);
IndexMode default_index_mode();

// kAuto: exact below this many rows (10^5 x 512 searches exactly in ~25-50 ms here), IVF from it on.
inline constexpr size_t kIvfAutoRows = 100000;
// kIvf: the fewest rows worth an IVF (below, kIvf searches exactly too).
inline constexpr size_t kIvfMinRows = 4096;
// Retrain when the index holds this many times the rows it was trained on.
inline constexpr double kRetrainGrowth = 2.0;

// A trained coarse quantizer and where each row went (sorted by key), as persisted beside the gallery.
struct IvfState {
  int dim = 0;
  size_t nlist = 0;
  size_t trained_rows = 0;
  std::vector<float> centroids;                     // nlist x dim, row-major
  std::vector<std::pair<int64_t, uint32_t>> lists;  // (key, list), ascending keys
};

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
  struct IvfInfo {
    bool ready = false;  // false: searching exactly (untrained, training, or exact mode)
    bool training = false;
    size_t nlist = 0, nprobe = 0, trained_rows = 0;
    double train_seconds = 0;  // the last training: sample, k-means, assignment, rebuild
  };

  EmbeddingIndex() = default;
  ~EmbeddingIndex();  // stops a background training
  EmbeddingIndex(const EmbeddingIndex&) = delete;
  EmbeddingIndex& operator=(const EmbeddingIndex&) = delete;

  // Drops everything (and any IVF); `dim` is the width of the rows to come (0 = unknown yet, set by the
  // first add).
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
  // Room for `rows` rows in all (open: the gallery's count), so loading them allocates once.
  void reserve(size_t rows);
  // Removes a row by key; false when absent. O(dim): the last row of its list moves into its place.
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

  // The nearest row to `q` (dim() floats): smallest squared distance, ties to the smallest key. Through
  // the IVF when one is ready, else exact.
  Nearest nearest(const float* q) const;
  // Always over every row (the reference for recall, and what kExact gives).
  Nearest nearest_exact(const float* q) const;
  // Every person's nearest squared distance, in no particular order: over every row, or (approximate =
  // true with an IVF ready) over the probed lists' rows only, i.e. the people found near the query.
  std::vector<PersonBest> per_person(const float* q, bool approximate = false) const;

  // --- IVF ---
  // How this index is searched; kAuto/kIvf start a background training once the size calls for one,
  // at the first search (so opening a gallery to list or change it never trains) or at the add that
  // makes it due after that. `on_trained` (optional) gets each newly trained state, from the training
  // thread, after the swap (the gallery persists it).
  void set_mode(IndexMode mode, std::function<void(const IvfState&)> on_trained = {});
  IndexMode mode() const;
  // Trains now on the calling thread (tests, benchmarks); `nlist` 0 = about sqrt(rows). No-op below
  // 2 rows per list.
  void train(size_t nlist = 0);
  // Waits for a background training to finish (tests).
  void wait_trained() const;
  // Starts the training that is due now, without waiting for a search, and waits for it (import, tests).
  void train_due();
  // Stops a background training and waits for its thread (the gallery calls it before closing its file,
  // which the training's on_trained writes to).
  void stop_training();
  // Takes a persisted quantizer before the rows are added (open): add_many then puts each row in the list
  // `state` names, or its nearest centroid's for a row the state does not know. Ignored (false) when the
  // dimension differs or it is malformed.
  bool load_ivf(IvfState state);
  // The current quantizer and every row's list; nlist 0 when none.
  IvfState ivf_state() const;
  IvfInfo ivf_info() const;
  // Lists scanned per query (0 = the default for the trained nlist, see index.cpp).
  void set_nprobe(size_t nprobe);

 private:
  static constexpr size_t kLanes = 8;  // rows interleaved per block (one AVX2 register of floats)
  // One inverted list (the only one while untrained): blocks of kLanes rows; block b holds element k of
  // row b*kLanes+j at data[(b*dim + k)*kLanes + j].
  struct List {
    std::vector<float> data;
    std::vector<int64_t> keys;    // per row
    std::vector<uint32_t> slots;  // per row: person slot
    size_t rows() const { return keys.size(); }
  };
  // key -> (list << 32 | row), open addressing with linear probing (no allocation per row: the open of a
  // 10^6 gallery spent its time in std::unordered_map's nodes).
  class KeyTable {
   public:
    void clear();
    void reserve(size_t n);
    bool insert(int64_t key, uint64_t value);  // false when present
    uint64_t* find(int64_t key);
    const uint64_t* find(int64_t key) const;
    bool erase(int64_t key);
    size_t size() const { return size_; }
    size_t memory_bytes() const { return keys_.capacity() * (sizeof(int64_t) + sizeof(uint64_t)); }

   private:
    size_t slot(int64_t key) const;
    void grow();
    std::vector<int64_t> keys_;
    std::vector<uint64_t> values_;
    std::vector<uint8_t> used_;
    size_t size_ = 0;
  };
  struct Unit {  // a piece of a search: blocks [b0, b1) of one list
    uint32_t list;
    uint32_t b0, b1;
  };

  void reserve_list(List& l, size_t rows);
  void add_locked(int64_t key, uint32_t slot, const float* v, uint32_t list);
  static constexpr uint32_t kNoSlot = std::numeric_limits<uint32_t>::max();
  uint32_t slot_for(const std::string& person);
  uint32_t find_slot(const std::string& name) const;
  size_t name_cell(const std::string& name, uint64_t h) const;
  void reserve_names(size_t n);
  void insert_name(uint32_t slot);  // names_[slot] and name_hash_[slot] set
  void erase_name(uint32_t slot);
  void release_slot(uint32_t slot);
  void remove_row_locked(uint32_t list, size_t r);
  const float* row_ptr(const List& l, size_t r) const;
  uint32_t nearest_list_locked(const float* v) const;
  std::vector<uint32_t> probe_locked(const float* q, size_t nprobe) const;
  std::vector<Unit> units_locked(const std::vector<uint32_t>* lists) const;
  Nearest nearest_locked(const float* q, const std::vector<uint32_t>* lists) const;
  std::vector<PersonBest> per_person_locked(const float* q, const std::vector<uint32_t>* lists) const;
  bool training_due_locked() const;
  void maybe_train_locked(bool force = false);
  void first_search_locked() const;
  IvfState train_impl(size_t nlist);  // the new state, nlist 0 when not trained
  IvfState state_locked() const;
  void join_trainer();

  // glibc's shared mutex prefers readers: under a steady stream of matches a writer would wait forever.
  // Readers therefore hold back while a writer waits (writer preference, writes being short and rare).
  struct ReadLock {
    explicit ReadLock(const EmbeddingIndex& index);
    std::shared_lock<std::shared_mutex> lock;
  };
  // Writers first take writers_mu_ (so the trainer can hold writers off while it rebuilds the lists under
  // a read lock, without the writer preference stalling searches), then the exclusive lock.
  struct WriteLock {
    explicit WriteLock(EmbeddingIndex& index);
    std::unique_lock<std::mutex> writers;
    std::unique_lock<std::shared_mutex> lock;
  };
  mutable std::shared_mutex mu_;
  mutable std::atomic<int> writers_waiting_{0};
  std::mutex writers_mu_;
  int dim_ = 0;
  size_t rows_ = 0;
  std::vector<List> lists_;         // one list until an IVF is trained, then nlist
  KeyTable where_;                  // key -> list and row
  std::vector<std::string> names_;  // per slot ("" = free)
  std::vector<uint32_t> counts_;    // per slot: rows
  std::vector<uint32_t> free_slots_;
  // name -> slot: cells hold slot + 1 (0 = empty), probed by name_hash_ (per slot)
  std::vector<uint32_t> name_cells_;
  std::vector<uint64_t> name_hash_;
  size_t name_count_ = 0;

  // IVF: centroids blocked like the rows (kLanes interleaved, padded), searched with the same kernel.
  size_t nlist_ = 0;  // 0: untrained, one list, exact
  std::vector<float> centroids_;
  std::vector<float> centroids_rm_;    // the same, row-major (sgemm, persistence)
  std::vector<float> centroid_norms_;  // their squared norms
  size_t nprobe_ = 0;                  // 0: default for nlist_
  size_t trained_rows_ = 0;
  double train_seconds_ = 0;
  IndexMode mode_ = IndexMode::kExact;
  std::function<void(const IvfState&)> on_trained_;
  // A loaded state's assignment, used by add_many while the gallery loads its rows (then dropped).
  std::vector<std::pair<int64_t, uint32_t>> pending_lists_;

  std::mutex train_mu_;    // one training at a time
  std::mutex trainer_mu_;  // starting and joining trainer_
  mutable std::atomic<bool> searched_{false};
  std::thread trainer_;
  std::atomic<bool> training_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // reset() bumps it: a training begun before is dropped
};

}  // namespace facepipe::gallery
