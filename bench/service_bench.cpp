// The service under load, in one process as `facepipe serve` composes it: HTTP function URL -> detection
// -> SQLite request queue -> recognition workers -> response queue -> the workload client polling over the
// SQS JSON protocol. Benchmarks:
//   BM_QueueRoundTrip     send + receive + delete on the durable store (the per-message queue cost)
//   BM_ServiceOverhead    one 1080p frame through HTTP POST + base64 + JSON + enqueue + SQS receive/delete of
//                         the answer, with the engine replaced by nothing: what the service adds per request
//   BM_Load/C             workload: 500 requests at concurrency C (1, 4, 8, 16), video frames
//                         (720p-1080p), real engine
//   BM_OnePerSecond       workload: 30 requests at 1 request/s, concurrency 1 (latency when idle)
// Counters: rps, avg/p50/p95/p99 latency (ms), failed, lost (= requests - completed - failed).
// The engine runs at FACEPIPE_PRECISION / FACEPIPE_DETECTOR_PRECISION (fp32 unless set), the variables
// the Lambda functions read, as `serve --precision P --detector-precision D` would.
#include <benchmark/benchmark.h>
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "app/app.h"
#include "queue/queue.h"
#include "server/http_server.h"
#include "service/base64.h"
#include "service/workload.h"
#include "testutil/enrolled_engine.h"
#include "testutil/testutil.h"

namespace fs = std::filesystem;
using namespace facepipe;

namespace {

fs::path scratch(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("fp_service_bench_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nn::Precision precision_from_env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? nn::parse_precision(v) : nn::Precision::kF32;
}

// serve's composition (app::Service), in process, on a free loopback port, with a gallery enrolled from
// three frames of each person.
struct Service {
  std::unique_ptr<app::Service> svc;
  std::thread thread;

  Service() {
    app::ServeOptions o;
    o.id = "b";
    o.data_dir = scratch("serve").string();
    o.port = 0;
    svc = std::make_unique<app::Service>(
        o, facepipe::testing::enrolled_engine(engine::EmbedderKind::kAuto, 3,
                                              precision_from_env("FACEPIPE_PRECISION"),
                                              precision_from_env("FACEPIPE_DETECTOR_PRECISION")));
    thread = std::thread([this] { svc->run(); });
  }
  ~Service() {
    svc->stop();
    thread.join();
  }
  std::string url() const { return svc->base_url(); }
};

Service& service_instance() {
  static Service s;
  return s;
}

void report(benchmark::State& state, const service::WorkloadReport& r) {
  for (const auto& e : r.errors) std::fprintf(stderr, "failure: %s\n", e.c_str());
  for (const auto& m : r.mismatches) std::fprintf(stderr, "wrong: %s\n", m.c_str());
  state.counters["requests"] = r.requests;
  state.counters["failed"] = r.failed;
  state.counters["lost"] = r.requests - r.completed - r.failed;
  state.counters["wrong"] = r.wrong;
  state.counters["rps"] = r.throughput;
  state.counters["avg_ms"] = r.avg_ms;
  state.counters["p50_ms"] = r.p50_ms;
  state.counters["p95_ms"] = r.p95_ms;
  state.counters["p99_ms"] = r.p99_ms;
}

void BM_QueueRoundTrip(benchmark::State& state) {
  auto dir = scratch("queue");
  auto svc = queue::open_queue_service("sqlite:" + (dir / "q.db").string());
  auto q = svc->create("rt", {});
  std::string body(2000, 'x');
  for (auto _ : state) {
    q->send(body);
    auto m = q->receive({});
    q->remove(m.at(0).receipt_handle);
  }
}
BENCHMARK(BM_QueueRoundTrip)->Unit(benchmark::kMillisecond);

// Everything the service does around the engine for one 1080p frame: the client's POST with the base64
// frame, JSON parsing and base64 decoding, a request-sized enqueue, the answer's enqueue, and the client's
// SQS receive + delete of it over HTTP.
void BM_ServiceOverhead(benchmark::State& state) {
  auto dir = scratch("overhead");
  auto queues = queue::open_queue_service("sqlite:" + (dir / "q.db").string());
  auto req = queues->create("o-req", {});
  auto resp = queues->create("o-resp", {});
  service::Metrics metrics;
  server::ServerOptions so;
  so.port = 0;
  server::HttpServer http(so, queues.get(), metrics);
  std::string crop_sized(60000, 'c');  // a request message with one PNG crop is about this size
  http.set_function([&](const std::string& body, bool) {
    auto j = nlohmann::json::parse(body);
    auto bytes = service::base64_decode(j.at("content").get<std::string>());
    req->send(crop_sized);
    resp->send(
        nlohmann::json{{"request_id", j["request_id"]}, {"result", std::to_string(bytes.size())}}.dump());
    return nlohmann::json{{"status", "queued"}};
  });
  http.bind();
  std::thread t([&] { http.run(); });
  auto frame =
      facepipe::testing::read_file(facepipe::testing::datasets() / "video_frames/Obama/frame_001.jpg");
  auto client_queue = queue::open_queue_service(http.base_url())->get("o-resp");
  httplib::Client c(http.base_url());
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  int i = 0;
  for (auto _ : state) {
    nlohmann::json body = {{"request_id", std::to_string(i++)},
                           {"filename", "f.jpg"},
                           {"content", service::base64_encode(frame)}};
    auto res = c.Post("/", body.dump(), "application/json");
    if (!res || res->status != 200) state.SkipWithError("POST failed");
    auto got = client_queue->receive({.max_messages = 1, .wait = std::chrono::seconds(1)});
    if (got.empty()) state.SkipWithError("no answer");
    client_queue->remove(got.at(0).receipt_handle);
    // The server side's queue consumer would receive + delete the request message too.
    auto m = req->receive({});
    req->remove(m.at(0).receipt_handle);
  }
  http.stop();
  t.join();
}
BENCHMARK(BM_ServiceOverhead)->Unit(benchmark::kMillisecond);

// The workload client against the in-process service, over every video frame.
void run_against_service(benchmark::State& state, int requests, int concurrency,
                         std::chrono::milliseconds interval, std::chrono::seconds timeout) {
  auto& s = service_instance();
  auto items = service::load_workload(facepipe::testing::datasets() / "video_frames", "");
  service::WorkloadReport r;
  for (auto _ : state) {
    service::WorkloadOptions o;
    o.url = s.url() + "/";
    o.queue_url = s.url() + "/000000000000/b-resp-queue";
    o.requests = requests;
    o.concurrency = concurrency;
    o.interval = interval;
    o.timeout = timeout;
    r = service::run_workload(items, o);
  }
  report(state, r);
}

void BM_Load(benchmark::State& state) {
  run_against_service(state, 500, static_cast<int>(state.range(0)), std::chrono::milliseconds(0),
                      std::chrono::seconds(120));
}
BENCHMARK(BM_Load)->Arg(1)->Arg(4)->Arg(8)->Arg(16)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_OnePerSecond(benchmark::State& state) {
  run_against_service(state, 30, 1, std::chrono::milliseconds(1000), std::chrono::seconds(60));
}
BENCHMARK(BM_OnePerSecond)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
