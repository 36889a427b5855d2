#include "events/webhook_sink.h"

#include <curl/curl.h>
#include <openssl/hmac.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::events {
namespace {

using json = nlohmann::json;

const char* const kUrlForm =
    "webhook+http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH[?QUERY][#retries=N&timeout=S&backoff_ms=MS&"
    "backoff_max=S]";

[[noreturn]] void bad_url(const std::string& url, const std::string& why) {
  throw Error(ErrorKind::kInvalidInput,
              "bad webhook URL '" + redact_url(url) + "': " + why + "; use " + kUrlForm);
}

int parse_int(const std::string& url, const std::string& key, const std::string& value, int lo, int hi) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < lo || v > hi)
    bad_url(url, fmt::format("{}={} is not a number from {} to {}", key, value, lo, hi));
  return v;
}

std::once_flag curl_once;

std::string hmac_sha256_hex(const std::string& key, const std::string& body) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", out[i]);
  return hex;
}

}  // namespace

WebhookConfig parse_webhook_url(const std::string& url) {
  WebhookConfig c;
  if (url.rfind("webhook+http://", 0) != 0 && url.rfind("webhook+https://", 0) != 0)
    bad_url(url, "it does not start with webhook+http:// or webhook+https://");
  if (url.size() > 4096) bad_url(url, "it is longer than 4096 characters");
  std::string rest = url.substr(8), fragment;
  if (auto hash = rest.find('#'); hash != std::string::npos) {
    fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  for (unsigned char ch : rest)
    if (ch <= 0x20 || ch >= 0x7f)
      bad_url(url, "it has a space, a control or a non-ASCII character (percent-encode it)");
  if (rest[rest.find("://") + 3] == '/') bad_url(url, "it names no host");
  // libcurl's own parser decides what libcurl will connect to.
  CURLU* u = curl_url();
  const CURLUcode rc = curl_url_set(u, CURLUPART_URL, rest.c_str(), 0);
  char* host = nullptr;
  const bool has_host =
      rc == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host;
  curl_free(host);
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) bad_url(url, curl_url_strerror(rc));
  if (!has_host) bad_url(url, "it names no host");
  c.url = rest;
  size_t start = 0;
  while (start < fragment.size()) {
    auto end = fragment.find('&', start);
    if (end == std::string::npos) end = fragment.size();
    const std::string pair = fragment.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key = pair.substr(0, eq), value = eq == std::string::npos ? "" : pair.substr(eq + 1);
    if (key == "retries")
      c.retries = parse_int(url, key, value, 0, 20);
    else if (key == "timeout")
      c.timeout = std::chrono::seconds(parse_int(url, key, value, 1, 300));
    else if (key == "backoff_ms")
      c.backoff = std::chrono::milliseconds(parse_int(url, key, value, 10, 60000));
    else if (key == "backoff_max")
      c.backoff_max = std::chrono::seconds(parse_int(url, key, value, 1, 3600));
    else
      bad_url(url, "unknown option '" + key + "' after '#'");
  }
  if (c.backoff_max < c.backoff) c.backoff_max = c.backoff;
  if (const char* s = std::getenv("FACEPIPE_WEBHOOK_SECRET")) c.secret = s;
  return c;
}

struct WebhookSink::Impl {
  WebhookConfig config;
  std::string shown_url;  // password redacted
  std::mutex publish_mu;  // one delivery at a time: the handle is reused (keep-alive)
  CURL* curl = nullptr;
  std::atomic<bool> interrupted{false};
  std::mutex sleep_mu;
  std::condition_variable sleep_cv;
  std::mt19937 jitter{std::random_device{}()};
  uint64_t sequence = 0;

  struct Answer {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;  // the first 2 KB
    long retry_after_s = -1;
    std::string curl_error;
  };

  static size_t keep_some(char* data, size_t size, size_t n, void* out) {
    auto* body = static_cast<std::string*>(out);
    if (body->size() < 2048) body->append(data, std::min(size * n, 2048 - body->size()));
    return size * n;
  }
  static int progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Impl*>(self)->interrupted ? 1 : 0;  // non-zero aborts the transfer
  }

  Answer post(const std::string& body, const std::string& type, const std::string& key) {
    Answer a;
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, config.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(config.timeout.count(), 5000)));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::keep_some);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Impl::progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "facepipe-webhook");
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    headers = curl_slist_append(headers, ("X-Facepipe-Event: " + type).c_str());
    headers = curl_slist_append(headers, ("Idempotency-Key: " + key).c_str());
    if (!config.secret.empty())
      headers = curl_slist_append(
          headers, ("X-Facepipe-Signature: sha256=" + hmac_sha256_hex(config.secret, body)).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    a.code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (a.code == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
      curl_off_t retry_after = 0;
      if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
        a.retry_after_s = static_cast<long>(retry_after);
    } else {
      a.curl_error = *error ? error : curl_easy_strerror(a.code);
    }
    return a;
  }

  // Sleeps up to `d`; false when interrupted.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(sleep_mu);
    return !sleep_cv.wait_for(lock, d, [&] { return interrupted.load(); });
  }
};

WebhookSink::WebhookSink(WebhookConfig config) : impl_(std::make_unique<Impl>()) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->config = std::move(config);
  impl_->shown_url = redact_url(impl_->config.url);
  impl_->curl = curl_easy_init();
  if (!impl_->curl) throw Error(ErrorKind::kInternal, "webhook: cannot create a libcurl handle");
}

WebhookSink::~WebhookSink() { curl_easy_cleanup(impl_->curl); }

void WebhookSink::interrupt() {
  {
    std::lock_guard lock(impl_->sleep_mu);
    impl_->interrupted = true;
  }
  impl_->sleep_cv.notify_all();
}

void WebhookSink::publish(const json& event) {
  Impl& s = *impl_;
  std::lock_guard lock(s.publish_mu);
  const std::string body = event.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string type = event.is_object() ? event.value("type", "event") : "event";
  for (char& c : type)  // a header value: printable ASCII only
    if (c < 0x20 || c > 0x7e) c = '_';
  // Stable across this event's retries, unique across events and restarts.
  const std::string key =
      fmt::format("{:x}-{}", std::chrono::system_clock::now().time_since_epoch().count(), ++s.sequence);
  auto wait = s.config.backoff;
  std::string last;
  for (int attempt = 0; attempt <= s.config.retries; ++attempt) {
    if (s.interrupted) throw Error(ErrorKind::kUnavailable, "webhook " + s.shown_url + ": stopped");
    const Impl::Answer a = s.post(body, type.substr(0, 64), key);
    if (a.code == CURLE_OK && a.status >= 200 && a.status < 300) return;
    const bool retryable =
        a.code != CURLE_OK || a.status == 408 || a.status == 425 || a.status == 429 || a.status >= 500;
    last = a.code != CURLE_OK
               ? a.curl_error
               : fmt::format("HTTP {}{}", a.status, a.body.empty() ? "" : ": " + a.body.substr(0, 200));
    if (!retryable)
      throw Error(
          ErrorKind::kInvalidInput,
          fmt::format("webhook {} refused the event ({}); check the URL and the receiver", s.shown_url,
                      a.status >= 300 && a.status < 400 ? last + " (redirects are not followed)" : last));
    if (attempt == s.config.retries) break;
    auto pause = wait;
    if (a.retry_after_s > 0)
      pause =
          std::min<std::chrono::milliseconds>(std::chrono::seconds(a.retry_after_s), s.config.backoff_max);
    // ±20% jitter, so that many cameras' retries do not arrive together.
    pause = std::chrono::milliseconds(
        static_cast<int64_t>(pause.count() * std::uniform_real_distribution<double>(0.8, 1.2)(s.jitter)));
    if (!s.pause(pause)) break;
    wait = std::min(wait * 2, s.config.backoff_max);
  }
  throw Error(ErrorKind::kUnavailable, fmt::format("webhook {} failed after {} attempts: {}", s.shown_url,
                                                   s.config.retries + 1, last));
}

}  // namespace facepipe::events
