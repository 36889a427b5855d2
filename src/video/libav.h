// libav (FFmpeg's libraries, from Debian) loaded when the first clip arrives instead of at process start.
//
// Why: linked normally, libavformat and libavcodec bring ~70 shared libraries whose loading cost every
// facepipe process ~80 ms at start, including the Lambda functions and commands that never see a video.
// Only src/video uses libav, through this table of its functions, resolved with dlopen/dlsym by soname
// (the major versions this was built against).
#pragma once

#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

namespace facepipe::video {

#define FACEPIPE_LIBAVUTIL_FUNCTIONS(X) \
  X(av_malloc)                          \
  X(av_free)                            \
  X(av_freep)                           \
  X(av_strerror)                        \
  X(av_log_set_level) X(av_frame_alloc) X(av_frame_free) X(av_frame_unref) X(av_dict_set) X(av_dict_free)
#define FACEPIPE_LIBAVCODEC_FUNCTIONS(X)                                             \
  X(av_packet_alloc)                                                                 \
  X(av_packet_free)                                                                  \
  X(av_packet_unref)                                                                 \
  X(av_packet_rescale_ts)                                                            \
  X(avcodec_alloc_context3) X(avcodec_free_context) X(avcodec_parameters_to_context) \
      X(avcodec_parameters_copy) X(avcodec_open2) X(avcodec_send_packet) X(avcodec_receive_frame)
#define FACEPIPE_LIBAVFORMAT_FUNCTIONS(X)                                                                 \
  X(avformat_alloc_context)                                                                               \
  X(avformat_open_input)                                                                                  \
  X(avformat_close_input)                                                                                 \
  X(avformat_find_stream_info)                                                                            \
  X(av_find_best_stream) X(av_read_frame) X(avio_alloc_context) X(avio_context_free) X(avio_open_dyn_buf) \
      X(avio_close_dyn_buf) X(avformat_alloc_output_context2) X(avformat_new_stream)                      \
          X(avformat_write_header) X(av_interleaved_write_frame) X(av_write_trailer)                      \
              X(avformat_free_context) X(avformat_network_init) X(av_find_input_format)
// Capture devices (V4L2): only live sources load libavdevice (video/live_source.h).
#define FACEPIPE_LIBAVDEVICE_FUNCTIONS(X) X(avdevice_register_all)
#define FACEPIPE_LIBSWSCALE_FUNCTIONS(X) X(sws_getCachedContext) X(sws_scale) X(sws_freeContext)

struct LibAv {
#define FACEPIPE_AV_POINTER(name) decltype(&::name) name = nullptr;  // NOLINT(bugprone-macro-parentheses)
  FACEPIPE_LIBAVUTIL_FUNCTIONS(FACEPIPE_AV_POINTER)
  FACEPIPE_LIBAVCODEC_FUNCTIONS(FACEPIPE_AV_POINTER)
  FACEPIPE_LIBAVFORMAT_FUNCTIONS(FACEPIPE_AV_POINTER)
  FACEPIPE_LIBSWSCALE_FUNCTIONS(FACEPIPE_AV_POINTER)
#undef FACEPIPE_AV_POINTER
};

// Loads the libraries once (thread-safe). Error(kUnavailable) naming the Debian packages to install when
// they are missing.
const LibAv& libav();

// Owners for libav's objects, freed through the loaded library (one set for clips and live sources).
struct FormatCloser {
  void operator()(AVFormatContext* f) const { libav().avformat_close_input(&f); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { libav().avcodec_free_context(&c); }
};
struct FrameCloser {
  void operator()(AVFrame* f) const { libav().av_frame_free(&f); }
};
struct PacketCloser {
  void operator()(AVPacket* p) const { libav().av_packet_free(&p); }
};
struct SwsCloser {
  void operator()(SwsContext* s) const { libav().sws_freeContext(s); }
};
struct DictCloser {
  void operator()(AVDictionary* d) const { libav().av_dict_free(&d); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecCloser>;
using FramePtr = std::unique_ptr<AVFrame, FrameCloser>;
using PacketPtr = std::unique_ptr<AVPacket, PacketCloser>;
using SwsPtr = std::unique_ptr<SwsContext, SwsCloser>;
using DictPtr = std::unique_ptr<AVDictionary, DictCloser>;

struct LibAvDevice {
  decltype(&::avdevice_register_all) avdevice_register_all = nullptr;
};
// libavdevice, loaded (and its devices registered) on first use by a capture-device source.
const LibAvDevice& libavdevice();

}  // namespace facepipe::video
