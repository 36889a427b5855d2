// Who may call what: the role each route needs and the check the transport's auth hook runs before any
// route (it sees method, path, headers and query, not yet the body).
//
// Open or closed:
// - with no live key in the store, everything is open, as before keys existed; `serve` allows that only on
//   a loopback address (see check_listen_policy);
// - once a key exists, every call but GET /healthz needs one, in `x-api-key` (CompreFace's header) or
//   `Authorization: Bearer <key>`;
// - `--allow-anonymous function-url` leaves the function URL (POST /, what the course's workload posts
//   to) open anyway; `--allow-anonymous all` leaves everything open.
// - a request signed with SigV4 (the aws CLI, boto3, facepipe's SQS clients) is checked against the SQS
//   access key pairs (auth/sigv4_verify.h) and gets that pair's role; in an open store (no live key) its
//   signature is not checked, as before keys existed.
// Refusals: 401 without a key or with one that is unknown or revoked, 403 with a key whose role is too low.
// Under /api/v1/ the body is CompreFace's {"message", "code"}, elsewhere facepipe's {"error", "message"};
// refusals of SQS calls carry an SQS error code (`sqs_code`) for the transport to answer in SQS's shape.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "auth/keys.h"

namespace facepipe::auth {

enum class Anonymous { kNone, kFunctionUrl, kAll };
// "function-url", "all"; Error(kInvalidInput) otherwise.
Anonymous parse_anonymous(const std::string& value);

struct AccessRequest {
  std::string method;
  std::string path;
  std::function<std::string(const std::string&)> header;  // by name, "" when absent
  std::function<std::string(const std::string&)> param;   // query (or form) parameter, "" when absent
  std::string target;                                     // path?query as sent (SigV4)
  const std::string* body = nullptr;                      // the body (SigV4 signs it); may be null
};

// Whether the request is an SQS call (JSON protocol's X-Amz-Target, or the query protocol's Action).
bool is_sqs_call(const AccessRequest& request);

// The role a request needs; nullopt for public routes (GET /healthz).
std::optional<Role> required_role(const AccessRequest& request);
// Whether the request is the function URL (POST / that is no SQS call).
bool is_function_url(const AccessRequest& request);

struct Refusal {
  int status = 401;
  nlohmann::json body;
  std::string sqs_code;  // for SQS calls: the SQS error code ("InvalidClientTokenId", ...)
  std::string message;
};

class Authorizer {
 public:
  // `keys` may be null: no key store, everything open (loopback only, see check_listen_policy).
  Authorizer(const KeyStore* keys, Anonymous anonymous);
  // nullopt: let the request through.
  std::optional<Refusal> check(const AccessRequest& request) const;

 private:
  const KeyStore* keys_;
  Anonymous anonymous_;
};

// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& host);
// Throws Error(kInvalidInput) with what to do when serving on `host` would leave the service open to the
// network: not loopback, no live key and no --allow-anonymous.
void check_listen_policy(const std::string& host, const KeyStore* keys, std::optional<Anonymous> anonymous);

}  // namespace facepipe::auth
