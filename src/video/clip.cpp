#include "video/clip.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "video/libav.h"

namespace facepipe::video {
namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  libav().av_strerror(code, buf, sizeof buf);
  return buf;
}

// The uploaded bytes as a seekable stream for libavformat (MP4 keeps its index at either end).
struct MemoryInput {
  std::string_view data;
  int64_t pos = 0;
  static int read(void* opaque, uint8_t* buf, int size) {
    auto* in = static_cast<MemoryInput*>(opaque);
    const int64_t left = static_cast<int64_t>(in->data.size()) - in->pos;
    if (left <= 0) return AVERROR_EOF;
    const int n = static_cast<int>(std::min<int64_t>(left, size));
    std::memcpy(buf, in->data.data() + in->pos, static_cast<size_t>(n));
    in->pos += n;
    return n;
  }
  static int64_t seek(void* opaque, int64_t offset, int whence) {
    auto* in = static_cast<MemoryInput*>(opaque);
    const auto size = static_cast<int64_t>(in->data.size());
    if (whence & AVSEEK_SIZE) return size;
    int64_t target = offset;
    if ((whence & ~AVSEEK_FORCE) == SEEK_CUR) target = in->pos + offset;
    if ((whence & ~AVSEEK_FORCE) == SEEK_END) target = size + offset;
    if (target < 0 || target > size) return -1;
    in->pos = target;
    return target;
  }
};

struct IoCloser {
  void operator()(AVIOContext* io) const {
    libav().av_freep(&io->buffer);
    libav().avio_context_free(&io);
  }
};

// `bytes` opened by libavformat through a custom I/O context. Members are destroyed in reverse order:
// the demuxer before the I/O context it reads through, that before the bytes' cursor.
struct MemoryDemuxer {
  MemoryInput input;
  std::unique_ptr<AVIOContext, IoCloser> io;
  FormatPtr format;

  // `what` names the input in errors ("clip", "recording").
  MemoryDemuxer(std::string_view bytes, const char* what) : input{bytes} {
    constexpr int kBufferSize = 64 * 1024;
    auto* buffer = static_cast<uint8_t*>(libav().av_malloc(kBufferSize));
    if (!buffer) throw Error(ErrorKind::kUnavailable, "out of memory");
    io.reset(libav().avio_alloc_context(buffer, kBufferSize, 0, &input, &MemoryInput::read, nullptr,
                                        &MemoryInput::seek));
    if (!io) {
      libav().av_free(buffer);
      throw Error(ErrorKind::kUnavailable, "out of memory");
    }
    AVFormatContext* raw = libav().avformat_alloc_context();
    raw->pb = io.get();
    raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (int rc = libav().avformat_open_input(&raw, nullptr, nullptr, nullptr); rc < 0)
      throw Error(ErrorKind::kInvalidInput, std::string("not a video ") + what + " (" + av_error(rc) + ")");
    format.reset(raw);
  }
  MemoryDemuxer(const MemoryDemuxer&) = delete;

  std::string container() const {
    return format->iformat && format->iformat->name ? format->iformat->name : "";
  }
  // libav reads a JPEG or PNG as a one-frame stream (image2 / *_pipe demuxers): a still image is no video.
  bool is_still_image() const {
    const std::string name = container();
    return name.find("_pipe") != std::string::npos || name == "image2";
  }
  MemoryDemuxer& operator=(const MemoryDemuxer&) = delete;
};

}  // namespace

FramePolicy FramePolicy::parse(const std::string& text) {
  FramePolicy p;
  if (text == "first") {
    p.kind = Kind::kFirst;
    return p;
  }
  if (text == "every" || text == "all") {
    p.kind = Kind::kEvery;
    return p;
  }
  std::string n = text.rfind("fps:", 0) == 0 ? text.substr(4) : text;
  try {
    size_t used = 0;
    p.per_second = std::stod(n, &used);
    if (used != n.size() || !(p.per_second > 0) || p.per_second > 1000) throw std::invalid_argument(n);
  } catch (const std::exception&) {
    throw Error(ErrorKind::kInvalidInput, "frame policy '" + text + "' is not first, every or fps:N (N > 0)");
  }
  p.kind = Kind::kPerSecond;
  return p;
}

std::string FramePolicy::to_string() const {
  switch (kind) {
    case Kind::kFirst:
      return "first";
    case Kind::kEvery:
      return "every";
    default: {
      std::string s = std::to_string(per_second);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
      return "fps:" + s;
    }
  }
}

ClipInfo decode_clip(std::string_view bytes, const FramePolicy& policy, const FrameSink& sink,
                     const ClipLimits& limits) {
  libav().av_log_set_level(AV_LOG_QUIET);  // failures are reported through return codes, as Errors
  if (bytes.empty()) throw Error(ErrorKind::kInvalidInput, "empty clip");
  MemoryDemuxer demuxer(bytes, "clip");
  auto& format = demuxer.format;
  if (demuxer.is_still_image())
    throw Error(ErrorKind::kInvalidInput,
                "the upload is a still image (" + demuxer.container() +
                    "), not a video clip; send frames to the frame endpoint instead");
  if (int rc = libav().avformat_find_stream_info(format.get(), nullptr); rc < 0)
    throw Error(ErrorKind::kInvalidInput, "corrupt clip: " + av_error(rc));
  const AVCodec* codec = nullptr;
  const int stream_index = libav().av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index < 0 || !codec)
    throw Error(ErrorKind::kInvalidInput, "the upload has no decodable video stream");
  AVStream* stream = format->streams[stream_index];

  ClipInfo info;
  info.codec = codec->name;
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0)
    info.fps = av_q2d(stream->avg_frame_rate);
  if (format->duration > 0) info.duration = static_cast<double>(format->duration) / AV_TIME_BASE;
  if (info.duration > limits.max_seconds)
    throw Error(ErrorKind::kTooLarge, "clip lasts " + std::to_string(info.duration) +
                                          " s, above the limit of " + std::to_string(limits.max_seconds) +
                                          " s; upload shorter clips");
  if (int64_t(info.width) * info.height > limits.max_pixels)
    throw Error(ErrorKind::kTooLarge, "clip frames of " + std::to_string(info.width) + "x" +
                                          std::to_string(info.height) +
                                          " exceed the limit; record at a lower resolution");

  // The budget against what the container declares, before decoding anything.
  if (stream->nb_frames > 0)
    info.expected_frames = static_cast<int>(std::min<int64_t>(stream->nb_frames, 1 << 30));
  const double declared_frames =
      info.expected_frames > 0 ? info.expected_frames : info.duration * std::max(info.fps, 0.0);
  double kept_frames = declared_frames;
  if (policy.kind == FramePolicy::Kind::kFirst) kept_frames = std::min(1.0, declared_frames);
  if (policy.kind == FramePolicy::Kind::kPerSecond && info.fps > 0)
    kept_frames = declared_frames * std::min(1.0, policy.per_second / info.fps);
  const double frame_pixels = double(info.width) * info.height;
  if (declared_frames * frame_pixels > double(limits.max_decoded_pixels) ||
      kept_frames * frame_pixels > double(limits.max_delivered_pixels))
    throw Error(ErrorKind::kTooLarge,
                "clip declares " + std::to_string(static_cast<int64_t>(declared_frames)) + " frames of " +
                    std::to_string(info.width) + "x" + std::to_string(info.height) + ", " +
                    std::to_string(static_cast<int64_t>(kept_frames)) + " of them to recognise with policy " +
                    policy.to_string() + ": above the decode budget (" +
                    std::to_string(limits.max_delivered_pixels / 1'000'000) +
                    " megapixels recognised); upload shorter or lower-resolution clips, or use policy=fps:2");

  CodecPtr decoder(libav().avcodec_alloc_context3(codec));
  if (!decoder || libav().avcodec_parameters_to_context(decoder.get(), stream->codecpar) < 0)
    throw Error(ErrorKind::kInvalidInput, "cannot set up the " + info.codec + " decoder");
  decoder->thread_count = 2;
  if (int rc = libav().avcodec_open2(decoder.get(), codec, nullptr); rc < 0)
    throw Error(ErrorKind::kInvalidInput, "cannot open the " + info.codec + " decoder: " + av_error(rc));

  PacketPtr packet(libav().av_packet_alloc());
  FramePtr frame(libav().av_frame_alloc());
  SwsPtr scaler;
  const double time_base = av_q2d(stream->time_base);
  const int64_t start = stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
  double next_time = 0;
  bool stop = false;
  double last_time = 0;
  int64_t decoded_pixels = 0, delivered_pixels = 0;
  // Stops decoding, keeping what was delivered: the result says it is incomplete and why.
  auto incomplete = [&](const std::string& why) {
    if (info.complete) info.error = why;
    info.complete = false;
    stop = true;
  };

  auto drain = [&]() {
    for (;;) {
      const int rc = libav().avcodec_receive_frame(decoder.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) {
        if (info.decoded == 0) throw Error(ErrorKind::kInvalidInput, "corrupt clip: " + av_error(rc));
        return incomplete("corrupt video data after " + std::to_string(info.decoded) +
                          " frames: " + av_error(rc));
      }
      if (info.decoded >= limits.max_frames) {
        libav().av_frame_unref(frame.get());
        return incomplete("decode budget reached: more than " + std::to_string(limits.max_frames) +
                          " frames");
      }
      decoded_pixels += int64_t(frame->width) * frame->height;
      if (decoded_pixels > limits.max_decoded_pixels) {
        libav().av_frame_unref(frame.get());
        return incomplete("decode budget reached after " + std::to_string(info.decoded) + " frames (" +
                          std::to_string(limits.max_decoded_pixels / 1'000'000) + " megapixels decoded)");
      }
      ++info.decoded;
      const int64_t pts =
          frame->best_effort_timestamp == AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
      const double t = pts == AV_NOPTS_VALUE ? last_time : static_cast<double>(pts - start) * time_base;
      last_time = t;
      bool keep = false;
      switch (policy.kind) {
        case FramePolicy::Kind::kFirst:
          keep = info.delivered == 0;
          break;
        case FramePolicy::Kind::kEvery:
          keep = true;
          break;
        case FramePolicy::Kind::kPerSecond:
          // Half a frame of tolerance so "1 per second" at 30 fps keeps the frames at 0 s, 1 s, 2 s...
          keep = t + 0.5 / std::max(info.fps, 1.0) >= next_time;
          if (keep)
            next_time =
                std::floor(t * policy.per_second + 1e-6) / policy.per_second + 1.0 / policy.per_second;
          break;
      }
      if (keep && delivered_pixels + int64_t(frame->width) * frame->height > limits.max_delivered_pixels) {
        libav().av_frame_unref(frame.get());
        return incomplete("decode budget reached after " + std::to_string(info.delivered) +
                          " frames recognised (" + std::to_string(limits.max_delivered_pixels / 1'000'000) +
                          " megapixels)");
      }
      if (keep) {
        delivered_pixels += int64_t(frame->width) * frame->height;
        if (frame->width <= 0 || frame->height <= 0 ||
            int64_t(frame->width) * frame->height > limits.max_pixels)
          throw Error(ErrorKind::kTooLarge, "decoded frame of an unsupported size");
        scaler.reset(libav().sws_getCachedContext(
            scaler.release(), frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
            frame->width, frame->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
        if (!scaler) throw Error(ErrorKind::kInvalidInput, "cannot convert the clip's pixel format");
        cv::Mat rgb(frame->height, frame->width, CV_8UC3);
        uint8_t* dst[4] = {rgb.data, nullptr, nullptr, nullptr};
        int dst_stride[4] = {static_cast<int>(rgb.step), 0, 0, 0};
        libav().sws_scale(scaler.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
        ++info.delivered;
        if (!sink(t, rgb) || policy.kind == FramePolicy::Kind::kFirst) stop = true;
      }
      libav().av_frame_unref(frame.get());
      if (stop) return;
    }
  };

  bool user_stop = false;
  while (!stop) {
    const int rc = libav().av_read_frame(format.get(), packet.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      if (info.decoded == 0) throw Error(ErrorKind::kInvalidInput, "corrupt clip: " + av_error(rc));
      incomplete("the stream breaks off after " + std::to_string(info.decoded) + " frames: " + av_error(rc));
      break;
    }
    if (packet->stream_index == stream_index) {
      const int sent = libav().avcodec_send_packet(decoder.get(), packet.get());
      libav().av_packet_unref(packet.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) {
        if (info.decoded == 0) throw Error(ErrorKind::kInvalidInput, "corrupt clip: " + av_error(sent));
        incomplete("corrupt video data after " + std::to_string(info.decoded) + " frames: " + av_error(sent));
        break;
      }
      drain();
    } else {
      libav().av_packet_unref(packet.get());
    }
  }
  user_stop = stop && info.complete;
  if (!stop) {
    libav().avcodec_send_packet(decoder.get(), nullptr);  // flush the frames the decoder still holds
    drain();
  }
  if (info.decoded == 0)
    throw Error(ErrorKind::kInvalidInput, "the clip holds no decodable frame (truncated?)");
  // A stream that ends (EOF) before the frames its index declares was cut short: an upload truncated.
  if (!user_stop && info.complete && info.expected_frames > 0 && info.decoded < info.expected_frames)
    incomplete("truncated: the stream ends after " + std::to_string(info.decoded) + " of the " +
               std::to_string(info.expected_frames) + " frames the container declares");
  if (info.duration <= 0) info.duration = last_time;
  return info;
}

}  // namespace facepipe::video

namespace facepipe::video {
namespace {

// One fragmented MP4 being written to memory (fragmented: the MP4 muxer needs no seekable output then).
class MemoryMp4 {
 public:
  MemoryMp4(const AVCodecParameters* parameters, AVRational time_base) {
    if (libav().avformat_alloc_output_context2(&out_, nullptr, "mp4", nullptr) < 0 || !out_)
      throw Error(ErrorKind::kUnavailable, "libavformat has no MP4 muxer");
    stream_ = libav().avformat_new_stream(out_, nullptr);
    if (!stream_ || libav().avcodec_parameters_copy(stream_->codecpar, parameters) < 0)
      throw Error(ErrorKind::kUnavailable, "cannot set up the MP4 stream");
    stream_->codecpar->codec_tag = 0;
    stream_->time_base = time_base;
    if (libav().avio_open_dyn_buf(&out_->pb) < 0) throw Error(ErrorKind::kUnavailable, "out of memory");
    AVDictionary* options = nullptr;
    libav().av_dict_set(&options, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
    const int rc = libav().avformat_write_header(out_, &options);
    libav().av_dict_free(&options);
    if (rc < 0) throw Error(ErrorKind::kInvalidInput, "cannot write an MP4 of this codec: " + av_error(rc));
  }
  ~MemoryMp4() {
    if (out_ && out_->pb) {
      uint8_t* buffer = nullptr;
      libav().avio_close_dyn_buf(out_->pb, &buffer);
      libav().av_free(buffer);
    }
    libav().avformat_free_context(out_);
  }
  MemoryMp4(const MemoryMp4&) = delete;
  MemoryMp4& operator=(const MemoryMp4&) = delete;

  // `packet` in `in_base`, shifted so the clip starts at zero.
  void write(AVPacket* packet, AVRational in_base, int64_t start) {
    if (packet->pts != AV_NOPTS_VALUE) packet->pts -= start;
    if (packet->dts != AV_NOPTS_VALUE) packet->dts -= start;
    libav().av_packet_rescale_ts(packet, in_base, stream_->time_base);
    packet->stream_index = 0;
    packet->pos = -1;
    if (int rc = libav().av_interleaved_write_frame(out_, packet); rc < 0)
      throw Error(ErrorKind::kInvalidInput, "cannot remux the clip: " + av_error(rc));
  }
  std::string finish() {
    libav().av_write_trailer(out_);
    uint8_t* buffer = nullptr;
    const int size = libav().avio_close_dyn_buf(out_->pb, &buffer);
    out_->pb = nullptr;
    std::string bytes(reinterpret_cast<const char*>(buffer), static_cast<size_t>(std::max(size, 0)));
    libav().av_free(buffer);
    return bytes;
  }

 private:
  AVFormatContext* out_ = nullptr;
  AVStream* stream_ = nullptr;
};

}  // namespace

std::vector<std::string> split_into_clips(std::string_view bytes, double seconds) {
  if (!(seconds > 0)) throw Error(ErrorKind::kInvalidInput, "clip length must be positive seconds");
  libav().av_log_set_level(AV_LOG_QUIET);
  if (bytes.empty()) throw Error(ErrorKind::kInvalidInput, "empty recording");
  MemoryDemuxer demuxer(bytes, "recording");
  auto& format = demuxer.format;
  if (demuxer.is_still_image())
    throw Error(ErrorKind::kInvalidInput, "the recording is a still image (" + demuxer.container() +
                                              "), not a video; send it as a frame (camera --mode frames)");
  if (int rc = libav().avformat_find_stream_info(format.get(), nullptr); rc < 0)
    throw Error(ErrorKind::kInvalidInput, "corrupt recording: " + av_error(rc));
  const int index = libav().av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) throw Error(ErrorKind::kInvalidInput, "the recording has no video stream");
  AVStream* stream = format->streams[index];
  const AVRational base = stream->time_base;
  const auto span = static_cast<int64_t>(seconds / av_q2d(base));

  std::vector<std::string> clips;
  std::unique_ptr<MemoryMp4> current;
  int64_t start = 0;
  PacketPtr packet(libav().av_packet_alloc());
  while (libav().av_read_frame(format.get(), packet.get()) >= 0) {
    if (packet->stream_index != index) {
      libav().av_packet_unref(packet.get());
      continue;
    }
    const int64_t t = packet->dts != AV_NOPTS_VALUE ? packet->dts : packet->pts;
    const bool key = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    if (key && (!current || t - start >= span)) {
      if (current) clips.push_back(current->finish());
      current = std::make_unique<MemoryMp4>(stream->codecpar, base);
      start = t;
    }
    if (current) current->write(packet.get(), base, start);  // packets before the first keyframe are useless
    libav().av_packet_unref(packet.get());
  }
  if (current) clips.push_back(current->finish());
  if (clips.empty())
    throw Error(ErrorKind::kInvalidInput, "the recording has no keyframe to start a clip at");
  return clips;
}

}  // namespace facepipe::video
