// HTTP camera forms through LiveSource, served by Python's HTTP server on loopback: MJPEG
// (multipart/x-mixed-replace, what cheap IP cameras send), HLS (a playlist of MPEG-TS segments) and
// MPEG-TS, each made from a bundled clip with ffmpeg.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "stream/stream_testutil.h"
#include "video/live_source.h"

namespace facepipe::testing {
namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return up;
}

TEST(HttpSources, MjpegHlsAndMpegTsStreamsDeliverTheirFrames) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_stream_http_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "hls");
  const std::string bean = (datasets() / "videos/Bean.mp4").string();  // 53 frames, 1280x720
  const std::string ff = "ffmpeg -hide_banner -loglevel error -y -i " + bean + " -an ";
  for (const std::string& cmd :
       {ff + "-vf scale=640:360 -c:v mjpeg -q:v 5 -f mpjpeg " + (dir / "cam.mjpg").string(),
        ff +
            "-c:v libx264 -preset ultrafast -g 12 -f hls -hls_time 1 -hls_list_size 0 -hls_playlist_type "
            "vod " +
            (dir / "hls/index.m3u8").string(),
        ff + "-c:v libx264 -preset ultrafast -f mpegts " + (dir / "cam.ts").string()}) {
    const auto r = run_command(cmd, true);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  }
  const int port = free_port();
  Process http({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir.string(),
                std::to_string(port)},
               dir / "http.out", dir / "http.err");
  ASSERT_TRUE(eventually([&] { return listening(port); }, std::chrono::seconds(20)));
  const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";
  struct Case {
    std::string path;
    int width, height;
  } cases[] = {{"cam.mjpg", 640, 360}, {"hls/index.m3u8", 1280, 720}, {"cam.ts", 1280, 720}};
  for (const auto& c : cases) {
    video::LiveOptions o;
    o.open_timeout = 10;
    o.backoff_initial = 0.2;
    video::LiveSource source(base + c.path, o);
    int frames = 0;
    // Live sources do not end: the sink stops it after 40 of the clip's 53 frames.
    const auto info = source.run(video::FramePolicy::parse("every"), [&](double, const cv::Mat& rgb) {
      EXPECT_EQ(rgb.cols, c.width) << c.path;
      EXPECT_EQ(rgb.rows, c.height) << c.path;
      return ++frames < 40;
    });
    EXPECT_EQ(frames, 40) << c.path << ": " << source.status().to_json().dump();
    EXPECT_EQ(source.status().connects, 1) << c.path;
    EXPECT_EQ(source.status().state, video::SourceState::kStopped) << c.path;
    EXPECT_GE(info.decoded, 40) << c.path;
  }
  http.kill_now();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace facepipe::testing
