#include "gallery/gallery.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "gallery/data_pt.h"
#include "testutil/testutil.h"

namespace facepipe::gallery {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::golden;
using facepipe::testing::read_json;
using facepipe::testing::shared;

fs::path data_pt() { return shared() / "galleries/face_images_1000.data.pt"; }

fs::path fresh_db(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("facepipe_gallery_" + name + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
  return p;
}

TEST(DataPt, ImportReproducesTheGoldenDecodingBitForBit) {
  const auto want = read_json(golden() / "gallery_face_images_1000.json");
  const auto pairs = read_data_pt(data_pt());
  ASSERT_EQ(pairs.size(), want["names"].size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].first, want["names"][i].get<std::string>());
    auto emb = want["embeddings"][i];
    if (emb.size() == 1 && emb[0].is_array()) emb = emb[0];  // (1, 512) stored as nested list
    const auto expected = emb.get<std::vector<float>>();
    ASSERT_EQ(pairs[i].second.size(), expected.size());
    EXPECT_EQ(std::memcmp(pairs[i].second.data(), expected.data(), expected.size() * sizeof(float)), 0) << i;
  }
}

TEST(Gallery, MatchesOnTheRealCourseGallery) {
  auto g = Gallery::in_memory(kDataPtEmbedderId);
  EXPECT_EQ(import_data_pt(*g, data_pt()), 90);
  const auto pairs = read_data_pt(data_pt());
  for (const auto& [name, emb] : pairs) {
    const Match m = g->match(emb, 0);
    EXPECT_EQ(m.name, name);
    EXPECT_FLOAT_EQ(m.distance, 0.f);
  }
  // A slightly perturbed embedding is still nearest to its person; far from everyone it is Unknown.
  auto emb = pairs[7].second;
  for (size_t k = 0; k < emb.size(); k += 7) emb[k] += 0.01f;
  const Match near = g->match(emb, 0.5f);
  EXPECT_EQ(near.name, pairs[7].first);
  EXPECT_GT(near.distance, 0.f);
  std::vector<float> far(512, 0.f);
  far[0] = 10.f;
  const Match unknown = g->match(far, 0.5f);
  EXPECT_EQ(unknown.name, kUnknown);
  EXPECT_FALSE(unknown.known());
  EXPECT_NE(unknown.nearest, kUnknown);
  EXPECT_EQ(g->match(far, 0).name, unknown.nearest);  // threshold 0: the seed's always-nearest
}

TEST(Gallery, PersistsRecordsAndRemovalsAcrossReopen) {
  const auto db = fresh_db("persist");
  const auto pairs = read_data_pt(data_pt());
  {
    auto g = Gallery::open(db, kDataPtEmbedderId);
    g->add(pairs[0].first, pairs[0].second);
    g->add(pairs[0].first, pairs[1].second);
    g->add(pairs[2].first, pairs[2].second);
    g->set_record(pairs[0].first, {{"name", pairs[0].first}, {"major", "Physics"}, {"year", 3}});
  }
  auto g = Gallery::open(db);
  EXPECT_EQ(g->embedder_id(), kDataPtEmbedderId);
  EXPECT_EQ(g->dim(), 512);
  const auto people = g->people();
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].embeddings, 2);
  EXPECT_EQ((*g->record(pairs[0].first))["major"], "Physics");
  EXPECT_FALSE(g->record(pairs[2].first).has_value());
  EXPECT_EQ(g->match(pairs[1].second, 0).name, pairs[0].first);
  g->remove(pairs[0].first);
  EXPECT_EQ(g->match(pairs[1].second, 0).name, pairs[2].first);
  EXPECT_THROW(g->remove("nobody"), Error);
  EXPECT_EQ(Gallery::open(db)->people().size(), 1u);
}

TEST(Gallery, RefusesAnotherEmbedderAndBadEmbeddings) {
  const auto db = fresh_db("mismatch");
  { Gallery::open(db, "faceapi-resnet34/aligned150")->add("Bean", std::vector<float>(128, 0.1f)); }
  try {
    Gallery::open(db, kDataPtEmbedderId);
    ADD_FAILURE() << "mismatched embedder accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    EXPECT_NE(std::string(e.what()).find("faceapi-resnet34/aligned150"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(kDataPtEmbedderId), std::string::npos);
  }
  auto g = Gallery::open(db);
  EXPECT_THROW(g->add("Obama", std::vector<float>(512, 0.1f)), Error);  // wrong dimension
  EXPECT_THROW(g->add("", std::vector<float>(128, 0.1f)), Error);
  EXPECT_THROW(g->add(kUnknown, std::vector<float>(128, 0.1f)), Error);
  EXPECT_THROW(g->match(std::vector<float>(512, 0.f), 0), Error);
  EXPECT_THROW(Gallery::in_memory("x")->match(std::vector<float>(3, 0.f), 0), Error);  // empty gallery
  EXPECT_THROW(read_data_pt(facepipe::testing::shared_models() / "mtcnn/pnet.pt"), Error);  // a state dict
}

}  // namespace
}  // namespace facepipe::gallery
