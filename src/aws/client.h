// Small native clients for the AWS APIs facepipe uses: SQS and DynamoDB (JSON protocol), S3 (REST),
// over libcurl with SigV4 signing. Endpoints default to AWS's regional ones and can be overridden
// (--endpoint / AWS_ENDPOINT_URL) for local stand-ins such as moto_server. Throttling and 5xx answers
// are retried with exponential backoff (4 attempts); other AWS errors become facepipe::Error naming the
// AWS error code.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/sigv4.h"
#include "core/error.h"

namespace facepipe::aws {

// Whether requests carry a SigV4 signature.
enum class Signing {
  kAuto,    // sign when `credentials` are given or AWS_ACCESS_KEY_ID is in the environment, else plain
  kAlways,  // sign; Error(kUnavailable) at construction when there are no credentials
  kNever,   // plain requests (facepipe serve's own endpoint, which does not check signatures)
};

struct ClientConfig {
  std::string region;    // empty: region_from_environment()
  std::string endpoint;  // empty: $AWS_ENDPOINT_URL, else https://<service>.<region>.amazonaws.com
  std::optional<Credentials> credentials;  // empty: Credentials::from_environment() (see `signing`)
  Signing signing = Signing::kAuto;
  // Reuse one connection per thread and host (libcurl's connection cache). A fresh connection per call
  // cost more than the call itself against serve on loopback; the workload's polling relies on it.
  bool keep_alive = true;
  int max_attempts = 4;
  long timeout_seconds = 30;  // per request; SQS long polls add their wait
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// Sends a request (signing it), retrying throttling/5xx/network failures. Error(kUnavailable) when every
// attempt fails at the network level.
HttpResponse send_signed(const HttpRequest& request, const std::string& service, const ClientConfig& config,
                         const Credentials& credentials, const std::string& region);
// The same, unsigned when `credentials` is null.
HttpResponse send_request(const HttpRequest& request, const std::string& service, const ClientConfig& config,
                          const Credentials* credentials, const std::string& region);

// A JSON-protocol service (SQS: target prefix "AmazonSQS", DynamoDB: "DynamoDB_20120810"), signed or
// plain as `config.signing` says. Safe to share between threads.
class JsonClient {
 public:
  JsonClient(std::string service, std::string target_prefix, ClientConfig config);
  // POSTs `body` as X-Amz-Target <prefix>.<action>; returns the answer's JSON. Errors throw
  // Error(error_kind(code, status)) with "<service> <action>: <code>: <message>".
  nlohmann::json call(const std::string& action, const nlohmann::json& body,
                      long extra_timeout_seconds = 0) const;
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }
  bool signs() const { return credentials_.has_value(); }

 private:
  std::string service_, prefix_, endpoint_, region_;
  std::optional<Credentials> credentials_;
  ClientConfig config_;
};

// Closes the calling thread's kept-alive connections (ClientConfig::keep_alive), e.g. before stopping a
// server that waits for its idle connections.
void close_idle_connections();

// The contract's error kind for an AWS error code (the JSON `__type` without its namespace, or the query
// protocol's legacy code) and HTTP status: missing things -> kNotFound, "already exists" -> kConflict,
// the caller's mistakes (other 4xx) -> kInvalidInput, refused credentials, throttling and 5xx ->
// kUnavailable.
facepipe::ErrorKind error_kind(const std::string& code, long status);

class S3Client {
 public:
  explicit S3Client(ClientConfig config = {});
  std::string get_object(const std::string& bucket, const std::string& key) const;
  void put_object(const std::string& bucket, const std::string& key, const std::string& bytes,
                  const std::string& content_type = "application/octet-stream") const;
  void create_bucket(const std::string& bucket) const;  // for tests and set-up against stand-ins
  // Keys under `prefix` (ListObjectsV2, up to the first 1000), in S3's order.
  std::vector<std::string> list_keys(const std::string& bucket, const std::string& prefix = "") const;

 private:
  std::string url(const std::string& bucket, const std::string& key) const;
  std::string endpoint_, region_;
  Credentials credentials_;
  ClientConfig config_;
};

// DynamoDB items as plain JSON: strings, numbers, booleans, null, lists and objects map to and from
// DynamoDB's typed attribute values (S, N, BOOL, NULL, L, M).
class DynamoDbClient {
 public:
  explicit DynamoDbClient(ClientConfig config = {});
  std::optional<nlohmann::json> get_item(const std::string& table, const nlohmann::json& key) const;
  void put_item(const std::string& table, const nlohmann::json& item) const;
  // A table with a string hash key (for tests and set-up against stand-ins; CloudFormation makes the real
  // one).
  void create_table(const std::string& table, const std::string& hash_key) const;

 private:
  JsonClient client_;
};

nlohmann::json to_attribute_values(const nlohmann::json& plain);    // an object -> {name: {"S": ...}, ...}
nlohmann::json from_attribute_values(const nlohmann::json& typed);  // the reverse

}  // namespace facepipe::aws
