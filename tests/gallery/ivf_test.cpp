// The IVF index (gallery/index.h): recall against exact search on a seeded synthetic gallery, adds and
// removes while it serves, auto = exact below the threshold, a persisted IVF on reopen, and searches under
// concurrent adds, removes and a background retrain.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gallery/gallery.h"
#include "gallery/index.h"

namespace facepipe::gallery {
namespace {

namespace fs = std::filesystem;

// Random unit vectors (synthetic embeddings, as bench/gallery_bench.cpp makes them), seeded.
std::vector<float> unit_rows(size_t rows, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> m(rows * static_cast<size_t>(dim));
  for (size_t r = 0; r < rows; ++r) {
    float* v = &m[r * static_cast<size_t>(dim)];
    float norm = 0;
    for (int k = 0; k < dim; ++k) norm += (v[k] = n(rng)) * v[k];
    for (int k = 0; k < dim; ++k) v[k] /= std::sqrt(norm);
  }
  return m;
}

// A stored row plus noise (a new photo of a known face): the queries whose nearest person matters.
std::vector<float> near_query(const std::vector<float>& m, size_t r, int dim, std::mt19937& rng) {
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> q(m.begin() + static_cast<std::ptrdiff_t>(r * dim),
                       m.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
  for (auto& x : q) x += 0.02f * n(rng);
  return q;
}

// The reference loop's squared distance (what the gallery computed before the index).
float reference(const float* q, const float* row, int dim) {
  float sum = 0;
  for (int k = 0; k < dim; ++k) {
    const float d = q[k] - row[k];
    sum += d * d;
  }
  return sum;
}

void fill(EmbeddingIndex& index, const std::vector<float>& m, size_t rows, int dim, int64_t first_key = 1) {
  std::vector<int64_t> keys;
  std::vector<std::string> persons;
  for (size_t r = 0; r < rows; ++r) {
    keys.push_back(first_key + static_cast<int64_t>(r));
    persons.push_back("p" + std::to_string(first_key + static_cast<int64_t>(r)));
  }
  index.add_many(keys, persons, m);
}

TEST(IvfIndex, RecallAtOneAgainstExactIsAtLeast99PercentOnNearQueries) {
  constexpr int kDim = 128;
  constexpr size_t kRows = 30000;
  const auto m = unit_rows(kRows, kDim, 7);
  EmbeddingIndex index;
  index.reset(kDim);
  fill(index, m, kRows, kDim);
  index.set_mode(IndexMode::kIvf);
  EXPECT_FALSE(index.ivf_info().training);  // not before the first search
  index.nearest(&m[0]);                     // the first search starts a background training
  index.wait_trained();
  const auto info = index.ivf_info();
  ASSERT_TRUE(info.ready);
  EXPECT_EQ(info.nlist, 173u);  // about sqrt(rows)
  EXPECT_EQ(info.trained_rows, kRows);
  std::mt19937 rng(11);
  constexpr int kQueries = 1000;
  int hits = 0;
  for (int i = 0; i < kQueries; ++i) {
    const size_t r = std::uniform_int_distribution<size_t>(0, kRows - 1)(rng);
    const auto q = near_query(m, r, kDim, rng);
    const auto ivf = index.nearest(q.data());
    const auto exact = index.nearest_exact(q.data());
    ASSERT_TRUE(ivf.found);
    // Whatever it returns is the exact distance to that stored row, bit for bit.
    const size_t row = static_cast<size_t>(ivf.key - 1);
    EXPECT_EQ(ivf.squared, reference(q.data(), &m[row * kDim], kDim));
    EXPECT_EQ(ivf.person, "p" + std::to_string(ivf.key));
    EXPECT_GE(ivf.squared, exact.squared);
    hits += ivf.key == exact.key;
  }
  EXPECT_GE(hits, kQueries * 99 / 100) << hits << " of " << kQueries;
  // The IVF scans a small part of the gallery: far fewer rows than exact search.
  EXPECT_LT(static_cast<double>(info.nprobe) / static_cast<double>(info.nlist), 0.2);
}

TEST(IvfIndex, AddsAndRemovesGoToTheirListsWhileServing) {
  constexpr int kDim = 64;
  constexpr size_t kRows = 8000;
  const auto m = unit_rows(kRows + 200, kDim, 3);
  EmbeddingIndex index;
  index.reset(kDim);
  fill(index, std::vector<float>(m.begin(), m.begin() + kRows * kDim), kRows, kDim);
  index.train();
  ASSERT_TRUE(index.ivf_info().nlist > 1);
  index.set_mode(IndexMode::kIvf);
  // Removed faces are never returned, not even for their own embedding.
  for (size_t r = 0; r < kRows; r += 97) {
    ASSERT_TRUE(index.remove(static_cast<int64_t>(r + 1)));
    const auto got = index.nearest(&m[r * kDim]);
    ASSERT_TRUE(got.found);
    EXPECT_NE(got.key, static_cast<int64_t>(r + 1));
    EXPECT_GT(got.squared, 0.f);
  }
  // Added faces are found at once (they went to their nearest centroid's list), at distance 0.
  for (size_t r = kRows; r < kRows + 200; ++r) {
    const int64_t key = 100000 + static_cast<int64_t>(r);
    index.add(key, "new" + std::to_string(r), &m[r * kDim]);
    const auto got = index.nearest(&m[r * kDim]);
    EXPECT_EQ(got.key, key);
    EXPECT_EQ(got.squared, 0.f);
    EXPECT_EQ(got.person, "new" + std::to_string(r));
  }
  // Removing a whole person and renaming go through the lists too.
  EXPECT_EQ(index.remove_person("new8000"), 1u);
  EXPECT_NE(index.nearest(&m[kRows * kDim]).person, "new8000");
  index.rename("new8001", "renamed");
  EXPECT_EQ(index.nearest(&m[(kRows + 1) * kDim]).person, "renamed");
  EXPECT_EQ(index.size(), kRows - (kRows + 96) / 97 + 199);
  // No retraining happened: the quantizer is the one trained on kRows.
  EXPECT_EQ(index.ivf_info().trained_rows, kRows);
}

TEST(IvfIndex, AutoSearchesExactlyBelowTheThresholdAndTrainsFromIt) {
  constexpr int kDim = 16;
  const auto m = unit_rows(kIvfAutoRows, kDim, 5);
  EmbeddingIndex index;
  index.reset(kDim);
  index.set_mode(IndexMode::kAuto);
  fill(index, std::vector<float>(m.begin(), m.end() - kDim), kIvfAutoRows - 1, kDim);
  auto info = index.ivf_info();
  EXPECT_FALSE(info.ready);
  EXPECT_FALSE(info.training);
  // Below the threshold, nearest() is exact search (same key, same bits) for far queries too.
  std::mt19937 rng(1);
  const auto far = unit_rows(50, kDim, 99);
  for (int i = 0; i < 50; ++i) {
    const auto a = index.nearest(&far[static_cast<size_t>(i) * kDim]);
    const auto b = index.nearest_exact(&far[static_cast<size_t>(i) * kDim]);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.squared, b.squared);
  }
  index.add(static_cast<int64_t>(kIvfAutoRows), "last", &m[(kIvfAutoRows - 1) * kDim]);  // the threshold
  // The searches above had started nothing; this add makes one due and starts it in the background.
  EXPECT_TRUE(index.ivf_info().training || index.ivf_info().ready);
  index.wait_trained();
  info = index.ivf_info();
  EXPECT_TRUE(info.ready);
  EXPECT_EQ(info.trained_rows, kIvfAutoRows);
}

// A small gallery opened in auto mode keeps today's exact answers, ties to the earliest embedding included.
TEST(IvfIndex, SmallGalleriesInAutoModeKeepExactTies) {
  auto g = Gallery::in_memory("synthetic/8", IndexMode::kAuto);
  const auto m = unit_rows(500, 8, 21);
  for (size_t r = 0; r < 500; ++r)
    g->add("p" + std::to_string(r), face::Embedding(m.begin() + static_cast<std::ptrdiff_t>(r * 8),
                                                    m.begin() + static_cast<std::ptrdiff_t>((r + 1) * 8)));
  const face::Embedding twin(m.begin() + 8 * 123, m.begin() + 8 * 124);
  g->add("twin", twin);  // bit-identical to p123's, stored later: p123 wins the tie
  const auto status = g->index_status();
  EXPECT_EQ(status.mode, "auto");
  EXPECT_FALSE(status.ivf);
  EXPECT_FALSE(status.training);
  const Match match = g->match(twin, 0);
  EXPECT_EQ(match.name, "p123");
  EXPECT_EQ(match.distance, 0.f);
}

TEST(IvfIndex, AReopenedGalleryUsesItsSavedIvfWithoutTraining) {
  const fs::path db = fs::temp_directory_path() / ("facepipe_ivf_" + std::to_string(::getpid()) + ".db");
  remove_gallery_files(db);
  constexpr int kDim = 32;
  constexpr size_t kRows = 6000;
  const auto m = unit_rows(kRows + 1, kDim, 13);
  size_t nlist = 0;
  {
    auto g = Gallery::open(db, "synthetic/32", IndexMode::kIvf);
    size_t r = 0;
    g->add_bulk([&](std::string& name, face::Embedding& e) {
      if (r == kRows) return false;
      name = "p" + std::to_string(r);
      e.assign(m.begin() + static_cast<std::ptrdiff_t>(r * kDim),
               m.begin() + static_cast<std::ptrdiff_t>((r + 1) * kDim));
      ++r;
      return true;
    });
    g->wait_index();
    const auto status = g->index_status();
    ASSERT_TRUE(status.ivf);
    nlist = status.nlist;
    // Added after the training: saved rows plus this one, which the reopen puts in its list itself.
    g->add("late", face::Embedding(m.begin() + kRows * kDim, m.end()));
  }
  auto g = Gallery::open(db, "", IndexMode::kIvf);
  const auto status = g->index_status();
  EXPECT_TRUE(status.ivf);  // at once: no training
  EXPECT_FALSE(status.training);
  EXPECT_EQ(status.nlist, nlist);
  EXPECT_EQ(status.trained_rows, kRows);
  EXPECT_EQ(g->match(face::Embedding(m.begin() + kRows * kDim, m.end()), 0).name, "late");
  EXPECT_EQ(g->match(face::Embedding(m.begin() + 77 * kDim, m.begin() + 78 * kDim), 0).name, "p77");
  // The same file opened exact ignores the saved IVF.
  g.reset();
  auto exact = Gallery::open(db, "", IndexMode::kExact);
  EXPECT_FALSE(exact->index_status().ivf);
  EXPECT_EQ(exact->match(face::Embedding(m.begin() + 77 * kDim, m.begin() + 78 * kDim), 0).name, "p77");
  exact.reset();
  remove_gallery_files(db);
}

// Searches run while a writer adds and removes faces and the growth past twice the trained size retrains
// in the background: a face removed before a search began is never returned, an added face is found by
// its own embedding at once, and the retrain swaps in without losing anyone.
TEST(IvfIndex, SearchesDuringAddsRemovesAndABackgroundRetrain) {
  constexpr int kDim = 32;
  constexpr size_t kStart = 6000, kAdded = 7000;
  const auto m = unit_rows(kStart + kAdded, kDim, 17);
  EmbeddingIndex index;
  index.reset(kDim);
  fill(index, std::vector<float>(m.begin(), m.begin() + kStart * kDim), kStart, kDim);
  index.set_mode(IndexMode::kIvf);
  index.train_due();
  ASSERT_TRUE(index.ivf_info().ready);

  std::mutex removed_mu;
  std::set<int64_t> removed;   // removed: never returned by a search that starts after
  std::set<int64_t> removing;  // about to be removed: a search may or may not still find it
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, violations{0};
  auto searcher = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    while (!done.load()) {
      const size_t r = std::uniform_int_distribution<size_t>(0, kStart - 1)(rng);
      std::set<int64_t> gone;
      {
        std::lock_guard<std::mutex> lock(removed_mu);
        gone = removed;
      }
      const auto got = index.nearest(&m[r * kDim]);
      if (!got.found || gone.count(got.key) > 0) ++violations;
      // Its own face is the answer unless it was removed before or during the search.
      bool removed_since = false;
      {
        std::lock_guard<std::mutex> lock(removed_mu);
        removed_since = removing.count(static_cast<int64_t>(r + 1)) > 0;
      }
      if (!removed_since && got.key != static_cast<int64_t>(r + 1)) ++violations;
      ++searches;
    }
  };
  std::thread s1(searcher, 1), s2(searcher, 2);
  int not_found = 0;
  for (size_t i = 0; i < kAdded; ++i) {
    const size_t r = kStart + i;
    index.add(static_cast<int64_t>(r + 1), "p" + std::to_string(r + 1), &m[r * kDim]);
    if (index.nearest(&m[r * kDim]).key != static_cast<int64_t>(r + 1)) ++not_found;
    if (i % 10 == 0) {  // remove one of the starting faces
      const int64_t key = static_cast<int64_t>(i / 10 * 7 + 1);
      {
        std::lock_guard<std::mutex> lock(removed_mu);
        removing.insert(key);
      }
      ASSERT_TRUE(index.remove(key));
      std::lock_guard<std::mutex> lock(removed_mu);
      removed.insert(key);
    }
  }
  index.wait_trained();  // kStart + kAdded > 2 x kStart: a retrain started on the way
  done = true;
  s1.join();
  s2.join();
  EXPECT_EQ(not_found, 0);
  EXPECT_EQ(violations.load(), 0) << "of " << searches.load() << " searches";
  EXPECT_GT(searches.load(), 100);
  const auto info = index.ivf_info();
  EXPECT_GE(info.trained_rows, 2 * kStart);
  EXPECT_EQ(index.size(), kStart + kAdded - removed.size());
  // After the swap every remaining face is still found by its own embedding.
  for (size_t r = 0; r < kStart + kAdded; r += 13) {
    const auto got = index.nearest(&m[r * kDim]);
    if (removed.count(static_cast<int64_t>(r + 1)) == 0) EXPECT_EQ(got.key, static_cast<int64_t>(r + 1));
  }
}

}  // namespace
}  // namespace facepipe::gallery
