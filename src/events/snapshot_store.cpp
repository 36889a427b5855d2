#include "events/snapshot_store.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::events {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxComponent = 64;

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// FNV-1a: a short, stable tag for names that had to be changed (not a security measure).
uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// A stored file name: 13-digit ms time, '-', 6-digit counter, '-', ..., ".jpg".
bool looks_like_snapshot(const std::string& name) {
  if (name.size() < 26 || name.size() > 255 || !name.ends_with(".jpg")) return false;
  for (size_t i = 0; i < 13; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  if (name[13] != '-' || name[20] != '-') return false;
  for (size_t i = 0; i + 4 < name.size(); ++i)
    if (!safe_char(name[i])) return false;
  return true;
}

}  // namespace

std::string SnapshotStore::safe_component(std::string_view name) {
  std::string out;
  bool changed = name.empty() || name.size() > kMaxComponent;
  for (char c : name.substr(0, kMaxComponent)) {
    if (safe_char(c)) {
      out += c;
    } else {
      out += '_';
      changed = true;
    }
  }
  if (changed) out = out.substr(0, kMaxComponent - 9) + fmt::format("_{:08x}", fnv1a(name));
  return out;
}

SnapshotStore::SnapshotStore(fs::path root, SnapshotLimits limits) : root_(std::move(root)), limits_(limits) {
  if (limits_.max_files == 0 || limits_.max_bytes == 0)
    throw Error(ErrorKind::kInvalidInput, "snapshot retention needs at least 1 file and 1 byte");
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec || !fs::is_directory(root_))
    throw Error(ErrorKind::kInvalidInput, "cannot create the snapshot folder '" + root_.string() +
                                              "': " + ec.message() + "; choose a writable --data-dir");
  scan();
  std::lock_guard lock(mu_);
  evict_locked();  // the limits may have been lowered since the last run
}

void SnapshotStore::scan() {
  std::lock_guard lock(mu_);
  std::error_code ec;
  for (const auto& camera : fs::directory_iterator(root_, ec)) {
    if (!camera.is_directory() || camera.is_symlink()) continue;
    const std::string dir = camera.path().filename().string();
    if (dir.empty() || dir.size() > kMaxComponent) continue;
    bool ok = true;
    for (char c : dir) ok = ok && safe_char(c);
    if (!ok) continue;
    for (const auto& file : fs::directory_iterator(camera.path(), ec)) {
      const std::string name = file.path().filename().string();
      if (name.ends_with(".tmp")) {  // a save cut short by a crash
        fs::remove(file.path(), ec);
        continue;
      }
      if (!file.is_regular_file() || file.is_symlink() || !looks_like_snapshot(name)) continue;
      const uint64_t size = file.file_size(ec);
      if (ec) continue;
      by_age_[name] = {dir + "/" + name, size};
      bytes_ += size;
    }
  }
  if (!by_age_.empty()) counter_ = std::stoull(by_age_.rbegin()->first.substr(14, 6));
  if (!by_age_.empty())
    spdlog::info("snapshots: {} kept in {} ({:.1f} MB)", by_age_.size(), root_.string(), bytes_ / 1e6);
}

void SnapshotStore::evict_locked() {
  while (!by_age_.empty() && (by_age_.size() > limits_.max_files || bytes_ > limits_.max_bytes)) {
    auto oldest = by_age_.begin();
    std::error_code ec;
    fs::remove(root_ / oldest->second.relative, ec);
    if (ec) spdlog::warn("snapshots: could not delete {}: {}", oldest->second.relative, ec.message());
    bytes_ -= oldest->second.size;
    by_age_.erase(oldest);
  }
}

std::string SnapshotStore::save(std::string_view camera, std::string_view track_id, std::string_view kind,
                                std::span<const uint8_t> jpeg) {
  if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || jpeg[2] != 0xFF)
    throw Error(ErrorKind::kInvalidInput, "a snapshot must be a JPEG (it does not start with FF D8 FF)");
  if (jpeg.size() > limits_.max_bytes)
    throw Error(ErrorKind::kTooLarge, fmt::format("a snapshot of {} bytes is over the store's {} bytes",
                                                  jpeg.size(), limits_.max_bytes));
  const std::string dir = safe_component(camera);
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::string name;
  {
    std::lock_guard lock(mu_);
    // Never behind the newest kept name (a clock stepped back must not make new files look oldest).
    int64_t at = ms;
    if (!by_age_.empty()) at = std::max<int64_t>(at, std::stoll(by_age_.rbegin()->first.substr(0, 13)));
    name = fmt::format("{:013d}-{:06d}-{}-{}.jpg", at, ++counter_ % 1000000, safe_component(track_id),
                       safe_component(kind));
    // The counter wraps after 10^6 saves in one millisecond's name: practically never; keep names unique.
    while (by_age_.count(name))
      name = fmt::format("{:013d}-{:06d}-{}-{}.jpg", at, ++counter_ % 1000000, safe_component(track_id),
                         safe_component(kind));
  }
  const fs::path folder = root_ / dir;
  const fs::path final_path = folder / name;
  const fs::path tmp = folder / (name + ".tmp");
  std::error_code ec;
  fs::create_directories(folder, ec);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      throw Error(ErrorKind::kUnavailable,
                  "could not write a snapshot to " + folder.string() + " (disk full?)");
    }
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(ErrorKind::kUnavailable,
                "could not store a snapshot in " + folder.string() + ": " + ec.message());
  }
  std::lock_guard lock(mu_);
  by_age_[name] = {dir + "/" + name, jpeg.size()};
  bytes_ += jpeg.size();
  evict_locked();
  return dir + "/" + name;
}

std::optional<fs::path> SnapshotStore::resolve(std::string_view relative) const {
  const auto slash = relative.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > kMaxComponent) return std::nullopt;
  const std::string dir(relative.substr(0, slash));
  const std::string name(relative.substr(slash + 1));
  for (char c : dir)
    if (!safe_char(c)) return std::nullopt;
  if (!looks_like_snapshot(name)) return std::nullopt;  // no '/', no "..", only [A-Za-z0-9_-] then .jpg
  {
    std::lock_guard lock(mu_);
    auto it = by_age_.find(name);
    if (it == by_age_.end() || it->second.relative != relative) return std::nullopt;
  }
  const fs::path file = root_ / dir / name;
  std::error_code ec;
  const auto status = fs::symlink_status(file, ec);
  if (ec || !fs::is_regular_file(status)) return std::nullopt;
  return file;
}

size_t SnapshotStore::count() const {
  std::lock_guard lock(mu_);
  return by_age_.size();
}

uint64_t SnapshotStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace facepipe::events
