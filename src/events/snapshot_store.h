// Snapshots of events (the face and the whole frame, JPEG) kept under a folder of the data dir, bounded:
// when the files held pass `max_bytes` or `max_files`, the oldest are deleted first.
//
// Names are relative to the folder, "<day>/<seq>-<kind>.jpg" (e.g. "20261202/000042-face.jpg"), made
// only of [0-9a-z-./]; read() takes only names of that form (no "..", no absolute paths, no other
// characters), so a client's name can never reach a file outside the store.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace facepipe::events {

struct SnapshotOptions {
  uint64_t max_bytes = uint64_t{256} * 1024 * 1024;
  size_t max_files = 20000;
};

class SnapshotStore {
 public:
  // Creates `dir` when missing; files already there count against the bounds (oldest first by name).
  explicit SnapshotStore(std::filesystem::path dir, SnapshotOptions options = {});
  // Writes `jpeg` and returns its relative name. `kind` is a short tag ("face", "frame"): [a-z] only.
  std::string put(const std::string& jpeg, const std::string& kind);
  // The file's bytes; nullopt for a name that is not one this store makes, or that is gone.
  std::optional<std::string> read(const std::string& name) const;
  // Deletes one snapshot (erasure); false when it did not exist.
  bool remove(const std::string& name);
  static bool valid_name(const std::string& name);
  uint64_t bytes() const;
  size_t files() const;

 private:
  void evict_locked();

  std::filesystem::path dir_;
  SnapshotOptions options_;
  mutable std::mutex mu_;
  struct Entry {
    std::string name;
    uint64_t bytes;
  };
  std::deque<Entry> entries_;  // oldest first
  uint64_t bytes_ = 0;
  uint64_t seq_ = 0;
};

}  // namespace facepipe::events
