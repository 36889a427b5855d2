#include "events/snapshot_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace facepipe::events {

namespace fs = std::filesystem;

bool SnapshotStore::valid_name(const std::string& name) {
  // <8 digits>/<digits>-<kind>.jpg
  const auto slash = name.find('/');
  if (slash != 8 || name.size() > 64 || name.size() < 8 + 1 + 1 + 1 + 1 + 4) return false;
  for (size_t i = 0; i < 8; ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  const std::string file = name.substr(9);
  if (file.size() < 7 || file.compare(file.size() - 4, 4, ".jpg") != 0) return false;
  const std::string stem = file.substr(0, file.size() - 4);
  const auto dash = stem.find('-');
  if (dash == 0 || dash == std::string::npos || dash + 1 == stem.size()) return false;
  for (size_t i = 0; i < dash; ++i)
    if (!std::isdigit(static_cast<unsigned char>(stem[i]))) return false;
  for (size_t i = dash + 1; i < stem.size(); ++i)
    if (stem[i] < 'a' || stem[i] > 'z') return false;
  return true;
}

SnapshotStore::SnapshotStore(fs::path dir, SnapshotOptions options)
    : dir_(std::move(dir)), options_(options) {
  fs::create_directories(dir_);
  std::vector<Entry> found;
  for (const auto& day : fs::directory_iterator(dir_)) {
    if (!day.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(day.path())) {
      const std::string name = day.path().filename().string() + "/" + f.path().filename().string();
      if (!f.is_regular_file() || !valid_name(name)) continue;
      found.push_back({name, static_cast<uint64_t>(f.file_size())});
      const std::string file = f.path().filename().string();
      seq_ = std::max<uint64_t>(seq_, std::stoull(file.substr(0, file.find('-'))));
    }
  }
  std::sort(found.begin(), found.end(), [](const Entry& a, const Entry& b) {
    const auto sa = std::stoull(a.name.substr(9)), sb = std::stoull(b.name.substr(9));
    return sa < sb;
  });
  for (auto& e : found) {
    bytes_ += e.bytes;
    entries_.push_back(std::move(e));
  }
  std::lock_guard lock(mu_);
  evict_locked();
}

std::string SnapshotStore::put(const std::string& jpeg, const std::string& kind) {
  if (kind.empty() || kind.size() > 16 || !std::all_of(kind.begin(), kind.end(), [](char c) {
        return c >= 'a' && c <= 'z';
      }))
    throw Error(ErrorKind::kInvalidInput, "snapshot kind '" + kind + "' is not [a-z]{1,16}");
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y%m%d", &tm);
  std::lock_guard lock(mu_);
  const std::string name = fmt::format("{}/{:06}-{}.jpg", day, ++seq_, kind);
  fs::create_directories(dir_ / day);
  {
    // Written beside and renamed, so a reader never sees half a file.
    const fs::path tmp = dir_ / (name + ".tmp");
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(jpeg.data(), static_cast<std::streamsize>(jpeg.size()));
    out.close();
    if (!out) throw Error(ErrorKind::kUnavailable, "cannot write snapshot " + tmp.string() + " (disk full?)");
    fs::rename(tmp, dir_ / name);
  }
  entries_.push_back({name, jpeg.size()});
  bytes_ += jpeg.size();
  evict_locked();
  return name;
}

void SnapshotStore::evict_locked() {
  while (!entries_.empty() && (bytes_ > options_.max_bytes || entries_.size() > options_.max_files)) {
    std::error_code ec;
    fs::remove(dir_ / entries_.front().name, ec);
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
  }
}

std::optional<std::string> SnapshotStore::read(const std::string& name) const {
  if (!valid_name(name)) return std::nullopt;
  std::ifstream in(dir_ / name, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool SnapshotStore::remove(const std::string& name) {
  if (!valid_name(name)) return false;
  std::lock_guard lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
  if (it == entries_.end()) return false;
  std::error_code ec;
  fs::remove(dir_ / name, ec);
  bytes_ -= it->bytes;
  entries_.erase(it);
  return true;
}

uint64_t SnapshotStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t SnapshotStore::files() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace facepipe::events
