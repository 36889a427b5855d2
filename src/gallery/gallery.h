// The gallery: known people, their face embeddings and their records, persisted in SQLite.
//
// A gallery is bound to one embedder id (see face::Embedder::id()): embeddings from another embedder
// are refused with Error(kConflict) naming both, because distances between different models mean nothing.
// Matching is nearest neighbour by Euclidean distance over every stored embedding (the course's
// reference semantics), with an open-set threshold: farther than `threshold` from everyone -> Unknown.
// Galleries of kIvfAutoRows embeddings and more are searched through an IVF by default (approximate:
// recall@1 >= 0.99 against exact on near queries; gallery/index.h), smaller ones exactly.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/types.h"
#include "gallery/index.h"

namespace facepipe::gallery {

inline constexpr const char* kUnknown = "Unknown";

struct Match {
  std::string name;     // the nearest person, or kUnknown when beyond the threshold
  float distance = 0;   // Euclidean distance to the nearest stored embedding
  std::string nearest;  // the nearest person even when `name` is kUnknown
  bool known() const { return name != kUnknown; }
};

// One stored face: an embedding, the id clients use for it (a UUID, as CompreFace's image_id) and, when it
// was added through the API or enrolment with an image, the image it came from.
struct FaceEntry {
  std::string id;
  std::string person;
  bool has_image = false;
};

// One person's nearest distance (matching by person: the best of their embeddings).
struct PersonDistance {
  std::string name;
  float distance = 0;
};

// What a bulk add did: rows added, and rows skipped as bit-identical to a stored or an earlier row.
struct BulkAddResult {
  size_t added = 0;
  size_t skipped = 0;
  std::vector<std::pair<std::string, std::string>> skipped_examples;  // (name, why), the first 100
};

// How a gallery is searched (gallery/index.h): the mode it was opened with, and whether an IVF serves.
struct IndexStatus {
  std::string mode;       // "exact" | "ivf" | "auto"
  bool ivf = false;       // true: matches go through the IVF; false: exact over every embedding
  bool training = false;  // an IVF is being trained in the background (exact meanwhile)
  size_t nlist = 0, nprobe = 0, trained_rows = 0;
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
  //
  // `index` says how matching searches (gallery/index.h; nullopt = default_index_mode(), the CLI's
  // --index): exact, or through an IVF for large galleries (auto: from kIvfAutoRows embeddings). The
  // IVF's trained quantizer is kept in the file's `ivf` table, so reopening needs no training; without
  // one, opening searches exactly while the IVF trains in the background.
  static std::unique_ptr<Gallery> open(const std::filesystem::path& db, const std::string& embedder_id = "",
                                       std::optional<IndexMode> index = std::nullopt);
  // Opens an existing gallery without writing to it or beside it (read-only file systems such as a Lambda
  // image's); adding or removing then fails. Error(kNotFound) when missing or empty. An IVF is read from
  // the file when there, else trained in memory in the background.
  static std::unique_ptr<Gallery> open_read_only(const std::filesystem::path& db,
                                                 std::optional<IndexMode> index = std::nullopt);
  // An in-memory gallery (tests, imports before saving).
  static std::unique_ptr<Gallery> in_memory(const std::string& embedder_id,
                                            std::optional<IndexMode> index = std::nullopt);
  virtual ~Gallery() = default;

  virtual std::string embedder_id() const = 0;
  virtual int dim() const = 0;  // 0 while empty
  virtual void add(const std::string& name, const face::Embedding& embedding) = 0;
  // add() that also stores the image the embedding came from (may be empty: no image) and returns the
  // new face's id. The person is created on first use.
  virtual std::string add_face(const std::string& name, const face::Embedding& embedding,
                               const std::string& image) = 0;
  // Bulk import: adds the (name, embedding) rows that `next` yields until it returns false, in ONE
  // transaction with prepared statements (all or nothing: an error rolls every row back), then to the
  // search index under one lock. A row bit-identical to a stored embedding or an earlier row is skipped
  // (importing a file twice adds nothing). `progress(rows read)` is called every 10^4 rows. Same errors as
  // add(), naming the row (1-based).
  virtual BulkAddResult add_bulk(
      const std::function<bool(std::string& name, face::Embedding& embedding)>& next,
      const std::function<void(size_t)>& progress = {}) = 0;
  // Creates a person without faces; false when the name exists already.
  virtual bool add_person(const std::string& name) = 0;
  // Faces in insertion order, of one person (`person` non-empty) or of everyone; `total` gets the count of
  // all matching faces (paging). Error(kNotFound) for a named person who does not exist.
  virtual std::vector<FaceEntry> faces(const std::string& person, size_t offset, size_t limit,
                                       size_t* total = nullptr) const = 0;
  virtual std::optional<FaceEntry> face(const std::string& id) const = 0;
  // The stored image bytes, nullopt when the face does not exist or was stored without an image.
  virtual std::optional<std::string> face_image(const std::string& id) const = 0;
  virtual std::optional<face::Embedding> face_embedding(const std::string& id) const = 0;
  // Removes one face (its embedding and image); the person stays, possibly with no face. nullopt when
  // there is no such face, else what was removed.
  virtual std::optional<FaceEntry> remove_face(const std::string& id) = 0;
  // Removes every face of `person` (all faces of everyone when empty) and returns how many; people stay.
  virtual size_t remove_faces(const std::string& person) = 0;
  // Renames `from` to `to`; when `to` exists the two merge (faces move to `to`, its record stays).
  // Error(kNotFound) when `from` does not exist.
  virtual void rename(const std::string& from, const std::string& to) = 0;
  virtual void remove(const std::string& name) = 0;
  virtual std::vector<Person> people() const = 0;
  virtual void set_record(const std::string& name, const nlohmann::json& record) = 0;
  virtual std::optional<nlohmann::json> record(const std::string& name) const = 0;
  // Nearest person; `threshold` <= 0 disables the open-set rule (always the nearest, as the seed does).
  // Throws Error(kInvalidInput) when the gallery is empty or the dimension differs.
  virtual Match match(const face::Embedding& embedding, float threshold) const = 0;
  // The `k` nearest people (each at the distance of their nearest embedding), nearest first. Empty for an
  // empty gallery; Error(kInvalidInput) when the dimension differs.
  virtual std::vector<PersonDistance> nearest_people(const face::Embedding& embedding, size_t k) const = 0;
  // Each person's nearest distance to `embedding`, by name (score-level evaluation: one
  // comparison per enrolled identity, as ISO/IEC 19795 counts them). Same errors as match().
  // Exact over every embedding, whatever the index.
  virtual std::vector<std::pair<std::string, float>> distances(const face::Embedding& embedding) const = 0;
  virtual IndexStatus index_status() const = 0;
  // Trains the IVF now if one is due (rather than at the first match) and waits for it, saving it in the
  // file: import, tests, benchmarks.
  virtual void wait_index() = 0;
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
