#include "auth/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>
#include <mutex>

#include "aws/sigv4.h"
#include "core/error.h"

namespace facepipe::auth {
namespace {

constexpr const char* kPrefix = "fpk_";
constexpr size_t kIdBytes = 8, kSecretBytes = 32, kSaltBytes = 16;

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw Error(ErrorKind::kUnavailable, "the system's random number generator failed; retry");
  return out;
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string sha256(const std::string& salt, const std::string& secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
                  EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, md, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw Error(ErrorKind::kInternal, "SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

// A secret of 40 characters from the alphabet AWS's own secrets use (letters, digits, '+' and '/').
std::string access_secret() {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (unsigned char c : random_bytes(40)) out += alphabet[c & 63];
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string yyyymmdd(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

bool all_hex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

// Splits "fpk_<16 hex>_<64 hex>" into id and secret; false when malformed.
bool split_key(const std::string& key, std::string* id, std::string* secret) {
  const size_t id_len = kIdBytes * 2, secret_len = kSecretBytes * 2;
  const size_t prefix = std::char_traits<char>::length(kPrefix);
  if (key.size() != prefix + id_len + 1 + secret_len || key.compare(0, prefix, kPrefix) != 0 ||
      key[prefix + id_len] != '_')
    return false;
  *id = key.substr(prefix, id_len);
  *secret = key.substr(prefix + id_len + 1);
  return all_hex(*id) && all_hex(*secret);
}

class SqliteKeyStore : public KeyStore {
 public:
  explicit SqliteKeyStore(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Error(ErrorKind::kUnavailable, "cannot open key store '" + path + "': " + why);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec(
        "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
        "salt BLOB NOT NULL, hash BLOB NOT NULL, created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT "
        "0)");
    // Added with SQS access keys; old stores get the columns on open.
    add_column("ALTER TABLE api_keys ADD COLUMN sqs INTEGER NOT NULL DEFAULT 0");
    add_column("ALTER TABLE api_keys ADD COLUMN expires INTEGER NOT NULL DEFAULT 0");
    exec(
        "CREATE TABLE IF NOT EXISTS sigv4_date_keys (id TEXT NOT NULL, day TEXT NOT NULL, date_key BLOB NOT "
        "NULL, PRIMARY KEY (id, day))");
  }
  ~SqliteKeyStore() override { sqlite3_close(db_); }

  NewKey create(const std::string& name, Role role) override {
    if (name.empty() || name.size() > 200)
      throw Error(ErrorKind::kInvalidInput,
                  "a key needs a name of 1 to 200 characters (--name), e.g. who uses it");
    NewKey k;
    k.info.id = hex(random_bytes(kIdBytes));
    k.info.name = name;
    k.info.role = role;
    k.info.created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::string secret = hex(random_bytes(kSecretBytes));
    insert_key(k.info, secret);
    k.key = kPrefix + k.info.id + "_" + secret;
    return k;
  }

  NewAccessKey create_access_key(const std::string& name, Role role, int valid_days) override {
    if (name.empty() || name.size() > 200)
      throw Error(ErrorKind::kInvalidInput,
                  "a key needs a name of 1 to 200 characters (--name), e.g. who uses it");
    if (valid_days < 1 || valid_days > 3650)
      throw Error(ErrorKind::kInvalidInput, "an SQS access key is valid for 1 to 3650 days (--days)");
    NewAccessKey k;
    k.access_key_id = "AKFP" + upper(hex(random_bytes(kIdBytes)));
    k.secret_access_key = access_secret();
    k.info.id = k.access_key_id;
    k.info.name = name;
    k.info.role = role;
    k.info.sqs = true;
    k.info.created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    k.info.expires = k.info.created + int64_t{valid_days} * 86400;
    exec("BEGIN IMMEDIATE");
    try {
      insert_key(k.info, k.secret_access_key);
      sqlite3_stmt* st = nullptr;
      for (int64_t day = -1; day < valid_days; ++day) {
        const std::string date = yyyymmdd(k.info.created + day * 86400);
        const std::string key = aws::date_key(k.secret_access_key, date);
        st = prepare("INSERT OR REPLACE INTO sigv4_date_keys (id, day, date_key) VALUES (?1,?2,?3)");
        sqlite3_bind_text(st, 1, k.info.id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, date.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        done(st);
      }
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    return k;
  }

  std::optional<DateKey> date_key(const std::string& access_key_id, const std::string& day) const override {
    sqlite3_stmt* st = prepare(
        "SELECT k.id, k.name, k.role, k.created, k.revoked, k.sqs, k.expires, d.date_key FROM api_keys k "
        "JOIN "
        "sigv4_date_keys d ON d.id = k.id WHERE k.id = ?1 AND d.day = ?2 AND k.revoked = 0 AND k.sqs = 1");
    sqlite3_bind_text(st, 1, access_key_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, day.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<DateKey> out;
    if (sqlite3_step(st) == SQLITE_ROW)
      out = DateKey{row(st), std::string(static_cast<const char*>(sqlite3_column_blob(st, 7)),
                                         static_cast<size_t>(sqlite3_column_bytes(st, 7)))};
    sqlite3_finalize(st);
    return out;
  }

  std::vector<KeyInfo> list() const override {
    std::vector<KeyInfo> out;
    sqlite3_stmt* st =
        prepare("SELECT id, name, role, created, revoked, sqs, expires FROM api_keys ORDER BY created, id");
    while (sqlite3_step(st) == SQLITE_ROW) out.push_back(row(st));
    sqlite3_finalize(st);
    return out;
  }

  bool revoke(const std::string& id_or_key) override {
    std::string id = id_or_key, secret;
    if (id_or_key.rfind(kPrefix, 0) == 0 && !split_key(id_or_key, &id, &secret)) return false;
    sqlite3_stmt* st = prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?1 AND revoked = 0");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    done(st);
    const bool revoked = sqlite3_changes(db_) > 0;
    st = prepare("DELETE FROM sigv4_date_keys WHERE id = ?1");  // nothing of a revoked pair stays usable
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    done(st);
    return revoked;
  }

  std::optional<KeyInfo> verify(const std::string& key) const override {
    std::string id, secret;
    if (!split_key(key, &id, &secret)) return std::nullopt;
    sqlite3_stmt* st = prepare(
        "SELECT id, name, role, created, revoked, sqs, expires, salt, hash FROM api_keys WHERE id = ?1 AND "
        "revoked = 0 AND sqs = 0");
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<KeyInfo> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const std::string salt(static_cast<const char*>(sqlite3_column_blob(st, 7)),
                             static_cast<size_t>(sqlite3_column_bytes(st, 7)));
      const std::string stored(static_cast<const char*>(sqlite3_column_blob(st, 8)),
                               static_cast<size_t>(sqlite3_column_bytes(st, 8)));
      const std::string got = sha256(salt, secret);
      if (stored.size() == got.size() && CRYPTO_memcmp(stored.data(), got.data(), got.size()) == 0)
        out = row(st);
    }
    sqlite3_finalize(st);
    return out;
  }

  bool has_active_keys() const override {
    sqlite3_stmt* st =
        prepare("SELECT 1 FROM api_keys WHERE revoked = 0 AND (expires = 0 OR expires > ?1) LIMIT 1");
    sqlite3_bind_int64(
        st, 1,
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const bool any = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return any;
  }

 private:
  static KeyInfo row(sqlite3_stmt* st) {
    KeyInfo k;
    k.id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    k.name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    k.role = parse_role(reinterpret_cast<const char*>(sqlite3_column_text(st, 2)));
    k.created = sqlite3_column_int64(st, 3);
    k.revoked = sqlite3_column_int(st, 4) != 0;
    k.sqs = sqlite3_column_int(st, 5) != 0;
    k.expires = sqlite3_column_int64(st, 6);
    return k;
  }
  // The key's row: its info and a salted hash of its secret (verify() of API keys compares against it).
  void insert_key(const KeyInfo& info, const std::string& secret) {
    const std::string salt = random_bytes(kSaltBytes);
    const std::string hash = sha256(salt, secret);
    sqlite3_stmt* st = prepare(
        "INSERT INTO api_keys (id, name, role, salt, hash, created, sqs, expires) VALUES "
        "(?1,?2,?3,?4,?5,?6,?7,?8)");
    sqlite3_bind_text(st, 1, info.id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, info.name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, role_name(info.role), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, salt.data(), static_cast<int>(salt.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 5, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, info.created);
    sqlite3_bind_int(st, 7, info.sqs ? 1 : 0);
    sqlite3_bind_int64(st, 8, info.expires);
    done(st);
  }
  // ALTER TABLE ... ADD COLUMN, where the column may exist already (a store opened before).
  void add_column(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err ? err : "";
      sqlite3_free(err);
      if (why.find("duplicate column") == std::string::npos)
        throw Error(ErrorKind::kUnavailable, "key store '" + path_ + "': " + why);
    }
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err ? err : "unknown error";
      sqlite3_free(err);
      throw Error(ErrorKind::kUnavailable, "key store '" + path_ + "': " + why);
    }
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
      throw Error(ErrorKind::kUnavailable, "key store '" + path_ + "': " + sqlite3_errmsg(db_));
    return st;
  }
  void done(sqlite3_stmt* st) {
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      throw Error(ErrorKind::kUnavailable, "key store '" + path_ + "': " + sqlite3_errmsg(db_));
  }

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kRecognize:
      return "recognize";
    case Role::kAdmin:
      return "admin";
  }
  return "read";
}

Role parse_role(const std::string& name) {
  if (name == "read") return Role::kRead;
  if (name == "recognize") return Role::kRecognize;
  if (name == "admin") return Role::kAdmin;
  throw Error(ErrorKind::kInvalidInput, "role '" + name + "' is none of admin, recognize, read");
}

std::unique_ptr<KeyStore> KeyStore::open(const std::filesystem::path& path) {
  if (path.has_parent_path() && !std::filesystem::exists(path.parent_path()))
    throw Error(ErrorKind::kNotFound, "folder '" + path.parent_path().string() +
                                          "' for the key store does not exist; pass the serve --data-dir");
  return std::make_unique<SqliteKeyStore>(path.string());
}

std::filesystem::path key_store_path(const std::filesystem::path& data_dir) { return data_dir / "keys.db"; }

}  // namespace facepipe::auth
