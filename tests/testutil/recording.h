// Test data: a "continuous recording" made from the bundled clips, re-encoded (MPEG-4 Part 2, which every
// libavcodec has) with a keyframe every `gop` frames, so clip splitting has keyframes to cut at. The bundled
// clips each carry a single keyframe.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "testutil/testutil.h"
#include "video/clip.h"

namespace facepipe::testing {

// An MP4 file of MPEG-4 Part 2 video being written: one encoder set-up for every generated test clip.
class Mpeg4Writer {
 public:
  Mpeg4Writer(const std::filesystem::path& out, int w, int h, int fps, int gop, int64_t bit_rate) {
    avformat_alloc_output_context2(&fmt_, nullptr, "mp4", out.c_str());
    const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!fmt_ || !codec) throw std::runtime_error("no MP4 muxer or MPEG-4 encoder");
    stream_ = avformat_new_stream(fmt_, nullptr);
    enc_ = avcodec_alloc_context3(codec);
    enc_->width = w;
    enc_->height = h;
    enc_->pix_fmt = AV_PIX_FMT_YUV420P;
    enc_->time_base = {1, fps};
    enc_->framerate = {fps, 1};
    enc_->gop_size = gop;
    enc_->max_b_frames = 0;
    enc_->bit_rate = bit_rate;
    if (fmt_->oformat->flags & AVFMT_GLOBALHEADER) enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (avcodec_open2(enc_, codec, nullptr) < 0) throw std::runtime_error("cannot open the MPEG-4 encoder");
    avcodec_parameters_from_context(stream_->codecpar, enc_);
    stream_->time_base = enc_->time_base;
    avio_open(&fmt_->pb, out.c_str(), AVIO_FLAG_WRITE);
    if (avformat_write_header(fmt_, nullptr) < 0) throw std::runtime_error("cannot write the MP4 header");
    frame_ = av_frame_alloc();
    frame_->format = enc_->pix_fmt;
    frame_->width = w;
    frame_->height = h;
    av_frame_get_buffer(frame_, 0);
    packet_ = av_packet_alloc();
  }
  ~Mpeg4Writer() {
    av_packet_free(&packet_);
    av_frame_free(&frame_);
    avcodec_free_context(&enc_);
    avformat_free_context(fmt_);
  }
  Mpeg4Writer(const Mpeg4Writer&) = delete;
  Mpeg4Writer& operator=(const Mpeg4Writer&) = delete;

  // The YUV420P frame to fill before write() (writable).
  AVFrame* frame() {
    av_frame_make_writable(frame_);
    return frame_;
  }
  void write(int64_t pts) {
    frame_->pts = pts;
    avcodec_send_frame(enc_, frame_);
    drain();
  }
  // Flushes the encoder and closes the file.
  void finish() {
    avcodec_send_frame(enc_, nullptr);
    drain();
    av_write_trailer(fmt_);
    avio_closep(&fmt_->pb);
  }

 private:
  void drain() {
    while (avcodec_receive_packet(enc_, packet_) == 0) {
      av_packet_rescale_ts(packet_, enc_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      av_interleaved_write_frame(fmt_, packet_);
    }
  }

  AVFormatContext* fmt_ = nullptr;
  AVStream* stream_ = nullptr;
  AVCodecContext* enc_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
};

// Writes `people`'s clips one after another to `out` (MP4, 640x360, 25 fps). Returns the seconds at which
// each person's part starts.
inline std::vector<double> make_recording(const std::vector<std::string>& people,
                                          const std::filesystem::path& out, int gop = 12) {
  const int w = 640, h = 360, fps = 25;
  Mpeg4Writer writer(out, w, h, fps, gop, 2'000'000);
  SwsContext* sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr,
                                   nullptr, nullptr);
  int64_t pts = 0;
  std::vector<double> starts;
  for (const auto& person : people) {
    starts.push_back(static_cast<double>(pts) / fps);
    const std::string bytes = read_file(datasets() / "videos" / (person + ".mp4"));
    video::decode_clip(bytes, video::FramePolicy::parse("every"), [&](double, const cv::Mat& rgb) {
      cv::Mat sized;
      cv::resize(rgb, sized, cv::Size(w, h));
      const uint8_t* src[1] = {sized.data};
      const int stride[1] = {static_cast<int>(sized.step)};
      AVFrame* frame = writer.frame();
      sws_scale(sws, src, stride, 0, h, frame->data, frame->linesize);
      writer.write(pts++);
      return true;
    });
  }
  writer.finish();
  sws_freeContext(sws);
  return starts;
}

// A flat grey clip of `frames` frames at w x h and `fps` (MPEG-4 Part 2 in MP4): cheap to encode at any size,
// for tests of the decode budget.
inline void make_flat_clip(const std::filesystem::path& out, int w, int h, int fps, int frames) {
  Mpeg4Writer writer(out, w, h, fps, fps, 1'000'000);
  AVFrame* frame = writer.frame();
  for (int p = 0; p < 3; ++p)
    std::memset(frame->data[p], 128, static_cast<size_t>(frame->linesize[p]) * (p ? (h + 1) / 2 : h));
  for (int i = 0; i < frames; ++i) writer.write(i);
  writer.finish();
}

}  // namespace facepipe::testing
