// app::Service in process, as `facepipe serve` runs it: the real engine and a gallery of the four people of
// video_frames, the function URL over HTTP with ?wait=1, the SQS endpoint answering a client, and stop().
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "app/app.h"
#include "core/error.h"
#include "engine/loader.h"
#include "recognition/enroll.h"
#include "recognition/thresholds.h"
#include "service/base64.h"
#include "testutil/testutil.h"

namespace facepipe::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path scratch(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("fp_app_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

service::StageEngine enrolled_engine() {
  service::StageEngine parts;
  engine::EngineOptions o;
  o.models_dir = facepipe::testing::shared_models().string();
  o.embedder = engine::EmbedderKind::kFaceApi;
  parts.detector = engine::make_detector(o);
  parts.embedder = engine::make_embedder(o);
  parts.gallery = gallery::Gallery::in_memory(parts.embedder->id());
  recognition::enroll(*parts.gallery, *parts.detector, *parts.embedder,
                      recognition::sources_from_folder(facepipe::testing::datasets() / "video_frames", 3));
  parts.threshold = recognition::default_threshold(parts.embedder->id());
  return parts;
}

TEST(AppService, ServesTheFunctionUrlWithWaitAndStopsOnRequest) {
  ServeOptions o;
  o.id = "t";
  o.port = 0;
  o.data_dir = scratch("serve").string();
  Service service(o, enrolled_engine());
  ASSERT_GT(service.port(), 0);
  std::thread runner([&] { service.run(); });

  httplib::Client client(service.base_url());
  client.set_read_timeout(60);
  const std::string frame =
      facepipe::testing::read_file(facepipe::testing::datasets() / "video_frames/Obama/frame_010.jpg");
  const json body = {
      {"request_id", "obama-10"}, {"filename", "frame_010.jpg"}, {"content", service::base64_encode(frame)}};
  auto res = client.Post("/?wait=1", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json answer = json::parse(res->body);
  EXPECT_EQ(answer["request_id"], "obama-10");
  EXPECT_EQ(answer["result"], "Obama");

  // The same answer is on the response queue, which the SQS endpoint serves.
  auto responses = queue::open_queue_service(service.base_url())->get("t-resp-queue");
  auto got = responses->receive({.max_messages = 1, .wait = std::chrono::seconds(5)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(json::parse(got[0].body)["result"], "Obama");

  // A bad request is a 4xx with the reason; the service keeps serving.
  res = client.Post("/", "{\"request_id\": 1}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status / 100, 4) << res->body;

  service.stop();
  runner.join();
  EXPECT_FALSE(client.Get("/healthz")) << "still serving after stop()";
}

TEST(AppService, AQueuesOnlyServiceNeedsNoEngine) {
  ServeOptions o;
  o.id = "q";
  o.port = 0;
  o.queues_only = true;
  o.engine.gallery_path = "/does/not/exist.db";  // never read: no engine is loaded
  o.data_dir = scratch("queues").string();
  Service service(o);
  std::thread runner([&] { service.run(); });
  auto queues = queue::open_queue_service(service.base_url());
  auto requests = queues->get("q-req-queue");
  requests->send("hello");
  auto got = requests->receive({.max_messages = 1, .wait = std::chrono::seconds(2)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "hello");
  service.stop();
  runner.join();
}

TEST(AppService, AWorkerWithoutAnEndpointIsRefusedWithWhatToPass) {
  ServeOptions o;
  o.role = ServeOptions::Role::kRecognize;
  try {
    Service service(o);
    ADD_FAILURE() << "a worker started without --queue-endpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--queue-endpoint"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace facepipe::app
