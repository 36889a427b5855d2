#include "video/clip.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/error.h"
#include "testutil/recording.h"
#include "testutil/testutil.h"

namespace facepipe::video {
namespace {

using facepipe::testing::datasets;
using facepipe::testing::read_file;

TEST(Clip, DecodesEveryBundledClipWithPlausibleTiming) {
  for (const char* name : {"Bean", "Freeman", "Obama", "Trump"}) {
    const std::string bytes = read_file(datasets() / "videos" / (std::string(name) + ".mp4"));
    std::vector<double> times;
    int width = 0;
    const ClipInfo info = decode_clip(bytes, FramePolicy::parse("every"), [&](double t, const cv::Mat& rgb) {
      times.push_back(t);
      width = rgb.cols;
      EXPECT_EQ(rgb.type(), CV_8UC3);
      return true;
    });
    EXPECT_GT(info.duration, 0.5) << name;
    EXPECT_LT(info.duration, 5.0) << name;
    EXPECT_GE(info.width, 1280) << name;
    EXPECT_EQ(width, info.width);
    EXPECT_EQ(info.delivered, info.decoded);
    EXPECT_EQ(static_cast<int>(times.size()), info.decoded);
    // About fps x duration frames, in increasing time from ~0.
    EXPECT_NEAR(info.decoded, info.fps * info.duration, 3) << name;
    EXPECT_NEAR(times.front(), 0.0, 0.05) << name;
    for (size_t i = 1; i < times.size(); ++i) EXPECT_GT(times[i], times[i - 1]) << name;
  }
}

TEST(Clip, PoliciesPickTheRightFrames) {
  const std::string bytes = read_file(datasets() / "videos/Obama.mp4");
  std::vector<double> first, two, every;
  decode_clip(bytes, FramePolicy::parse("first"),
              [&](double t, const cv::Mat&) { return first.push_back(t), true; });
  const auto info = decode_clip(bytes, FramePolicy::parse("fps:2"),
                                [&](double t, const cv::Mat&) { return two.push_back(t), true; });
  decode_clip(bytes, FramePolicy::parse("every"),
              [&](double t, const cv::Mat&) { return every.push_back(t), true; });
  ASSERT_EQ(first.size(), 1u);
  EXPECT_NEAR(first[0], 0, 0.05);
  EXPECT_NEAR(static_cast<double>(two.size()), std::ceil(2 * info.duration), 1.0);
  for (size_t i = 1; i < two.size(); ++i) EXPECT_NEAR(two[i] - two[i - 1], 0.5, 1.0 / info.fps + 1e-6);
  EXPECT_GT(every.size(), two.size());
  // The sink can stop early.
  int n = 0;
  decode_clip(bytes, FramePolicy::parse("every"), [&](double, const cv::Mat&) { return ++n < 3; });
  EXPECT_EQ(n, 3);
}

TEST(Clip, BadInputIsRefusedClearly) {
  const std::string mp4 = read_file(datasets() / "videos/Bean.mp4");
  const std::string jpeg = read_file(datasets() / "misc/kate_siegel.jpg");
  std::string random(20000, '\0');
  uint32_t x = 7;
  for (auto& c : random) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
  auto sink = [](double, const cv::Mat&) { return true; };
  for (const auto& [what, bytes] :
       std::vector<std::pair<std::string, std::string>>{{"empty", ""},
                                                        {"random", random},
                                                        {"text", "hello, this is not a video"},
                                                        {"truncated", mp4.substr(0, 2000)}}) {
    EXPECT_THROW(decode_clip(bytes, FramePolicy{}, sink), Error) << what;
  }
  // libav would read a JPEG as a one-frame stream; a still image is refused as "not a clip".
  try {
    decode_clip(jpeg, FramePolicy{}, sink);
    ADD_FAILURE() << "a JPEG was accepted as a clip";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("still image"), std::string::npos) << e.what();
  }
  ClipLimits short_limit;
  short_limit.max_seconds = 0.5;
  try {
    decode_clip(mp4, FramePolicy{}, sink, short_limit);
    ADD_FAILURE() << "a clip longer than the limit was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
  }
  EXPECT_THROW(FramePolicy::parse("sometimes"), Error);
  EXPECT_THROW(FramePolicy::parse("fps:0"), Error);
  EXPECT_EQ(FramePolicy::parse("fps:2.5").to_string(), "fps:2.5");
}

}  // namespace
}  // namespace facepipe::video

namespace facepipe::video {
namespace {

// A camera's continuous recording cut into short clips: every clip decodes on its own, starts at zero,
// and together they cover the recording's frames.
TEST(SplitIntoClips, CutsAtKeyframesAndEveryClipDecodes) {
  for (const char* name : {"Bean", "Freeman", "Obama", "Trump"}) {
    const std::string bytes =
        facepipe::testing::read_file(facepipe::testing::datasets() / "videos" / (std::string(name) + ".mp4"));
    const ClipInfo whole =
        decode_clip(bytes, FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; });
    const auto clips = split_into_clips(bytes, 1.0);
    ASSERT_FALSE(clips.empty()) << name;
    int frames = 0;
    for (const auto& clip : clips) {
      double first = -1;
      const ClipInfo info = decode_clip(clip, FramePolicy::parse("every"), [&](double t, const cv::Mat& rgb) {
        if (first < 0) first = t;
        EXPECT_EQ(rgb.cols, whole.width);
        return true;
      });
      EXPECT_GT(info.decoded, 0) << name;
      EXPECT_NEAR(first, 0.0, 0.05) << name << ": a clip must start at zero";
      frames += info.decoded;
    }
    EXPECT_EQ(frames, whole.decoded) << name << ": the clips must hold every frame once";
    // The bundled clips carry one keyframe each: they stay whole.
    EXPECT_EQ(clips.size(), 1u) << name;
  }
  // A longer recording with a keyframe every 12 frames (0.48 s at 25 fps): 1-second clips cut at keyframes.
  const auto file = std::filesystem::temp_directory_path() / "fp_recording_split.mp4";
  facepipe::testing::make_recording({"Bean", "Obama", "Trump"}, file);
  const std::string recording = facepipe::testing::read_file(file);
  const ClipInfo whole =
      decode_clip(recording, FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; });
  const int encoded = 53 + 60 + 48;
  EXPECT_NEAR(whole.decoded, encoded, 1);  // the MP4 edit list may hide one frame of the whole file
  const auto clips = split_into_clips(recording, 1.0);
  int frames = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    const ClipInfo info =
        decode_clip(clips[i], FramePolicy::parse("every"), [](double, const cv::Mat&) { return true; });
    if (i + 1 < clips.size()) EXPECT_GE(info.decoded, 25);  // at least 1 s (cuts wait for a keyframe)...
    EXPECT_LE(info.decoded, 36);                            // ...and at most 1 s + one GOP
    frames += info.decoded;
  }
  EXPECT_EQ(frames, encoded);
  EXPECT_GE(clips.size(), 5u);
  EXPECT_LE(clips.size(), 7u);
  EXPECT_THROW(split_into_clips("not a video at all", 1.0), Error);
  try {
    split_into_clips(facepipe::testing::read_file(facepipe::testing::datasets() / "misc/kate_siegel.jpg"),
                     1.0);
    FAIL() << "a still image is not a recording";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("still image"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      split_into_clips(facepipe::testing::read_file(facepipe::testing::datasets() / "videos/Obama.mp4"), 0),
      Error);
}

}  // namespace
}  // namespace facepipe::video

namespace facepipe::video {
namespace {

// Issue 14, finding 8: a clip cut short answered from its few frames with nothing saying so.
TEST(Clip, TruncatedClipIsReportedIncomplete) {
  const std::string mp4 = read_file(datasets() / "videos/Bean.mp4");
  auto sink = [](double, const cv::Mat&) { return true; };
  const ClipInfo whole = decode_clip(mp4, FramePolicy::parse("every"), sink);
  EXPECT_TRUE(whole.complete) << whole.error;
  EXPECT_EQ(whole.decoded, whole.expected_frames);
  const ClipInfo cut = decode_clip(mp4.substr(0, mp4.size() / 5), FramePolicy::parse("every"), sink);
  EXPECT_FALSE(cut.complete);
  EXPECT_GT(cut.decoded, 0);
  EXPECT_LT(cut.decoded, whole.decoded);
  EXPECT_EQ(cut.expected_frames, whole.expected_frames);
  EXPECT_NE(cut.error.find("truncated"), std::string::npos) << cut.error;
  // Stopping early on purpose (policy "first") is not an incomplete clip.
  EXPECT_TRUE(decode_clip(mp4, FramePolicy::parse("first"), sink).complete);
}

// Issue 14, finding 8: a 10 s 4K clip with policy=every held a request for 123 s. Here 3 s of 4K (90 frames
// declared by the container, 746 megapixels to recognise): refused before a frame is decoded, with what
// to do instead.
TEST(Clip, OversizedClipIsRefusedByTheDecodeBudget) {
  const auto path = std::filesystem::temp_directory_path() / ("fp_4k_" + std::to_string(::getpid()) + ".mp4");
  facepipe::testing::make_flat_clip(path, 3840, 2160, 30, 90);
  const std::string mp4 = read_file(path);
  std::filesystem::remove(path);
  int delivered = 0;
  auto sink = [&](double, const cv::Mat&) { return ++delivered > 0; };
  try {
    decode_clip(mp4, FramePolicy::parse("every"), sink);
    ADD_FAILURE() << "a clip over the decode budget was decoded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
    EXPECT_NE(std::string(e.what()).find("decode budget"), std::string::npos) << e.what();
  }
  EXPECT_EQ(delivered, 0);
  // Two frames a second of the same clip fit the budget.
  const ClipInfo sampled = decode_clip(mp4, FramePolicy::parse("fps:2"), sink);
  EXPECT_TRUE(sampled.complete) << sampled.error;
  EXPECT_NEAR(sampled.delivered, 6, 1);
  // A budget smaller than what the container declares refuses; one reached while decoding stops the clip
  // and says so (the container here declares nothing wrong, the budget is just small).
  ClipLimits small;
  small.max_decoded_pixels = 3840ll * 2160 * 50;
  EXPECT_THROW(decode_clip(mp4, FramePolicy::parse("fps:2"), sink, small), Error);
}

}  // namespace
}  // namespace facepipe::video
