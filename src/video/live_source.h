// Live video sources: cameras watched for hours. A LiveSource opens its URL through libavformat
// (libavdevice for capture devices), decodes at the stream's rate and hands the frames its FramePolicy
// keeps to the sink. When the stream cannot be opened, drops, ends or stalls, it reconnects with capped
// exponential backoff, forever, until stop(): a camera that is down is retried, never fatal.
//
// URLs:
//   rtsp://HOST[:PORT]/PATH, rtsps://...   RTSP (TCP interleaved by default; LiveOptions::rtsp_transport)
//   http(s)://...                          MJPEG (multipart/x-mixed-replace), MPEG-TS, HLS (.m3u8), ...
//   /dev/videoN, v4l2:/dev/videoN          a V4L2 capture device; ?size=WxH&fps=N&format=mjpeg|yuyv422|...
//   file:PATH or PATH                      a video file, streamed from disk (not read whole), ends at its end
// Credentials in a URL (rtsp://user:pass@host/...) never reach logs or status: see redact_url().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "video/clip.h"
#include "video/source.h"

namespace facepipe::video {

enum class SourceKind { kFile, kRtsp, kHttp, kDevice };

// What a URL names; Error(kInvalidInput) naming the accepted forms for anything else (an unknown scheme,
// "/dev/video" without a number, an unknown device option).
SourceKind classify_source_url(const std::string& url);
// `url` with any password replaced by "***".
std::string redact_url(const std::string& url);

struct LiveOptions {
  std::string name;                    // the camera's name, in logs
  std::string rtsp_transport = "tcp";  // "tcp" (through NATs and firewalls, no loss) or "udp"
  double open_timeout = 10;            // seconds to connect and read the stream's headers
  double stall_timeout = 10;           // seconds without a packet: the stream stalled, reconnect
  double backoff_initial = 0.5;        // seconds before the first retry, doubled after each failure...
  double backoff_max = 30;             // ...up to this
  bool realtime =
      false;      // files: deliver at the video's own pace, as a camera would (else as fast as decoded)
  int loops = 1;  // files: play this many times (0 = forever)
};

enum class SourceState { kConnecting, kStreaming, kRetrying, kEnded, kStopped };
const char* to_string(SourceState state);

struct SourceStatus {
  SourceState state = SourceState::kConnecting;
  std::string url;             // redacted
  std::string last_error;      // the latest failure (kept while streaming again, with its time)
  double last_error_age = -1;  // seconds since last_error, -1 when none
  double retry_in = 0;         // kRetrying: seconds until the next attempt
  int connects = 0;            // successful opens
  int failures = 0;            // failed opens, drops, stalls
  int64_t frames_decoded = 0;
  int64_t frames_delivered = 0;  // the ones the policy kept (handed to the sink)
  double fps_in = 0;             // decoded frames per second, over the last few seconds
  double fps_out = 0;            // delivered frames per second, likewise
  int width = 0, height = 0;
  std::string codec;
  nlohmann::json to_json() const;
};

class LiveSource : public FrameSource {
 public:
  // Error(kInvalidInput) for a URL classify_source_url() refuses or options out of range. Nothing is opened
  // before run().
  LiveSource(std::string url, LiveOptions options = {}, ClipLimits limits = {});
  ~LiveSource() override;
  LiveSource(const LiveSource&) = delete;
  LiveSource& operator=(const LiveSource&) = delete;

  // Opens, decodes, reconnects, until stop() is called, the sink returns false, or a file has played
  // `loops` times. Frame times (the sink's `seconds`): for live URLs the arrival time since run() began,
  // so times go on across reconnects; for files the video's own time, continued across loops. Returns what
  // was decoded; `complete` is false and `error` says why when it ended on an error (files only: live
  // URLs do not end on errors).
  ClipInfo run(const FramePolicy& policy, const FrameSink& sink) override;
  std::string url() const override { return url_; }
  SourceKind kind() const { return kind_; }
  // Any thread: makes run() return soon, interrupting a blocked open or read.
  void stop();
  SourceStatus status() const;

 private:
  struct Connection;
  enum class Outcome { kEnded, kStopped, kFailed };
  Outcome stream_once(const FramePolicy& policy, const FrameSink& sink, ClipInfo& info, std::string& error);
  void set_state(SourceState s, const std::string& error = "", double retry_in = 0);
  static int interrupt(void* opaque);
  double now() const;  // seconds since construction (steady clock)

  const std::string url_;
  const SourceKind kind_;
  const LiveOptions options_;
  const ClipLimits limits_;
  std::atomic<bool> stop_{false};
  std::atomic<double> deadline_{0};  // the interrupt callback fails a blocked call past this time
  std::atomic<bool> timed_out_{false};
  double time_offset_ = 0;  // added to frame times (files: earlier loops)
  double last_time_ = 0;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  SourceStatus status_;
  double last_error_at_ = -1;
  double rate_since_ = 0;  // start of the current fps window
  int64_t rate_decoded_ = 0, rate_delivered_ = 0;
  const int64_t started_ns_;
};

}  // namespace facepipe::video
