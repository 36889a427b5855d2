// The service as processes: `facepipe serve` on loopback with the real engine, the workload client, the
// aws CLI reading the response queue, bad input, kill -9 of a recognition worker, and a restart of serve.
#include <gtest/gtest.h>
#include <zlib.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "queue/sqs_rules.h"
#include "service/base64.h"
#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Frame {
  fs::path path;
  std::string person;
};

std::vector<Frame> video_frames() {
  std::vector<Frame> out;
  for (auto& person : fs::directory_iterator(datasets() / "video_frames"))
    for (auto& f : fs::directory_iterator(person.path())) out.push_back({f.path(), person.path().filename()});
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return out;
}

std::string frame_request(const std::string& id, const fs::path& path) {
  return json{
      {"request_id", id}, {"filename", path.filename()}, {"content", service::base64_encode(read_file(path))}}
      .dump();
}

// Collects responses from `queue_url` until every id in `ids` is answered or `limit` passes; deletes them.
std::map<std::string, std::string> collect(const std::string& queue_url, const std::set<std::string>& ids,
                                           std::chrono::seconds limit) {
  const auto url = queue::parse_queue_url(queue_url);
  auto q = queue::open_queue_service(url.endpoint)->get(url.name);
  std::map<std::string, std::string> got;
  auto end = std::chrono::steady_clock::now() + limit;
  while (got.size() < ids.size() && std::chrono::steady_clock::now() < end) {
    for (auto& m : q->receive({.max_messages = 10, .wait = 1s})) {
      auto r = json::parse(m.body);
      if (ids.count(r["request_id"])) got[r["request_id"]] = r["result"];
      q->remove(m.receipt_handle);
    }
  }
  return got;
}

class Serve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = temp_dir("serve");
    serve_ = new Child({"serve", "--port", "0", "--data-dir", (dir_ / "data").string(), "--gallery",
                        video_gallery().string(), "--id", "e2e"},
                       dir_ / "serve.log");
    url_ = serve_->wait_listening();
  }
  static void TearDownTestSuite() {
    delete serve_;
    serve_ = nullptr;
  }
  void SetUp() override { ASSERT_FALSE(url_.empty()) << "serve did not start:\n" << serve_->log(); }
  static std::string resp_url() { return url_ + "/000000000000/e2e-resp-queue"; }

  static inline fs::path dir_;
  static inline Child* serve_ = nullptr;
  static inline std::string url_;
};

TEST_F(Serve, WorkloadOverAllVideoFramesIsAllCorrect) {
  auto frames = video_frames();
  auto r = shell(facepipe_cmd("workload --json --concurrency 2 --url " + url_ + "/ --queue-url " +
                              resp_url() + " --images " + (datasets() / "video_frames").string()));
  ASSERT_EQ(r.status, 0) << r.out;
  auto report = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(report["requests"], frames.size());
  EXPECT_EQ(report["completed"], frames.size());
  EXPECT_EQ(report["failed"], 0);
  EXPECT_EQ(report["correct"], frames.size());
  EXPECT_EQ(report["wrong"], 0);
}

TEST_F(Serve, AwsCliReadsTheResponseQueue) {
  auto frames = video_frames();
  httplib::Client c(url_);
  std::map<std::string, std::string> expected;
  for (size_t i = 0; i < frames.size(); i += frames.size() / 4) {
    std::string id = "cli-" + std::to_string(i);
    auto res = c.Post("/", frame_request(id, frames[i].path), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    expected[id] = frames[i].person;
  }
  std::map<std::string, std::string> got;
  for (int attempt = 0; attempt < 20 && got.size() < expected.size(); ++attempt) {
    auto r = shell("aws --endpoint-url " + url_ + " --output json sqs receive-message --queue-url " +
                   resp_url() + " --max-number-of-messages 10 --wait-time-seconds 5");
    ASSERT_EQ(r.status, 0) << r.out;
    if (r.out.find('{') == std::string::npos) continue;
    for (auto& m : json::parse(r.out).value("Messages", json::array())) {
      auto body = json::parse(m["Body"].get<std::string>());
      EXPECT_TRUE(body.contains("request_id") && body.contains("result") && body.contains("faces"));
      got[body["request_id"]] = body["result"];
      auto del = shell("aws --endpoint-url " + url_ + " sqs delete-message --queue-url " + resp_url() +
                       " --receipt-handle " + m["ReceiptHandle"].get<std::string>());
      EXPECT_EQ(del.status, 0) << del.out;
    }
  }
  EXPECT_EQ(got, expected);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("facepipe_stage_seconds_bucket{stage=\"detect\""), std::string::npos);
  EXPECT_NE(metrics->body.find("facepipe_stage_seconds_count{stage=\"embed\"}"), std::string::npos);
  EXPECT_NE(metrics->body.find("facepipe_queue_messages{queue=\"e2e-req-queue\",state=\"visible\"}"),
            std::string::npos);
}

TEST_F(Serve, WaitAnswersWithTheResult) {
  auto frames = video_frames();
  httplib::Client c(url_);
  c.set_read_timeout(60);
  auto res = c.Post("/?wait=1", frame_request("wait-1", frames.back().path), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto body = json::parse(res->body);
  EXPECT_EQ(body["request_id"], "wait-1");
  EXPECT_EQ(body["result"], frames.back().person);
  collect(resp_url(), {"wait-1"}, 10s);  // leave the queue clean for the other tests
}

// A PNG whose header declares `w` x `h` pixels, with valid CRCs, and no image data worth the name.
std::string png_header(uint32_t w, uint32_t h) {
  std::string ihdr = "IHDR";
  for (uint32_t v : {w, h})
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<char>((v >> s) & 255));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), ihdr.size());
  std::string png = "\x89PNG\r\n\x1a\n";
  png += std::string("\x00\x00\x00\x0d", 4) + ihdr;
  for (int s = 24; s >= 0; s -= 8) png.push_back(static_cast<char>((crc >> s) & 255));
  return png;
}

TEST_F(Serve, BadInputGets4xxWithAJsonReasonAndServingGoesOn) {
  httplib::Client c(url_);
  std::string jpeg = read_file(video_frames().front().path);
  struct Case {
    std::string name, body;
    int status;
    std::string says;
  };
  auto req = [](json j) { return j.dump(); };
  std::vector<Case> cases = {
      {"malformed JSON", "{\"request_id\": ", 400, "not valid JSON"},
      {"not an object", "[1,2]", 400, "JSON object"},
      {"missing content", req({{"request_id", "b1"}, {"filename", "f.jpg"}}), 400, "'content' is missing"},
      {"empty request id", req({{"request_id", ""}, {"filename", "f.jpg"}, {"content", "AAAA"}}), 400,
       "'request_id' is empty"},
      {"non-string request id", req({{"request_id", 12}, {"filename", "f.jpg"}, {"content", "AAAA"}}), 400,
       "'request_id' must be a string"},
      {"invalid base64", req({{"request_id", "b2"}, {"filename", "f.jpg"}, {"content", "@@@notbase64!"}}),
       400, "base64"},
      {"no image",
       req({{"request_id", "b3"},
            {"filename", "f.jpg"},
            {"content", service::base64_encode("hello world, no image")}}),
       400, ""},
      {"truncated JPEG",
       req({{"request_id", "b4"},
            {"filename", "f.jpg"},
            {"content", service::base64_encode(jpeg.substr(0, jpeg.size() / 2))}}),
       400, ""},
      {"decompression bomb",
       req({{"request_id", "b5"},
            {"filename", "f.png"},
            {"content", service::base64_encode(png_header(100000, 100000))}}),
       413, ""},
      {"oversized body", std::string(7 * 1024 * 1024, 'x'), 413, "request body over"},
  };
  for (auto& k : cases) {
    auto res = c.Post("/", k.body, "application/json");
    ASSERT_TRUE(res) << k.name;
    EXPECT_EQ(res->status, k.status) << k.name << ": " << res->body;
    auto j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << k.name << ": " << res->body;
    EXPECT_TRUE(j.contains("error") && j.contains("message")) << k.name;
    EXPECT_NE(j.value("message", "").find(k.says), std::string::npos) << k.name << ": " << res->body;
  }
  // A repeated request id is refused; the first one is still served.
  auto first = c.Post("/", frame_request("dup-1", video_frames().front().path), "application/json");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->body;
  auto again = c.Post("/", frame_request("dup-1", video_frames().front().path), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
  EXPECT_EQ(json::parse(again->body)["error"], "conflict");
  EXPECT_EQ(collect(resp_url(), {"dup-1"}, 30s).size(), 1u);
  EXPECT_EQ(c.Get("/healthz")->status, 200);
}

TEST(ServiceFaults, KilledRecognitionWorkerIsRetriedBySharedWorkers) {
  auto dir = temp_dir("kill");
  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
               video_gallery().string(), "--no-recognize", "--visibility-timeout", "3", "--id", "k"},
              dir / "serve.log");
  auto url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  auto frames = video_frames();
  httplib::Client c(url);
  std::set<std::string> ids;
  std::map<std::string, std::string> expected;
  for (size_t i = 0; i < 10; ++i) {
    auto& f = frames[i * frames.size() / 10];
    std::string id = "kill-" + std::to_string(i);
    auto res = c.Post("/", frame_request(id, f.path), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    ids.insert(id);
    expected[id] = f.person;
  }
  auto requests = queue::open_queue_service(url)->get("k-req-queue");
  std::vector<std::string> worker_args = {
      "worker", "recognize", "--queue-endpoint", url, "--gallery", video_gallery().string(), "--id", "k"};
  {
    Child victim(worker_args, dir / "victim.log");
    bool in_flight = false;
    for (int i = 0; i < 600 && !in_flight; ++i) {
      in_flight = requests->stats().in_flight > 0;
      if (!in_flight) std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(in_flight) << victim.log();
    victim.kill_now(SIGKILL);  // mid-batch: its messages are received and not yet deleted
  }
  EXPECT_GT(requests->stats().in_flight + requests->stats().visible, 0);
  Child a(worker_args, dir / "a.log"), b(worker_args, dir / "b.log");
  auto got = collect(url + "/000000000000/k-resp-queue", ids, 90s);
  EXPECT_EQ(got, expected) << a.log() << b.log();
  // Workers answer first, then delete: give the last deletes a moment (bounded).
  queue::QueueStats stats;
  for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(100ms))
    if (stats = requests->stats(); stats.visible + stats.in_flight == 0) break;
  EXPECT_EQ(stats.visible + stats.in_flight, 0);
}

TEST(ServiceFaults, RestartOfServeLosesNoQueuedFrame) {
  auto dir = temp_dir("restart");
  auto frames = video_frames();
  std::set<std::string> ids;
  std::map<std::string, std::string> expected;
  {
    Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
                 video_gallery().string(), "--no-recognize", "--id", "r"},
                dir / "serve1.log");
    auto url = serve.wait_listening();
    ASSERT_FALSE(url.empty()) << serve.log();
    httplib::Client c(url);
    for (size_t i = 0; i < 5; ++i) {
      auto& f = frames[i * 11 % frames.size()];
      std::string id = "restart-" + std::to_string(i);
      auto res = c.Post("/", frame_request(id, f.path), "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200);
      ids.insert(id);
      expected[id] = f.person;
    }
    serve.kill_now(SIGKILL);  // no clean shutdown
  }
  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
               video_gallery().string(), "--id", "r"},
              dir / "serve2.log");
  auto url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  EXPECT_EQ(collect(url + "/000000000000/r-resp-queue", ids, 60s), expected) << serve.log();
}

// Issue 16, "silent mismatches": a detector and a recognizer whose galleries name different embedders
// failed only as client timeouts. Now a recognizer started before the detector said which crops it cuts
// dead-letters each stray message at once with the reason, and one started after is refused.
TEST(ServiceMismatch, OtherCropsDeadLetterAtOnceAndARecognizerForThemIsRefused) {
  auto dir = temp_dir("mismatch");
  const auto irv1 = dir / "irv1.db";  // another embedder (same network cost as VGGFace2, random weights)
  auto enrolled =
      shell(facepipe_cmd("enroll --embedder irv1-random --gallery " + irv1.string() + " --folder " +
                         (datasets() / "video_frames").string() + " --per-person 1"));
  ASSERT_EQ(enrolled.status, 0) << enrolled.out;
  Child queues({"serve", "--queues-only", "--port", "0", "--data-dir", (dir / "data").string(), "--id", "mm"},
               dir / "queues.log");
  const auto url = queues.wait_listening();
  ASSERT_FALSE(url.empty()) << queues.log();
  const std::vector<std::string> recognize = {
      "worker", "recognize", "--queue-endpoint", url, "--gallery", irv1.string(), "--id", "mm"};
  Child early(recognize, dir / "early.log");  // nothing announced yet: it cannot know
  Child detect({"worker", "detect", "--queue-endpoint", url, "--gallery", video_gallery().string(), "--id",
                "mm", "--port", "0"},
               dir / "detect.log");
  const auto detect_url = detect.wait_listening();
  ASSERT_FALSE(detect_url.empty()) << detect.log();
  httplib::Client c(detect_url);
  auto res = c.Post("/", frame_request("stray-1", video_frames().front().path), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto dlq = queue::open_queue_service(url)->get("mm-req-dlq");
  json dead;
  for (int i = 0; i < 300 && dead.is_null(); ++i)
    for (auto& m : dlq->receive({.max_messages = 1, .wait = 200ms})) dead = json::parse(m.body);
  ASSERT_FALSE(dead.is_null()) << "not dead-lettered at once: " << early.log();
  EXPECT_EQ(dead["request_id"], "stray-1");
  EXPECT_NE(dead["dead_letter"]["reason"].get<std::string>().find("another embedder"), std::string::npos)
      << dead["dead_letter"].dump();
  auto requests = queue::open_queue_service(url)->get("mm-req-queue");
  EXPECT_EQ(requests->stats().visible + requests->stats().in_flight, 0) << "it must not come back";
  EXPECT_EQ(requests->tags()["facepipe:crops"], "aligned-150-0");  // face-api's, said by the detector
  // Started now, the same recognizer is refused with what to change.
  auto refused = shell(
      facepipe_cmd("worker recognize --queue-endpoint " + url + " --gallery " + irv1.string() + " --id mm"));
  EXPECT_NE(refused.status, 0) << refused.out;
  EXPECT_NE(refused.out.find("cuts crops"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("same gallery"), std::string::npos) << refused.out;
}

// Issue 14 finding 6: queues deleted under a running serve were invisible (frames got 200, /healthz said ok),
// and a queue recreated with other attributes made the next serve refuse to start with no way out.
TEST(ServiceQueues, DeletedQueuesShowInHealthAndServeRecreatesThemOnStart) {
  auto dir = temp_dir("deleted");
  const std::vector<std::string> args = {"serve",      "--queues-only",         "--port", "0",
                                         "--data-dir", (dir / "data").string(), "--id",   "h"};
  {
    Child serve(args, dir / "serve1.log");
    auto url = serve.wait_listening();
    ASSERT_FALSE(url.empty()) << serve.log();
    httplib::Client c(url);
    EXPECT_EQ(c.Get("/healthz")->status, 200);
    auto del = shell("aws --endpoint-url " + url + " sqs delete-queue --queue-url " + url +
                     "/000000000000/h-resp-queue");
    ASSERT_EQ(del.status, 0) << del.out;
    auto health = c.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 503) << health->body;
    auto j = json::parse(health->body);
    EXPECT_EQ(j["status"], "unhealthy");
    ASSERT_EQ(j["problems"].size(), 1u) << health->body;
    EXPECT_NE(j["problems"][0].get<std::string>().find("h-resp-queue"), std::string::npos) << health->body;
  }
  Child serve(args, dir / "serve2.log");
  auto url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  httplib::Client c(url);
  EXPECT_EQ(c.Get("/healthz")->status, 200) << c.Get("/healthz")->body;
  auto got =
      shell("aws --endpoint-url " + url + " --output json sqs get-queue-url --queue-name h-resp-queue");
  EXPECT_EQ(got.status, 0) << got.out;
}

TEST(ServiceQueues, AttributeMismatchExplainsResetQueuesWhichKeepsMessages) {
  auto dir = temp_dir("mismatch");
  const std::vector<std::string> args = {"serve",      "--queues-only",         "--port", "0",
                                         "--data-dir", (dir / "data").string(), "--id",   "m"};
  {
    Child serve(args, dir / "serve1.log");
    auto url = serve.wait_listening();
    ASSERT_FALSE(url.empty()) << serve.log();
    const std::string q = url + "/000000000000/m-req-queue";
    ASSERT_EQ(shell("aws --endpoint-url " + url + " sqs delete-queue --queue-url " + q).status, 0);
    ASSERT_EQ(shell("aws --endpoint-url " + url + " sqs create-queue --queue-name m-req-queue").status, 0);
    ASSERT_EQ(
        shell("aws --endpoint-url " + url + " sqs send-message --queue-url " + q + " --message-body kept")
            .status,
        0);
  }
  auto refused = shell("timeout 20 " + facepipe_cmd("serve --queues-only --port 0 --data-dir " +
                                                    (dir / "data").string() + " --id m"));
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.out.find("m-req-queue"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("--reset-queues"), std::string::npos) << refused.out;
  auto reset_args = args;
  reset_args.push_back("--reset-queues");
  Child serve(reset_args, dir / "serve2.log");
  auto url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  const std::string q = url + "/000000000000/m-req-queue";
  auto attrs = shell("aws --endpoint-url " + url + " --output json sqs get-queue-attributes --queue-url " +
                     q + " --attribute-names All");
  ASSERT_EQ(attrs.status, 0) << attrs.out;
  auto a = json::parse(attrs.out)["Attributes"];
  EXPECT_EQ(a["VisibilityTimeout"], "30");
  EXPECT_NE(a.value("RedrivePolicy", "").find("m-req-dlq"), std::string::npos) << attrs.out;
  EXPECT_EQ(a["ApproximateNumberOfMessages"], "1");  // reset kept the message
}

TEST(ServiceQueues, EmptyOrInvalidIdIsRefused) {
  for (const std::string& id : std::vector<std::string>{"''", "'a b'", std::string(70, 'x')}) {
    auto r = shell("timeout 20 " + facepipe_cmd("serve --queues-only --port 0 --data-dir " +
                                                temp_dir("id").string() + " --id " + id));
    EXPECT_NE(r.status, 0) << id;
    EXPECT_NE(r.out.find("--id"), std::string::npos) << id << ": " << r.out;
  }
}

}  // namespace
}  // namespace facepipe::testing
