#include "aws/client.h"

#include <fmt/format.h>

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace facepipe::aws {
namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlHandle {
  CURL* curl = nullptr;
  ~CurlHandle() { reset(); }
  void reset() {
    if (curl) curl_easy_cleanup(curl);
    curl = nullptr;
  }
};

CurlHandle& thread_handle() {
  thread_local CurlHandle handle;
  return handle;
}

// One HTTP exchange. Returns false on a network-level failure (message in `error`). With `keep_alive` the
// thread's handle is reused: curl_easy_reset keeps its live connections, so the next call to the same host
// skips the TCP (and TLS) handshake; libcurl reconnects by itself when the server closed an idle one.
bool perform(const HttpRequest& request, long timeout_seconds, bool keep_alive, HttpResponse& response,
             std::string& error) {
  curl_init_once();
  CurlHandle fresh;
  CurlHandle& handle = keep_alive ? thread_handle() : fresh;
  if (!handle.curl) handle.curl = curl_easy_init();
  CURL* curl = handle.curl;
  if (!curl) {
    error = "cannot create a curl handle";
    return false;
  }
  curl_easy_reset(curl);
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : request.headers)
    headers = curl_slist_append(headers, (k + ": ").append(v).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method != "GET" && request.method != "HEAD") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    error = curl_easy_strerror(rc);
    return false;
  }
  return true;
}

bool throttled(const std::string& body) {
  for (const char* code : {"Throttling", "ThrottlingException", "RequestThrottled", "SlowDown",
                           "ProvisionedThroughputExceededException", "RequestLimitExceeded"})
    if (body.find(code) != std::string::npos) return true;
  return false;
}

std::string default_endpoint(const std::string& service, const std::string& region) {
  if (const char* e = std::getenv("AWS_ENDPOINT_URL"); e && *e) return e;
  return "https://" + service + "." + region + ".amazonaws.com";
}

}  // namespace

void close_idle_connections() { thread_handle().reset(); }

ErrorKind error_kind(const std::string& code, long status) {
  const auto has = [&](const char* part) { return code.find(part) != std::string::npos; };
  if (has("NonExistent") || has("DoesNotExist") || has("NotFound") || has("NoSuch") || status == 404)
    return ErrorKind::kNotFound;
  if (has("AlreadyExists") || has("NameExists")) return ErrorKind::kConflict;
  if (has("AccessDenied") || has("Signature") || has("Token") || has("Throttl") || status == 403 ||
      status == 429 || status >= 500)
    return ErrorKind::kUnavailable;
  return ErrorKind::kInvalidInput;
}

HttpResponse send_signed(const HttpRequest& request, const std::string& service, const ClientConfig& config,
                         const Credentials& credentials, const std::string& region) {
  return send_request(request, service, config, &credentials, region);
}

HttpResponse send_request(const HttpRequest& request, const std::string& service, const ClientConfig& config,
                          const Credentials* credentials, const std::string& region) {
  std::string error;
  for (int attempt = 1;; ++attempt) {
    HttpRequest signed_request = request;
    if (credentials) sign(signed_request, *credentials, region, service);
    HttpResponse response;
    const bool ok = perform(signed_request, config.timeout_seconds, config.keep_alive, response, error);
    const bool retry = !ok || response.status >= 500 || response.status == 429 ||
                       (response.status == 400 && throttled(response.body));
    if (!retry) return response;
    if (attempt >= config.max_attempts) {
      if (!ok)
        throw Error(ErrorKind::kUnavailable, fmt::format("{} at {} unreachable after {} attempts: {}",
                                                         service, request.url, attempt, error));
      return response;
    }
    // Exponential backoff with jitter: 100 ms, 200 ms, 400 ms ... (the SDKs' default shape).
    const int base = 100 << (attempt - 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(base + std::rand() % base));
  }
}

JsonClient::JsonClient(std::string service, std::string target_prefix, ClientConfig config)
    : service_(std::move(service)), prefix_(std::move(target_prefix)), config_(std::move(config)) {
  region_ = config_.region.empty() ? region_from_environment() : config_.region;
  endpoint_ = config_.endpoint.empty() ? default_endpoint(service_, region_) : config_.endpoint;
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  switch (config_.signing) {
    case Signing::kNever:
      break;
    case Signing::kAlways:
      credentials_ = config_.credentials ? *config_.credentials : Credentials::from_environment();
      break;
    case Signing::kAuto:
      if (config_.credentials)
        credentials_ = *config_.credentials;
      else if (const char* id = std::getenv("AWS_ACCESS_KEY_ID"); id && *id)
        credentials_ = Credentials::from_environment();
      break;
  }
}

nlohmann::json JsonClient::call(const std::string& action, const nlohmann::json& body,
                                long extra_timeout_seconds) const {
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint_ + "/";
  request.headers["Content-Type"] = "application/x-amz-json-1.0";
  request.headers["X-Amz-Target"] = prefix_ + "." + action;
  request.body = body.dump();
  ClientConfig config = config_;
  config.timeout_seconds += extra_timeout_seconds;
  const HttpResponse response =
      send_request(request, service_, config, credentials_ ? &*credentials_ : nullptr, region_);
  nlohmann::json answer =
      response.body.empty() ? nlohmann::json::object() : nlohmann::json::parse(response.body, nullptr, false);
  if (response.status / 100 == 2) {
    if (answer.is_discarded())
      throw Error(ErrorKind::kUnavailable, service_ + " " + action + " answered with malformed JSON");
    return answer;
  }
  std::string code = "HTTP " + std::to_string(response.status), message = response.body.substr(0, 300);
  if (answer.is_object()) {
    code = answer.value("__type", answer.value("code", code));
    if (const auto hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
    message = answer.value("message", answer.value("Message", message));
  }
  throw Error(error_kind(code, response.status), service_ + " " + action + ": " + code + ": " + message);
}

S3Client::S3Client(ClientConfig config) : config_(std::move(config)) {
  region_ = config_.region.empty() ? region_from_environment() : config_.region;
  endpoint_ = config_.endpoint.empty() ? default_endpoint("s3", region_) : config_.endpoint;
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  credentials_ = config_.credentials ? *config_.credentials : Credentials::from_environment();
}

std::string S3Client::url(const std::string& bucket, const std::string& key) const {
  return endpoint_ + "/" + uri_encode(bucket, false) + (key.empty() ? "" : "/" + uri_encode(key, true));
}

std::string S3Client::get_object(const std::string& bucket, const std::string& key) const {
  HttpRequest request;
  request.method = "GET";
  request.url = url(bucket, key);
  const HttpResponse r = send_signed(request, "s3", config_, credentials_, region_);
  if (r.status == 404) throw Error(ErrorKind::kNotFound, "s3://" + bucket + "/" + key + " does not exist");
  if (r.status / 100 != 2)
    throw Error(error_kind("", r.status),
                "S3 GetObject s3://" + bucket + "/" + key + ": HTTP " + std::to_string(r.status));
  return r.body;
}

void S3Client::put_object(const std::string& bucket, const std::string& key, const std::string& bytes,
                          const std::string& content_type) const {
  HttpRequest request;
  request.method = "PUT";
  request.url = url(bucket, key);
  request.headers["Content-Type"] = content_type;
  request.body = bytes;
  const HttpResponse r = send_signed(request, "s3", config_, credentials_, region_);
  if (r.status / 100 != 2)
    throw Error(error_kind("", r.status), "S3 PutObject s3://" + bucket + "/" + key + ": HTTP " +
                                              std::to_string(r.status) + " " + r.body.substr(0, 200));
}

void S3Client::create_bucket(const std::string& bucket) const {
  HttpRequest request;
  request.method = "PUT";
  request.url = url(bucket, "");
  const HttpResponse r = send_signed(request, "s3", config_, credentials_, region_);
  if (r.status / 100 != 2 && r.body.find("BucketAlreadyOwnedByYou") == std::string::npos)
    throw Error(error_kind("", r.status), "S3 CreateBucket " + bucket + ": HTTP " + std::to_string(r.status));
}

std::vector<std::string> S3Client::list_keys(const std::string& bucket, const std::string& prefix) const {
  HttpRequest request;
  request.method = "GET";
  request.url = url(bucket, "") + "?list-type=2&prefix=" + uri_encode(prefix, false);
  const HttpResponse r = send_signed(request, "s3", config_, credentials_, region_);
  if (r.status / 100 != 2)
    throw Error(error_kind("", r.status),
                "S3 ListObjectsV2 s3://" + bucket + ": HTTP " + std::to_string(r.status));
  // The answer is small, flat XML: <Contents><Key>...</Key>...; no XML library is worth a dependency here.
  std::vector<std::string> keys;
  for (size_t at = r.body.find("<Key>"); at != std::string::npos; at = r.body.find("<Key>", at)) {
    at += 5;
    const size_t end = r.body.find("</Key>", at);
    if (end == std::string::npos) break;
    std::string key = r.body.substr(at, end - at);
    for (const auto& [entity, text] : {std::pair<std::string, std::string>{"&lt;", "<"},
                                       {"&gt;", ">"},
                                       {"&quot;", "\""},
                                       {"&apos;", "'"},
                                       {"&amp;", "&"}})
      for (size_t p = key.find(entity); p != std::string::npos; p = key.find(entity, p + text.size()))
        key.replace(p, entity.size(), text);
    keys.push_back(std::move(key));
  }
  return keys;
}

nlohmann::json to_attribute_values(const nlohmann::json& plain) {
  std::function<nlohmann::json(const nlohmann::json&)> one = [&](const nlohmann::json& v) -> nlohmann::json {
    if (v.is_string()) return {{"S", v}};
    if (v.is_boolean()) return {{"BOOL", v}};
    if (v.is_null()) return {{"NULL", true}};
    if (v.is_number()) return {{"N", v.dump()}};
    if (v.is_array()) {
      nlohmann::json l = nlohmann::json::array();
      for (const auto& x : v) l.push_back(one(x));
      return {{"L", l}};
    }
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [k, x] : v.items()) m[k] = one(x);
    return {{"M", m}};
  };
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : plain.items()) out[k] = one(v);
  return out;
}

nlohmann::json from_attribute_values(const nlohmann::json& typed) {
  std::function<nlohmann::json(const nlohmann::json&)> one = [&](const nlohmann::json& v) -> nlohmann::json {
    if (v.contains("S")) return v["S"];
    if (v.contains("BOOL")) return v["BOOL"];
    if (v.contains("NULL")) return nullptr;
    if (v.contains("N")) return nlohmann::json::parse(v["N"].get<std::string>());
    if (v.contains("L")) {
      nlohmann::json l = nlohmann::json::array();
      for (const auto& x : v["L"]) l.push_back(one(x));
      return l;
    }
    if (v.contains("M")) return from_attribute_values(v["M"]);
    return nullptr;
  };
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : typed.items()) out[k] = one(v);
  return out;
}

DynamoDbClient::DynamoDbClient(ClientConfig config)
    : client_("dynamodb", "DynamoDB_20120810", std::move(config)) {}

std::optional<nlohmann::json> DynamoDbClient::get_item(const std::string& table,
                                                       const nlohmann::json& key) const {
  const auto answer = client_.call("GetItem", {{"TableName", table}, {"Key", to_attribute_values(key)}});
  if (!answer.contains("Item")) return std::nullopt;
  return from_attribute_values(answer["Item"]);
}

void DynamoDbClient::put_item(const std::string& table, const nlohmann::json& item) const {
  client_.call("PutItem", {{"TableName", table}, {"Item", to_attribute_values(item)}});
}

void DynamoDbClient::create_table(const std::string& table, const std::string& hash_key) const {
  client_.call("CreateTable",
               {{"TableName", table},
                {"AttributeDefinitions", {{{"AttributeName", hash_key}, {"AttributeType", "S"}}}},
                {"KeySchema", {{{"AttributeName", hash_key}, {"KeyType", "HASH"}}}},
                {"BillingMode", "PAY_PER_REQUEST"}});
}

}  // namespace facepipe::aws
