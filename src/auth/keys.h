// API keys with roles, kept in SQLite (`<data-dir>/keys.db`, beside the queues).
//
// A key is "fpk_<id>_<secret>": a 64-bit public id (16 hex digits, what `keys list` and `keys revoke` show)
// and a 256-bit secret from OpenSSL's RAND_bytes (64 hex digits). It is shown once, when created; the
// store keeps only a per-key random salt and SHA-256(salt || secret). A fast hash is enough here, unlike
// for passwords: a 256-bit random secret cannot be guessed, so slowing each guess (bcrypt, Argon2) would
// only slow every request; the salt keeps equal secrets from hashing alike. Checks compare in constant
// time (CRYPTO_memcmp).
//
// SQS access keys (`keys create --sqs`) are AWS-style pairs for SigV4-signed calls (the aws CLI, boto3,
// facepipe's own SQS clients with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): an access key id "AKFP" + 16
// upper-case hex digits and a 40-character secret. SigV4 is an HMAC, so a verifier needs a key derived from
// the secret, not a hash of it; the store keeps only the per-day date keys, HMAC("AWS4" + secret, YYYYMMDD),
// for the days the pair is valid (a year by default), never the secret. A leaked store row signs for its
// day only, and the pair expires with its last date key.
//
// Roles are ordered: read < recognize < admin, each allowed what the ones below it are.
//   read      read results: list faces and subjects, download face images, /metrics, receive from queues
//   recognize also recognise and post frames (function URL, /clips, recognize/detect/verify endpoints)
//   admin     also manage people (add/delete faces and subjects) and queues
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace facepipe::auth {

enum class Role { kRead = 0, kRecognize = 1, kAdmin = 2 };

const char* role_name(Role role);
// "read", "recognize", "admin"; Error(kInvalidInput) naming the choices otherwise.
Role parse_role(const std::string& name);
inline bool allows(Role held, Role needed) { return static_cast<int>(held) >= static_cast<int>(needed); }

struct KeyInfo {
  std::string id;
  std::string name;
  Role role = Role::kRead;
  int64_t created = 0;  // Unix seconds
  bool revoked = false;
  bool sqs = false;     // an SQS access key pair (SigV4), not an API key
  int64_t expires = 0;  // Unix seconds; 0 = never (API keys)
};

struct NewKey {
  KeyInfo info;
  std::string key;  // the whole key, to show once
};

struct NewAccessKey {
  KeyInfo info;                                  // info.id is the access key id
  std::string access_key_id, secret_access_key;  // the secret, to show once
};

// What verifying one SigV4 request needs: who the pair belongs to and its date key for the request's day.
struct DateKey {
  KeyInfo info;
  std::string date_key;
};

class KeyStore {
 public:
  // Opens (creating if needed) the key store at `path`; its folder must exist.
  static std::unique_ptr<KeyStore> open(const std::filesystem::path& path);
  virtual ~KeyStore() = default;
  virtual NewKey create(const std::string& name, Role role) = 0;
  virtual std::vector<KeyInfo> list() const = 0;
  // Revokes by id (or by the whole key); false when no such key.
  virtual bool revoke(const std::string& id_or_key) = 0;
  // The key's info when `key` is a live key of this store, else nullopt (unknown, malformed, revoked).
  virtual std::optional<KeyInfo> verify(const std::string& key) const = 0;
  // Whether any key is not revoked (then callers must present one).
  virtual bool has_active_keys() const = 0;
  // An SQS access key pair valid from yesterday (clock skew) for `valid_days` days (1..3650).
  virtual NewAccessKey create_access_key(const std::string& name, Role role, int valid_days = 365) = 0;
  // The pair's date key for `yyyymmdd` when `access_key_id` is live and valid that day, else nullopt.
  virtual std::optional<DateKey> date_key(const std::string& access_key_id,
                                          const std::string& yyyymmdd) const = 0;
};

// The file serve and `facepipe keys` use inside a data directory.
std::filesystem::path key_store_path(const std::filesystem::path& data_dir);

}  // namespace facepipe::auth
