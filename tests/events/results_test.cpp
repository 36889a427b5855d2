// Camera events on the response queue (the queue sink: an SQS queue URL, here moto_server's SQS) are printed
// readably by the real `facepipe results`: type, camera, name, record, track, time and latency per line;
// --json keeps the event whole with its latency. Also the line format itself, and hostile values in it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "events/describe.h"
#include "events/sink.h"
#include "queue/queue.h"
#include "testutil/moto_server.h"
#include "testutil/testutil.h"

namespace facepipe::events {
namespace {

using nlohmann::json;

std::string iso_now_minus(int ms_ago) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() -
                   ms_ago;
  const std::time_t secs = now / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf) + fmt::format(".{:03d}Z", static_cast<int>(now % 1000));
}

TEST(Results, PrintsCameraEventsFromTheResponseQueueReadably) {
  if (!testing::on_path("moto_server")) GTEST_SKIP() << "moto_server is not installed";
  testing::use_test_aws_credentials();
  const auto log = std::filesystem::temp_directory_path() / ("fp_results_moto_" + std::to_string(::getpid()));
  testing::MotoServer moto(log);
  ASSERT_TRUE(moto.ok()) << testing::read_file(log);
  const std::string queue_url = queue::open_queue_service(moto.url())->create("cam-resp-queue", {})->url();
  auto sink = open_event_sink(queue_url);  // what `watch --sink <queue URL>` opens
  const json entered = {{"type", "face.entered"},
                        {"camera", "door"},
                        {"track_id", "door-17"},
                        {"name", "Mr_Bean"},
                        {"known", true},
                        {"distance", 0.41},
                        {"record", {{"role", "actor"}}},
                        {"time", iso_now_minus(2000)},
                        {"snapshot", {{"face", "door/1-face.jpg"}, {"frame", "door/1-frame.jpg"}}}};
  json left = entered;
  left["type"] = "face.left";
  left["duration_s"] = 12.3;
  left["time"] = iso_now_minus(500);
  sink->publish(entered);
  sink->publish(left);
  auto r = testing::run_with_test_aws(testing::facepipe_binary().string() + " results --queue-url " +
                                      queue_url + " --expect 2 --idle-seconds 20");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto line_of = [&](const std::string& type) {
    const auto at = r.output.find(type);
    return at == std::string::npos ? std::string() : r.output.substr(at, r.output.find('\n', at) - at);
  };
  const std::string a = line_of("face.entered"), b = line_of("face.left");
  for (const std::string& want : {"door", "Mr_Bean", "known, distance 0.41", "track door-17",
                                  "record {\"role\":\"actor\"}", "snapshot door/1-face.jpg", "latency"})
    EXPECT_NE(a.find(want), std::string::npos) << want << " not in: " << a;
  EXPECT_NE(b.find("after 12.3 s"), std::string::npos) << b;
  // Latency from the event's own time: about 2 s for the one that happened 2 s before.
  const auto lat = a.find("latency ");
  ASSERT_NE(lat, std::string::npos);
  const double seconds = std::stod(a.substr(lat + 8));
  EXPECT_GT(seconds, 1.9) << a;
  EXPECT_LT(seconds, 30) << a;
  EXPECT_NE(r.output.find("2 results, average latency"), std::string::npos) << r.output;

  // --json: the event as published, plus its latency.
  sink->publish(entered);
  r = testing::run_with_test_aws(testing::facepipe_binary().string() + " results --json --queue-url " +
                                 queue_url + " --expect 1 --idle-seconds 20");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["name"], "Mr_Bean");
  EXPECT_EQ(j["record"]["role"], "actor");
  EXPECT_GT(j["latency_s"].get<double>(), 1.9);
}

TEST(Results, EventLinesEscapeWhatCouldForgeTheTerminal) {
  const json e = {{"type", "face.entered"}, {"camera", "door\n\x1b[2J"}, {"name", "a b"}, {"track_id", 17}};
  const std::string line = describe_event(e);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("\"door\\n\\u001b[2J\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"a b\""), std::string::npos) << line;
  EXPECT_NE(line.find("track 17"), std::string::npos) << line;
  EXPECT_TRUE(is_camera_event(e));
  EXPECT_FALSE(is_camera_event(json{{"request_id", "r1"}, {"result", "Obama"}}));
  EXPECT_FALSE(is_camera_event(json("face.entered")));
}

TEST(Results, ParsesUtcTimes) {
  EXPECT_EQ(parse_utc_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(parse_utc_ms("2026-12-02T01:02:03.456Z"), 1796173323456);
  EXPECT_EQ(parse_utc_ms("2026-12-02T01:02:03Z"), 1796173323000);
  for (const char* bad :
       {"", "2026-12-02", "2026-12-02T01:02:03", "2026-12-02T01:02:03.Z", "2026-13-02T01:02:03Z",
        "2026-12-02T01:02:03.456+01:00", "2026-12-02T01:02:03.456Zjunk"})
    EXPECT_FALSE(parse_utc_ms(bad)) << bad;
}

}  // namespace
}  // namespace facepipe::events

namespace facepipe::events {
namespace {

// `facepipe events send`, the new user's check of a sink: delivered, refused URL, unreachable broker.
TEST(EventsSend, DeliversTheSampleAndSaysWhichSinkFailed) {
  const auto file = std::filesystem::temp_directory_path() / ("fp_events_send_" + std::to_string(::getpid()));
  std::filesystem::remove(file);
  const std::string fp = testing::facepipe_binary().string();
  auto r =
      testing::run_with_test_aws(fp + " events send --camera door --name Obama --sink file:" + file.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(file);
  std::vector<json> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "face.entered");
  EXPECT_EQ(lines[1]["type"], "face.left");
  EXPECT_EQ(lines[1]["camera"], "door");
  EXPECT_EQ(lines[1]["name"], "Obama");
  std::filesystem::remove(file);

  r = testing::run_with_test_aws(fp + " events send --sink 'mqtt://h/a/+'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("mqtt://[USER[:PASSWORD]@]HOST[:PORT]"), std::string::npos) << r.output;
  r = testing::run_with_test_aws(fp + " events send --sink nonsense");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("webhook+http(s)://"), std::string::npos) << r.output;

  const int port = testing::free_port();
  r = testing::run_with_test_aws(fp +
                                 " events send --timeout 1 --sink mqtt://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED: not acknowledged within 1 s: cannot connect: Connection refused"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace facepipe::events
