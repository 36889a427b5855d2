#include "events/snapshot_store.h"

#include <gtest/gtest.h>

#include <unistd.h>

namespace facepipe::events {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("fp_snapshots_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

TEST(SnapshotStore, KeepsWithinItsBoundsOldestFirstAndSurvivesARestart) {
  const auto dir = scratch("bounds");
  std::vector<std::string> names;
  {
    SnapshotStore store(dir, {.max_bytes = 1000, .max_files = 100});
    for (int i = 0; i < 10; ++i) names.push_back(store.put(std::string(300, char('a' + i)), "face"));
    EXPECT_EQ(store.files(), 3u);
    EXPECT_LE(store.bytes(), 1000u);
    EXPECT_FALSE(store.read(names[0]));
    EXPECT_EQ(*store.read(names[9]), std::string(300, 'j'));
  }
  SnapshotStore again(dir, {.max_bytes = 1000, .max_files = 2});
  EXPECT_EQ(again.files(), 2u);
  EXPECT_FALSE(again.read(names[7]));
  const std::string next = again.put("z", "frame");
  EXPECT_GT(next.substr(9), names[9].substr(9));  // numbering goes on after a restart
  EXPECT_TRUE(again.remove(next));
  EXPECT_FALSE(again.read(next));
  fs::remove_all(dir);
}

TEST(SnapshotStore, OnlyItsOwnNamesAreRead) {
  const auto dir = scratch("names");
  SnapshotStore store(dir);
  const std::string name = store.put("jpeg", "face");
  EXPECT_TRUE(SnapshotStore::valid_name(name)) << name;
  for (const char* bad : {"../keys.db", "20261202/../../keys.db", "/etc/passwd", "20261202/000001-face.png",
                          "20261202/000001-FACE.jpg", "2026120/000001-face.jpg", "20261202/x-face.jpg",
                          "20261202/000001-.jpg", "", "20261202/000001-face.jpg/.."})
    EXPECT_FALSE(SnapshotStore::valid_name(bad)) << bad;
  EXPECT_THROW(store.put("x", "../up"), std::exception);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace facepipe::events
