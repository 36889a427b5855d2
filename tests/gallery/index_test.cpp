// The gallery's search index against today's brute-force loop, under concurrent change, and the bulk
// import of a generated 10^5-row file.
#include "gallery/index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "core/error.h"
#include "gallery/bulk_import.h"
#include "gallery/data_pt.h"
#include "gallery/gallery.h"
#include "testutil/testutil.h"

namespace facepipe::gallery {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::shared;

using Rows = std::vector<std::pair<std::string, face::Embedding>>;

// The loop Gallery::match ran before the index, verbatim: in insertion order, first of equal distances wins.
Match brute_force(const Rows& rows, const face::Embedding& q) {
  float best = std::numeric_limits<float>::infinity();
  size_t best_i = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    float sum = 0;
    for (size_t k = 0; k < q.size(); ++k) {
      const float diff = q[k] - rows[i].second[k];
      sum += diff * diff;
    }
    if (sum < best) {
      best = sum;
      best_i = i;
    }
  }
  return {rows[best_i].first, std::sqrt(best), rows[best_i].first};
}

std::map<std::string, float> brute_force_people(const Rows& rows, const face::Embedding& q) {
  std::map<std::string, float> out;
  for (const auto& [name, e] : rows) {
    float sum = 0;
    for (size_t k = 0; k < q.size(); ++k) {
      const float diff = q[k] - e[k];
      sum += diff * diff;
    }
    auto [it, added] = out.try_emplace(name, sum);
    if (!added) it->second = std::min(it->second, sum);
  }
  for (auto& [name, sum] : out) sum = std::sqrt(sum);
  return out;
}

// Bit for bit: the index runs the reference's own arithmetic (see gallery/index.cpp).
void expect_same_as_brute_force(const Gallery& g, const Rows& rows, const face::Embedding& q) {
  const Match want = brute_force(rows, q);
  const Match got = g.match(q, 0);
  EXPECT_EQ(got.nearest, want.nearest);
  EXPECT_EQ(got.distance, want.distance);
  const auto people = brute_force_people(rows, q);
  const auto all = g.distances(q);
  ASSERT_EQ(all.size(), people.size());
  for (const auto& [name, d] : all) EXPECT_EQ(d, people.at(name)) << name;
  const auto top = g.nearest_people(q, 5);
  ASSERT_EQ(top.size(), std::min<size_t>(5, people.size()));
  EXPECT_EQ(top[0].name, want.nearest);
  for (size_t i = 1; i < top.size(); ++i) EXPECT_LE(top[i - 1].distance, top[i].distance);
  for (const auto& p : top) EXPECT_EQ(p.distance, people.at(p.name));
}

face::Embedding random_unit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> n(0.f, 1.f);
  face::Embedding e(static_cast<size_t>(dim));
  float norm = 0;
  for (auto& v : e) {
    v = n(rng);
    norm += v * v;
  }
  for (auto& v : e) v /= std::sqrt(norm);
  return e;
}

TEST(GalleryIndex, ExactOnTheBundledRealEmbeddings) {
  const Rows rows = read_data_pt(shared() / "galleries/face_images_1000.data.pt");
  ASSERT_EQ(rows.size(), 90u);
  auto g = Gallery::in_memory(kDataPtEmbedderId);
  for (const auto& [name, e] : rows) g->add(name, e);
  // Queries: every stored face, and blends of two real faces (between people: the hard cases).
  for (size_t i = 0; i < rows.size(); ++i) {
    expect_same_as_brute_force(*g, rows, rows[i].second);
    face::Embedding blend(rows[i].second.size());
    const auto& other = rows[(i * 37 + 11) % rows.size()].second;
    for (size_t k = 0; k < blend.size(); ++k) blend[k] = 0.55f * rows[i].second[k] + 0.45f * other[k];
    expect_same_as_brute_force(*g, rows, blend);
  }
}

TEST(GalleryIndex, ExactOnRandomEmbeddingsThroughAddsAndRemovals) {
  std::mt19937 rng(11);
  for (int dim : {128, 512}) {
    auto g = Gallery::in_memory("test/" + std::to_string(dim));
    Rows rows;
    std::vector<std::string> ids;
    for (int i = 0; i < 3000; ++i) {  // > 2^21 floats at 512-d: the parallel path runs too
      const std::string name = "p" + std::to_string(i % 700);
      rows.emplace_back(name, random_unit(rng, dim));
      ids.push_back(g->add_face(name, rows.back().second, ""));
    }
    rows.emplace_back("twin", rows[5].second);  // an exact tie: the earlier row (rows[5]) wins
    ids.push_back(g->add_face("twin", rows.back().second, ""));
    EXPECT_EQ(g->match(rows[5].second, 0).nearest, rows[5].first);
    for (int q = 0; q < 20; ++q) expect_same_as_brute_force(*g, rows, random_unit(rng, dim));
    // Removals move rows inside the index; the answers must still be those of the loop in insertion order.
    for (size_t i = 0; i < rows.size(); i += 3) g->remove_face(ids[i]);
    Rows kept;
    for (size_t i = 0; i < rows.size(); ++i)
      if (i % 3 != 0) kept.push_back(rows[i]);
    g->remove("p1");
    std::erase_if(kept, [](const auto& r) { return r.first == "p1"; });
    g->rename("p2", "p3");  // a merge
    for (auto& r : kept)
      if (r.first == "p2") r.first = "p3";
    g->rename("p4", "renamed");
    for (auto& r : kept)
      if (r.first == "p4") r.first = "renamed";
    for (int q = 0; q < 20; ++q) expect_same_as_brute_force(*g, kept, random_unit(rng, dim));
    for (size_t i = 0; i < kept.size(); i += 97) expect_same_as_brute_force(*g, kept, kept[i].second);
  }
}

// Large enough for the two-thread path (over 2^23 floats), with ties planted across the threads' halves.
TEST(GalleryIndex, TheParallelSearchIsExactAndKeepsInsertionOrderOnTies) {
  std::mt19937 rng(21);
  constexpr int kDim = 512;
  constexpr size_t kRows = 20000;
  EmbeddingIndex index;
  index.reset(kDim);
  Rows rows;
  std::vector<int64_t> keys;
  std::vector<std::string> persons;
  std::vector<float> flat;
  for (size_t i = 0; i < kRows; ++i) {
    rows.emplace_back("p" + std::to_string(i), i == kRows - 3 ? rows[123].second : random_unit(rng, kDim));
    keys.push_back(static_cast<int64_t>(i + 1));
    persons.push_back(rows.back().first);
    flat.insert(flat.end(), rows.back().second.begin(), rows.back().second.end());
  }
  index.add_many(keys, persons, flat);
  for (int q = 0; q < 10; ++q) {
    const auto query = random_unit(rng, kDim);
    const Match want = brute_force(rows, query);
    const auto got = index.nearest(query.data());
    EXPECT_EQ(got.person, want.nearest);
    EXPECT_EQ(std::sqrt(got.squared), want.distance);
  }
  // A tie between row 124 and row 19998: the earlier one wins, also after it moved (a removal).
  EXPECT_EQ(index.nearest(rows[123].second.data()).person, "p123");
  ASSERT_TRUE(index.remove(5));  // row 19999 (key 20000) moves into row 4
  EXPECT_EQ(index.nearest(rows[123].second.data()).person, "p123");
  ASSERT_TRUE(index.remove(124));
  EXPECT_EQ(index.nearest(rows[123].second.data()).person, rows[kRows - 3].first);
  EXPECT_EQ(index.nearest(rows[123].second.data()).squared, 0.f);
}

TEST(GalleryIndex, MatchesWhileOthersAddAndRemove) {
  // In memory: the same code as a file gallery, without a disk sync per change slowing the writers.
  auto g = Gallery::in_memory("test/128");
  std::mt19937 rng(5);
  Rows anchors;  // never removed: a query equal to one must always find it at distance 0
  for (int i = 0; i < 50; ++i) {
    anchors.emplace_back("anchor" + std::to_string(i), random_unit(rng, 128));
    g->add(anchors.back().first, anchors.back().second);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> matches{0}, changes{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t);
      while (!stop) {
        const auto& [name, e] = anchors[i++ % anchors.size()];
        const Match m = g->match(e, 0.5f);
        if (m.name != name || m.distance != 0.f) ++wrong;
        if (g->nearest_people(e, 3).front().name != name) ++wrong;
        ++matches;
      }
    });
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 r(100 + static_cast<unsigned>(t));
      for (int round = 0; round < 200; ++round) {
        const std::string name = "churn" + std::to_string(t) + "_" + std::to_string(round % 10);
        std::vector<std::string> ids;
        for (int k = 0; k < 3; ++k) ids.push_back(g->add_face(name, random_unit(r, 128), ""));
        g->remove_face(ids[1]);
        if (round % 2) g->remove(name);
        ++changes;
      }
    });
  for (size_t t = 2; t < threads.size(); ++t) threads[t].join();
  stop = true;
  for (size_t t = 0; t < 2; ++t) threads[t].join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(matches.load(), 0);
  EXPECT_EQ(changes.load(), 400);
  // What the index holds is what SQLite holds: every stored face is found, at distance 0, as its person.
  size_t total = 0;
  const auto faces = g->faces("", 0, 100000, &total);
  EXPECT_EQ(faces.size(), total);
  EXPECT_GT(total, anchors.size());
  for (const auto& f : faces) {
    const auto e = g->face_embedding(f.id);
    ASSERT_TRUE(e.has_value());
    const Match m = g->match(*e, 0);
    EXPECT_EQ(m.distance, 0.f);
    EXPECT_EQ(m.nearest, f.person);
  }
  size_t indexed = 0;
  for (const auto& p : g->people()) indexed += static_cast<size_t>(p.embeddings);
  EXPECT_EQ(indexed, total);
}

TEST(GalleryImport, ImportsAGenerated100kRowFileInOneTransaction) {
  const fs::path csv = fs::temp_directory_path() / "facepipe_import_100k.csv";
  const fs::path db = fs::temp_directory_path() / "facepipe_import_100k.db";
  remove_gallery_files(db);
  constexpr int kRows = 100000, kDim = 128;
  std::mt19937 rng(3);
  Rows sample;  // every 1000th row, to check after the import
  {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("name,embedding\n", f);  // a header line
    for (int i = 0; i < kRows; ++i) {
      const auto e = random_unit(rng, kDim);
      const std::string name = i == 7 ? "\"Smith, \"\"J\"\"\"" : "person" + std::to_string(i / 2);
      std::fputs(name.c_str(), f);
      for (float v : e) std::fprintf(f, ",%.9g", v);
      std::fputc('\n', f);
      if (i % 1000 == 7) sample.emplace_back(i == 7 ? "Smith, \"J\"" : name, e);
    }
    std::fclose(f);
  }
  size_t reports = 0, last_rows = 0;
  const auto result = import_embeddings_csv_into(db, csv, "test/128", [&](const BulkImportProgress& p) {
    ++reports;
    EXPECT_GE(p.rows, last_rows);
    last_rows = p.rows;
  });
  EXPECT_EQ(result.added, static_cast<size_t>(kRows));
  EXPECT_EQ(result.skipped, 0u);
  EXPECT_GE(reports, 10u);
  {
    auto g = Gallery::open(db);  // the load at open time
    EXPECT_EQ(g->dim(), kDim);
    for (const auto& [name, e] : sample) {
      const Match m = g->match(e, 0.1f);
      EXPECT_EQ(m.name, name);  // %.9g round-trips: the stored embedding is bit for bit the generated one
      EXPECT_EQ(m.distance, 0.f);
    }
    EXPECT_EQ(g->faces("", 0, 1, nullptr).size(), 1u);
  }
  // Importing the same file again adds nothing.
  const auto again = import_embeddings_csv_into(db, csv, "test/128");
  EXPECT_EQ(again.added, 0u);
  EXPECT_EQ(again.skipped, static_cast<size_t>(kRows));
  remove_gallery_files(db);

  // A bad line rolls everything back and leaves no new gallery behind.
  {
    std::ofstream bad(csv);
    bad << "a,0.1,0.2\nb,0.3,zz\n";
  }
  try {
    import_embeddings_csv_into(db, csv, "test/2");
    FAIL() << "a malformed file was imported";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(db));
  {
    std::ofstream bad(csv);
    bad << "a,0.1,0.2\nb,0.3\n";
  }
  EXPECT_THROW(import_embeddings_csv_into(db, csv, "test/2"), Error);
  EXPECT_FALSE(fs::exists(db));
  fs::remove(csv);
}

}  // namespace
}  // namespace facepipe::gallery
