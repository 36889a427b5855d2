#include "video/source.h"

#include "core/error.h"
#include "core/file.h"
#include "video/live_source.h"

namespace facepipe::video {
namespace {

// A video file, read whole and decoded from memory (clips are short; see ClipLimits).
class FileSource : public FrameSource {
 public:
  FileSource(std::string url, std::string path, ClipLimits limits)
      : url_(std::move(url)), path_(std::move(path)), limits_(limits) {}
  ClipInfo run(const FramePolicy& policy, const FrameSink& sink) override {
    return decode_clip(read_file(path_, "video"), policy, sink, limits_);
  }
  std::string url() const override { return url_; }

 private:
  std::string url_, path_;
  ClipLimits limits_;
};

}  // namespace

std::unique_ptr<FrameSource> open_frame_source(const std::string& url, const ClipLimits& limits) {
  const auto colon = url.find(':');
  const std::string scheme = colon == std::string::npos ? "" : url.substr(0, colon);
  // Live cameras (video/live_source.h): at the stream's pace, reconnecting until stopped.
  if (scheme == "rtsp" || scheme == "rtsps" || scheme == "http" || scheme == "https" || scheme == "v4l2" ||
      url.rfind("/dev/video", 0) == 0)
    return std::make_unique<LiveSource>(url, LiveOptions{}, limits);
  if (scheme == "file") return std::make_unique<FileSource>(url, url.substr(5), limits);
  if (scheme.empty() || url.find("://") == std::string::npos)
    return std::make_unique<FileSource>(url, url, limits);
  throw Error(ErrorKind::kInvalidInput,
              "no frame source for '" + redact_url(url) +
                  "'; give a video file (PATH or file:PATH), rtsp(s)://, http(s):// or /dev/videoN");
}

}  // namespace facepipe::video
