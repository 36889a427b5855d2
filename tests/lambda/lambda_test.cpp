// `facepipe lambda` against a local Runtime API (testutil/fake_lambda_runtime.h): the face-detection
// function with Function URL events, face-recognition with SQS events and partial batch failures, error,
// deadline and init-failure paths; then the whole AWS shape on moto_server: a Function URL front ->
// detection Lambda -> SQS -> an event-source-mapping poller -> recognition Lambda -> SQS -> `facepipe
// workload`; and video-recognition from an S3 event with records from DynamoDB.
#define FACEPIPE_BIN FACEPIPE_BINARY
#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aws/client.h"
#include "aws/sigv4.h"
#include "queue/queue.h"
#include "queue/sqs_queue.h"
#include "service/base64.h"
#include "testutil/fake_lambda_runtime.h"
#include "testutil/moto_server.h"
#include "testutil/process_util.h"
#include "testutil/recording.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A frame of each person that was not enrolled (video_gallery() enrols the first 3).
std::vector<std::pair<std::string, fs::path>> unseen_frames() {
  std::vector<std::pair<std::string, fs::path>> out;
  for (const char* person : {"Bean", "Freeman", "Obama", "Trump"}) {
    std::vector<fs::path> frames;
    for (const auto& e : fs::directory_iterator(datasets() / "video_frames" / person))
      frames.push_back(e.path());
    std::sort(frames.begin(), frames.end());
    out.emplace_back(person, frames.back());
  }
  return out;
}

json frame_request(const std::string& id, const fs::path& image) {
  return {{"request_id", id},
          {"filename", image.filename().string()},
          {"content", service::base64_encode(read_file(image))}};
}

// A Function URL event, payload format 2.0.
json url_event(const std::string& body, bool base64 = false, const std::string& method = "POST") {
  return {{"version", "2.0"},
          {"rawPath", "/"},
          {"rawQueryString", ""},
          {"headers", {{"content-type", "application/json"}}},
          {"requestContext", {{"http", {{"method", method}, {"path", "/"}}}}},
          {"body", base64 ? service::base64_encode(body) : body},
          {"isBase64Encoded", base64}};
}

json sqs_event(const std::vector<queue::Message>& messages) {
  json records = json::array();
  for (const auto& m : messages)
    records.push_back({{"messageId", m.id},
                       {"receiptHandle", m.receipt_handle},
                       {"body", m.body},
                       {"attributes", {{"ApproximateReceiveCount", std::to_string(m.receive_count)}}},
                       {"eventSource", "aws:sqs"},
                       {"eventSourceARN", "arn:aws:sqs:us-east-1:123456789012:req"}});
  return {{"Records", records}};
}

// Reads `n` messages from a queue (deleting them), keyed by request id.
std::map<std::string, json> drain(queue::Queue& q, size_t n,
                                  std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::map<std::string, json> out;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < end) {
    for (const auto& m : q.receive({.max_messages = 10, .wait = std::chrono::seconds(1)})) {
      const json body = json::parse(m.body);
      out[body.value("request_id", "")] = body;
      q.remove(m.receipt_handle);
    }
  }
  return out;
}

TEST(LambdaRuntime, DetectionAndRecognitionFunctionsOverServeQueues) {
  const auto dir = temp_dir("lambda");
  const auto gallery = video_gallery();
  Child serve({"serve", "--queues-only", "--port", "0", "--data-dir", (dir / "data").string(), "--id", "lt"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  const std::string req_url = url + "/000000000000/lt-req-queue",
                    resp_url = url + "/000000000000/lt-resp-queue";
  ::setenv("FACEPIPE_REQUEST_QUEUE_URL", req_url.c_str(), 1);
  ::setenv("FACEPIPE_RESPONSE_QUEUE_URL", resp_url.c_str(), 1);
  ::setenv("FACEPIPE_GALLERY", gallery.c_str(), 1);

  FakeLambdaRuntime detect_api;
  Child detect({"lambda", "face-detection", "--runtime-api", detect_api.address()}, dir / "detect.log");
  std::map<std::string, std::string> expected;
  int n = 0;
  for (const auto& [person, frame] : unseen_frames()) {
    const std::string id = "lt-" + std::to_string(++n);
    expected[id] = person;
    const auto out =
        detect_api.invoke_and_wait(url_event(frame_request(id, frame).dump(), n % 2 == 0).dump());
    ASSERT_TRUE(out.has_value()) << detect.log();
    ASSERT_TRUE(out->ok) << out->body << detect.log();
    const json answer = json::parse(out->body);
    EXPECT_EQ(answer["statusCode"], 200) << out->body;
    EXPECT_EQ(answer["headers"]["Content-Type"], "application/json");
    const json body = json::parse(answer["body"].get<std::string>());
    EXPECT_EQ(body["request_id"], id);
    EXPECT_EQ(body["faces"], 1) << body;
    EXPECT_EQ(body["status"], "queued");
  }
  // A direct invocation (aws lambda invoke --payload '<frame json>') answers the result itself.
  {
    expected["lt-direct"] = "Obama";
    const auto out = detect_api.invoke_and_wait(frame_request("lt-direct", unseen_frames()[2].second).dump());
    ASSERT_TRUE(out && out->ok) << (out ? out->body : "timeout");
    EXPECT_EQ(json::parse(out->body)["status"], "queued");
  }
  // Bad frames are the caller's 4xx with a JSON reason, not a function error.
  for (const auto& [body, status, code] : std::vector<std::tuple<std::string, int, std::string>>{
           {"not json", 400, "invalid_input"},
           {R"({"request_id":"x","filename":"a.jpg","content":"%%%"})", 400, "invalid_input"},
           {R"({"request_id":"lt-1","filename":"a.jpg","content":")" +
                service::base64_encode(read_file(unseen_frames()[0].second)) + "\"}",
            409, "conflict"}}) {
    const auto out = detect_api.invoke_and_wait(url_event(body).dump());
    ASSERT_TRUE(out && out->ok) << (out ? out->body : "timeout");
    const json answer = json::parse(out->body);
    EXPECT_EQ(answer["statusCode"], status) << out->body;
    EXPECT_EQ(json::parse(answer["body"].get<std::string>())["error"], code) << out->body;
  }
  {
    const auto out = detect_api.invoke_and_wait(url_event("", false, "GET").dump());
    ASSERT_TRUE(out && out->ok);
    EXPECT_EQ(json::parse(out->body)["statusCode"], 405);
  }
  // An invocation past its deadline is reported as such; the function goes on serving.
  {
    const auto out = detect_api.invoke_and_wait(url_event("{}").dump(), std::chrono::seconds(60),
                                                FakeLambdaRuntime::epoch_ms() - 1000);
    ASSERT_TRUE(out.has_value());
    EXPECT_FALSE(out->ok);
    EXPECT_EQ(out->error_type, "Runtime.DeadlineExceeded") << out->body;
  }
  {
    const auto out = detect_api.invoke_and_wait("this is not an event");
    ASSERT_TRUE(out.has_value());
    EXPECT_FALSE(out->ok);
    EXPECT_EQ(json::parse(out->body)["errorType"], "facepipe.invalid_input") << out->body;
  }

  // face-recognition, fed by a poller as Lambda's event source mapping would, with one poisoned record.
  FakeLambdaRuntime recognize_api;
  Child recognize({"lambda", "face-recognition", "--runtime-api", recognize_api.address()},
                  dir / "recognize.log");
  auto requests = queue::open_queue_url(req_url);
  std::vector<queue::Message> batch;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (batch.size() < expected.size() && std::chrono::steady_clock::now() < end)
    for (auto& m : requests->receive({.max_messages = 10, .wait = std::chrono::seconds(1)}))
      batch.push_back(m);
  ASSERT_EQ(batch.size(), expected.size());
  batch.push_back({.id = "poison", .receipt_handle = "none", .body = "{not a request}"});
  const auto out = recognize_api.invoke_and_wait(sqs_event(batch).dump());
  ASSERT_TRUE(out && out->ok) << (out ? out->body : "timeout") << recognize.log();
  EXPECT_EQ(json::parse(out->body), json::parse(R"({"batchItemFailures":[{"itemIdentifier":"poison"}]})"));
  for (size_t i = 0; i + 1 < batch.size(); ++i) requests->remove(batch[i].receipt_handle);

  auto responses = queue::open_queue_url(resp_url);
  const auto answers = drain(*responses, expected.size());
  ASSERT_EQ(answers.size(), expected.size());
  for (const auto& [id, person] : expected) {
    ASSERT_TRUE(answers.count(id)) << id;
    EXPECT_EQ(answers.at(id)["result"], person) << answers.at(id);
  }
  const auto wrong = recognize_api.invoke_and_wait(R"({"hello":"world"})");
  ASSERT_TRUE(wrong.has_value());
  EXPECT_FALSE(wrong->ok);
  EXPECT_NE(wrong->body.find("SQS event"), std::string::npos) << wrong->body;
}

TEST(LambdaRuntime, StartFailuresAreReportedAndExitNonZero) {
  FakeLambdaRuntime api;
  const std::string env = "FACEPIPE_RESPONSE_QUEUE_URL=http://127.0.0.1:9/000000000000/q ";
  // Init error: the gallery is missing. Reported to /runtime/init/error, exit non-zero.
  auto r = shell(env + "FACEPIPE_GALLERY=/nonexistent/gallery.db " +
                 facepipe_cmd("lambda face-recognition --runtime-api " + api.address()));
  EXPECT_NE(r.status, 0) << r.out;
  ASSERT_TRUE(api.init_error().has_value()) << r.out;
  EXPECT_NE(api.init_error()->find("gallery"), std::string::npos) << *api.init_error();
  // A missing setting names the variable to set.
  FakeLambdaRuntime api2;
  r = shell("env -u FACEPIPE_REQUEST_QUEUE_URL " +
            facepipe_cmd("lambda face-detection --runtime-api " + api2.address()));
  EXPECT_NE(r.status, 0);
  ASSERT_TRUE(api2.init_error().has_value()) << r.out;
  EXPECT_NE(api2.init_error()->find("FACEPIPE_REQUEST_QUEUE_URL"), std::string::npos) << *api2.init_error();
  // No Runtime API at all, an unreachable one, an unknown function: clear messages, non-zero exits.
  r = shell("env -u AWS_LAMBDA_RUNTIME_API " + facepipe_cmd("lambda face-detection"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("AWS_LAMBDA_RUNTIME_API"), std::string::npos) << r.out;
  r = shell("FACEPIPE_REQUEST_QUEUE_URL=http://127.0.0.1:9/000000000000/q " +
            facepipe_cmd("lambda face-detection --runtime-api 127.0.0.1:9"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("127.0.0.1:9"), std::string::npos) << r.out;
  r = shell(facepipe_cmd("lambda face-detectoin --runtime-api " + api.address()));
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("unknown function"), std::string::npos) << r.out;
}

class OnMoto : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!on_path("moto_server"))
      GTEST_SKIP() << "moto_server not on PATH: pip install 'moto[server]' to run these";
    use_test_aws_credentials();
    dir_ = temp_dir("lambda_moto");
    moto_ = std::make_unique<MotoServer>(dir_ / "moto.log");
    ASSERT_TRUE(moto_->ok()) << "moto_server did not start: " << (dir_ / "moto.log");
    sqs_ = queue::make_sqs_queue_service(moto_->url());
  }
  fs::path dir_;
  std::unique_ptr<MotoServer> moto_;
  std::unique_ptr<queue::QueueService> sqs_;
};

TEST_F(OnMoto, FunctionUrlToDetectionToSqsToRecognitionToWorkloadAllCorrect) {
  auto requests = sqs_->create("mt-req-queue", {.visibility_timeout = std::chrono::seconds(30),
                                                .max_receive_count = 3,
                                                .dead_letter_queue = "mt-dlq"});
  auto responses = sqs_->create("mt-resp-queue", {});
  ::setenv("FACEPIPE_REQUEST_QUEUE_URL", requests->url().c_str(), 1);
  ::setenv("FACEPIPE_RESPONSE_QUEUE_URL", responses->url().c_str(), 1);
  ::setenv("FACEPIPE_GALLERY", video_gallery().c_str(), 1);

  FakeLambdaRuntime detect_api, recognize_api;
  Child detect({"lambda", "face-detection", "--runtime-api", detect_api.address()}, dir_ / "detect.log");
  Child recognize({"lambda", "face-recognition", "--runtime-api", recognize_api.address()},
                  dir_ / "recognize.log");

  // The Function URL: HTTP in, a payload-2.0 event to the detection function, its statusCode/body out.
  httplib::Server front;
  front.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    const auto out = detect_api.invoke_and_wait(url_event(req.body).dump());
    if (!out || !out->ok) {
      res.status = 502;
      res.set_content(out ? out->body : R"({"error":"timeout"})", "application/json");
      return;
    }
    const json answer = json::parse(out->body);
    res.status = answer["statusCode"];
    res.set_content(answer["body"].get<std::string>(), "application/json");
  });
  const int front_port = front.bind_to_any_port("127.0.0.1");
  std::thread front_thread([&] { front.listen_after_bind(); });

  // The event source mapping: batches of up to 10 from the request queue; delete what did not fail.
  std::atomic<bool> stop{false};
  std::atomic<int> invocations{0}, failures{0};
  std::thread poller([&] {
    auto q = queue::open_queue_url(requests->url());
    while (!stop) {
      auto batch = q->receive({.max_messages = 10, .wait = std::chrono::seconds(1)});
      if (batch.empty()) continue;
      ++invocations;
      const auto out = recognize_api.invoke_and_wait(sqs_event(batch).dump());
      if (!out || !out->ok) {
        ++failures;
        continue;  // the whole batch comes back after the visibility timeout
      }
      std::set<std::string> failed;
      for (const auto& f : json::parse(out->body)["batchItemFailures"]) failed.insert(f["itemIdentifier"]);
      failures += static_cast<int>(failed.size());
      for (const auto& m : batch)
        if (!failed.count(m.id)) q->remove(m.receipt_handle);
    }
  });

  const auto r = shell(facepipe_cmd("workload --json --url http://127.0.0.1:" + std::to_string(front_port) +
                                    "/ --queue-url " + responses->url() + " --images " +
                                    (datasets() / "video_frames").string() +
                                    " --requests 40 --interval 50ms --concurrency 4 --timeout 60"));
  stop = true;
  poller.join();
  front.stop();
  front_thread.join();
  ASSERT_EQ(r.status, 0) << r.out << detect.log() << recognize.log();
  const json report = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(report["requests"], 40) << r.out;
  EXPECT_EQ(report["completed"], 40) << r.out;
  EXPECT_EQ(report["correct"], 40) << r.out;
  EXPECT_EQ(report["failed"], 0) << r.out;
  EXPECT_EQ(failures, 0);
  EXPECT_GT(invocations, 0);
  EXPECT_EQ(requests->stats().visible + requests->stats().in_flight, 0);
}

// Scale-out without Lambda: detection and two recognition workers as separate processes, all against
// one SQS-compatible endpoint that is not facepipe's own (moto, with signed requests).
TEST_F(OnMoto, WorkerProcessesShareAnSqsEndpoint) {
  sqs_->create("mw-req-queue", {.visibility_timeout = std::chrono::seconds(30),
                                .max_receive_count = 3,
                                .dead_letter_queue = "mw-req-dlq"});
  auto responses = sqs_->create("mw-resp-queue", {});
  const std::string gallery = video_gallery().string();
  Child detect({"worker", "detect", "--queue-endpoint", moto_->url(), "--id", "mw", "--gallery", gallery,
                "--port", "0"},
               dir_ / "detect.log");
  const std::string url = detect.wait_listening();
  ASSERT_FALSE(url.empty()) << detect.log();
  Child recognize1(
      {"worker", "recognize", "--queue-endpoint", moto_->url(), "--id", "mw", "--gallery", gallery},
      dir_ / "recognize1.log");
  Child recognize2(
      {"worker", "recognize", "--queue-endpoint", moto_->url(), "--id", "mw", "--gallery", gallery},
      dir_ / "recognize2.log");
  const auto r = shell(facepipe_cmd("workload --json --url " + url + "/ --queue-url " + responses->url() +
                                    " --images " + (datasets() / "video_frames").string() +
                                    " --requests 40 --interval 0s --concurrency 4 --timeout 60"));
  ASSERT_EQ(r.status, 0) << r.out << detect.log() << recognize1.log() << recognize2.log();
  const json report = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(report["completed"], 40) << r.out;
  EXPECT_EQ(report["correct"], 40) << r.out;
  EXPECT_EQ(report["failed"], 0) << r.out;
}

TEST_F(OnMoto, VideoRecognitionFromAnS3EventWithRecordsFromDynamoDb) {
  auto responses = sqs_->create("mv-resp-queue", {});
  aws::ClientConfig config{.endpoint = moto_->url()};
  aws::S3Client s3(config);
  aws::DynamoDbClient dynamodb(config);
  s3.create_bucket("mv-clips");
  dynamodb.create_table("mv-people", "name");
  dynamodb.put_item("mv-people", {{"name", "Obama"}, {"major", "Law"}, {"year", 1991}});
  s3.put_object("mv-clips", "cam 1/clip-0001.mp4", read_file(datasets() / "videos/Obama.mp4"), "video/mp4");
  s3.put_object("mv-clips", "cam 1/photo.mp4", read_file(datasets() / "misc/kate_siegel.jpg"), "video/mp4");

  ::setenv("FACEPIPE_RESPONSE_QUEUE_URL", responses->url().c_str(), 1);
  ::setenv("FACEPIPE_GALLERY", video_gallery().c_str(), 1);  // its people carry no records: they must come
  ::setenv("FACEPIPE_PEOPLE_TABLE", "mv-people", 1);         // from DynamoDB
  ::setenv("AWS_ENDPOINT_URL", moto_->url().c_str(), 1);
  FakeLambdaRuntime api;
  Child video({"lambda", "video-recognition", "--runtime-api", api.address()}, dir_ / "video.log");

  auto s3_record = [](const std::string& key) {
    return json{{"eventSource", "aws:s3"},
                {"eventName", "ObjectCreated:Put"},
                {"s3", {{"bucket", {{"name", "mv-clips"}}}, {"object", {{"key", key}, {"size", 1}}}}}};
  };
  const json event = {{"Records", {s3_record("cam+1/clip-0001.mp4"), s3_record("cam+1/photo.mp4")}}};
  const auto out = api.invoke_and_wait(event.dump());
  ASSERT_TRUE(out && out->ok) << (out ? out->body : "timeout") << video.log();
  const json results = json::parse(out->body)["results"];
  ASSERT_EQ(results.size(), 2u) << out->body;
  EXPECT_EQ(results[0]["result"], "Obama") << out->body;
  EXPECT_EQ(results[1]["result"], "Error") << out->body;

  const auto messages = drain(*responses, 2);
  ASSERT_EQ(messages.size(), 2u);
  const json& clip = messages.at("clip-0001");
  EXPECT_EQ(clip["result"], "Obama");
  EXPECT_EQ(clip["filename"], "cam 1/clip-0001.mp4");
  ASSERT_FALSE(clip["people"].empty()) << clip;
  EXPECT_EQ(clip["people"][0]["record"], json::parse(R"({"name":"Obama","major":"Law","year":1991})"))
      << clip;
  EXPECT_EQ(messages.at("photo")["result"], "Error");
  EXPECT_FALSE(messages.at("photo")["message"].get<std::string>().empty());

  // The device side: `camera --s3-bucket` uploads a recording cut into clips named after their request ids;
  // acting as S3's notification, the test hands the new objects to the function; `results` (the device's
  // retriever) prints each answer with its DynamoDB record and latency.
  const auto recording = dir_ / "recording.mp4";
  make_recording({"Obama"}, recording, 12);
  auto r = shell(
      facepipe_cmd("camera --source " + recording.string() +
                   " --mode clips --clip-seconds 1 --no-realtime --s3-bucket mv-clips --s3-prefix cam2/"));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto keys = s3.list_keys("mv-clips", "cam2/");
  ASSERT_GE(keys.size(), 2u) << r.out;
  json uploads = json::array();
  for (const auto& key : keys) uploads.push_back(s3_record(aws::uri_encode(key, true)));
  const auto camera_out = api.invoke_and_wait(json{{"Records", uploads}}.dump());
  ASSERT_TRUE(camera_out && camera_out->ok) << (camera_out ? camera_out->body : "timeout") << video.log();
  for (const auto& result : json::parse(camera_out->body)["results"])
    EXPECT_EQ(result["result"], "Obama") << result;
  r = shell(facepipe_cmd("results --queue-url " + responses->url() + " --expect " +
                         std::to_string(keys.size()) + " --idle-seconds 30"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(occurrences(r.out, "latency"), static_cast<int>(keys.size()) + 1)
      << r.out;  // each and the summary
  EXPECT_EQ(occurrences(r.out, "\"major\":\"Law\""), static_cast<int>(keys.size())) << r.out;

  // A key that is gone is an invocation error, so Lambda retries the event.
  const auto missing = api.invoke_and_wait(json{{"Records", {s3_record("cam+1/none.mp4")}}}.dump());
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->ok);
  EXPECT_EQ(missing->error_type, "facepipe.not_found") << missing->body;
}

}  // namespace
}  // namespace facepipe::testing
