// SnapshotStore: real JPEGs from the bundled dataset saved, resolved and evicted oldest-first by count and by
// bytes; hostile camera names stay inside the store; a restart finds what was kept; many threads at once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/error.h"
#include "events/snapshot_store.h"
#include "testutil/testutil.h"

namespace facepipe::events {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Real JPEG files of the shared dataset (any will do; the store does not decode them).
std::vector<std::vector<uint8_t>> sample_jpegs(size_t n) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& e : fs::recursive_directory_iterator(testing::datasets())) {
    if (e.path().extension() == ".jpg") out.push_back(read_bytes(e.path()));
    if (out.size() == n) break;
  }
  return out;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fp_snapshots_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    jpegs_ = sample_jpegs(8);
    ASSERT_EQ(jpegs_.size(), 8u) << "need JPEGs under ../shared/datasets";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
  std::vector<std::vector<uint8_t>> jpegs_;
};

TEST_F(SnapshotStoreTest, SavesUnderTheCameraAndResolvesTheSameBytes) {
  SnapshotStore store(root_, {});
  const std::string face = store.save("door", "door-17", "face", jpegs_[0]);
  EXPECT_EQ(face.rfind("door/", 0), 0u) << face;
  EXPECT_NE(face.find("door-17-face.jpg"), std::string::npos) << face;
  auto file = store.resolve(face);
  ASSERT_TRUE(file);
  EXPECT_EQ(read_bytes(*file), jpegs_[0]);
  EXPECT_EQ(file->parent_path().parent_path(), root_);
  EXPECT_EQ(store.count(), 1u);
  EXPECT_EQ(store.bytes(), jpegs_[0].size());
}

TEST_F(SnapshotStoreTest, RefusesWhatIsNotAJpegOrIsTooLarge) {
  SnapshotStore store(root_, {.max_files = 10, .max_bytes = 1000});
  const std::string png = "\x89PNG\r\n\x1a\n";
  try {
    store.save("door", "t", "face", std::span(reinterpret_cast<const uint8_t*>(png.data()), png.size()));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
  try {
    store.save("door", "t", "face", jpegs_[0]);  // larger than 1000 bytes
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
  }
  EXPECT_EQ(store.count(), 0u);
  EXPECT_THROW(SnapshotStore(root_, {.max_files = 0}), Error);
}

TEST_F(SnapshotStoreTest, HostileCameraNamesStayInsideTheStoreAndApart) {
  SnapshotStore store(root_, {});
  const std::string huge(100000, 'x');
  std::set<std::string> dirs;
  for (std::string camera : {std::string("../../etc"), std::string("/abs/path"), std::string(".."),
                             std::string("."), std::string(""), std::string("a/b"), std::string("a_b"),
                             std::string("caf\xc3\xa9"), std::string("nul\0byte", 8), huge}) {
    const std::string name = store.save(camera, "../t", "face", jpegs_[1]);
    const std::string dir = name.substr(0, name.find('/'));
    EXPECT_LE(dir.size(), 64u);
    EXPECT_EQ(name.find(".."), std::string::npos) << name;
    auto file = store.resolve(name);
    ASSERT_TRUE(file) << name;
    const auto canonical = fs::canonical(*file).string();
    EXPECT_EQ(canonical.rfind(fs::canonical(root_).string() + "/", 0), 0u) << canonical;
    dirs.insert(dir);
  }
  EXPECT_EQ(dirs.size(), 10u) << "two different cameras share a folder";
  EXPECT_EQ(SnapshotStore::safe_component("door"), "door");
}

TEST_F(SnapshotStoreTest, ResolveRefusesAnythingOutsideTheStore) {
  SnapshotStore store(root_, {});
  const std::string kept = store.save("door", "t1", "face", jpegs_[0]);
  // A file planted in the folder by someone else, and a symbolic link to a file outside.
  fs::create_directories(root_ / "door");
  std::ofstream(root_ / "door" / "0000000000001-000001-x-face.jpg") << "\xff\xd8\xff";
  fs::create_symlink("/etc/passwd", root_ / "door" / "0000000000002-000001-x-face.jpg");
  for (const std::string& bad :
       std::vector<std::string>{std::string("../") + kept, "/etc/passwd", "door/../../etc/passwd", "door/",
                                "", "door", "door/0000000000001-000001-x-face.jpg",
                                "door/0000000000002-000001-x-face.jpg", kept + "x", "DOOR/" + kept.substr(5),
                                "door//" + kept.substr(5), "door/" + kept.substr(5) + "/..", "./" + kept})
    EXPECT_FALSE(store.resolve(bad)) << bad;
  EXPECT_TRUE(store.resolve(kept));
}

TEST_F(SnapshotStoreTest, EvictsOldestFirstByCountAndByBytesAndKeepsThemAcrossARestart) {
  std::vector<std::string> names;
  {
    SnapshotStore store(root_, {.max_files = 5, .max_bytes = 1ull << 30});
    for (int i = 0; i < 8; ++i) names.push_back(store.save(i % 2 ? "door" : "yard", "t", "face", jpegs_[i]));
    EXPECT_EQ(store.count(), 5u);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(store.resolve(names[i])) << "kept an old one: " << names[i];
    for (int i = 3; i < 8; ++i) EXPECT_TRUE(store.resolve(names[i])) << names[i];
    EXPECT_FALSE(fs::exists(root_ / names[0]));
  }
  // Restart with a byte bound that fits only the newest two: the re-scan applies it, oldest first.
  const uint64_t two = jpegs_[6].size() + jpegs_[7].size();
  SnapshotStore again(root_, {.max_files = 100, .max_bytes = two});
  EXPECT_EQ(again.count(), 2u);
  EXPECT_EQ(again.bytes(), two);
  EXPECT_TRUE(again.resolve(names[6]));
  EXPECT_TRUE(again.resolve(names[7]));
  EXPECT_FALSE(again.resolve(names[5]));
  // New saves after the restart sort after the old ones, so the old are evicted first.
  const std::string next = again.save("door", "t", "face", jpegs_[7]);
  EXPECT_GT(next.substr(5), names[7].substr(5));
  EXPECT_FALSE(again.resolve(names[6]));
  EXPECT_TRUE(again.resolve(next));
  size_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_)) on_disk += e.is_regular_file();
  EXPECT_EQ(on_disk, again.count());
}

TEST_F(SnapshotStoreTest, ManyThreadsSaveAtOnceWithinTheBounds) {
  SnapshotStore store(root_, {.max_files = 50, .max_bytes = 1ull << 30});
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> names;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto n = store.save("cam" + std::to_string(t), "t", "frame", jpegs_[(t + i) % 8]);
        std::lock_guard lock(mu);
        names.insert(n);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(names.size(), 160u);  // every name unique
  EXPECT_EQ(store.count(), 50u);
  size_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_)) on_disk += e.is_regular_file();
  EXPECT_EQ(on_disk, 50u);
}

}  // namespace
}  // namespace facepipe::events
