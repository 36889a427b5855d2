// The webhook sink against a real HTTP receiver on loopback (cpp-httplib's server in this process, libcurl
// on the sending side): every event POSTed as JSON with its headers; 5xx answered N times then retried
// with growing pauses; 4xx not retried; a receiver that is absent or too slow gives a clear error; a slow
// receiver behind a FanOut never holds up the camera; a signature when a secret is set; bad URLs refused.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/hmac.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "events/fanout.h"
#include "events/sink.h"
#include "events/webhook_sink.h"
#include "testutil/moto_server.h"  // free_port

namespace facepipe::events {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A receiver that answers `fail_status` to the first `fail_first` requests, sleeps `delay` before each
// answer, and keeps what it received.
class Receiver {
 public:
  struct Hit {
    std::string path, query_token, body, type, key, signature, content_type;
    Clock::time_point at;
  };
  std::atomic<int> fail_first{0};
  std::atomic<int> fail_status{503};
  std::atomic<int> delay_ms{0};
  std::atomic<int> retry_after_s{0};

  Receiver() {
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        hits_.push_back({req.path, req.get_param_value("token"), req.body,
                         req.get_header_value("X-Facepipe-Event"), req.get_header_value("Idempotency-Key"),
                         req.get_header_value("X-Facepipe-Signature"), req.get_header_value("Content-Type"),
                         Clock::now()});
      }
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      if (fail_first.fetch_sub(1) > 0) {
        res.status = fail_status;
        if (retry_after_s > 0) res.set_header("Retry-After", std::to_string(retry_after_s.load()));
        res.set_content("receiver says no", "text/plain");
        return;
      }
      res.status = 200;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& fragment = "") const {
    return "webhook+http://127.0.0.1:" + std::to_string(port_) + "/hooks/facepipe?token=abc" + fragment;
  }
  std::vector<Hit> hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Hit> hits_;
};

json event(int i, const std::string& type = "face.entered") {
  return {{"type", type},
          {"camera", "door"},
          {"track_id", "door-" + std::to_string(i)},
          {"name", "Mr_Bean"},
          {"known", true},
          {"distance", 0.41},
          {"record", nullptr},
          {"time", "2026-12-02T01:02:03.456Z"}};
}

TEST(WebhookSink, PostsEachEventAsJsonWithItsHeaders) {
  Receiver r;
  auto sink = open_event_sink(r.url());
  for (int i = 0; i < 20; ++i) sink->publish(event(i, i % 2 ? "face.left" : "face.entered"));
  const auto hits = r.hits();
  ASSERT_EQ(hits.size(), 20u);
  std::set<std::string> keys;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(json::parse(hits[i].body), event(i, i % 2 ? "face.left" : "face.entered"));
    EXPECT_EQ(hits[i].path, "/hooks/facepipe");
    EXPECT_EQ(hits[i].query_token, "abc");  // the receiver's query goes as is
    EXPECT_EQ(hits[i].content_type, "application/json");
    EXPECT_EQ(hits[i].type, i % 2 ? "face.left" : "face.entered");
    EXPECT_EQ(hits[i].signature, "");  // no secret set
    keys.insert(hits[i].key);
  }
  EXPECT_EQ(keys.size(), 20u) << "each event has its own Idempotency-Key";
}

TEST(WebhookSink, RetriesFailuresWithGrowingPausesUntilTheReceiverRecovers) {
  Receiver r;
  r.fail_first = 3;
  WebhookSink sink(parse_webhook_url(r.url("#backoff_ms=100&retries=5")));
  sink.publish(event(1));
  const auto hits = r.hits();
  ASSERT_EQ(hits.size(), 4u);  // 3 answered 503, the 4th 200
  for (const auto& h : hits) EXPECT_EQ(h.key, hits[0].key) << "a retry is the same event";
  std::vector<double> gaps;
  for (size_t i = 1; i < hits.size(); ++i)
    gaps.push_back(std::chrono::duration<double, std::milli>(hits[i].at - hits[i - 1].at).count());
  // 100, 200, 400 ms with ±20% jitter.
  EXPECT_GE(gaps[0], 75);
  EXPECT_GE(gaps[1], 155);
  EXPECT_GE(gaps[2], 315);
  EXPECT_GT(gaps[2], gaps[0]);
}

TEST(WebhookSink, GivesUpAfterItsRetriesAndDoesNotRetryAClientError) {
  Receiver r;
  r.fail_first = 1000;
  r.fail_status = 500;
  WebhookSink sink(parse_webhook_url(r.url("#backoff_ms=10&retries=2")));
  try {
    sink.publish(event(1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("3 attempts"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HTTP 500"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.hits().size(), 3u);
  r.fail_status = 404;
  try {
    sink.publish(event(2));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.hits().size(), 4u) << "a 404 was retried";
}

TEST(WebhookSink, HonoursRetryAfterUpToItsCap) {
  Receiver r;
  r.fail_first = 1;
  r.fail_status = 429;
  r.retry_after_s = 1;
  WebhookSink sink(parse_webhook_url(r.url("#backoff_ms=10&backoff_max=1")));
  sink.publish(event(1));
  const auto hits = r.hits();
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_GE(hits[1].at - hits[0].at, 750ms);
}

TEST(WebhookSink, AnAbsentOrSlowReceiverGivesAClearErrorInBoundedTime) {
  const int port = testing::free_port();
  WebhookSink absent(parse_webhook_url("webhook+http://u:hunter2@127.0.0.1:" + std::to_string(port) +
                                       "/x#retries=1&backoff_ms=10"));
  try {
    absent.publish(event(1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    const std::string m = e.what();
    EXPECT_NE(m.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    EXPECT_NE(m.find("onnect"), std::string::npos) << m;  // "Failed to connect ... Connection refused"
  }
  Receiver slow;
  slow.delay_ms = 1500;
  WebhookSink sink(parse_webhook_url(slow.url("#timeout=1&retries=0")));
  const auto start = Clock::now();
  try {
    sink.publish(event(1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  EXPECT_LT(Clock::now() - start, 2500ms);
}

TEST(WebhookSink, ASlowReceiverBehindAFanOutNeverHoldsUpTheCameraOrTheOtherSinks) {
  Receiver slow;
  slow.delay_ms = 1000;
  const auto file =
      std::filesystem::temp_directory_path() / ("fp_webhook_" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(file);
  const auto start = Clock::now();
  {
    FanOutOptions o;
    o.queue_capacity = 8;
    o.drain = 100ms;
    FanOut fan(o);
    fan.add(slow.url("#timeout=5"));
    fan.add("file:" + file.string());
    for (int i = 0; i < 100; ++i) {
      fan.publish(event(i));
      std::this_thread::sleep_for(2ms);  // a camera's pace, faster than the receiver
    }
    EXPECT_LT(Clock::now() - start, 1500ms) << "publishing waited for the slow receiver";
    ASSERT_TRUE([&] {
      for (int i = 0; i < 200; ++i) {
        if (fan.stats()[1].delivered == 100) return true;
        std::this_thread::sleep_for(10ms);
      }
      return false;
    }()) << "the file sink was held up";
    const auto s = fan.stats()[0];
    EXPECT_LE(s.queued, 8u);
    EXPECT_GT(s.dropped, 80u);
  }
  // The destructor interrupted the POST in progress instead of waiting for its answer.
  EXPECT_LT(Clock::now() - start, 4s);
  std::ifstream in(file);
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 100);
  std::filesystem::remove(file);
}

TEST(WebhookSink, SignsTheBodyWhenASecretIsSet) {
  Receiver r;
  ::setenv("FACEPIPE_WEBHOOK_SECRET", "s3cret", 1);
  WebhookSink sink(parse_webhook_url(r.url()));
  ::unsetenv("FACEPIPE_WEBHOOK_SECRET");
  sink.publish(event(7));
  const auto hit = r.hits().at(0);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "s3cret", 6, reinterpret_cast<const unsigned char*>(hit.body.data()), hit.body.size(),
       mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", mac[i]);
  EXPECT_EQ(hit.signature, "sha256=" + hex);
}

TEST(WebhookSink, BadUrlsAreRefusedNamingTheValidForm) {
  for (const std::string& bad : std::vector<std::string>{
           "webhook+ftp://h/x", "webhook+http://", "webhook+http:///x", "webhook+http://h/x#retries=99",
           "webhook+http://h/x#colour=red", "webhook+http://h o/x", "webhook+http://h:99999/x",
           "webhook+http://h/x#timeout=0", "webhook+http://h/\xc3\xa9",
           "webhook+https://" + std::string(5000, 'h')}) {
    try {
      parse_webhook_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << bad;
      EXPECT_NE(std::string(e.what()).find("webhook+http(s)://"), std::string::npos) << e.what();
    }
  }
  const auto c = parse_webhook_url("webhook+https://u:p@h.example:8443/a/b?x=1#retries=0&timeout=3");
  EXPECT_EQ(c.url, "https://u:p@h.example:8443/a/b?x=1");
  EXPECT_EQ(c.retries, 0);
  EXPECT_EQ(c.timeout, 3s);
  // Plain http(s):// stays the SQS queue sink, never a webhook.
  try {
    open_event_sink("gopher://h");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("webhook+http(s)://"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mqtt://"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace facepipe::events
