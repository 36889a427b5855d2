// The HTTP transport under hostile clients, on loopback with real sockets: slow bodies, idle and
// header-dripping connections, oversized and ambiguous framing, cross-site state changes, Host spoofing and
// ports already in use. Attackers connect from 127.0.0.2 (Linux routes all of 127/8 to loopback) so the
// per-client connection limit applies to them and not to the well-behaved probe from 127.0.0.1. Each attack
// prints the probe's latency while it runs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "queue/queue.h"
#include "server/http_server.h"
#include "testutil/testutil.h"

namespace facepipe::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Tight budgets so the tests see the server act within seconds.
ServerOptions test_options() {
  ServerOptions o;
  o.port = 0;
  o.threads = 4;
  o.max_body_bytes = 6 * 1024 * 1024;
  o.header_timeout = 2s;
  o.body_grace = 2s;
  o.min_body_rate = 100 * 1000;
  o.max_connections_per_client = 64;
  return o;
}

struct Running {
  std::unique_ptr<queue::QueueService> queues = queue::open_queue_service("memory:");
  service::Metrics metrics;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  explicit Running(ServerOptions o = test_options()) {
    server = std::make_unique<HttpServer>(o, queues.get(), metrics);
    server->set_function([](const std::string& body, bool) {
      return json{{"ok", true}, {"bytes", body.size()}};
    });
    server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Running() {
    server->stop();
    thread.join();
  }
  int port() const { return server->port(); }
};

// A raw TCP connection from `source` (an address on loopback) to 127.0.0.1:port.
struct Conn {
  int fd = -1;
  Conn(int port, const char* source = "127.0.0.2") {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  Conn(const Conn&) = delete;
  bool send(const std::string& s) const {
    return fd >= 0 && ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size());
  }
  // Everything the server sends until it closes or `limit` passes.
  std::string read_all(std::chrono::milliseconds limit) const {
    std::string out;
    auto end = Clock::now() + limit;
    while (fd >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // True when the server has closed the connection (EOF or reset) within `limit`.
  bool closed_within(std::chrono::milliseconds limit) const {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
      }
    }
    return false;
  }
};

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::atoi(response.c_str() + 9);
}

// A well-behaved client: a new connection, a function-URL POST. Returns the latency in ms, or -1 when it
// did not get a 200 within 5 s.
double probe(int port) {
  auto t = Clock::now();
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);
  auto res = c.Post("/", R"({"request_id":"probe"})", "application/json");
  if (!res || res->status != 200) return -1;
  return ms_since(t);
}

// Probes `n` times while an attack runs; returns the worst latency (-1 if any failed).
double worst_probe(int port, int n, const char* attack) {
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    double ms = probe(port);
    if (ms < 0) {
      std::printf("[attack] %s: probe %d failed (no answer within 5 s)\n", attack, i);
      return -1;
    }
    worst = std::max(worst, ms);
    std::this_thread::sleep_for(300ms);
  }
  std::printf("[attack] %s: worst probe latency %.1f ms over %d probes\n", attack, worst, n);
  return worst;
}

TEST(Transport, SlowBodyDripDoesNotStarveOthers) {
  Running r;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 40; ++i) {
    conns.push_back(std::make_unique<Conn>(r.port()));
    conns.back()->send(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{");
  }
  std::atomic<bool> done{false};
  std::thread drip([&] {
    while (!done) {
      for (auto& c : conns) c->send(" ");
      for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(500ms);
  double worst = worst_probe(r.port(), 5, "40 slow bodies (1 B / 5 s)");
  done = true;
  drip.join();
  EXPECT_GE(worst, 0);
  EXPECT_LT(worst, 1000);
}

TEST(Transport, BodyBelowMinimumRateIsDropped) {
  Running r;  // grace 2 s + 100000 B at 100 kB/s: the body must be in by ~3 s
  Conn c(r.port());
  c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
  auto t = Clock::now();
  EXPECT_TRUE(c.closed_within(8s));
  EXPECT_LT(ms_since(t), 6000);
}

TEST(Transport, IdleConnectionsDoNotStarveOthers) {
  Running r;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 200; ++i) conns.push_back(std::make_unique<Conn>(r.port()));
  std::this_thread::sleep_for(300ms);
  double worst = worst_probe(r.port(), 5, "200 idle connections");
  EXPECT_GE(worst, 0);
  EXPECT_LT(worst, 1000);
  // The server drops them once the header deadline (2 s) passes.
  EXPECT_TRUE(conns.front()->closed_within(5s));
}

TEST(Transport, HeaderDripDoesNotStarveOthers) {
  Running r;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 200; ++i) {
    conns.push_back(std::make_unique<Conn>(r.port()));
    conns.back()->send("GET /healthz HTTP/1.1\r\n");
  }
  std::atomic<bool> done{false};
  std::thread drip([&] {
    int n = 0;
    while (!done) {
      for (auto& c : conns) c->send("X-Drip-" + std::to_string(n) + ": a\r\n");
      ++n;
      for (int i = 0; i < 5 && !done; ++i) std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  double worst = worst_probe(r.port(), 5, "200 header drips (a line / 0.5 s)");
  // The header deadline (2 s) closes a dripping connection, however steadily it drips.
  EXPECT_TRUE(conns.front()->closed_within(5s));
  done = true;
  drip.join();
  EXPECT_GE(worst, 0);
  EXPECT_LT(worst, 1000);
}

TEST(Transport, OversizedContentLengthRefusedBeforeTheBody) {
  Running r;
  Conn c(r.port(), "127.0.0.1");
  auto t = Clock::now();
  c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n");
  auto answer = c.read_all(3s);
  double ms = ms_since(t);
  std::printf("[attack] Content-Length 100 MB: answered %d after %.1f ms\n", status_of(answer), ms);
  EXPECT_EQ(status_of(answer), 413) << answer;
  EXPECT_NE(answer.find("\"too_large\""), std::string::npos) << answer;
  EXPECT_LT(ms, 1000);
}

TEST(Transport, DuplicateContentLengthRefused) {
  Running r;
  for (const char* lengths :
       {"Content-Length: 2\r\nContent-Length: 20\r\n", "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n"}) {
    Conn c(r.port(), "127.0.0.1");
    c.send(std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n") + lengths +
           "\r\n{}                  ");
    auto answer = c.read_all(3s);
    EXPECT_EQ(status_of(answer), 400) << lengths << answer;
  }
  EXPECT_GE(probe(r.port()), 0);
}

TEST(Transport, ConnectionsPerClientAreLimited) {
  Running r;  // 64 per client address
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 64; ++i) conns.push_back(std::make_unique<Conn>(r.port()));
  std::this_thread::sleep_for(200ms);
  Conn extra(r.port());
  auto answer = extra.read_all(2s);
  EXPECT_EQ(status_of(answer), 429) << answer;
  EXPECT_NE(answer.find("Retry-After"), std::string::npos) << answer;
  EXPECT_GE(probe(r.port()), 0);  // another address is not affected
}

TEST(Transport, StateChangesOverGetAreRefused) {
  Running r;
  httplib::Client c("127.0.0.1", r.port());
  auto created = c.Post("/", httplib::Params{{"Action", "CreateQueue"}, {"QueueName", "g"}});
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 200);
  const std::string url = r.server->base_url() + "/000000000000/g";
  ASSERT_EQ(
      c.Post("/", httplib::Params{{"Action", "SendMessage"}, {"QueueUrl", url}, {"MessageBody", "keep"}})
          ->status,
      200);
  for (const char* action : {"PurgeQueue", "DeleteQueue", "SendMessage", "ReceiveMessage", "CreateQueue"}) {
    auto res = c.Get(
        ("/?Action=" + std::string(action) + "&QueueUrl=" + url + "&QueueName=g2&MessageBody=x").c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << action;
    EXPECT_NE(res->body.find("<ErrorResponse"), std::string::npos) << res->body;
    EXPECT_NE(res->body.find("POST"), std::string::npos) << res->body;
  }
  // Read-only actions still answer over GET; the message is still there.
  auto attrs = c.Get(("/?Action=GetQueueAttributes&AttributeName.1=All&QueueUrl=" + url).c_str());
  ASSERT_EQ(attrs->status, 200) << attrs->body;
  EXPECT_NE(attrs->body.find("<Name>ApproximateNumberOfMessages</Name><Value>1</Value>"), std::string::npos)
      << attrs->body;
  // A browser's cross-site form post carries Origin: refused too.
  auto cross = c.Post("/", httplib::Headers{{"Origin", "http://evil.example"}},
                      "Action=PurgeQueue&QueueUrl=" + url, "application/x-www-form-urlencoded");
  EXPECT_EQ(cross->status, 403) << cross->body;
  attrs = c.Get(("/?Action=GetQueueAttributes&AttributeName.1=All&QueueUrl=" + url).c_str());
  EXPECT_NE(attrs->body.find("<Name>ApproximateNumberOfMessages</Name><Value>1</Value>"), std::string::npos);
}

TEST(Transport, FunctionUrlAcceptsOnlyJson) {
  Running r;
  httplib::Client c("127.0.0.1", r.port());
  for (const char* type :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    auto res = c.Post("/", R"({"request_id":"x"})", type);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 415) << type;
    auto body = json::parse(res->body, nullptr, false);
    EXPECT_EQ(body.value("error", ""), "unsupported_media_type") << res->body;
  }
  auto ok = c.Post("/", R"({"request_id":"x"})", "application/json; charset=utf-8");
  EXPECT_EQ(ok->status, 200);
}

TEST(Transport, HostHeaderNeverNamesQueues) {
  {
    Running r;
    httplib::Client c("127.0.0.1", r.port());
    auto res = c.Post("/", httplib::Headers{{"Host", "attacker.example"}}, "Action=CreateQueue&QueueName=h",
                      "application/x-www-form-urlencoded");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body.find("attacker"), std::string::npos) << res->body;
    EXPECT_NE(res->body.find("<QueueUrl>" + r.server->base_url() + "/000000000000/h</QueueUrl>"),
              std::string::npos)
        << res->body;
  }
  auto o = test_options();
  o.public_url = "https://queues.example.org";
  Running r(o);
  httplib::Client c("127.0.0.1", r.port());
  auto res =
      c.Post("/", httplib::Headers{{"Host", "attacker.example"}, {"X-Amz-Target", "AmazonSQS.CreateQueue"}},
             R"({"QueueName":"h"})", "application/x-amz-json-1.0");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["QueueUrl"], "https://queues.example.org/000000000000/h") << res->body;
}

TEST(Transport, PortInUseIsRefused) {
  Running first;
  auto o = test_options();
  o.port = first.port();
  service::Metrics metrics;
  HttpServer second(o, nullptr, metrics);
  try {
    second.bind();
    FAIL() << "a second server bound port " << o.port;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  EXPECT_GE(probe(first.port()), 0);
}

// A free port, held by a plain listening socket (another program) until the holder is destroyed.
struct PortHolder {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  PortHolder() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~PortHolder() { ::close(fd); }
};

TEST(Transport, ServeRefusesAPortInUse) {
  const auto bin = facepipe::testing::facepipe_binary().string();
  const auto dir = std::filesystem::temp_directory_path() / ("fp_transport_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    PortHolder held;  // another program
    auto r = facepipe::testing::run_command(bin + " serve --queues-only --data-dir " + dir.string() +
                                                " --port " + std::to_string(held.port) + " 2>&1",
                                            true);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.exit_code, 134) << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("in use"), std::string::npos) << r.output;
  }
  {
    Running first;  // another facepipe on the port
    auto r = facepipe::testing::run_command(bin + " serve --queues-only --data-dir " + dir.string() +
                                                " --port " + std::to_string(first.port()) + " 2>&1",
                                            true);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("in use"), std::string::npos) << r.output;
  }
  auto r = facepipe::testing::run_command(
      bin + " serve --queues-only --data-dir " + dir.string() + " --port 80800 2>&1", true);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("65535"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

// A streamed answer (StreamBody, what GET /api/v1/events uses): chunks as they come, heartbeats when
// idle, and a client that stops reading is cut off by the write deadline instead of holding the body.
class CountingStream : public StreamBody {
 public:
  explicit CountingStream(size_t chunk) : chunk_(chunk) {}
  void start(std::function<void()> wake) override {
    wake_ = wake;
    started = true;
    wake();
  }
  std::string pull(bool& done) override {
    done = false;
    if (flood) return std::string(chunk_, 'x');
    std::lock_guard lock(mu);
    std::string out;
    out.swap(pending);
    return out;
  }
  std::string heartbeat() override { return ": ping\n\n"; }
  void finish() override { finished = true; }
  void push(const std::string& s) {
    {
      std::lock_guard lock(mu);
      pending += s;
    }
    wake_();
  }
  std::atomic<bool> started{false}, finished{false}, flood{false};
  std::mutex mu;
  std::string pending;

 private:
  size_t chunk_;
  std::function<void()> wake_;
};

TEST(Transport, StreamsChunksWithHeartbeatsAndCutsOffAClientThatStopsReading) {
  ServerOptions o = test_options();
  o.stream_heartbeat = 200ms;
  o.body_grace = 500ms;
  auto stream = std::make_shared<CountingStream>(64 * 1024);
  auto flood = std::make_shared<CountingStream>(64 * 1024);
  flood->flood = true;
  std::unique_ptr<queue::QueueService> queues = queue::open_queue_service("memory:");
  service::Metrics metrics;
  auto owned = std::make_unique<HttpServer>(o, queues.get(), metrics);
  HttpServer& server = *owned;
  for (auto& [path, body] : {std::pair{"/stream", stream}, std::pair{"/flood", flood}})
    server.routes().add({.name = "stream", .method = "GET", .path = path, .handler = [body](const Request&) {
                           Response r;
                           r.content_type = "text/event-stream";
                           r.stream = body;
                           return r;
                         }});
  server.bind();
  std::thread run([&] { server.run(); });

  Conn reader(server.port());
  ASSERT_TRUE(reader.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 50 && !stream->started; ++i) std::this_thread::sleep_for(20ms);
  stream->push("data: one\n\n");
  stream->push("data: two\n\n");
  const std::string got = reader.read_all(700ms);
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
  EXPECT_LT(got.find("data: one"), got.find("data: two")) << got;
  EXPECT_NE(got.find(": ping"), std::string::npos) << "no heartbeat while idle: " << got;

  // This client never reads: the socket buffers fill, the write misses its deadline, the stream ends.
  Conn stalled(server.port());
  ASSERT_TRUE(stalled.send("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto t0 = Clock::now();
  while (!flood->finished && ms_since(t0) < 10000) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(flood->finished) << "a client that stops reading kept its stream";
  std::printf("stalled stream cut off after %.0f ms\n", ms_since(t0));
  // The well-behaved stream is unaffected.
  stream->push("data: three\n\n");
  EXPECT_NE(reader.read_all(500ms).find("data: three"), std::string::npos);
  server.stop();
  run.join();
  owned.reset();  // the open stream ends with the server
  EXPECT_TRUE(stream->finished);
}

}  // namespace
}  // namespace facepipe::server
