// Where frames come from, whatever produces them: a FrameSource hands decoded frames (RGB) in order to a
// FrameSink (video/clip.h) at the times a FramePolicy picks. Opened by URL, as queues are:
//   "file:PATH" or a plain PATH   a video file (MP4/MOV/MKV..., decoded in memory with libav)
//   rtsp(s)://, http(s)://, /dev/videoN, v4l2:/dev/videoN   a live camera (video/live_source.h: reconnects
//                                 with backoff until stopped; LiveSource has the options and the status)
#pragma once

#include <memory>
#include <string>

#include "video/clip.h"

namespace facepipe::video {

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Delivers the frames `policy` keeps until the source ends or `sink` returns false. Error(kInvalidInput)
  // for data that is no video, Error(kTooLarge) past the source's limits, Error(kNotFound) for a missing
  // file.
  virtual ClipInfo run(const FramePolicy& policy, const FrameSink& sink) = 0;
  // The URL it was opened with (logs, event payloads).
  virtual std::string url() const = 0;
};

// Error(kInvalidInput) naming the known schemes for any other URL.
std::unique_ptr<FrameSource> open_frame_source(const std::string& url, const ClipLimits& limits = {});

}  // namespace facepipe::video
