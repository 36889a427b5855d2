// Lambda cold start: from exec of `facepipe lambda <function>` (a fresh container's first process) to its
// first answered invocation, with the models loaded from disk, against a local Runtime API. Python +
// PyTorch images take seconds here (importing torch alone is ~2 s on these cores).
//   build/lambda_bench
// Counters: init_ms = exec -> first GET /next (models, gallery, clients ready); the time reported is
// exec -> the first answer posted.
#define FACEPIPE_BIN FACEPIPE_BINARY
#include <benchmark/benchmark.h>

#include "queue/queue.h"
#include "service/base64.h"
#include "testutil/fake_lambda_runtime.h"
#include "testutil/process_util.h"

namespace {

using namespace facepipe::testing;
using nlohmann::json;

struct Setup {
  std::filesystem::path dir = temp_dir("lambda_bench");
  std::unique_ptr<Child> serve;
  std::string url;
  std::string frame_event;
  Setup() {
    // As in the image (deploy/aws/Dockerfile): set, so the binary does not re-exec itself to set them.
    ::setenv("GOMP_SPINCOUNT", "3000", 1);
    ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    serve =
        std::make_unique<Child>(std::vector<std::string>{"serve", "--queues-only", "--port", "0",
                                                         "--data-dir", (dir / "data").string(), "--id", "lb"},
                                dir / "serve.log");
    url = serve->wait_listening();
    ::setenv("FACEPIPE_REQUEST_QUEUE_URL", (url + "/000000000000/lb-req-queue").c_str(), 1);
    ::setenv("FACEPIPE_RESPONSE_QUEUE_URL", (url + "/000000000000/lb-resp-queue").c_str(), 1);
    ::setenv("FACEPIPE_GALLERY", video_gallery().c_str(), 1);
    const json frame = {{"request_id", "x"},
                        {"filename", "frame.jpg"},
                        {"content", facepipe::service::base64_encode(
                                        read_file(datasets() / "video_frames/Obama/frame_010.jpg"))}};
    frame_event = frame.dump();
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void cold_start(benchmark::State& state, const std::string& function) {
  auto& s = setup();
  if (s.url.empty()) return state.SkipWithError("serve --queues-only did not start");
  int n = 0;
  double init_ms = 0;
  for (auto _ : state) {
    FakeLambdaRuntime api;
    json event;
    if (function == "face-detection") {
      json frame = json::parse(s.frame_event);
      frame["request_id"] =
          "cold-" + std::to_string(++n) + "-" + std::to_string(FakeLambdaRuntime::epoch_ms());
      event = {{"version", "2.0"},
               {"body", frame.dump()},
               {"isBase64Encoded", false},
               {"requestContext", {{"http", {{"method", "POST"}}}}}};
    } else {
      // A real request-queue message: the one the detection runs above queued.
      auto q = facepipe::queue::open_queue_url(s.url + "/000000000000/lb-req-queue");
      auto got = q->receive(
          {.max_messages = 1, .wait = std::chrono::seconds(2), .visibility = std::chrono::seconds(0)});
      if (got.empty())
        return state.SkipWithError("run the face-detection benchmark first (it fills the queue)");
      event = {{"Records", {{{"messageId", got[0].id}, {"body", got[0].body}}}}};
    }
    auto answer = api.invoke(event.dump());
    const auto start = std::chrono::steady_clock::now();
    Child child({"lambda", function, "--runtime-api", api.address(), "--max-invocations", "1"},
                s.dir / (function + ".log"));
    if (answer.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
      return state.SkipWithError(("no answer: " + child.log()).c_str());
    const auto done = std::chrono::steady_clock::now();
    const auto outcome = answer.get();
    if (!outcome.ok) return state.SkipWithError(("function error: " + outcome.body).c_str());
    state.SetIterationTime(std::chrono::duration<double>(done - start).count());
    if (auto first = api.first_next())
      init_ms += std::chrono::duration<double, std::milli>(*first - start).count();
  }
  state.counters["init_ms"] = init_ms / static_cast<double>(state.iterations());
}

}  // namespace

BENCHMARK_CAPTURE(cold_start, face_detection, std::string("face-detection"))
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cold_start, face_recognition, std::string("face-recognition"))
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
