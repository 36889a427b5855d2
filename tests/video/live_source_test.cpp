// LiveSource without servers: URL forms, password redaction, files streamed from disk (policy, loops,
// real-time pacing), and a source that cannot connect being retried, reported and stopped.
#include "video/live_source.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.h"
#include "testutil/testutil.h"

namespace facepipe::video {
namespace {

using facepipe::testing::datasets;

TEST(LiveSourceUrl, EachFormIsClassifiedAndAnythingElseRefused) {
  EXPECT_EQ(classify_source_url("rtsp://10.0.0.2:554/stream1"), SourceKind::kRtsp);
  EXPECT_EQ(classify_source_url("rtsps://cam.local/live"), SourceKind::kRtsp);
  EXPECT_EQ(classify_source_url("http://cam.local/mjpg/video.mjpg"), SourceKind::kHttp);
  EXPECT_EQ(classify_source_url("https://cdn.example/live/index.m3u8"), SourceKind::kHttp);
  EXPECT_EQ(classify_source_url("/dev/video0"), SourceKind::kDevice);
  EXPECT_EQ(classify_source_url("v4l2:/dev/video12?size=1280x720&fps=30&format=mjpeg"), SourceKind::kDevice);
  EXPECT_EQ(classify_source_url("/dev/video2?fps=30000/1001"), SourceKind::kDevice);
  EXPECT_EQ(classify_source_url("clips/door.mp4"), SourceKind::kFile);
  EXPECT_EQ(classify_source_url("file:/tmp/door.mkv"), SourceKind::kFile);
  for (const std::string bad :
       {"", "ftp://host/x", "rtmp://host/live", "/dev/video", "/dev/videoX", "/dev/video0?size=large",
        "/dev/video0?fps=fast", "/dev/video0?zoom=2", "v4l2:/dev/sda", "/dev/video1234"}) {
    try {
      classify_source_url(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << bad;
      EXPECT_GT(std::string(e.what()).size(), 20u) << bad;
    }
  }
}

TEST(LiveSourceUrl, PasswordsAreRedacted) {
  EXPECT_EQ(redact_url("rtsp://admin:hunter2@10.0.0.2:554/s1"), "rtsp://admin:***@10.0.0.2:554/s1");
  EXPECT_EQ(redact_url("rtsp://admin@10.0.0.2/s1"), "rtsp://admin@10.0.0.2/s1");
  EXPECT_EQ(redact_url("http://cam/a@b"), "http://cam/a@b");
  EXPECT_EQ(redact_url("/dev/video0"), "/dev/video0");
  try {
    classify_source_url("rtmp://admin:hunter2@host/live");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  LiveSource s("rtsp://admin:hunter2@127.0.0.1:9/x");
  EXPECT_EQ(s.status().url, "rtsp://admin:***@127.0.0.1:9/x");
}

TEST(LiveSourceFile, StreamsAFileFromDiskAtThePolicysRateAndLoops) {
  const std::string clip = (datasets() / "videos/Bean.mp4").string();  // 53 frames, 23.976 fps, 2.2 s
  LiveOptions o;
  o.loops = 3;
  LiveSource source(clip, o);
  FramePolicy policy = FramePolicy::parse("fps:5");
  std::vector<double> times;
  const ClipInfo info = source.run(policy, [&](double t, const cv::Mat& rgb) {
    EXPECT_EQ(rgb.cols, 1280);
    EXPECT_EQ(rgb.rows, 720);
    times.push_back(t);
    return true;
  });
  EXPECT_EQ(info.decoded, 3 * 53);
  EXPECT_EQ(info.delivered, static_cast<int>(times.size()));
  // About 5 a second of video, evenly spaced (a new play starts with its first frame), the time going on
  // across loops.
  EXPECT_NEAR(static_cast<double>(times.size()), 3 * 2.21 * 5, 3);
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_GT(times[i], times[i - 1]);
    EXPECT_GE(times[i] - times[i - 1], 0.12) << i;
    EXPECT_LE(times[i] - times[i - 1], 0.25) << i;
  }
  EXPECT_GT(times.back(), 6.0);
  const SourceStatus s = source.status();
  EXPECT_EQ(s.state, SourceState::kEnded);
  EXPECT_EQ(s.connects, 3);
  EXPECT_EQ(s.frames_decoded, 3 * 53);
  EXPECT_EQ(s.codec, "h264");
}

TEST(LiveSourceFile, RealtimePacesAFileAsACameraWould) {
  LiveOptions o;
  o.realtime = true;
  LiveSource source((datasets() / "videos/Freeman.mp4").string(), o);  // 25 frames, about 1.04 s
  const auto start = std::chrono::steady_clock::now();
  source.run(FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(took, 0.9);
}

TEST(LiveSourceFile, AMissingOrBrokenFileIsAnErrorNotARetry) {
  LiveSource missing("/nonexistent/door.mp4");
  EXPECT_THROW(missing.run(FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; }), Error);
  const std::string junk = ::testing::TempDir() + "/fp_live_junk.mp4";
  { std::ofstream(junk) << std::string(5000, 'x'); }
  LiveSource broken(junk);
  EXPECT_THROW(broken.run(FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; }), Error);
  EXPECT_EQ(broken.status().state, SourceState::kEnded);
  EXPECT_FALSE(broken.status().last_error.empty());
}

TEST(LiveSourceRetry, AnUnreachableCameraIsRetriedWithBackoffUntilStopped) {
  // A port nobody listens on.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  LiveOptions o;
  o.backoff_initial = 0.1;
  o.backoff_max = 0.4;
  LiveSource source("rtsp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/none", o);
  std::thread runner(
      [&] { source.run(FramePolicy::parse("fps:5"), [](double, const cv::Mat&) { return true; }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const SourceStatus s = source.status();
  EXPECT_TRUE(s.state == SourceState::kRetrying || s.state == SourceState::kConnecting);
  // 0.1 + 0.2 + 0.4 + 0.4 ... : about 5 attempts in 1.5 s, not 15.
  EXPECT_GE(s.failures, 3);
  EXPECT_LE(s.failures, 7);
  EXPECT_NE(s.last_error.find("Connection refused"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.connects, 0);
  const auto stop_at = std::chrono::steady_clock::now();
  source.stop();
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::milliseconds(500));
  EXPECT_EQ(source.status().state, SourceState::kStopped);
}

}  // namespace
}  // namespace facepipe::video
