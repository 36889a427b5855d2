#include "queue/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>

#include "core/error.h"
#include "queue/sqs_rules.h"

namespace facepipe::queue {
namespace {

using Clock = std::chrono::system_clock;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// Random hex; receipt handles and message ids must be unguessable enough that a stale handle never
// matches a newer delivery.
std::string random_hex(std::mt19937_64& rng, int bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (int i = 0; i < bytes; i += 8) {
    uint64_t v = rng();
    for (int j = 0; j < 8 && i + j < bytes; ++j, v >>= 8) {
      out.push_back(digits[(v >> 4) & 15]);
      out.push_back(digits[v & 15]);
    }
  }
  return out;
}

std::string uuid4(std::mt19937_64& rng) {
  std::string h = random_hex(rng, 16);
  h[12] = '4';
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
         h.substr(20);
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw Error(ErrorKind::kInternal,
                  std::string("queue store: cannot prepare SQL: ") + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while there is a row.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(ErrorKind::kUnavailable, std::string("queue store: SQLite error: ") + sqlite3_errmsg(db_) +
                                             "; check the data directory's disk space and permissions");
  }
  void run() {
    step();
    sqlite3_reset(s_);
  }
  int64_t i64(int col) { return sqlite3_column_int64(s_, col); }
  std::string text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, sqlite3_column_bytes(s_, col)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

class Store : public std::enable_shared_from_this<Store> {
 public:
  Store(const std::string& path, bool full_sync) : path_(path), rng_(std::random_device{}()) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Error(ErrorKind::kUnavailable, "cannot open queue store '" + path + "': " + msg +
                                               "; check that its directory exists and is writable");
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS queues(name TEXT PRIMARY KEY, visibility_s INTEGER, max_receive INTEGER,"
        " dlq TEXT, retention_s INTEGER, created_ms INTEGER)");
    exec(
        "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
        " id TEXT NOT NULL, body TEXT NOT NULL, sent_ms INTEGER, visible_at_ms INTEGER, receive_count "
        "INTEGER,"
        " receipt TEXT)");
    exec(
        "CREATE TABLE IF NOT EXISTS queue_tags(queue TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY(queue, key))");
    exec("CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, visible_at_ms, seq)");
    exec("CREATE INDEX IF NOT EXISTS messages_receipt ON messages(receipt)");
  }
  ~Store() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw Error(ErrorKind::kUnavailable, "queue store '" + path_ + "': " + msg);
    }
  }

  // Runs `fn` in one write transaction, rolled back when it throws.
  template <class F>
  auto transaction(F&& fn) {
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        exec("COMMIT");
      } else {
        auto r = fn();
        exec("COMMIT");
        return r;
      }
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::optional<QueueConfig> config(const std::string& name) {
    Stmt s(db_, "SELECT visibility_s, max_receive, dlq, retention_s FROM queues WHERE name=?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    QueueConfig c;
    c.visibility_timeout = std::chrono::seconds(s.i64(0));
    c.max_receive_count = static_cast<int>(s.i64(1));
    c.dead_letter_queue = s.text(2);
    c.retention = std::chrono::seconds(s.i64(3));
    return c;
  }

  std::mutex mu;
  std::condition_variable cv;
  sqlite3* db_ = nullptr;
  std::string path_;
  std::mt19937_64 rng_;
};

[[noreturn]] void throw_no_queue(const std::string& name) {
  throw Error(ErrorKind::kNotFound, "queue '" + name + "' does not exist; create it first (CreateQueue)");
}

class SqliteQueue : public Queue {
 public:
  SqliteQueue(std::shared_ptr<Store> store, std::string name)
      : store_(std::move(store)), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string url() const override { return "sqlite:" + store_->path_ + "#" + name_; }

  std::vector<std::string> send_messages(const std::vector<OutgoingMessage>& messages) override {
    for (const auto& m : messages) check_message(m);
    std::vector<std::string> ids;
    {
      std::lock_guard lock(store_->mu);
      require_exists();
      store_->transaction([&] {
        Stmt s(store_->db_,
               "INSERT INTO messages(queue, id, body, sent_ms, visible_at_ms, receive_count) "
               "VALUES(?,?,?,?,?,0)");
        int64_t now = now_ms();
        for (const auto& m : messages) {
          std::string id = uuid4(store_->rng_);
          s.bind(1, name_)
              .bind(2, id)
              .bind(3, m.body)
              .bind(4, now)
              .bind(5, now + m.delay.count() * 1000)
              .run();
          ids.push_back(std::move(id));
        }
      });
    }
    store_->cv.notify_all();
    return ids;
  }

  std::vector<Message> receive(const ReceiveOptions& options) override {
    check_receive(options);
    auto deadline = std::chrono::steady_clock::now() + options.wait;
    std::unique_lock lock(store_->mu);
    while (true) {
      int64_t next_visible = 0;
      auto got = receive_locked(options, next_visible);
      if (!got.empty()) return got;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return got;
      // Sleep until a send wakes us, the earliest hidden message reappears, or the poll ends.
      auto until = deadline;
      if (next_visible > 0) {
        auto in = std::chrono::milliseconds(std::max<int64_t>(1, next_visible - now_ms()));
        until = std::min(until, now + in);
      }
      store_->cv.wait_until(lock, until);
    }
  }

  void remove(const std::string& receipt_handle) override {
    std::lock_guard lock(store_->mu);
    Stmt s(store_->db_, "DELETE FROM messages WHERE queue=? AND receipt=?");
    s.bind(1, name_).bind(2, receipt_handle).run();
    if (sqlite3_changes(store_->db_) == 0) {
      require_exists();
      throw Error(ErrorKind::kInvalidInput, "receipt handle '" + receipt_handle +
                                                "' is not valid for queue '" + name_ +
                                                "' (unknown, stale, or already deleted)");
    }
  }

  void change_visibility(const std::string& receipt_handle, std::chrono::seconds timeout) override {
    if (timeout.count() < 0 || timeout.count() > 43200)
      throw Error(ErrorKind::kInvalidInput, "VisibilityTimeout must be between 0 and 43200 seconds");
    {
      std::lock_guard lock(store_->mu);
      Stmt s(store_->db_, "UPDATE messages SET visible_at_ms=? WHERE queue=? AND receipt=?");
      s.bind(1, now_ms() + timeout.count() * 1000).bind(2, name_).bind(3, receipt_handle).run();
      if (sqlite3_changes(store_->db_) == 0) {
        require_exists();
        throw Error(ErrorKind::kInvalidInput,
                    "receipt handle '" + receipt_handle + "' is not valid for queue '" + name_ + "'");
      }
    }
    store_->cv.notify_all();
  }

  void purge() override {
    std::lock_guard lock(store_->mu);
    require_exists();
    Stmt s(store_->db_, "DELETE FROM messages WHERE queue=?");
    s.bind(1, name_).run();
  }

  QueueConfig config() override {
    std::lock_guard lock(store_->mu);
    auto c = store_->config(name_);
    if (!c) throw_no_queue(name_);
    return *c;
  }

  void tag(const QueueTags& added) override {
    std::lock_guard lock(store_->mu);
    require_exists();
    check_tags(tags_locked(), added);
    store_->transaction([&] {
      Stmt s(store_->db_, "INSERT OR REPLACE INTO queue_tags(queue, key, value) VALUES(?,?,?)");
      for (const auto& [key, value] : added) s.bind(1, name_).bind(2, key).bind(3, value).run();
    });
  }

  QueueTags tags() override {
    std::lock_guard lock(store_->mu);
    require_exists();
    return tags_locked();
  }

  QueueStats stats() override {
    std::lock_guard lock(store_->mu);
    require_exists();
    // A hidden message never received yet is a delayed one (a dead-lettered message restarts at count 0 but
    // is visible at once).
    Stmt s(store_->db_,
           "SELECT COALESCE(SUM(visible_at_ms<=?1),0), COALESCE(SUM(visible_at_ms>?1 AND receive_count>0),0),"
           " COALESCE(SUM(visible_at_ms>?1 AND receive_count=0),0) FROM messages WHERE queue=?2");
    s.bind(1, now_ms()).bind(2, name_);
    s.step();
    return QueueStats{s.i64(0), s.i64(1), s.i64(2)};
  }

 private:
  void require_exists() {
    if (!store_->config(name_)) throw_no_queue(name_);
  }

  QueueTags tags_locked() {
    QueueTags out;
    Stmt s(store_->db_, "SELECT key, value FROM queue_tags WHERE queue=?");
    s.bind(1, name_);
    while (s.step()) out[s.text(0)] = s.text(1);
    return out;
  }

  // One pass over the ready messages; caller holds the lock. Sets `next_visible` to the earliest time a
  // hidden message reappears (0 when none), for the long poll's wake-up.
  std::vector<Message> receive_locked(const ReceiveOptions& options, int64_t& next_visible) {
    auto config = store_->config(name_);
    if (!config) throw_no_queue(name_);
    auto visibility = options.visibility.value_or(config->visibility_timeout);
    bool dead_letter = config->max_receive_count > 0 && !config->dead_letter_queue.empty() &&
                       store_->config(config->dead_letter_queue).has_value();
    return store_->transaction([&] {
      std::vector<Message> out;
      int64_t now = now_ms();
      // Messages past retention are dropped as SQS does (the only way a message leaves without a delete).
      Stmt expire(store_->db_, "DELETE FROM messages WHERE queue=? AND sent_ms<?");
      expire.bind(1, name_).bind(2, now - config->retention.count() * 1000).run();
      Stmt pick(
          store_->db_,
          "SELECT seq, id, body, sent_ms, receive_count FROM messages WHERE queue=? AND visible_at_ms<=?"
          " ORDER BY seq LIMIT ?");
      pick.bind(1, name_).bind(2, now).bind(3, 10 + options.max_messages);
      Stmt take(store_->db_, "UPDATE messages SET receive_count=?, receipt=?, visible_at_ms=? WHERE seq=?");
      Stmt to_dlq(store_->db_,
                  "UPDATE messages SET queue=?, receive_count=0, receipt=NULL, visible_at_ms=? WHERE seq=?");
      // Read the candidates first: updating rows of the index a SELECT is walking is not well defined.
      struct Row {
        int64_t seq;
        Message m;
      };
      std::vector<Row> rows;
      while (pick.step()) {
        Row r{pick.i64(0), {}};
        r.m.id = pick.text(1);
        r.m.body = pick.text(2);
        r.m.sent_timestamp_ms = pick.i64(3);
        r.m.receive_count = static_cast<int>(pick.i64(4));
        rows.push_back(std::move(r));
      }
      bool moved = false;
      for (auto& row : rows) {
        if (static_cast<int>(out.size()) >= options.max_messages) break;
        int64_t seq = row.seq;
        int count = row.m.receive_count;
        if (dead_letter && count >= config->max_receive_count) {
          to_dlq.bind(1, config->dead_letter_queue).bind(2, now).bind(3, seq).run();
          moved = true;
          continue;
        }
        Message m = std::move(row.m);
        m.receive_count = count + 1;
        m.receipt_handle = m.id + ":" + random_hex(store_->rng_, 16);
        take.bind(1, m.receive_count)
            .bind(2, m.receipt_handle)
            .bind(3, now + visibility.count() * 1000)
            .bind(4, seq);
        take.run();
        out.push_back(std::move(m));
      }
      if (moved) store_->cv.notify_all();
      if (out.empty()) {
        Stmt next(store_->db_, "SELECT MIN(visible_at_ms) FROM messages WHERE queue=? AND visible_at_ms>?");
        next.bind(1, name_).bind(2, now);
        next_visible = next.step() ? next.i64(0) : 0;
      }
      return out;
    });
  }

  std::shared_ptr<Store> store_;
  std::string name_;
};

std::string describe(const QueueConfig& c) {
  std::string out = "VisibilityTimeout " + std::to_string(c.visibility_timeout.count()) + " s";
  if (c.max_receive_count > 0 && !c.dead_letter_queue.empty())
    out += ", dead-letter queue " + c.dead_letter_queue + " after " + std::to_string(c.max_receive_count) +
           " receives";
  else
    out += ", no dead-letter queue";
  return out;
}

bool same_attributes(const QueueConfig& a, const QueueConfig& b) {
  return a.visibility_timeout == b.visibility_timeout && a.max_receive_count == b.max_receive_count &&
         a.dead_letter_queue == b.dead_letter_queue;
}

void check_config(const QueueConfig& config) {
  if (config.visibility_timeout.count() < 0 || config.visibility_timeout.count() > kMaxVisibilitySeconds)
    throw Error(ErrorKind::kInvalidInput, "VisibilityTimeout must be between 0 and 43200 seconds");
}

class SqliteService : public QueueService {
 public:
  SqliteService(const std::string& path, bool full_sync) : store_(std::make_shared<Store>(path, full_sync)) {}

  std::shared_ptr<Queue> create(const std::string& name, const QueueConfig& config) override {
    if (!valid_queue_name(name))
      throw Error(ErrorKind::kInvalidInput,
                  "queue name '" + name + "' is not valid: use 1 to 80 letters, digits, '-' or '_'");
    check_config(config);
    std::lock_guard lock(store_->mu);
    auto existing = store_->config(name);
    if (existing) {
      if (!same_attributes(*existing, config))
        throw Error(ErrorKind::kConflict, "queue '" + name + "' already exists with different attributes (" +
                                              describe(*existing) + "; asked for " + describe(config) +
                                              "); delete it, reuse its attributes or change them "
                                              "(SetQueueAttributes)");
    } else {
      Stmt s(store_->db_,
             "INSERT INTO queues(name, visibility_s, max_receive, dlq, retention_s, created_ms) "
             "VALUES(?,?,?,?,?,?)");
      s.bind(1, name)
          .bind(2, config.visibility_timeout.count())
          .bind(3, config.max_receive_count)
          .bind(4, config.dead_letter_queue)
          .bind(5, config.retention.count())
          .bind(6, now_ms())
          .run();
    }
    return std::make_shared<SqliteQueue>(store_, name);
  }

  std::shared_ptr<Queue> get(const std::string& name) override {
    std::lock_guard lock(store_->mu);
    if (!store_->config(name)) throw_no_queue(name);
    return std::make_shared<SqliteQueue>(store_, name);
  }

  std::vector<std::string> list(const std::string& prefix) override {
    std::lock_guard lock(store_->mu);
    Stmt s(store_->db_, "SELECT name FROM queues WHERE substr(name, 1, length(?1))=?1 ORDER BY name");
    s.bind(1, prefix);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
  }

  void set_config(const std::string& name, const QueueConfig& config) override {
    check_config(config);
    std::lock_guard lock(store_->mu);
    if (!store_->config(name)) throw_no_queue(name);
    Stmt s(store_->db_, "UPDATE queues SET visibility_s=?, max_receive=?, dlq=?, retention_s=? WHERE name=?");
    s.bind(1, config.visibility_timeout.count())
        .bind(2, config.max_receive_count)
        .bind(3, config.dead_letter_queue)
        .bind(4, config.retention.count())
        .bind(5, name)
        .run();
  }

  std::vector<std::string> missing(const std::vector<std::string>& names) override {
    std::lock_guard lock(store_->mu);
    std::vector<std::string> out;
    for (const auto& name : names)
      if (!store_->config(name)) out.push_back(name);
    return out;
  }

  void remove_queue(const std::string& name) override {
    std::lock_guard lock(store_->mu);
    if (!store_->config(name)) throw_no_queue(name);
    store_->transaction([&] {
      Stmt(store_->db_, "DELETE FROM messages WHERE queue=?").bind(1, name).run();
      Stmt(store_->db_, "DELETE FROM queue_tags WHERE queue=?").bind(1, name).run();
      Stmt(store_->db_, "DELETE FROM queues WHERE name=?").bind(1, name).run();
    });
  }

 private:
  std::shared_ptr<Store> store_;
};

}  // namespace

std::unique_ptr<QueueService> make_sqlite_queue_service(const std::string& path, bool full_sync) {
  return std::make_unique<SqliteService>(path, full_sync);
}

}  // namespace facepipe::queue
