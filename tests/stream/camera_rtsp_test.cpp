// The device side from a live camera: `facepipe camera --source rtsp://...` sends the RTSP stream's frames
// to `facepipe serve`, and `facepipe results` prints their answers (Bean, then Obama, then Freeman).
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stream/stream_testutil.h"

namespace facepipe::testing {
namespace {

TEST(CameraFromRtsp, FramesOfALiveStreamAreAnsweredByServeAndPrintedByResults) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fp_stream_camera_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string bin = facepipe_binary().string();
  const auto gallery = dir / "g.db";
  auto r = run_command(bin + " enroll --gallery " + gallery.string() + " --folder " +
                           (datasets() / "video_frames").string() + " --per-person 3",
                       true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"});
  Process serve({bin, "serve", "--port", "0", "--gallery", gallery.string(), "--data-dir",
                 (dir / "data").string(), "--id", "cam"},
                dir / "serve.out", dir / "serve.err");
  std::smatch m;
  const std::regex listening("listening on (http://[0-9.]+:[0-9]+)");
  std::string log;
  ASSERT_TRUE(eventually(
      [&] {
        log = serve.err() + serve.out();
        return std::regex_search(log, m, listening) || !serve.alive();
      },
      std::chrono::seconds(120)));
  ASSERT_TRUE(std::regex_search(log, m, listening)) << log;
  const std::string url = m[1];

  // Clips are cut from recordings: a live camera sends frames, and says so when asked for clips.
  r = run_command(bin + " camera --source " + server.url("door") + " --mode clips --url " + url, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is a live camera: send its frames with --mode frames"), std::string::npos)
      << r.output;

  // The whole sequence (11.3 s) at 2 frames a second.
  r = run_command(bin + " camera --json --source " + server.url("door") + " --fps 2 --duration 11.5 --url " +
                  url);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(r.output.substr(r.output.rfind('{')));
  const int sent = summary["sent"];
  EXPECT_GE(sent, 18) << r.output;
  EXPECT_LE(sent, 25) << r.output;
  EXPECT_EQ(summary["acknowledged"], sent);

  r = run_command(bin + " results --json --queue-url " + url + "/000000000000/cam-resp-queue --expect " +
                  std::to_string(sent) + " --idle-seconds 60");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, std::string> by_id;  // request ids sort in sending order
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("request_id")) by_id[j["request_id"]] = j["result"];
  }
  ASSERT_EQ(static_cast<int>(by_id.size()), sent) << r.output;
  // The people in the order the camera saw them, each several times; nobody else.
  std::vector<std::string> order;
  std::map<std::string, int> count;
  for (const auto& [id, result] : by_id) {
    if (result == "No face detected") continue;
    ++count[result];
    if (order.empty() || order.back() != result) order.push_back(result);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"Bean", "Obama", "Freeman"})) << r.output;
  EXPECT_GE(count["Bean"], 3);
  EXPECT_GE(count["Obama"], 3);
  EXPECT_GE(count["Freeman"], 1);
}

}  // namespace
}  // namespace facepipe::testing
