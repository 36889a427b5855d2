// FrameSource opened by URL: a video file gives the same frames as decoding its bytes, by path or file:
// URL; a missing file and an unknown scheme are refused with what to do.
#include <gtest/gtest.h>

#include "core/error.h"
#include "testutil/testutil.h"
#include "video/live_source.h"
#include "video/source.h"

namespace facepipe::video {
namespace {

TEST(FrameSource, AFileGivesTheFramesItsPolicyKeeps) {
  const auto path = (facepipe::testing::datasets() / "videos/Obama.mp4").string();
  for (const std::string url : {path, "file:" + path}) {
    auto source = open_frame_source(url);
    EXPECT_EQ(source->url(), url);
    std::vector<double> times;
    const ClipInfo info = source->run(FramePolicy::parse("fps:2"), [&](double t, const cv::Mat& rgb) {
      EXPECT_EQ(rgb.type(), CV_8UC3);
      times.push_back(t);
      return true;
    });
    ASSERT_GT(times.size(), 1u);
    EXPECT_EQ(static_cast<int>(times.size()), info.delivered);
    EXPECT_LT(times.front(), 0.5);
    // Decoding the same bytes directly delivers the same frames.
    int direct = 0;
    decode_clip(facepipe::testing::read_file(path), FramePolicy::parse("fps:2"), [&](double, const cv::Mat&) {
      ++direct;
      return true;
    });
    EXPECT_EQ(direct, info.delivered);
  }
}

TEST(FrameSource, MissingFilesAndUnknownSchemesAreRefused) {
  EXPECT_THROW(open_frame_source("/does/not/exist.mp4")->run({}, [](double, const cv::Mat&) { return true; }),
               Error);
  try {
    open_frame_source("ftp://user:secret@camera/stream");
    ADD_FAILURE() << "ftp opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
}

TEST(FrameSource, LiveCameraUrlsOpenLiveSources) {
  for (const std::string url : {"rtsp://camera/stream", "rtsps://camera/s", "http://cam/video.mjpg",
                                "https://cdn/live.m3u8", "/dev/video0", "v4l2:/dev/video1?size=640x480"}) {
    auto source = open_frame_source(url);
    EXPECT_NE(dynamic_cast<LiveSource*>(source.get()), nullptr) << url;
    EXPECT_EQ(source->url(), url);
  }
}

}  // namespace
}  // namespace facepipe::video
