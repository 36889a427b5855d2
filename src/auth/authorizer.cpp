#include "auth/authorizer.h"

#include <arpa/inet.h>

#include <set>

#include "auth/sigv4_verify.h"
#include "core/error.h"

namespace facepipe::auth {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// SQS actions by the role they need: reading results (and the calls that find a queue) is `read`,
// putting work on a queue `recognize`, everything that changes queues `admin`.
Role sqs_role(const std::string& action) {
  static const std::set<std::string> read = {"ReceiveMessage",
                                             "DeleteMessage",
                                             "DeleteMessageBatch",
                                             "ChangeMessageVisibility",
                                             "ChangeMessageVisibilityBatch",
                                             "GetQueueUrl",
                                             "GetQueueAttributes",
                                             "ListQueues",
                                             "ListQueueTags",
                                             "ListDeadLetterSourceQueues"};
  static const std::set<std::string> recognize = {"SendMessage", "SendMessageBatch"};
  if (read.count(action)) return Role::kRead;
  if (recognize.count(action)) return Role::kRecognize;
  return Role::kAdmin;
}

std::string presented_key(const AccessRequest& r) {
  std::string key = r.header("x-api-key");
  if (!key.empty()) return key;
  const std::string auth = r.header("authorization");
  if (starts_with(auth, "Bearer ")) return auth.substr(7);
  return "";
}

Refusal refuse(const AccessRequest& r, int status, int compreface_code, const std::string& error,
               const std::string& message) {
  Refusal out;
  out.status = status;
  out.message = message;
  // SQS clients read SQS's codes: a missing key is MissingAuthenticationToken, an unknown one
  // InvalidClientTokenId, a role too low AccessDenied, all 403 as SQS answers them.
  if (is_sqs_call(r)) {
    out.status = 403;
    out.sqs_code = status == 403           ? "AccessDenied"
                   : compreface_code == 10 ? "InvalidClientTokenId"
                                           : "MissingAuthenticationToken";
  }
  if (starts_with(r.path, "/api/v1/"))
    out.body = {{"message", message}, {"code", compreface_code}};
  else
    out.body = {{"error", error}, {"message", message}};
  return out;
}

}  // namespace

Anonymous parse_anonymous(const std::string& value) {
  if (value == "function-url") return Anonymous::kFunctionUrl;
  if (value == "all") return Anonymous::kAll;
  throw Error(ErrorKind::kInvalidInput, "--allow-anonymous takes function-url or all, not '" + value + "'");
}

bool is_sqs_call(const AccessRequest& r) {
  return !r.header("x-amz-target").empty() || !r.param("Action").empty();
}

bool is_function_url(const AccessRequest& r) {
  return r.method == "POST" && r.path == "/" && r.header("x-amz-target").empty() && r.param("Action").empty();
}

std::optional<Role> required_role(const AccessRequest& r) {
  if (r.path == "/healthz") return std::nullopt;
  // SQS: the JSON protocol names its action in a header, the query protocol in a parameter (a POSTed form
  // is read after this check, so its action is unknown here: such calls need `recognize`).
  if (const auto target = r.header("x-amz-target"); !target.empty()) {
    const auto dot = target.rfind('.');
    return sqs_role(dot == std::string::npos ? target : target.substr(dot + 1));
  }
  if (const auto action = r.param("Action"); !action.empty()) return sqs_role(action);
  if (r.method == "POST" && (r.path == "/" || r.path == "/clips")) return Role::kRecognize;
  const std::string rec = "/api/v1/recognition/";
  if (r.path == rec + "recognize" || r.path == rec + "embeddings/recognize" ||
      starts_with(r.path, "/api/v1/detection/") || starts_with(r.path, "/api/v1/verification/") ||
      (r.method == "POST" && starts_with(r.path, rec + "faces/") && r.path.size() > 7 &&
       r.path.compare(r.path.size() - 7, 7, "/verify") == 0))
    return Role::kRecognize;
  if (starts_with(r.path, rec) || starts_with(r.path, "/api/v1/people"))
    return r.method == "GET" ? Role::kRead : Role::kAdmin;
  return r.method == "GET" ? Role::kRead : Role::kAdmin;  // /metrics, unknown paths (they answer 404)
}

Authorizer::Authorizer(const KeyStore* keys, Anonymous anonymous) : keys_(keys), anonymous_(anonymous) {}

std::optional<Refusal> Authorizer::check(const AccessRequest& r) const {
  const auto needed = required_role(r);
  if (!needed || anonymous_ == Anonymous::kAll) return std::nullopt;
  if (anonymous_ == Anonymous::kFunctionUrl && is_function_url(r)) return std::nullopt;
  if (!keys_ || !keys_->has_active_keys()) {
    // Open only where check_listen_policy allowed it to be; with --allow-anonymous function-url and no key,
    // the rest stays closed.
    if (anonymous_ == Anonymous::kNone) return std::nullopt;
    return refuse(
        r, 401, 20, "unauthorized",
        "this server has no API keys yet and serves only its function URL anonymously; create a key "
        "with `facepipe keys create --name NAME --role admin` and send it in the x-api-key header");
  }
  if (const SignedRequest signed_request{r.method, r.target, r.header, r.body}; has_sigv4(signed_request)) {
    const auto outcome = verify_sigv4(signed_request, *keys_);
    if (!outcome.key) {
      Refusal out;
      out.status = 403;
      out.sqs_code = outcome.code;
      out.message = outcome.message;
      out.body = {{"error", "forbidden"}, {"message", outcome.message}};
      return out;
    }
    if (!allows(outcome.key->role, *needed))
      return refuse(r, 403, 1, "forbidden",
                    "access key '" + outcome.key->name + "' has role " + role_name(outcome.key->role) + "; " +
                        r.method + " " + r.path + " needs role " + role_name(*needed) + " or above");
    return std::nullopt;
  }
  const std::string key = presented_key(r);
  if (key.empty())
    return refuse(
        r, 401, 20, "unauthorized",
        "Missing header: x-api-key; send an API key made by `facepipe keys create` in the x-api-key "
        "header (or Authorization: Bearer)");
  const auto info = keys_->verify(key);
  if (!info)
    return refuse(r, 401, 10, "unauthorized",
                  "API key not found or revoked; `facepipe keys list` shows the live keys");
  if (!allows(info->role, *needed))
    return refuse(r, 403, 1, "forbidden",
                  std::string("key '") + info->name + "' has role " + role_name(info->role) + "; " +
                      r.method + " " + r.path + " needs role " + role_name(*needed) + " or above");
  return std::nullopt;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

void check_listen_policy(const std::string& host, const KeyStore* keys, std::optional<Anonymous> anonymous) {
  if (is_loopback(host) || anonymous || (keys && keys->has_active_keys())) return;
  throw Error(
      ErrorKind::kInvalidInput,
      "refusing to serve on " + host +
          " without API keys: anyone on the network could read results, post frames and change the "
          "gallery. Create a key first (`facepipe keys create --data-dir DIR --name NAME --role admin`, "
          "with serve's --data-dir), or serve on 127.0.0.1, or accept anonymous callers with "
          "--allow-anonymous function-url (only POST /) or --allow-anonymous all");
}

}  // namespace facepipe::auth
