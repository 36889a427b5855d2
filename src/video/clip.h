// Video clips in memory -> the frames to recognise. Demuxing and decoding are libav's (libavformat,
// libavcodec, libswscale from Debian), reading from the uploaded bytes through a custom I/O context,
// so a clip never touches the disk and nothing shells out to ffmpeg.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

namespace facepipe::video {

// Which decoded frames are handed on.
struct FramePolicy {
  enum class Kind { kFirst, kPerSecond, kEvery } kind = Kind::kPerSecond;
  double per_second = 2;  // kPerSecond: frames per second of video, evenly spaced
  // "first", "every", or "fps:N" / "N" (N per second). Error(kInvalidInput) otherwise.
  static FramePolicy parse(const std::string& text);
  std::string to_string() const;
};

// The decode budget, in frames x pixels: decoding costs per decoded pixel, recognition per pixel of the
// frames the policy keeps. A clip whose container already declares more than the budget is refused
// (kTooLarge) before anything is decoded; one that turns out larger stops at the budget with `complete`
// false.
struct ClipLimits {
  double max_seconds = 60;                     // longer clips are refused: recognition is per short upload
  int64_t max_pixels = 8'294'400;              // 4K frames at most
  int max_frames = 2000;                       // decoded frames, whatever the policy keeps
  int64_t max_decoded_pixels = 4'000'000'000;  // sum over decoded frames: 60 s of 1080p at 30 fps
  int64_t max_delivered_pixels = 600'000'000;  // sum over kept frames: ~290 1080p or ~72 4K frames
};

struct ClipInfo {
  double duration = 0;  // seconds (from the container, else the last frame's time)
  double fps = 0;       // average frame rate the container declares
  int width = 0, height = 0;
  int decoded = 0;    // frames decoded
  int delivered = 0;  // frames handed to the callback
  std::string codec;
  // False when decoding stopped before the stream's end: truncated or corrupt data after some good
  // frames, or the decode budget reached; `error` says which. The frames before it were delivered.
  bool complete = true;
  std::string error;
  int expected_frames = 0;  // frames the container declares (0 when it does not say)
};

// Called for each frame the policy keeps: its time in seconds from the clip's start and its pixels
// (CV_8UC3, RGB). Returning false stops decoding early.
using FrameSink = std::function<bool(double seconds, const cv::Mat& rgb)>;

// Decodes `bytes` (MP4/MOV/MKV/... with any codec this libavcodec decodes). Error(kInvalidInput) for
// data that is not a video or holds no decodable frame, Error(kTooLarge) when the container declares more
// than `limits`; a stream that breaks off after good frames is returned with `complete` false.
ClipInfo decode_clip(std::string_view bytes, const FramePolicy& policy, const FrameSink& sink,
                     const ClipLimits& limits = {});

// Cuts a recording into clips of about `seconds` each, as a camera that records continuously uploads them:
// the video stream's packets are remuxed (not re-encoded) into fragmented MP4s, each starting at a keyframe
// (so a clip may run past `seconds` up to the next keyframe) with timestamps from zero. Audio is dropped.
// Error(kInvalidInput) for data that is not a video or `seconds` <= 0.
std::vector<std::string> split_into_clips(std::string_view bytes, double seconds);

}  // namespace facepipe::video
