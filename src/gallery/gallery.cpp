#include "gallery/gallery.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "gallery/index.h"

namespace facepipe::gallery {
namespace {

// A random (version 4) UUID made by SQLite itself, so ids are given in the same statement that stores the
// face, and the schema migration can give one to every embedding stored before faces had ids. Face ids
// name faces, they are not secrets: SQLite's PRNG is enough.
constexpr const char* kNewUuidSql =
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))";

// Schema versions: 1 = meta, people, embeddings; 2 adds `faces` (an id per embedding and the image it came
// from). Opening a version-1 gallery read-write migrates it in place, in one transaction.
constexpr int kSchemaVersion = 2;

// Every embedding lives in one contiguous matrix in memory (gallery/index.h), searched without the SQLite
// mutex and changed row by row as faces come and go (no reload); SQLite only persists.
class SqliteGallery : public Gallery {
 public:
  SqliteGallery(const std::string& location, const std::string& embedder_id, bool read_only, IndexMode mode)
      : location_(location), read_only_(read_only), mode_(mode) {
    // Read-only: an immutable URI, so SQLite neither writes nor expects a -wal/-shm file beside the database
    // (a Lambda image's file system is read-only).
    const std::string target = read_only ? "file:" + location + "?immutable=1" : location;
    const int flags = read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX
                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(target.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Error(ErrorKind::kUnavailable, "cannot open gallery '" + location + "': " + why);
    }
    sqlite3_busy_timeout(db_, 5000);
    // Reads through a memory map rather than read() into SQLite's cache: opening a 10^6 gallery reads
    // every page once, and the copy into the page cache was a fifth of it.
    exec("PRAGMA mmap_size=" + std::to_string(int64_t{1} << 32));
    if (read_only) {
      open_read_only(embedder_id);
      return;
    }
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA foreign_keys=ON");
    // Erasure: a removed person's embeddings, face images and record are overwritten with zeros as their
    // pages are freed, not left readable in the file's free pages.
    exec("PRAGMA secure_delete=ON");
    exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS people (name TEXT PRIMARY KEY, record TEXT NOT NULL DEFAULT 'null');"
        "CREATE TABLE IF NOT EXISTS embeddings (id INTEGER PRIMARY KEY, person TEXT NOT NULL "
        "REFERENCES people(name) ON DELETE CASCADE, vector BLOB NOT NULL);"
        // The IVF's trained quantizer (gallery/index.h): one row; `keys` (int64) and `lists` (uint32) say
        // which list each embedding was in when it was saved (a cache: rows it lacks go to their nearest
        // centroid at open, rows it names that are gone are ignored).
        "CREATE TABLE IF NOT EXISTS ivf (id INTEGER PRIMARY KEY CHECK (id = 1), dim INTEGER NOT NULL, "
        "nlist INTEGER NOT NULL, trained_rows INTEGER NOT NULL, centroids BLOB NOT NULL, keys BLOB NOT NULL, "
        "lists BLOB NOT NULL);");
    migrate();
    const std::string stored = meta("embedder_id");
    if (stored.empty()) {
      if (embedder_id.empty() && location != ":memory:")
        throw Error(ErrorKind::kNotFound, "gallery '" + location +
                                              "' is new or empty and no embedder was named; create it with "
                                              "`facepipe enroll` or `facepipe gallery import`");
      set_meta("embedder_id", embedder_id);
      embedder_id_ = embedder_id;
    } else {
      if (!embedder_id.empty() && embedder_id != stored && count_embeddings() == 0) {
        set_meta("embedder_id", embedder_id);  // nothing to mix up yet: the first embeddings decide
        exec("DELETE FROM meta WHERE key = 'dim'");
        embedder_id_ = embedder_id;
      } else if (!embedder_id.empty() && embedder_id != stored)
        throw Error(ErrorKind::kConflict, "gallery '" + location + "' holds embeddings of '" + stored +
                                              "', not '" + embedder_id +
                                              "': distances between different models mean nothing; use "
                                              "--embedder to match it or enrol into a new gallery");
      else
        embedder_id_ = stored;
    }
    const std::string dim = meta("dim");
    dim_ = dim.empty() ? 0 : std::stoi(dim);
    load_index();
  }
  ~SqliteGallery() override {
    index_.stop_training();  // its on_trained writes to db_
    sqlite3_close(db_);
  }

  void open_read_only(const std::string& embedder_id) {
    embedder_id_ = meta("embedder_id");
    if (embedder_id_.empty())
      throw Error(ErrorKind::kNotFound, "gallery '" + location_ + "' is empty; enrol people into it first");
    if (!embedder_id.empty() && embedder_id != embedder_id_)
      throw Error(ErrorKind::kConflict, "gallery '" + location_ + "' holds embeddings of '" + embedder_id_ +
                                            "', not '" + embedder_id + "'");
    const std::string dim = meta("dim");
    dim_ = dim.empty() ? 0 : std::stoi(dim);
    has_faces_ = table_exists("faces");
    load_index();
  }

  std::string embedder_id() const override { return embedder_id_; }
  int dim() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return dim_;
  }

  void add(const std::string& name, const face::Embedding& embedding) override {
    add_face(name, embedding, "");
  }

  std::string add_face(const std::string& name, const face::Embedding& embedding,
                       const std::string& image) override {
    if (name.empty() || name == kUnknown)
      throw Error(ErrorKind::kInvalidInput,
                  "a person needs a name other than '' and '" + std::string(kUnknown) + "'");
    if (embedding.empty()) throw Error(ErrorKind::kInvalidInput, "empty embedding for '" + name + "'");
    for (float v : embedding)
      if (!std::isfinite(v))
        throw Error(ErrorKind::kInvalidInput, "embedding for '" + name + "' is not finite");
    std::lock_guard<std::mutex> lock(mu_);
    if (dim_ != 0 && static_cast<int>(embedding.size()) != dim_)
      throw Error(ErrorKind::kConflict, "embedding of " + std::to_string(embedding.size()) +
                                            " values for a gallery of dimension " + std::to_string(dim_));
    std::string id;
    int64_t rowid = 0;
    exec("BEGIN IMMEDIATE");
    try {
      if (dim_ == 0) set_meta("dim", std::to_string(embedding.size()));
      run("INSERT OR IGNORE INTO people (name) VALUES (?1)", {name});
      sqlite3_stmt* st = prepare("INSERT INTO embeddings (person, vector) VALUES (?1, ?2)");
      sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 2, embedding.data(), static_cast<int>(embedding.size() * sizeof(float)),
                        SQLITE_TRANSIENT);
      step_done(st);
      rowid = sqlite3_last_insert_rowid(db_);
      const std::string sql =
          std::string("INSERT INTO faces (embedding, uuid, image) VALUES (?1, ") + kNewUuidSql + ", ?2)";
      st = prepare(sql.c_str());
      sqlite3_bind_int64(st, 1, rowid);
      if (image.empty())
        sqlite3_bind_null(st, 2);
      else
        sqlite3_bind_blob(st, 2, image.data(), static_cast<int>(image.size()), SQLITE_TRANSIENT);
      step_done(st);
      id = text_query("SELECT uuid FROM faces WHERE embedding = ?1", rowid);
      exec("COMMIT");
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    if (dim_ == 0) {
      dim_ = static_cast<int>(embedding.size());
      index_.reset(dim_);
    }
    index_.add(rowid, name, embedding.data());
    return id;
  }

  BulkAddResult add_bulk(const std::function<bool(std::string&, face::Embedding&)>& next,
                         const std::function<void(size_t)>& progress) override {
    std::lock_guard<std::mutex> lock(mu_);
    BulkAddResult result;
    // Duplicates by content hash; the value is a stored key (>= 0) or -(position in this import + 1).
    std::unordered_multimap<uint64_t, int64_t> seen;
    for (const auto& [h, key] : index_.row_hashes()) seen.emplace(h, key);
    std::vector<int64_t> keys;
    std::vector<std::string> persons;
    std::vector<float> rows;
    int dim = dim_;
    auto skip = [&](const std::string& name, std::string why) {
      ++result.skipped;
      if (result.skipped_examples.size() < 100) result.skipped_examples.emplace_back(name, std::move(why));
    };
    Statement person_st(db_, "INSERT OR IGNORE INTO people (name) VALUES (?1)");
    Statement embedding_st(db_, "INSERT INTO embeddings (person, vector) VALUES (?1, ?2)");
    Statement face_st(
        db_, (std::string("INSERT INTO faces (embedding, uuid) VALUES (?1, ") + kNewUuidSql + ")").c_str());
    exec("BEGIN IMMEDIATE");
    try {
      std::string name;
      face::Embedding embedding;
      size_t read = 0;
      while (next(name, embedding)) {
        ++read;
        const std::string where = " (row " + std::to_string(read) + ")";
        if (name.empty() || name == kUnknown)
          throw Error(ErrorKind::kInvalidInput,
                      "a person needs a name other than '' and '" + std::string(kUnknown) + "'" + where);
        if (embedding.empty())
          throw Error(ErrorKind::kInvalidInput, "empty embedding for '" + name + "'" + where);
        for (float v : embedding)
          if (!std::isfinite(v))
            throw Error(ErrorKind::kInvalidInput, "embedding for '" + name + "' is not finite" + where);
        if (dim == 0) dim = static_cast<int>(embedding.size());
        if (static_cast<int>(embedding.size()) != dim)
          throw Error(ErrorKind::kConflict, "embedding of " + std::to_string(embedding.size()) +
                                                " values for a gallery of dimension " + std::to_string(dim) +
                                                where);
        const uint64_t h = EmbeddingIndex::hash_row(embedding.data(), dim);
        bool duplicate = false;
        for (auto [it, end] = seen.equal_range(h); it != end && !duplicate; ++it) {
          if (it->second >= 0) {
            duplicate = index_.row(it->second) == embedding;
            if (duplicate) skip(name, "already in the gallery (the same embedding)");
          } else {
            const size_t pos = static_cast<size_t>(-it->second - 1);
            duplicate = std::equal(embedding.begin(), embedding.end(),
                                   rows.begin() + static_cast<std::ptrdiff_t>(pos * dim));
            if (duplicate) skip(name, "the same embedding as an earlier row");
          }
        }
        if (!duplicate) {
          person_st.text(1, name).done(*this);
          embedding_st.text(1, name).blob(2, embedding.data(), embedding.size() * sizeof(float)).done(*this);
          const int64_t rowid = sqlite3_last_insert_rowid(db_);
          face_st.int64(1, rowid).done(*this);
          seen.emplace(h, -static_cast<int64_t>(keys.size()) - 1);
          keys.push_back(rowid);
          persons.push_back(name);
          rows.insert(rows.end(), embedding.begin(), embedding.end());
        }
        if (progress && read % 10000 == 0) progress(read);
      }
      if (dim_ == 0 && dim != 0) set_meta("dim", std::to_string(dim));
      exec("COMMIT");
      if (progress && read % 10000 != 0) progress(read);
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    if (dim_ == 0 && dim != 0) {
      dim_ = dim;
      index_.reset(dim_);
    }
    index_.add_many(keys, persons, rows);
    result.added = keys.size();
    return result;
  }

  bool add_person(const std::string& name) override {
    if (name.empty() || name == kUnknown)
      throw Error(ErrorKind::kInvalidInput,
                  "a person needs a name other than '' and '" + std::string(kUnknown) + "'");
    std::lock_guard<std::mutex> lock(mu_);
    return run("INSERT OR IGNORE INTO people (name) VALUES (?1)", {name}) == 1;
  }

  std::vector<FaceEntry> faces(const std::string& person, size_t offset, size_t limit,
                               size_t* total) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!person.empty() && !person_exists(person))
      throw Error(ErrorKind::kNotFound, "no person '" + person + "' in the gallery");
    std::vector<FaceEntry> out;
    if (total) *total = 0;
    if (!has_faces_) return out;
    const char* where = person.empty() ? "" : " WHERE e.person = ?1";
    if (total) {
      sqlite3_stmt* st = prepare(
          (std::string("SELECT COUNT(*) FROM faces f JOIN embeddings e ON e.id = f.embedding") + where)
              .c_str());
      if (!person.empty()) sqlite3_bind_text(st, 1, person.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) *total = static_cast<size_t>(sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
    }
    sqlite3_stmt* st = prepare((std::string("SELECT f.uuid, e.person, f.image IS NOT NULL FROM faces f JOIN "
                                            "embeddings e ON e.id = f.embedding") +
                                where + " ORDER BY e.id LIMIT ?2 OFFSET ?3")
                                   .c_str());
    if (!person.empty()) sqlite3_bind_text(st, 1, person.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    sqlite3_bind_int64(st, 3, static_cast<int64_t>(std::min<size_t>(offset, INT64_MAX)));
    while (sqlite3_step(st) == SQLITE_ROW) out.push_back(face_row(st));
    sqlite3_finalize(st);
    return out;
  }

  std::optional<FaceEntry> face(const std::string& id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return find_face(id);
  }

  std::optional<std::string> face_image(const std::string& id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!has_faces_) return std::nullopt;
    sqlite3_stmt* st = prepare("SELECT image FROM faces WHERE uuid = ?1 AND image IS NOT NULL");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<std::string> out;
    if (sqlite3_step(st) == SQLITE_ROW)
      out = std::string(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                        static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    sqlite3_finalize(st);
    return out;
  }

  std::optional<face::Embedding> face_embedding(const std::string& id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!has_faces_) return std::nullopt;
    sqlite3_stmt* st =
        prepare("SELECT e.vector FROM faces f JOIN embeddings e ON e.id = f.embedding WHERE f.uuid = ?1");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<face::Embedding> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const auto* v = static_cast<const float*>(sqlite3_column_blob(st, 0));
      out = face::Embedding(v, v + sqlite3_column_bytes(st, 0) / static_cast<int>(sizeof(float)));
    }
    sqlite3_finalize(st);
    return out;
  }

  std::optional<FaceEntry> remove_face(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = find_face(id);
    if (!found) return std::nullopt;
    sqlite3_stmt* st = prepare("SELECT embedding FROM faces WHERE uuid = ?1");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    const int64_t key = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    st = prepare("DELETE FROM embeddings WHERE id = ?1");
    sqlite3_bind_int64(st, 1, key);
    step_done(st);
    index_.remove(key);
    return found;
  }

  size_t remove_faces(const std::string& person) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int n = person.empty() ? run("DELETE FROM embeddings", {})
                                 : run("DELETE FROM embeddings WHERE person = ?1", {person});
    if (person.empty()) {
      index_.reset(dim_);
      exec("DELETE FROM ivf");
    } else
      index_.remove_person(person);
    return static_cast<size_t>(n);
  }

  void rename(const std::string& from, const std::string& to) override {
    if (to.empty() || to == kUnknown)
      throw Error(ErrorKind::kInvalidInput,
                  "a person needs a name other than '' and '" + std::string(kUnknown) + "'");
    std::lock_guard<std::mutex> lock(mu_);
    if (!person_exists(from)) throw Error(ErrorKind::kNotFound, "no person '" + from + "' in the gallery");
    if (from == to) return;
    exec("BEGIN IMMEDIATE");
    try {
      run("INSERT OR IGNORE INTO people (name, record) SELECT ?2, record FROM people WHERE name = ?1",
          {from, to});
      run("UPDATE embeddings SET person = ?2 WHERE person = ?1", {from, to});
      run("DELETE FROM people WHERE name = ?1", {from});
      exec("COMMIT");
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    index_.rename(from, to);
  }

  void remove(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (run("DELETE FROM people WHERE name = ?1", {name}) == 0)
      throw Error(ErrorKind::kNotFound, "no person '" + name + "' in the gallery");
    index_.remove_person(name);
  }

  std::vector<Person> people() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Person> out;
    sqlite3_stmt* st = prepare(
        "SELECT p.name, p.record, COUNT(e.id) FROM people p LEFT JOIN embeddings e ON e.person = p.name "
        "GROUP BY p.name ORDER BY p.rowid");
    while (sqlite3_step(st) == SQLITE_ROW) {
      Person p;
      p.name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      p.record = nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
      p.embeddings = sqlite3_column_int(st, 2);
      out.push_back(std::move(p));
    }
    sqlite3_finalize(st);
    return out;
  }

  void set_record(const std::string& name, const nlohmann::json& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    run("INSERT INTO people (name, record) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET record = "
        "excluded.record",
        {name, record.dump()});
  }

  std::optional<nlohmann::json> record(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_stmt* st = prepare("SELECT record FROM people WHERE name = ?1");
    sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<nlohmann::json> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      auto j = nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
      if (!j.is_null()) out = std::move(j);
    }
    sqlite3_finalize(st);
    return out;
  }

  // The searches take no SQLite lock: the index has its own, shared between searches.
  std::vector<std::pair<std::string, float>> distances(const face::Embedding& embedding) const override {
    check_query(embedding);
    auto best = index_.per_person(embedding.data());
    if (best.empty()) throw Error(ErrorKind::kInvalidInput, "the gallery is empty: enrol people first");
    std::sort(best.begin(), best.end(),
              [](const EmbeddingIndex::PersonBest& a, const EmbeddingIndex::PersonBest& b) {
                return a.person < b.person;
              });
    std::vector<std::pair<std::string, float>> out;
    out.reserve(best.size());
    for (auto& p : best) out.emplace_back(std::move(p.person), std::sqrt(p.squared));
    return out;
  }

  Match match(const face::Embedding& embedding, float threshold) const override {
    check_query(embedding);
    // Squared distances in float, as torch.dist-style reference code computes; the first of equal
    // distances wins (the seed's list order).
    const auto best = index_.nearest(embedding.data());
    if (!best.found) throw Error(ErrorKind::kInvalidInput, "the gallery is empty: enrol people first");
    Match m;
    m.distance = std::sqrt(best.squared);
    m.nearest = best.person;
    m.name = (threshold > 0 && m.distance > threshold) ? kUnknown : m.nearest;
    return m;
  }

  std::vector<PersonDistance> nearest_people(const face::Embedding& embedding, size_t k) const override {
    if (k == 0 || index_.size() == 0) return {};
    check_query(embedding);
    auto best = index_.per_person(embedding.data(), /*approximate=*/true);
    // Nearest first; ties keep the seed's order (the person's first stored embedding first).
    auto closer = [](const EmbeddingIndex::PersonBest& a, const EmbeddingIndex::PersonBest& b) {
      return a.squared < b.squared || (a.squared == b.squared && a.first_key < b.first_key);
    };
    if (best.size() > k) {
      std::partial_sort(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(k), best.end(), closer);
      best.resize(k);
    } else {
      std::sort(best.begin(), best.end(), closer);
    }
    std::vector<PersonDistance> out;
    out.reserve(best.size());
    for (auto& p : best) out.push_back({std::move(p.person), std::sqrt(p.squared)});
    return out;
  }

  IndexStatus index_status() const override {
    const auto info = index_.ivf_info();
    return {index_mode_name(mode_), info.ready, info.training, info.nlist, info.nprobe, info.trained_rows};
  }
  void wait_index() override { index_.train_due(); }

 private:
  // A prepared statement reused across rows (bulk import): bind, step, reset.
  class Statement {
   public:
    Statement(sqlite3* db, const char* sql) {
      if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
        throw Error(ErrorKind::kInternal, std::string("gallery SQL: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(st_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& text(int i, const std::string& v) {
      sqlite3_bind_text(st_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      return *this;
    }
    Statement& blob(int i, const void* v, size_t bytes) {
      sqlite3_bind_blob(st_, i, v, static_cast<int>(bytes), SQLITE_TRANSIENT);
      return *this;
    }
    Statement& int64(int i, int64_t v) {
      sqlite3_bind_int64(st_, i, v);
      return *this;
    }
    void done(const SqliteGallery& g) {
      const int rc = sqlite3_step(st_);
      sqlite3_reset(st_);
      sqlite3_clear_bindings(st_);
      if (rc != SQLITE_DONE)
        throw Error(ErrorKind::kUnavailable, "gallery '" + g.location_ + "': " + sqlite3_errmsg(g.db_));
    }

   private:
    sqlite3_stmt* st_ = nullptr;
  };
  void check_query(const face::Embedding& embedding) const {
    const int dim = index_.dim();
    if (index_.size() == 0) throw Error(ErrorKind::kInvalidInput, "the gallery is empty: enrol people first");
    if (static_cast<int>(embedding.size()) != dim)
      throw Error(ErrorKind::kInvalidInput, "embedding of " + std::to_string(embedding.size()) +
                                                " values for a gallery of dimension " + std::to_string(dim));
  }
  void exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err ? err : "unknown error";
      sqlite3_free(err);
      throw Error(ErrorKind::kUnavailable, "gallery '" + location_ + "': " + why);
    }
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
      throw Error(ErrorKind::kInternal, std::string("gallery SQL: ") + sqlite3_errmsg(db_));
    return st;
  }
  void step_done(sqlite3_stmt* st) const {
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      throw Error(ErrorKind::kUnavailable, "gallery '" + location_ + "': " + sqlite3_errmsg(db_));
  }
  int run(const char* sql, const std::vector<std::string>& params) const {
    sqlite3_stmt* st = prepare(sql);
    for (size_t i = 0; i < params.size(); ++i)
      sqlite3_bind_text(st, static_cast<int>(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT);
    step_done(st);
    return sqlite3_changes(db_);
  }
  // Brings a gallery of an older schema to kSchemaVersion (see there), in one transaction.
  void migrate() {
    const std::string version = meta("schema_version");
    if (!version.empty() && std::stoi(version) >= kSchemaVersion) {
      has_faces_ = true;
      return;
    }
    exec("BEGIN IMMEDIATE");
    try {
      exec(
          "CREATE TABLE IF NOT EXISTS faces (embedding INTEGER PRIMARY KEY REFERENCES embeddings(id) ON "
          "DELETE "
          "CASCADE, uuid TEXT NOT NULL UNIQUE, image BLOB)");
      exec(std::string("INSERT INTO faces (embedding, uuid) SELECT id, ") + kNewUuidSql +
           " FROM embeddings WHERE id NOT IN (SELECT embedding FROM faces)");
      set_meta("schema_version", std::to_string(kSchemaVersion));
      exec("COMMIT");
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    has_faces_ = true;
  }
  bool table_exists(const std::string& name) const {
    sqlite3_stmt* st = prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
    sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    const bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
  }
  bool person_exists(const std::string& name) const {
    sqlite3_stmt* st = prepare("SELECT 1 FROM people WHERE name = ?1");
    sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    const bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
  }
  static FaceEntry face_row(sqlite3_stmt* st) {
    FaceEntry f;
    f.id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    f.person = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    f.has_image = sqlite3_column_int(st, 2) != 0;
    return f;
  }
  std::optional<FaceEntry> find_face(const std::string& id) const {
    if (!has_faces_) return std::nullopt;
    sqlite3_stmt* st = prepare(
        "SELECT f.uuid, e.person, f.image IS NOT NULL FROM faces f JOIN embeddings e ON e.id = f.embedding "
        "WHERE f.uuid = ?1");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<FaceEntry> out;
    if (sqlite3_step(st) == SQLITE_ROW) out = face_row(st);
    sqlite3_finalize(st);
    return out;
  }
  std::string text_query(const char* sql, int64_t arg) const {
    sqlite3_stmt* st = prepare(sql);
    sqlite3_bind_int64(st, 1, arg);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  int count_embeddings() const {
    sqlite3_stmt* st = prepare("SELECT COUNT(*) FROM embeddings");
    const int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
  }
  std::string meta(const std::string& key) const {
    sqlite3_stmt* st = prepare("SELECT value FROM meta WHERE key = ?1");
    sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  void set_meta(const std::string& key, const std::string& value) {
    run("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", {key, value});
  }
  // The index at open: a persisted IVF first (so rows go straight to their lists), then every row, then
  // the mode (which may start a background training, searching exactly meanwhile).
  void load_index() {
    index_.reset(dim_);
    if (mode_ != IndexMode::kExact && dim_ > 0)
      if (auto state = read_ivf()) index_.load_ivf(std::move(*state));
    reload();
    std::function<void(const IvfState&)> persist;
    if (!read_only_) persist = [this](const IvfState& state) { save_ivf(state); };
    index_.set_mode(mode_, std::move(persist));
  }
  std::optional<IvfState> read_ivf() const {
    if (!table_exists("ivf")) return std::nullopt;
    sqlite3_stmt* st =
        prepare("SELECT dim, nlist, trained_rows, centroids, keys, lists FROM ivf WHERE id = 1");
    std::optional<IvfState> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      IvfState s;
      s.dim = sqlite3_column_int(st, 0);
      s.nlist = static_cast<size_t>(sqlite3_column_int64(st, 1));
      s.trained_rows = static_cast<size_t>(sqlite3_column_int64(st, 2));
      const auto* c = static_cast<const float*>(sqlite3_column_blob(st, 3));
      s.centroids.assign(c, c + sqlite3_column_bytes(st, 3) / static_cast<int>(sizeof(float)));
      const auto* keys = static_cast<const int64_t*>(sqlite3_column_blob(st, 4));
      const size_t n = static_cast<size_t>(sqlite3_column_bytes(st, 4)) / sizeof(int64_t);
      const auto* lists = static_cast<const uint32_t*>(sqlite3_column_blob(st, 5));
      if (static_cast<size_t>(sqlite3_column_bytes(st, 5)) == n * sizeof(uint32_t)) {
        s.lists.resize(n);
        for (size_t i = 0; i < n; ++i) s.lists[i] = {keys[i], lists[i]};
        out = std::move(s);
      }
    }
    sqlite3_finalize(st);
    return out;
  }
  // From the training thread, after the new lists serve.
  void save_ivf(const IvfState& state) {
    std::vector<int64_t> keys(state.lists.size());
    std::vector<uint32_t> lists(state.lists.size());
    for (size_t i = 0; i < state.lists.size(); ++i) std::tie(keys[i], lists[i]) = state.lists[i];
    try {
      std::lock_guard<std::mutex> lock(mu_);
      Statement st(db_,
                   "INSERT OR REPLACE INTO ivf (id, dim, nlist, trained_rows, centroids, keys, lists) VALUES "
                   "(1, ?1, ?2, ?3, ?4, ?5, ?6)");
      st.int64(1, state.dim)
          .int64(2, static_cast<int64_t>(state.nlist))
          .int64(3, static_cast<int64_t>(state.trained_rows))
          .blob(4, state.centroids.data(), state.centroids.size() * sizeof(float))
          .blob(5, keys.data(), keys.size() * sizeof(int64_t))
          .blob(6, lists.data(), lists.size() * sizeof(uint32_t))
          .done(*this);
    } catch (const std::exception& e) {  // still serving from memory: the next open trains again
      spdlog::warn("gallery '{}': could not save the IVF index: {}", location_, e.what());
    }
  }
  // Loads every embedding into the index (open time): one pass, in id order, rows appended in chunks.
  void reload() {
    // Room for every row at once (ids ascend, so max(id) bounds the count without COUNT(*)'s full scan).
    {
      sqlite3_stmt* st = prepare("SELECT max(id) FROM embeddings");
      if (sqlite3_step(st) == SQLITE_ROW) index_.reserve(static_cast<size_t>(sqlite3_column_int64(st, 0)));
      sqlite3_finalize(st);
    }
    sqlite3_stmt* st = prepare("SELECT id, person, vector FROM embeddings ORDER BY id");
    std::vector<int64_t> keys;
    std::vector<std::string> persons;
    std::vector<float> rows;
    auto flush = [&] {
      index_.add_many(keys, persons, rows);
      keys.clear();
      persons.clear();
      rows.clear();
    };
    while (sqlite3_step(st) == SQLITE_ROW) {
      const int bytes = sqlite3_column_bytes(st, 2);
      if (dim_ == 0 || bytes != dim_ * static_cast<int>(sizeof(float))) {
        sqlite3_finalize(st);
        throw Error(ErrorKind::kInvalidInput,
                    "gallery '" + location_ + "' is corrupt (embedding of the wrong size)");
      }
      keys.push_back(sqlite3_column_int64(st, 0));
      persons.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
      const auto* v = static_cast<const float*>(sqlite3_column_blob(st, 2));
      rows.insert(rows.end(), v, v + dim_);
      if (keys.size() == 8192) flush();  // 4-16 MB: still in cache when the index copies it
    }
    sqlite3_finalize(st);
    flush();
  }

  std::string location_;
  sqlite3* db_ = nullptr;
  std::string embedder_id_;
  mutable std::mutex mu_;
  int dim_ = 0;
  bool has_faces_ = false;  // false only for a read-only gallery of schema version 1
  bool read_only_ = false;
  IndexMode mode_ = IndexMode::kAuto;
  EmbeddingIndex index_;  // every stored embedding; its own lock (searches do not take mu_)
};

}  // namespace

void remove_gallery_files(const std::filesystem::path& db) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(db.string() + suffix, ec);
}

std::optional<std::string> find_same_photo(const Gallery& gallery, const face::Embedding& embedding) {
  if (gallery.dim() == 0 || static_cast<int>(embedding.size()) != gallery.dim()) return std::nullopt;
  try {
    const Match m = gallery.match(embedding, 0);
    if (m.distance < kSamePhotoDistance) return m.nearest;
  } catch (const Error&) {  // every person was removed: nothing to compare with
  }
  return std::nullopt;
}

std::unique_ptr<Gallery> Gallery::open_read_only(const std::filesystem::path& db,
                                                 std::optional<IndexMode> index) {
  if (!std::filesystem::exists(db))
    throw Error(ErrorKind::kNotFound, "gallery '" + db.string() + "' does not exist; enrol people first");
  return std::make_unique<SqliteGallery>(db.string(), "", true, index.value_or(default_index_mode()));
}

std::unique_ptr<Gallery> Gallery::open(const std::filesystem::path& db, const std::string& embedder_id,
                                       std::optional<IndexMode> index) {
  if (db.has_parent_path() && !std::filesystem::exists(db.parent_path()))
    throw Error(ErrorKind::kNotFound,
                "folder '" + db.parent_path().string() + "' for the gallery does not exist");
  return std::make_unique<SqliteGallery>(db.string(), embedder_id, false,
                                         index.value_or(default_index_mode()));
}

std::unique_ptr<Gallery> Gallery::in_memory(const std::string& embedder_id, std::optional<IndexMode> index) {
  if (embedder_id.empty()) throw Error(ErrorKind::kInvalidInput, "an in-memory gallery needs an embedder id");
  return std::make_unique<SqliteGallery>(":memory:", embedder_id, false,
                                         index.value_or(default_index_mode()));
}

}  // namespace facepipe::gallery
