// `facepipe serve --camera`: the cameras watched inside the service. Their events reach the response
// queue (printed by `facepipe results`), their state is in /healthz and /metrics, and a camera that cannot
// be reached is reported there while the service stays healthy.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "stream/stream_testutil.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;

TEST(ServeCamera, EventsReachTheResponseQueueAndCamerasAreInHealthAndMetrics) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_stream_serve_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string bin = facepipe_binary().string();
  const auto gallery = dir / "g.db";
  auto r = run_command(bin + " enroll --gallery " + gallery.string() + " --folder " +
                           (datasets() / "video_frames").string() + " --per-person 3",
                       true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(dir / "people.csv") << "name,major\nBean,Drama\nObama,Law\nFreeman,Film\nTrump,Business\n";
  r = run_command(bin + " people import --gallery " + gallery.string() + " " + (dir / "people.csv").string(),
                  true);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"}, 2);
  // A port nobody listens on.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  const std::string gone = "rtsp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";

  Process serve({bin, "serve", "--port", "0", "--gallery", gallery.string(), "--data-dir",
                 (dir / "data").string(), "--id", "cam", "--camera", "door=" + server.url("door"), "--camera",
                 "gone=" + gone, "--fps", "5", "--event-sink", "file:" + (dir / "events.jsonl").string()},
                dir / "serve.out", dir / "serve.err");
  std::smatch m;
  const std::regex listening("listening on (http://([0-9.]+):([0-9]+))");
  std::string log;
  ASSERT_TRUE(eventually(
      [&] {
        log = serve.out();
        return std::regex_search(log, m, listening) || !serve.alive();
      },
      std::chrono::seconds(120)));
  ASSERT_TRUE(std::regex_search(log, m, listening)) << log << serve.err();
  const std::string url = m[1];
  httplib::Client http(m[2].str(), std::stoi(m[3].str()));

  // /healthz: the service is healthy; the cameras' states are its detail.
  json health;
  ASSERT_TRUE(eventually(
      [&] {
        auto res = http.Get("/healthz");
        if (!res || res->status != 200) return false;
        health = json::parse(res->body);
        bool door_up = false, gone_retrying = false;
        for (const auto& c : health["cameras"]) {
          door_up |= c["name"] == "door" && c["state"] == "streaming";
          gone_retrying |= c["name"] == "gone" && c["state"] == "retrying";
        }
        return door_up && gone_retrying;
      },
      std::chrono::seconds(30)))
      << health.dump() << serve.err();
  EXPECT_EQ(health["status"], "ok");
  for (const auto& c : health["cameras"])
    if (c["name"] == "gone")
      EXPECT_NE(c["last_error"].get<std::string>().find("Connection refused"), std::string::npos) << c.dump();
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("facepipe_camera_up{camera=\"door\"} 1"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("facepipe_camera_up{camera=\"gone\"} 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("facepipe_camera_state{camera=\"gone\",state=\"retrying\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("facepipe_camera_frames_decoded_total{camera=\"door\"}"), std::string::npos);

  // The events, from the response queue, as `facepipe results` prints them.
  std::vector<json> events;
  ASSERT_TRUE(eventually(
      [&] {
        const auto out = run_command(bin + " results --json --queue-url " + url +
                                     "/000000000000/cam-resp-queue --expect 10 --idle-seconds 2");
        for (auto& e : event_lines(out.output)) events.push_back(e);
        for (const auto& e : events)
          if (e["type"] == "face.left" && e["name"] == "Freeman") return true;
        return !serve.alive();
      },
      std::chrono::seconds(90)))
      << serve.err();
  std::vector<std::string> story;
  for (const auto& e : events) {
    EXPECT_EQ(e["camera"], "door");
    if (e["type"] == "face.identified") continue;
    story.push_back(e["type"].get<std::string>() + " " + e["name"].get<std::string>());
    EXPECT_FALSE(e["record"].is_null()) << e.dump();
    EXPECT_TRUE(e["snapshot"].is_object()) << e.dump();
    if (e["snapshot"].is_object())
      EXPECT_TRUE(std::filesystem::exists(dir / "data/snapshots" / e["snapshot"]["face"].get<std::string>()));
  }
  ASSERT_GE(story.size(), 6u) << serve.err();
  story.resize(6);
  EXPECT_EQ(story,
            (std::vector<std::string>{"face.entered Bean", "face.left Bean", "face.entered Obama",
                                      "face.left Obama", "face.entered Freeman", "face.left Freeman"}));
  // The same events in the extra sink.
  EXPECT_GE(static_cast<int>(event_lines(slurp(dir / "events.jsonl")).size()), 6);

  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.err();
  EXPECT_NE(serve.err().find("camera gone " + gone + ": cannot open: Connection refused; retrying in"),
            std::string::npos);
}

}  // namespace
}  // namespace facepipe::testing
