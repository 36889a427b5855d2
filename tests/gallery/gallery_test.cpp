#include "gallery/gallery.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cmath>
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
  EXPECT_THROW(Gallery::in_memory("x")->match(std::vector<float>(3, 0.f), 0), Error);       // empty gallery
  EXPECT_THROW(read_data_pt(facepipe::testing::shared_models() / "mtcnn/pnet.pt"), Error);  // a state dict
}

}  // namespace
}  // namespace facepipe::gallery

namespace facepipe::gallery {
namespace {

std::vector<float> unit(int dim, int hot) {
  std::vector<float> v(static_cast<size_t>(dim), 0.f);
  v[static_cast<size_t>(hot)] = 1.f;
  return v;
}

TEST(GalleryFaces, StoresImagesWithIdsPagesAndRemovesThem) {
  const auto db = fresh_db("faces");
  std::string first;
  {
    auto g = Gallery::open(db, "test/4");
    first = g->add_face("Ann", unit(4, 0), "jpeg-bytes-1");
    g->add_face("Ann", unit(4, 1), "jpeg-bytes-2");
    g->add_face("Bob", unit(4, 2), "");
    EXPECT_TRUE(g->add_person("Cid"));
    EXPECT_FALSE(g->add_person("Cid"));
  }
  auto g = Gallery::open(db);
  EXPECT_EQ(first.size(), 36u);  // a UUID
  EXPECT_EQ(first[14], '4');
  size_t total = 0;
  auto page = g->faces("", 0, 2, &total);
  EXPECT_EQ(total, 3u);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, first);
  EXPECT_TRUE(page[0].has_image);
  auto rest = g->faces("", 2, 2, &total);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].person, "Bob");
  EXPECT_FALSE(rest[0].has_image);
  EXPECT_EQ(g->faces("Ann", 0, 10).size(), 2u);
  EXPECT_TRUE(g->faces("Cid", 0, 10).empty());
  EXPECT_THROW(g->faces("Nobody", 0, 10), Error);
  EXPECT_EQ(g->face_image(first), std::optional<std::string>("jpeg-bytes-1"));
  EXPECT_EQ(g->face_image(rest[0].id), std::nullopt);
  EXPECT_EQ(g->face_embedding(first), std::optional<face::Embedding>(unit(4, 0)));

  const auto near = g->nearest_people(unit(4, 1), 5);
  ASSERT_EQ(near.size(), 2u);  // Cid has no face, so is nobody's neighbour
  EXPECT_EQ(near[0].name, "Ann");
  EXPECT_FLOAT_EQ(near[0].distance, 0.f);
  EXPECT_EQ(near[1].name, "Bob");
  EXPECT_NEAR(near[1].distance, std::sqrt(2.f), 1e-6);

  ASSERT_TRUE(g->remove_face(first));
  EXPECT_FALSE(g->remove_face(first));
  EXPECT_EQ(g->face_image(first), std::nullopt);
  EXPECT_NEAR(g->match(unit(4, 0), 0).distance, std::sqrt(2.f), 1e-6);  // the removed one no longer matches

  g->rename("Bob", "Ann");  // merge
  EXPECT_EQ(g->faces("Ann", 0, 10).size(), 2u);
  EXPECT_EQ(g->remove_faces("Ann"), 2u);
  EXPECT_EQ(g->people().size(), 2u);  // Ann and Cid stay, without faces
  EXPECT_THROW(g->rename("Bob", "X"), Error);
}

TEST(GalleryFaces, RemovingAPersonLeavesNoTraceOfTheirImageOrRecordInTheFile) {
  const auto db = fresh_db("erasure");
  const std::string image(20000, 'Q');  // a face image of recognisable bytes
  {
    auto g = Gallery::open(db, "test/4");
    g->add_face("Eve", unit(4, 0), image);
    g->set_record("Eve", {{"name", "Eve"}, {"secret", "ZZTOPSECRETZZ"}});
    g->add_face("Kept", unit(4, 1), "other");
  }
  const auto contains = [&](const std::string& what) {
    std::string bytes;
    for (const char* suffix : {"", "-wal"}) {
      const fs::path p = db.string() + suffix;
      if (fs::exists(p)) bytes += facepipe::testing::read_file(p);
    }
    return bytes.find(what) != std::string::npos;
  };
  ASSERT_TRUE(contains(image.substr(0, 1000)));
  {
    auto g = Gallery::open(db);
    g->remove("Eve");
  }  // closing checkpoints the WAL into the file
  EXPECT_FALSE(contains(image.substr(0, 1000)));
  EXPECT_FALSE(contains("ZZTOPSECRETZZ"));
  EXPECT_EQ(Gallery::open(db)->people().size(), 1u);
}

TEST(GalleryFaces, MigratesAVersionOneGalleryGivingEveryEmbeddingAnId) {
  const auto db = fresh_db("migrate");
  {
    // A gallery as facepipe wrote it before faces had ids (schema version 1).
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.string().c_str(), &raw), SQLITE_OK);
    const float v[2] = {1.f, 0.f};
    std::string blob(reinterpret_cast<const char*>(v), sizeof v);
    const std::string sql =
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE people (name TEXT PRIMARY KEY, record TEXT NOT NULL DEFAULT 'null');"
        "CREATE TABLE embeddings (id INTEGER PRIMARY KEY, person TEXT NOT NULL REFERENCES people(name) ON "
        "DELETE CASCADE, vector BLOB NOT NULL);"
        "INSERT INTO meta VALUES ('embedder_id', 'test/2'), ('dim', '2');"
        "INSERT INTO people (name) VALUES ('Old');"
        "INSERT INTO embeddings (person, vector) VALUES ('Old', x'0000803f00000000');"
        "INSERT INTO embeddings (person, vector) VALUES ('Old', x'000000000000803f');";
    ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto g = Gallery::open(db);
  size_t total = 0;
  const auto faces = g->faces("", 0, 10, &total);
  ASSERT_EQ(total, 2u);
  EXPECT_NE(faces[0].id, faces[1].id);
  EXPECT_EQ(faces[0].person, "Old");
  EXPECT_EQ(g->match({1.f, 0.f}, 0).name, "Old");
  const std::string kept = faces[0].id;
  g.reset();
  auto again = Gallery::open(db);  // reopening does not migrate twice or change ids
  EXPECT_EQ(again->faces("", 0, 10)[0].id, kept);
  EXPECT_EQ(again->face_embedding(kept), std::optional<face::Embedding>(std::vector<float>{1.f, 0.f}));
}

}  // namespace
}  // namespace facepipe::gallery
