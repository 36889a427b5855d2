// The queue contract (queue/queue.h) as ONE parameterised suite over every backend: the embedded store
// (`memory:`), `serve`'s SQS endpoint through the one SQS client, plain and SigV4-signed, and moto_server
// (a real stand-in for AWS SQS) through the same client. A behaviour that differs between them is a bug
// in one of them.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <thread>

#include "core/error.h"
#include "queue/queue.h"
#include "queue/sqs_queue.h"
#include "queue/sqs_rules.h"
#include "server/http_server.h"
#include "testutil/moto_server.h"

namespace facepipe::queue {
namespace {

using namespace std::chrono_literals;

// A backend under test: a queue service, and whatever keeps it alive.
struct Backend {
  std::unique_ptr<QueueService> service;
  std::function<void()> stop;
  ~Backend() {
    service.reset();
    aws::close_idle_connections();  // serve's stop() waits for idle keep-alive connections
    if (stop) stop();
  }
};

// `serve`'s endpoint: an in-process HTTP server over its own memory store.
std::unique_ptr<Backend> serve_backend(aws::Signing signing) {
  struct Serve {
    std::unique_ptr<QueueService> store = open_queue_service("memory:");
    service::Metrics metrics;
    std::unique_ptr<server::HttpServer> http;
    std::thread thread;
  };
  auto s = std::make_shared<Serve>();
  server::ServerOptions o;
  o.port = 0;
  o.threads = 8;
  s->http = std::make_unique<server::HttpServer>(o, s->store.get(), s->metrics);
  s->http->bind();
  s->thread = std::thread([s] { s->http->run(); });
  auto b = std::make_unique<Backend>();
  aws::ClientConfig config;
  config.signing = signing;
  if (signing == aws::Signing::kAlways) config.credentials = aws::Credentials{"testing", "testing", ""};
  b->service = make_sqs_queue_service(s->http->base_url(), config);
  b->stop = [s] {
    s->http->stop();
    s->thread.join();
  };
  return b;
}

// One moto_server for the tests of this process (ctest runs each test in its own), stopped at exit: a
// leaked `new` here left one orphaned moto_server (80 MB) behind per moto test of every run.
testing::MotoServer* moto() {
  if (!testing::on_path("moto_server")) return nullptr;
  static testing::MotoServer server(std::filesystem::temp_directory_path() / "fp_queue_contract_moto.log");
  return &server;
}

std::unique_ptr<Backend> open_backend(const std::string& name) {
  if (name == "memory") {
    auto b = std::make_unique<Backend>();
    b->service = open_queue_service("memory:");
    return b;
  }
  if (name == "serve_plain") return serve_backend(aws::Signing::kNever);
  if (name == "serve_signed") return serve_backend(aws::Signing::kAlways);
  if (name == "moto") {
    if (!moto() || !moto()->ok()) return nullptr;
    auto b = std::make_unique<Backend>();
    aws::ClientConfig config;
    config.signing = aws::Signing::kAlways;
    config.credentials = aws::Credentials{"testing", "testing", ""};
    config.region = "us-east-1";
    b->service = make_sqs_queue_service(moto()->url(), config);
    return b;
  }
  return nullptr;
}

QueueConfig quick(int visibility_s = 1, int max_receive = 0, std::string dlq = "") {
  QueueConfig c;
  c.visibility_timeout = std::chrono::seconds(visibility_s);
  c.max_receive_count = max_receive;
  c.dead_letter_queue = std::move(dlq);
  return c;
}

ErrorKind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorKind::kInternal;
}

class QueueContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = open_backend(GetParam());
    if (!backend_) {
      if (GetParam() == "moto" && !testing::on_path("moto_server"))
        GTEST_SKIP() << "moto_server not on PATH: pip install 'moto[server]' to run the contract against it";
      FAIL() << GetParam() << " did not start (moto: see /tmp/fp_queue_contract_moto.log)";
    }
  }
  QueueService& svc() { return *backend_->service; }
  // Queue names unique per test, so one moto_server serves the whole suite.
  std::string name(const std::string& tag) {
    static int counter = 0;
    return "c" + std::to_string(::getpid() % 10000) + "-" + std::to_string(++counter) + "-" + tag;
  }

  std::unique_ptr<Backend> backend_;
};

TEST_P(QueueContract, SendReceiveDelete) {
  auto q = svc().create(name("a"), quick(30));
  auto ids = q->send_batch({"one", "two", "three"});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 3u);
  std::vector<Message> got;
  for (int i = 0; i < 5 && got.size() < 3; ++i)
    for (auto& m : q->receive({.max_messages = 10, .wait = 1s})) got.push_back(m);
  ASSERT_EQ(got.size(), 3u);
  std::set<std::string> bodies;
  for (auto& m : got) {
    bodies.insert(m.body);
    EXPECT_EQ(m.receive_count, 1);
    EXPECT_GT(m.sent_timestamp_ms, 0);
    EXPECT_EQ(m.id, ids[m.body == "one" ? 0 : m.body == "two" ? 1 : 2]);
  }
  EXPECT_EQ(bodies, (std::set<std::string>{"one", "two", "three"}));
  EXPECT_EQ(q->stats().in_flight, 3);
  EXPECT_EQ(q->stats().visible, 0);
  for (auto& m : got) q->remove(m.receipt_handle);
  EXPECT_EQ(q->stats().in_flight, 0);
  EXPECT_TRUE(q->receive({}).empty());
}

TEST_P(QueueContract, InvisibleUntilTimeoutThenRedeliveredWithNewHandle) {
  auto q = svc().create(name("v"), quick(1));
  q->send("x");
  auto first = q->receive({.wait = 1s});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(q->receive({}).empty());
  auto again = q->receive({.wait = 5s});  // long poll wakes when the message reappears
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, first[0].id);
  EXPECT_EQ(again[0].receive_count, 2);
  EXPECT_NE(again[0].receipt_handle, first[0].receipt_handle);
  q->remove(again[0].receipt_handle);
  EXPECT_EQ(q->stats().visible + q->stats().in_flight, 0);
}

TEST_P(QueueContract, ChangeVisibilityZeroReleasesAtOnce) {
  auto q = svc().create(name("cv"), quick(60));
  q->send("x");
  auto m = q->receive({.wait = 1s});
  ASSERT_EQ(m.size(), 1u);
  q->change_visibility(m[0].receipt_handle, 0s);
  EXPECT_EQ(q->receive({.wait = 1s}).size(), 1u);
}

TEST_P(QueueContract, LongPollReturnsWhenAnotherThreadSends) {
  auto q = svc().create(name("lp"), quick(30));
  auto start = std::chrono::steady_clock::now();
  std::thread sender([&] {
    std::this_thread::sleep_for(300ms);
    q->send("late");
  });
  auto got = q->receive({.wait = 10s});
  sender.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(q->receive({.wait = 1s}).empty());  // an empty long poll lasts its wait
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
}

TEST_P(QueueContract, DeadLettersAfterMaxReceives) {
  const auto dlq_name = name("dlq");
  auto dlq = svc().create(dlq_name, quick(30));
  auto q = svc().create(name("dl"), quick(0, 2, dlq_name));
  q->send("poison");
  int received = 0;
  for (int i = 0; i < 4; ++i) received += static_cast<int>(q->receive({}).size());
  EXPECT_EQ(received, 2);  // the third receive moves it instead
  auto dead = dlq->receive({.wait = 2s});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body, "poison");
}

TEST_P(QueueContract, DelayedMessagesAppearAfterTheirDelay) {
  auto q = svc().create(name("d"), quick(30));
  const auto start = std::chrono::steady_clock::now();
  q->send("later", 2s);
  q->send("now");
  auto first = q->receive({.max_messages = 10});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].body, "now");
  std::vector<Message> later;
  while (later.empty() && std::chrono::steady_clock::now() - start < 10s)
    later = q->receive({.max_messages = 10, .wait = 5s});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].body, "later");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms);
}

TEST_P(QueueContract, RefusesWhatSqsRefuses) {
  auto q = svc().create(name("bad"), quick(30));
  for (std::string body : {std::string("\xFF\xFE"), std::string("a\x01z"), std::string(),
                           std::string("\xED\xA0\x80"), std::string(kMaxMessageBytes + 1, 'x')})
    EXPECT_EQ(kind_of([&] { q->send(body); }), ErrorKind::kInvalidInput) << body.size();
  EXPECT_EQ(kind_of([&] { q->send("ok", 901s); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->send("ok", -5s); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->receive({.max_messages = 11}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->receive({.max_messages = 0}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->receive({.visibility = 43201s}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->receive({.visibility = -1s}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { svc().create("bad name!", quick()); }), ErrorKind::kInvalidInput);
  // What SQS accepts is kept byte for byte: tabs, newlines, markup, any plane of Unicode.
  const std::string text = "tab\there\r\n<&> \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  q->send(text);
  auto got = q->receive({.wait = 1s});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, text);
  EXPECT_EQ(q->stats().visible + q->stats().in_flight, 1);  // nothing refused was stored
}

TEST_P(QueueContract, CreateListGetPurgeRemove) {
  const auto p = name("p");
  svc().create(p + "-1", quick());
  auto q = svc().create(p + "-2", quick());
  auto listed = svc().list(p);
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<std::string>{p + "-1", p + "-2"}));
  q->send_batch({"a", "b"});
  q->purge();
  EXPECT_EQ(q->stats().visible, 0);
  EXPECT_NO_THROW(svc().create(p + "-1", quick()));  // idempotent with equal attributes
  EXPECT_EQ(kind_of([&] { svc().create(p + "-1", quick(99)); }), ErrorKind::kConflict);
  EXPECT_EQ(kind_of([&] { svc().get(p + "-missing"); }), ErrorKind::kNotFound);
  EXPECT_EQ(svc().missing({p + "-1", p + "-missing"}), std::vector<std::string>{p + "-missing"});
  svc().remove_queue(p + "-2");
  EXPECT_EQ(kind_of([&] { q->send("x"); }), ErrorKind::kNotFound);
  EXPECT_EQ(svc().missing({p + "-1", p + "-2"}), std::vector<std::string>{p + "-2"});
}

TEST_P(QueueContract, SetConfigKeepsMessages) {
  const auto dlq = name("sdlq");
  svc().create(dlq, quick(30));
  const auto n = name("s");
  auto q = svc().create(n, quick(30));
  q->send("kept");
  svc().set_config(n, quick(45, 3, dlq));
  const auto c = svc().get(n)->config();
  EXPECT_EQ(c.visibility_timeout, 45s);
  EXPECT_EQ(c.max_receive_count, 3);
  EXPECT_EQ(c.dead_letter_queue, dlq);
  EXPECT_NO_THROW(svc().create(n, quick(45, 3, dlq)));  // now equal
  auto got = q->receive({.wait = 1s});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "kept");
  EXPECT_EQ(kind_of([&] { svc().set_config(name("none"), quick()); }), ErrorKind::kNotFound);
}

// Tags carry what a queue's producers promise its consumers (the detector's crop size, service/crop_tag.h).
TEST_P(QueueContract, TagsAddReplaceAndList) {
  const auto n = name("t");
  auto q = svc().create(n, quick());
  EXPECT_TRUE(q->tags().empty());
  q->tag({{"facepipe:crops", "mtcnn-160-0"}, {"team", "door"}});
  q->tag({{"facepipe:crops", "mtcnn-240-0"}});  // replaces that key, keeps the other
  EXPECT_EQ(svc().get(n)->tags(), (QueueTags{{"facepipe:crops", "mtcnn-240-0"}, {"team", "door"}}));
  EXPECT_EQ(kind_of([&] { q->tag({{"", "empty key"}}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->tag({{std::string(129, 'k'), "v"}}); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([&] { q->tag({{"k", std::string(257, 'v')}}); }), ErrorKind::kInvalidInput);
  svc().remove_queue(n);
  EXPECT_EQ(kind_of([&] { q->tags(); }), ErrorKind::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, QueueContract,
                         ::testing::Values("memory", "serve_plain", "serve_signed", "moto"),
                         [](const auto& info) { return info.param; });

TEST(QueueUrl, OneParserForEveryCaller) {
  auto u = parse_queue_url("http://127.0.0.1:8080/000000000000/cam-resp-queue");
  EXPECT_EQ(u.endpoint, "http://127.0.0.1:8080");
  EXPECT_EQ(u.account, "000000000000");
  EXPECT_EQ(u.name, "cam-resp-queue");
  u = parse_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q/");
  EXPECT_EQ(u.endpoint, "https://sqs.eu-west-1.amazonaws.com");
  EXPECT_EQ(u.name, "q");
  for (const char* bad : {"", "cam-resp-queue", "http://host", "http://host/", "http:///a/b", "://x/y"})
    EXPECT_THROW(parse_queue_url(bad), Error) << bad;
}

TEST(SqsRules, MessageTextIsSqsCharacterSet) {
  EXPECT_TRUE(valid_message_text("plain \t\n\r text \xC3\xA9 \xEF\xBF\xBD \xF4\x8F\xBF\xBF"));
  for (std::string bad : {std::string("\xFF\xFE"), std::string("\x00", 1), std::string("\x1F"),
                          std::string("\xC0\xAF"),          // overlong '/'
                          std::string("\xED\xB0\x80"),      // a surrogate
                          std::string("\xEF\xBF\xBE"),      // U+FFFE
                          std::string("\xF4\x90\x80\x80"),  // beyond U+10FFFF
                          std::string("\xE2\x82")})         // truncated
    EXPECT_FALSE(valid_message_text(bad)) << bad.size();
  EXPECT_EQ(sanitize_message_text("a\xFF\xFE"
                                  "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitize_message_text("ok"), "ok");
  EXPECT_TRUE(valid_message_text(sanitize_message_text(std::string("\x01\xC0\xAF\xED\xB0\x80", 6))));
}

}  // namespace
}  // namespace facepipe::queue
