#include "video/live_source.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "video/libav.h"

namespace facepipe::video {
namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  libav().av_strerror(code, buf, sizeof buf);
  return buf;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

struct DeviceUrl {
  std::string path;
  std::string size, fps, format;  // libavdevice's video_size, framerate, input_format ("" = the device's)
};

// "/dev/videoN[?size=WxH&fps=N&format=F]" or the same after "v4l2:".
DeviceUrl parse_device_url(const std::string& url) {
  const std::string body = starts_with(url, "v4l2:") ? url.substr(5) : url;
  const auto q = body.find('?');
  DeviceUrl d;
  d.path = body.substr(0, q);
  static const std::regex device_re("/dev/video[0-9]{1,3}");
  if (!std::regex_match(d.path, device_re))
    throw Error(ErrorKind::kInvalidInput, "'" + d.path +
                                              "' is not a V4L2 capture device: give /dev/videoN (list them "
                                              "with `v4l2-ctl --list-devices` or `ls /dev/video*`)");
  if (q == std::string::npos) return d;
  const std::string query = body.substr(q + 1);
  static const std::regex size_re("[0-9]{2,5}x[0-9]{2,5}"),
      fps_re("[0-9]{1,5}(\\.[0-9]{1,3})?(/[0-9]{1,4})?"), format_re("[a-z0-9_]{1,32}");
  size_t at = 0;
  while (at <= query.size()) {
    const auto amp = std::min(query.find('&', at), query.size());
    const std::string pair = query.substr(at, amp - at);
    at = amp + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key = pair.substr(0, eq), value = eq == std::string::npos ? "" : pair.substr(eq + 1);
    if (key == "size" && std::regex_match(value, size_re))
      d.size = value;
    else if (key == "fps" && std::regex_match(value, fps_re))
      d.fps = value;
    else if (key == "format" && std::regex_match(value, format_re))
      d.format = value;
    else
      throw Error(ErrorKind::kInvalidInput,
                  "device option '" + pair + "' in '" + url +
                      "' is not understood: use size=WIDTHxHEIGHT, fps=N and format=mjpeg|yuyv422|h264");
  }
  return d;
}

std::string micros(double seconds) { return std::to_string(static_cast<int64_t>(seconds * 1e6)); }

}  // namespace

SourceKind classify_source_url(const std::string& url) {
  if (url.empty()) throw Error(ErrorKind::kInvalidInput, "empty video source: give a URL or a file");
  if (starts_with(url, "rtsp://") || starts_with(url, "rtsps://")) return SourceKind::kRtsp;
  if (starts_with(url, "http://") || starts_with(url, "https://")) return SourceKind::kHttp;
  if (starts_with(url, "v4l2:") || starts_with(url, "/dev/video")) {
    parse_device_url(url);  // throws with the accepted form
    return SourceKind::kDevice;
  }
  if (starts_with(url, "file:")) return SourceKind::kFile;
  const auto scheme = url.find("://");
  if (scheme != std::string::npos)
    throw Error(ErrorKind::kInvalidInput, "no video source for '" + redact_url(url) +
                                              "': use rtsp://, rtsps://, http(s):// (MJPEG, MPEG-TS, HLS), "
                                              "/dev/videoN (V4L2) or a video file");
  return SourceKind::kFile;
}

std::string redact_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host_end = url.find('/', scheme + 3);
  const auto at = url.rfind('@', host_end == std::string::npos ? std::string::npos : host_end);
  if (at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

const char* to_string(SourceState state) {
  switch (state) {
    case SourceState::kConnecting:
      return "connecting";
    case SourceState::kStreaming:
      return "streaming";
    case SourceState::kRetrying:
      return "retrying";
    case SourceState::kEnded:
      return "ended";
    default:
      return "stopped";
  }
}

nlohmann::json SourceStatus::to_json() const {
  auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
  return {
      {"state", video::to_string(state)},
      {"url", url},
      {"last_error", last_error.empty() ? nlohmann::json() : nlohmann::json(last_error)},
      {"last_error_age_s", last_error_age < 0 ? nlohmann::json() : nlohmann::json(round3(last_error_age))},
      {"retry_in_s", round3(retry_in)},
      {"connects", connects},
      {"failures", failures},
      {"frames_decoded", frames_decoded},
      {"frames_delivered", frames_delivered},
      {"fps_in", round3(fps_in)},
      {"fps_out", round3(fps_out)},
      {"width", width},
      {"height", height},
      {"codec", codec}};
}

LiveSource::LiveSource(std::string url, LiveOptions options, ClipLimits limits)
    : url_(std::move(url)),
      kind_(classify_source_url(url_)),
      options_(options),
      limits_(limits),
      started_ns_(std::chrono::steady_clock::now().time_since_epoch().count()) {
  if (options_.rtsp_transport != "tcp" && options_.rtsp_transport != "udp")
    throw Error(ErrorKind::kInvalidInput,
                "RTSP transport '" + options_.rtsp_transport + "' is not tcp or udp");
  if (!(options_.open_timeout > 0) || !(options_.stall_timeout > 0) || !(options_.backoff_initial > 0) ||
      options_.backoff_max < options_.backoff_initial || options_.loops < 0)
    throw Error(ErrorKind::kInvalidInput,
                "source timeouts and backoff must be positive seconds, with the backoff cap >= its start");
  status_.url = redact_url(url_);
}

LiveSource::~LiveSource() { stop(); }

double LiveSource::now() const {
  const auto ns = std::chrono::steady_clock::now().time_since_epoch().count() - started_ns_;
  return static_cast<double>(ns) / 1e9;
}

void LiveSource::stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  wake_.notify_all();
}

int LiveSource::interrupt(void* opaque) {
  auto* self = static_cast<LiveSource*>(opaque);
  if (self->stop_) return 1;
  if (self->now() > self->deadline_.load()) {
    self->timed_out_ = true;
    return 1;
  }
  return 0;
}

void LiveSource::set_state(SourceState s, const std::string& error, double retry_in) {
  std::lock_guard<std::mutex> lock(mu_);
  status_.state = s;
  status_.retry_in = retry_in;
  if (!error.empty()) {
    status_.last_error = error;
    last_error_at_ = now();
  }
}

SourceStatus LiveSource::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  SourceStatus s = status_;
  const double t = now();
  s.last_error_age = last_error_at_ < 0 ? -1 : t - last_error_at_;
  // Rates over the current window (at least a second of it), zero when nothing flows.
  const double window = t - rate_since_;
  if (s.state != SourceState::kStreaming) {
    s.fps_in = s.fps_out = 0;
  } else if (window >= 1.0) {
    s.fps_in = static_cast<double>(s.frames_decoded - rate_decoded_) / window;
    s.fps_out = static_cast<double>(s.frames_delivered - rate_delivered_) / window;
  }
  return s;
}

ClipInfo LiveSource::run(const FramePolicy& policy, const FrameSink& sink) {
  libav().av_log_set_level(AV_LOG_QUIET);  // failures are reported through return codes
  if (kind_ == SourceKind::kRtsp || kind_ == SourceKind::kHttp) {
    static std::once_flag network;
    std::call_once(network, [] { libav().avformat_network_init(); });
  }
  if (kind_ == SourceKind::kDevice) libavdevice();
  ClipInfo info;
  double backoff = options_.backoff_initial;
  int plays = 0;
  const bool live = kind_ != SourceKind::kFile;
  while (!stop_) {
    set_state(SourceState::kConnecting);
    std::string error;
    const int64_t delivered_before = info.delivered;
    const Outcome outcome = stream_once(policy, sink, info, error);
    if (outcome == Outcome::kStopped || stop_) break;
    if (outcome == Outcome::kEnded) {  // files only
      ++plays;
      if (options_.loops != 0 && plays >= options_.loops) {
        set_state(SourceState::kEnded);
        return info;
      }
      time_offset_ = last_time_ + 1.0 / std::max(info.fps, 1.0);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++status_.failures;
    }
    if (!live) {  // a file that cannot be read will not get better by retrying
      set_state(SourceState::kEnded, error);
      if (info.decoded == 0) throw Error(ErrorKind::kInvalidInput, error);
      info.complete = false;
      info.error = error;
      return info;
    }
    if (info.delivered > delivered_before) backoff = options_.backoff_initial;  // it was up: start over
    spdlog::warn("{}{}: {}; retrying in {:.1f} s",
                 options_.name.empty() ? "" : "camera " + options_.name + " ", status_.url, error, backoff);
    set_state(SourceState::kRetrying, error, backoff);
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::duration<double>(backoff), [&] { return stop_.load(); });
    }
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
  set_state(SourceState::kStopped);
  return info;
}

LiveSource::Outcome LiveSource::stream_once(const FramePolicy& policy, const FrameSink& sink, ClipInfo& info,
                                            std::string& error) {
  const auto& av = libav();
  timed_out_ = false;
  deadline_ = now() + options_.open_timeout;

  std::string target = url_;
  const AVInputFormat* input_format = nullptr;
  AVDictionary* raw_options = nullptr;
  switch (kind_) {
    case SourceKind::kRtsp:
      av.av_dict_set(&raw_options, "rtsp_transport", options_.rtsp_transport.c_str(), 0);
      av.av_dict_set(&raw_options, "timeout", micros(options_.stall_timeout).c_str(), 0);
      break;
    case SourceKind::kHttp:
      av.av_dict_set(&raw_options, "rw_timeout", micros(options_.stall_timeout).c_str(), 0);
      break;
    case SourceKind::kDevice: {
      const DeviceUrl d = parse_device_url(url_);
      target = d.path;
      input_format = av.av_find_input_format("video4linux2");
      if (input_format == nullptr) {
        error = "this libavdevice has no V4L2 input";
        return Outcome::kFailed;
      }
      if (!d.size.empty()) av.av_dict_set(&raw_options, "video_size", d.size.c_str(), 0);
      if (!d.fps.empty()) av.av_dict_set(&raw_options, "framerate", d.fps.c_str(), 0);
      if (!d.format.empty()) av.av_dict_set(&raw_options, "input_format", d.format.c_str(), 0);
      break;
    }
    case SourceKind::kFile:
      if (starts_with(target, "file:")) target = target.substr(5);
      break;
  }
  DictPtr open_options(raw_options);
  AVFormatContext* raw = av.avformat_alloc_context();
  if (raw == nullptr) {
    error = "out of memory";
    return Outcome::kFailed;
  }
  raw->interrupt_callback.callback = &LiveSource::interrupt;
  raw->interrupt_callback.opaque = this;
  AVDictionary* opts = open_options.release();
  const int open_rc = av.avformat_open_input(&raw, target.c_str(), input_format, &opts);
  open_options.reset(opts);
  if (stop_) return Outcome::kStopped;
  if (open_rc < 0) {
    error = timed_out_ ? fmt::format("no answer within {} s (open timeout)", options_.open_timeout)
                       : "cannot open: " + av_error(open_rc);
    return Outcome::kFailed;
  }
  FormatPtr format(raw);
  // Closing an RTSP session sends TEARDOWN: give it a second, not the stall timeout, when the server is gone.
  struct CloseDeadline {
    LiveSource* source;
    ~CloseDeadline() { source->deadline_ = source->now() + 1; }
  } close_deadline{this};
  if (const int rc = av.avformat_find_stream_info(format.get(), nullptr); rc < 0) {
    error = timed_out_ ? fmt::format("no stream information within {} s", options_.open_timeout)
                       : "unreadable stream: " + av_error(rc);
    return stop_ ? Outcome::kStopped : Outcome::kFailed;
  }
  const AVCodec* codec = nullptr;
  const int stream_index = av.av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index < 0 || codec == nullptr) {
    error = "no decodable video stream";
    return Outcome::kFailed;
  }
  AVStream* stream = format->streams[stream_index];
  for (unsigned i = 0; i < format->nb_streams; ++i)
    if (static_cast<int>(i) != stream_index) format->streams[i]->discard = AVDISCARD_ALL;  // audio etc.
  if (int64_t(stream->codecpar->width) * stream->codecpar->height > limits_.max_pixels) {
    error = fmt::format("frames of {}x{} exceed the limit; configure the camera for a lower resolution",
                        stream->codecpar->width, stream->codecpar->height);
    return Outcome::kFailed;
  }
  CodecPtr decoder(av.avcodec_alloc_context3(codec));
  if (!decoder || av.avcodec_parameters_to_context(decoder.get(), stream->codecpar) < 0) {
    error = std::string("cannot set up the ") + codec->name + " decoder";
    return Outcome::kFailed;
  }
  // One decoding thread a camera: frame threading would add frames of latency, and many cameras share
  // the cores anyway.
  decoder->thread_count = 1;
  if (const int rc = av.avcodec_open2(decoder.get(), codec, nullptr); rc < 0) {
    error = std::string("cannot open the ") + codec->name + " decoder: " + av_error(rc);
    return Outcome::kFailed;
  }
  double stream_fps = 0;
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0)
    stream_fps = av_q2d(stream->avg_frame_rate);
  else if (stream->r_frame_rate.num > 0 && stream->r_frame_rate.den > 0)
    stream_fps = av_q2d(stream->r_frame_rate);
  if (stream_fps > 1000) stream_fps = 0;
  info.fps = stream_fps;
  info.codec = codec->name;
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.connects;
    status_.state = SourceState::kStreaming;
    status_.codec = info.codec;
    status_.width = info.width;
    status_.height = info.height;
    rate_since_ = now();
    rate_decoded_ = status_.frames_decoded;
    rate_delivered_ = status_.frames_delivered;
  }
  spdlog::info("{}{}: streaming {}x{} {} at {:.2f} fps",
               options_.name.empty() ? "" : "camera " + options_.name + " ", status_.url, info.width,
               info.height, info.codec, stream_fps);

  PacketPtr packet(av.av_packet_alloc());
  FramePtr frame(av.av_frame_alloc());
  SwsPtr scaler;
  const double time_base = av_q2d(stream->time_base);
  const int64_t start = stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
  const bool live = kind_ != SourceKind::kFile;
  const double connected_at = now();
  const double tolerance = 0.5 / std::max(stream_fps, 1.0);
  double next_time = -1;  // the policy's next wanted time (kPerSecond)
  bool sink_stop = false;

  // Decoded frames -> the policy -> RGB -> sink. False when the sink asked to stop.
  auto drain = [&]() -> bool {
    for (;;) {
      const int rc = av.avcodec_receive_frame(decoder.get(), frame.get());
      if (rc < 0) return true;  // EAGAIN, EOF, or a damaged picture (lost packets): the next keyframe heals
      double t;
      if (live) {
        t = now();
      } else {
        const int64_t pts =
            frame->best_effort_timestamp == AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
        t = time_offset_ + (pts == AV_NOPTS_VALUE ? last_time_ - time_offset_ : (pts - start) * time_base);
        if (options_.realtime) {
          // Paced from the moment this play began, interruptible by stop().
          const double wait = (t - time_offset_) - (now() - connected_at);
          std::unique_lock<std::mutex> lock(mu_);
          if (wait > 0)
            wake_.wait_for(lock, std::chrono::duration<double>(wait), [&] { return stop_.load(); });
        }
      }
      last_time_ = t;
      ++info.decoded;
      bool keep = false;
      switch (policy.kind) {
        case FramePolicy::Kind::kFirst:
          keep = info.delivered == 0;
          break;
        case FramePolicy::Kind::kEvery:
          keep = true;
          break;
        case FramePolicy::Kind::kPerSecond:
          // At least a period (less half a frame) apart: live frames arrive with jitter, often in bursts,
          // so a grid of times would keep two frames of a burst.
          keep = next_time < 0 || t + tolerance >= next_time;
          if (keep) next_time = t + 1.0 / policy.per_second;
          break;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++status_.frames_decoded;
        if (keep) ++status_.frames_delivered;
        const double t_now = now();
        if (t_now - rate_since_ >= 5.0) {  // roll the rate window every 5 s, keeping the last one's figures
          status_.fps_in =
              static_cast<double>(status_.frames_decoded - rate_decoded_) / (t_now - rate_since_);
          rate_since_ = t_now;
          rate_decoded_ = status_.frames_decoded;
          rate_delivered_ = status_.frames_delivered;
        }
      }
      if (keep) {
        if (frame->width <= 0 || frame->height <= 0 ||
            int64_t(frame->width) * frame->height > limits_.max_pixels) {
          av.av_frame_unref(frame.get());
          continue;  // a damaged or oversized picture: skip it
        }
        scaler.reset(av.sws_getCachedContext(
            scaler.release(), frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
            frame->width, frame->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
        if (!scaler) {
          av.av_frame_unref(frame.get());
          continue;
        }
        cv::Mat rgb(frame->height, frame->width, CV_8UC3);
        uint8_t* dst[4] = {rgb.data, nullptr, nullptr, nullptr};
        int dst_stride[4] = {static_cast<int>(rgb.step), 0, 0, 0};
        av.sws_scale(scaler.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
        ++info.delivered;
        av.av_frame_unref(frame.get());
        if (!sink(t, rgb) || policy.kind == FramePolicy::Kind::kFirst) return false;
        continue;
      }
      av.av_frame_unref(frame.get());
    }
  };

  for (;;) {
    if (stop_) return Outcome::kStopped;
    timed_out_ = false;
    const double read_start = now();
    deadline_ = read_start + options_.stall_timeout;
    const int rc = av.av_read_frame(format.get(), packet.get());
    if (stop_) return Outcome::kStopped;
    if (rc == AVERROR(EAGAIN)) {  // capture devices opened non-blocking: no frame yet
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (rc == AVERROR_EOF && !live) {
      av.avcodec_send_packet(decoder.get(), nullptr);  // flush the decoder's last frames
      if (!drain()) return Outcome::kStopped;
      return Outcome::kEnded;
    }
    if (rc < 0) {
      // Stalled whether our deadline or libav's own socket timeout noticed first.
      if (timed_out_ || now() - read_start >= 0.9 * options_.stall_timeout)
        error = fmt::format("stalled: no data for {} s", options_.stall_timeout);
      else if (rc == AVERROR_EOF)
        error = "the stream ended";
      else
        error = "read failed: " + av_error(rc);
      return Outcome::kFailed;
    }
    if (packet->stream_index == stream_index) {
      av.avcodec_send_packet(decoder.get(), packet.get());  // errors: damaged data, skipped
      av.av_packet_unref(packet.get());
      sink_stop = !drain();
      if (sink_stop) return Outcome::kStopped;
    } else {
      av.av_packet_unref(packet.get());
    }
  }
}

}  // namespace facepipe::video
