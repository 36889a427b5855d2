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

// Writes `people`'s clips one after another to `out` (MP4, 640x360, 25 fps). Returns the seconds at which
// each person's part starts.
inline std::vector<double> make_recording(const std::vector<std::string>& people,
                                          const std::filesystem::path& out, int gop = 12) {
  const int w = 640, h = 360, fps = 25;
  AVFormatContext* fmt = nullptr;
  avformat_alloc_output_context2(&fmt, nullptr, "mp4", out.c_str());
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!fmt || !codec) throw std::runtime_error("no MP4 muxer or MPEG-4 encoder");
  AVStream* stream = avformat_new_stream(fmt, nullptr);
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = w;
  enc->height = h;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = {1, fps};
  enc->framerate = {fps, 1};
  enc->gop_size = gop;
  enc->max_b_frames = 0;
  enc->bit_rate = 2'000'000;
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(enc, codec, nullptr) < 0) throw std::runtime_error("cannot open the MPEG-4 encoder");
  avcodec_parameters_from_context(stream->codecpar, enc);
  stream->time_base = enc->time_base;
  avio_open(&fmt->pb, out.c_str(), AVIO_FLAG_WRITE);
  if (avformat_write_header(fmt, nullptr) < 0) throw std::runtime_error("cannot write the MP4 header");
  AVFrame* frame = av_frame_alloc();
  frame->format = enc->pix_fmt;
  frame->width = w;
  frame->height = h;
  av_frame_get_buffer(frame, 0);
  SwsContext* sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr,
                                   nullptr, nullptr);
  AVPacket* packet = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(enc, packet) == 0) {
      av_packet_rescale_ts(packet, enc->time_base, stream->time_base);
      packet->stream_index = stream->index;
      av_interleaved_write_frame(fmt, packet);
    }
  };
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
      av_frame_make_writable(frame);
      sws_scale(sws, src, stride, 0, h, frame->data, frame->linesize);
      frame->pts = pts++;
      avcodec_send_frame(enc, frame);
      drain();
      return true;
    });
  }
  avcodec_send_frame(enc, nullptr);
  drain();
  av_write_trailer(fmt);
  avio_closep(&fmt->pb);
  av_packet_free(&packet);
  sws_freeContext(sws);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  avformat_free_context(fmt);
  return starts;
}

}  // namespace facepipe::testing

namespace facepipe::testing {

// A flat grey clip of `frames` frames at w x h and `fps` (MPEG-4 Part 2 in MP4): cheap to encode at any size,
// for tests of the decode budget.
inline void make_flat_clip(const std::filesystem::path& out, int w, int h, int fps, int frames) {
  AVFormatContext* fmt = nullptr;
  avformat_alloc_output_context2(&fmt, nullptr, "mp4", out.c_str());
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!fmt || !codec) throw std::runtime_error("no MP4 muxer or MPEG-4 encoder");
  AVStream* stream = avformat_new_stream(fmt, nullptr);
  AVCodecContext* enc = avcodec_alloc_context3(codec);
  enc->width = w;
  enc->height = h;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = {1, fps};
  enc->framerate = {fps, 1};
  enc->gop_size = fps;
  enc->max_b_frames = 0;
  enc->bit_rate = 1'000'000;
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(enc, codec, nullptr) < 0) throw std::runtime_error("cannot open the MPEG-4 encoder");
  avcodec_parameters_from_context(stream->codecpar, enc);
  stream->time_base = enc->time_base;
  avio_open(&fmt->pb, out.c_str(), AVIO_FLAG_WRITE);
  if (avformat_write_header(fmt, nullptr) < 0) throw std::runtime_error("cannot write the MP4 header");
  AVFrame* frame = av_frame_alloc();
  frame->format = enc->pix_fmt;
  frame->width = w;
  frame->height = h;
  av_frame_get_buffer(frame, 0);
  for (int p = 0; p < 3; ++p)
    std::memset(frame->data[p], 128, static_cast<size_t>(frame->linesize[p]) * (p ? (h + 1) / 2 : h));
  AVPacket* packet = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(enc, packet) == 0) {
      av_packet_rescale_ts(packet, enc->time_base, stream->time_base);
      packet->stream_index = stream->index;
      av_interleaved_write_frame(fmt, packet);
    }
  };
  for (int i = 0; i < frames; ++i) {
    frame->pts = i;
    avcodec_send_frame(enc, frame);
    drain();
  }
  avcodec_send_frame(enc, nullptr);
  drain();
  av_write_trailer(fmt);
  avio_closep(&fmt->pb);
  av_packet_free(&packet);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  avformat_free_context(fmt);
}

}  // namespace facepipe::testing
