// The JPEG snapshots that events name (a track's best face crop, the frame it came from), kept on disk
// under <data dir>/snapshots/<camera>/ with a bounded retention.
//
//   SnapshotStore store(data_dir / "snapshots", {.max_files = 5000, .max_bytes = 500 << 20});
//   std::string face = store.save("door", "door-17", "face", jpeg);   //
//   "door/1796173323456-000001-door-17-face.jpg" std::optional<std::filesystem::path> file =
//   store.resolve(face);  // for GET /snapshots/<name>
//
// Names are made here, never taken from the caller: the camera and track become [A-Za-z0-9_-] (at most 64
// characters, with a hash of the original when anything was changed, so "a/b" and "a_b" stay apart); the
// name starts with the time in ms and a counter, so name order is age order. When a save takes the store
// over either bound, the oldest snapshots (of any camera) are deleted first. A restart re-scans the folder,
// so the bounds hold across runs; files are written to a temporary name and renamed, so a crash leaves no
// half JPEG under a real name. Thread-safe; one store per folder per process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace facepipe::events {

struct SnapshotLimits {
  size_t max_files = 10000;
  uint64_t max_bytes = 1ull << 30;  // 1 GiB
};

class SnapshotStore {
 public:
  // Creates `root` when missing; Error(kInvalidInput) when it cannot, or when a limit is 0.
  SnapshotStore(std::filesystem::path root, SnapshotLimits limits);

  // Saves `jpeg` (must start with the JPEG SOI marker: Error(kInvalidInput) otherwise; Error(kTooLarge)
  // over max_bytes) and returns its relative name. `kind` is a short label such as "face" or "frame".
  // Error(kUnavailable) when the disk refuses the write.
  std::string save(std::string_view camera, std::string_view track_id, std::string_view kind,
                   std::span<const uint8_t> jpeg);

  // The file of a relative name returned by save, while it is kept; nullopt for anything else (other
  // folders, "..", absolute paths, symbolic links, deleted snapshots).
  std::optional<std::filesystem::path> resolve(std::string_view relative) const;

  size_t count() const;
  uint64_t bytes() const;
  const std::filesystem::path& root() const { return root_; }

  // The folder name a camera's snapshots go to (see the top of this file).
  static std::string safe_component(std::string_view name);

 private:
  void scan();
  void evict_locked();

  std::filesystem::path root_;
  SnapshotLimits limits_;
  mutable std::mutex mu_;
  // relative name → size; keyed by file name first so that iteration order is age order.
  struct Entry {
    std::string relative;
    uint64_t size;
  };
  std::map<std::string, Entry> by_age_;  // key: file name (time-ordered), value: its relative path
  uint64_t bytes_ = 0;
  uint64_t counter_ = 0;
};

}  // namespace facepipe::events
