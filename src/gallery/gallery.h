// The gallery: known people, their face embeddings and their records, persisted in SQLite.
//
// A gallery is bound to one embedder id (see face::Embedder::id()): embeddings from another embedder
// are refused with Error(kConflict) naming both, because distances between different models mean nothing.
// Matching is nearest neighbour by Euclidean distance over every stored embedding (the course's
// reference semantics), with an open-set threshold: farther than `threshold` from everyone -> Unknown.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/types.h"

namespace facepipe::gallery {

inline constexpr const char* kUnknown = "Unknown";

struct Match {
  std::string name;     // the nearest person, or kUnknown when beyond the threshold
  float distance = 0;   // Euclidean distance to the nearest stored embedding
  std::string nearest;  // the nearest person even when `name` is kUnknown
  bool known() const { return name != kUnknown; }
};

struct Person {
  std::string name;
  int embeddings = 0;
  nlohmann::json record;  // free-form: {"name":..., "major":..., "year":...}
};

class Gallery {
 public:
  // Opens (creating if needed) a gallery database. `embedder_id` empty = take whatever the file has. A
  // gallery that holds no embedding yet (e.g. left by a failed import) takes `embedder_id` instead of
  // refusing it.
  static std::unique_ptr<Gallery> open(const std::filesystem::path& db, const std::string& embedder_id = "");
  // Opens an existing gallery without writing to it or beside it (read-only file systems such as a Lambda
  // image's); adding or removing then fails. Error(kNotFound) when missing or empty.
  static std::unique_ptr<Gallery> open_read_only(const std::filesystem::path& db);
  // An in-memory gallery (tests, imports before saving).
  static std::unique_ptr<Gallery> in_memory(const std::string& embedder_id);
  virtual ~Gallery() = default;

  virtual std::string embedder_id() const = 0;
  virtual int dim() const = 0;  // 0 while empty
  virtual void add(const std::string& name, const face::Embedding& embedding) = 0;
  virtual void remove(const std::string& name) = 0;
  virtual std::vector<Person> people() const = 0;
  virtual void set_record(const std::string& name, const nlohmann::json& record) = 0;
  virtual std::optional<nlohmann::json> record(const std::string& name) const = 0;
  // Nearest person; `threshold` <= 0 disables the open-set rule (always the nearest, as the seed does).
  // Throws Error(kInvalidInput) when the gallery is empty or the dimension differs.
  virtual Match match(const face::Embedding& embedding, float threshold) const = 0;
  // Each person's nearest distance to `embedding`, by name (score-level evaluation: one
  // comparison per enrolled identity, as ISO/IEC 19795 counts them). Same errors as match().
  virtual std::vector<std::pair<std::string, float>> distances(const face::Embedding& embedding) const = 0;
};

// Deletes a gallery database and its -wal / -shm files (a gallery that a failed command had just created).
void remove_gallery_files(const std::filesystem::path& db);

// Two embeddings closer than this come from the same photo (enrolled twice, or a test image that is also an
// enrolment image): different photos of one person, even consecutive video frames, are farther apart
// (0.05 and more on the bundled frames, with either embedder).
inline constexpr float kSamePhotoDistance = 1e-3f;

// The person who already has an embedding within kSamePhotoDistance of `embedding`, if any (nullopt for an
// empty gallery or one of another dimension).
std::optional<std::string> find_same_photo(const Gallery& gallery, const face::Embedding& embedding);

}  // namespace facepipe::gallery
