// The camera variant on the command line:
//   facepipe clip FILE.mp4 --gallery G      recognise a clip here (per-person aggregate with records)
//   facepipe camera --source FILE --url U   the device side: sends frames (function-URL JSON) or clips
//   facepipe results --queue-url Q          the device's retriever: prints each result and its latency
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/answer_flags.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "events/describe.h"
#include "gallery/gallery.h"
#include "image/codec.h"
#include "queue/queue.h"
#include "recognition/clip.h"
#include "service/base64.h"
#include "service/stage_engine.h"
#include "service/uploader.h"
#include "video/clip.h"
#include "video/live_source.h"

namespace facepipe::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// Request ids the camera sends carry their send time ("<prefix>-<n>@<ms since epoch>"), so the
// retriever can print the end-to-end latency without any clock but the device's own.
std::string request_id(const std::string& prefix, int n) {
  return fmt::format("{}-{:06d}@{}", prefix, n, now_ms());
}

std::optional<int64_t> sent_ms(const std::string& id) {
  const auto at = id.rfind('@');
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stoll(id.substr(at + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Splits "http://host:port/path" into the httplib client base and the path.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos)
    throw Error(ErrorKind::kInvalidInput, "'" + url + "' is not an http(s) URL");
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

void register_clip(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("clip", "recognise the people in a video clip (frames chosen by a policy)");
  auto file = std::make_shared<std::string>();
  auto gallery_path = std::make_shared<std::string>();
  auto policy = std::make_shared<std::string>("fps:2");
  auto threshold = std::make_shared<std::optional<float>>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->add_option("file", *file, "clip (MP4, MOV, MKV...)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--gallery", *gallery_path, "gallery database")->required()->check(CLI::ExistingFile);
  cmd->add_option("--policy", *policy, "frames to recognise: first | every | fps:N")->capture_default_str();
  cmd->add_option("--threshold", *threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  auto answer = add_answer_flags(cmd);
  cmd->callback([&global, file, gallery_path, policy, threshold, as_json, answer] {
    const auto frame_policy = video::FramePolicy::parse(*policy);
    auto engine = service::load_stage_engine(
        engine_options(global, {.gallery_path = *gallery_path, .threshold = *threshold}));
    const auto result = recognition::recognize_clip(*engine.detector, *engine.embedder, *engine.gallery,
                                                    read_file(*file), frame_policy, engine.threshold, {},
                                                    *answer);
    json out = result.to_json();
    out["file"] = *file;
    if (*as_json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<20} {:>6} {:>13} {:>10} {:>9}  {}\n", "name", "frames", "best_distance",
                             "first_seen", "last_seen", "record");
    for (const auto& p : out["people"])
      std::cout << fmt::format(
          "{:<20} {:>6} {:>13.3f} {:>9.2f}s {:>8.2f}s  {}\n", p["name"].get<std::string>(),
          p["frames"].get<int>(), p["best_distance"].get<double>(), p["first_seen"].get<double>(),
          p["last_seen"].get<double>(), p["record"].is_null() ? "-" : p["record"].dump());
    const json& c = out["clip"];
    std::cout << fmt::format(
        "result {}  ({}: {:.2f} s, {}x{} {}, {} of {} frames recognised ({}), {} with faces)\n",
        out["result"].get<std::string>(), *file, c["duration"].get<double>(), c["width"].get<int>(),
        c["height"].get<int>(), c["codec"].get<std::string>(), c["frames_recognised"].get<int>(),
        c["frames_decoded"].get<int>(), c["policy"].get<std::string>(), c["frames_with_faces"].get<int>());
  });
}


void register_camera(CLI::App& app, GlobalOptions&) {
  auto* cmd =
      app.add_subcommand("camera", "the device side: send a recording's frames or clips to the service");
  struct Options {
    std::vector<std::string> sources;
    std::string mode = "frames", url, prefix = "cam", s3_bucket, s3_prefix;
    double fps = 1;
    double clip_seconds = 0, duration = 0;
    int in_flight = 4, repeat = 1;
    bool realtime = true;
    bool json_out = false;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("--source", o->sources,
                  "video file(s) (a Raspberry Pi records clips natively), or a live camera: rtsp://, "
                  "rtsps://, http(s):// (MJPEG, MPEG-TS, HLS), /dev/videoN (frames mode)")
      ->required()
      ->check([](const std::string& s) -> std::string {
        if (video::classify_source_url(s) != video::SourceKind::kFile) return "";
        return CLI::ExistingFile(s);
      });
  cmd->add_option("--duration", o->duration,
                  "live sources: stop after this many seconds (0 = until interrupted)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mode", o->mode,
                  "frames: JPEG frames as function-URL JSON; clips: each file uploaded as a clip")
      ->check(CLI::IsMember({"frames", "clips"}))
      ->capture_default_str();
  cmd->add_option("--fps", o->fps, "frames mode: frames per second of video sent")->capture_default_str();
  auto* url = cmd->add_option("--url", o->url, "the face-detection function URL (clips go to URL/clips)");
  auto* bucket = cmd->add_option("--s3-bucket", o->s3_bucket,
                                 "clips mode: upload clips as <request id>.mp4 objects to this bucket (the "
                                 "Lambda variant: video-recognition is triggered by the upload)");
  cmd->add_option("--s3-prefix", o->s3_prefix, "clips mode: key prefix in the bucket, e.g. cam1/");
  url->excludes(bucket);
  cmd->add_option("--clip-seconds", o->clip_seconds,
                  "clips mode: cut each recording into clips of about this many seconds (0 = whole files)");
  cmd->add_option("--in-flight", o->in_flight, "uploads in flight at once")->capture_default_str();
  cmd->add_option("--repeat", o->repeat, "send the sources this many times")->capture_default_str();
  cmd->add_option("--id-prefix", o->prefix, "request id prefix")->capture_default_str();
  cmd->add_flag("!--no-realtime", o->realtime, "send as fast as possible instead of at the video's pace");
  cmd->add_flag("--json", o->json_out, "print the summary as JSON");
  cmd->callback([o] {
    if (o->url.empty() && o->s3_bucket.empty())
      throw Error(ErrorKind::kInvalidInput,
                  "say where to send: --url FUNCTION_URL, or --s3-bucket BUCKET for clips");
    if (!o->s3_bucket.empty() && o->mode != "clips")
      throw Error(ErrorKind::kInvalidInput, "--s3-bucket uploads clips: add --mode clips");
    // Named variables, not a structured binding: the frame lambda below captures `path`.
    const auto base_and_path =
        o->url.empty() ? std::pair<std::string, std::string>{"", "/"} : split_url(o->url);
    const std::string& base = base_and_path.first;
    const std::string& path = base_and_path.second;
    for (const auto& source : o->sources)
      if (video::classify_source_url(source) != video::SourceKind::kFile && o->mode == "clips")
        throw Error(ErrorKind::kInvalidInput, "'" + video::redact_url(source) +
                                                  "' is a live camera: send its frames with --mode frames "
                                                  "(clips mode cuts recorded files)");
    // SIGINT/SIGTERM (blocked before the senders start) end a live source cleanly: what was sent is
    // counted and the summary printed.
    std::atomic<bool> interrupted{false};
    std::atomic<video::LiveSource*> live_now{nullptr};
    std::atomic<bool> finished{false};
    // --duration also ends a live source that is down (retrying) and delivers nothing.
    std::atomic<int64_t> live_deadline_ns{0};
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::thread signal_watch([&] {
      while (!finished) {
        timespec tick{0, 200'000'000};
        if (sigtimedwait(&signals, nullptr, &tick) > 0) {
          interrupted = true;
          if (auto* l = live_now.load()) l->stop();
        }
        const int64_t deadline = live_deadline_ns.load();
        if (deadline > 0 && std::chrono::steady_clock::now().time_since_epoch().count() > deadline)
          if (auto* l = live_now.load()) l->stop();
      }
    });
    struct JoinOnExit {
      std::atomic<bool>& finished;
      std::thread& t;
      ~JoinOnExit() {
        finished = true;
        t.join();
      }
    } join_signal_watch{finished, signal_watch};
    service::Uploader uploader(base, std::max(1, o->in_flight), o->s3_bucket);
    int sent = 0;
    const auto start = std::chrono::steady_clock::now();
    auto progress = [&](const std::string& what) {
      std::fprintf(stderr, "\rcamera: %d sent, %d acknowledged, %d failed  %s   ", sent, uploader.ok(),
                   uploader.failed(), what.c_str());
      std::fflush(stderr);
    };
    const std::string clips_path = (path == "/" ? "" : path) + "/clips";
    for (int round = 0; round < o->repeat; ++round) {
      for (const auto& source : o->sources) {
        if (interrupted) break;
        if (video::classify_source_url(source) != video::SourceKind::kFile) {
          // A live camera: its frames at --fps as they arrive, reconnecting when it drops, until
          // --duration or a signal.
          video::LiveOptions live_options;
          live_options.name = "source";
          video::LiveSource live(source, live_options);
          const auto live_start = std::chrono::steady_clock::now();
          if (o->duration > 0)
            live_deadline_ns = (live_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                 std::chrono::duration<double>(o->duration)))
                                   .time_since_epoch()
                                   .count();
          live_now = &live;
          live.run(
              video::FramePolicy::parse("fps:" + std::to_string(o->fps)), [&](double t, const cv::Mat& rgb) {
                const std::string jpeg = image::encode_jpeg(rgb, 90);
                const std::string id = request_id(o->prefix, sent);
                const json body = {{"request_id", id},
                                   {"filename", fmt::format("frame_{:06d}.jpg", sent)},
                                   {"content", service::base64_encode(jpeg)}};
                uploader.submit(path, body.dump(), "application/json", id, static_cast<size_t>(o->in_flight));
                ++sent;
                progress(fmt::format("{} t={:.2f}s", video::redact_url(source), t));
                return !interrupted && (o->duration <= 0 || std::chrono::steady_clock::now() - live_start <
                                                                std::chrono::duration<double>(o->duration));
              });
          live_now = nullptr;
          live_deadline_ns = 0;
          continue;
        }
        const std::string bytes = read_file(source);
        if (o->mode == "clips") {
          // As a recording camera does: each clip is uploaded once it has been recorded (at the video's pace
          // unless --no-realtime), while earlier uploads are still in flight.
          std::vector<std::string> clips;
          if (o->clip_seconds > 0)
            clips = video::split_into_clips(bytes, o->clip_seconds);
          else
            clips.push_back(bytes);
          const std::string stem = std::filesystem::path(source).stem().string();
          const auto recording_start = std::chrono::steady_clock::now();
          for (size_t c = 0; c < clips.size(); ++c) {
            if (o->realtime && o->clip_seconds > 0)
              std::this_thread::sleep_until(recording_start +
                                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                std::chrono::duration<double>(o->clip_seconds * c)));
            const std::string id = request_id(o->prefix, sent);
            const std::string name = clips.size() == 1 ? std::filesystem::path(source).filename().string()
                                                       : fmt::format("{}_{:03d}.mp4", stem, c);
            // On S3 the object key carries the request id (the function answers with it); via serve, the
            // query.
            std::string target = o->s3_bucket.empty()
                                     ? clips_path + "?request_id=" + httplib::detail::encode_query_param(id) +
                                           "&filename=" + httplib::detail::encode_query_param(name)
                                     : o->s3_prefix + id + ".mp4";
            uploader.submit(std::move(target), std::move(clips[c]), "video/mp4", id,
                            static_cast<size_t>(o->in_flight));
            ++sent;
            progress(name);
          }
          continue;
        }
        const auto clip_start = std::chrono::steady_clock::now();
        video::decode_clip(
            bytes, video::FramePolicy::parse("fps:" + std::to_string(o->fps)),
            [&](double t, const cv::Mat& rgb) {
              if (o->realtime)
                std::this_thread::sleep_until(clip_start +
                                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  std::chrono::duration<double>(t)));
              const std::string jpeg = image::encode_jpeg(rgb, 90);
              const std::string id = request_id(o->prefix, sent);
              const json body = {{"request_id", id},
                                 {"filename", fmt::format("frame_{:06d}.jpg", sent)},
                                 {"content", service::base64_encode(jpeg)}};
              uploader.submit(path, body.dump(), "application/json", id, static_cast<size_t>(o->in_flight));
              ++sent;
              progress(fmt::format("{} t={:.2f}s", std::filesystem::path(source).filename().string(), t));
              return !interrupted.load();
            });
      }
    }
    uploader.finish();
    progress("done");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\n");
    if (o->json_out)
      std::cout << json{{"sent", sent},
                        {"acknowledged", uploader.ok()},
                        {"failed", uploader.failed()},
                        {"seconds", std::round(seconds * 1000) / 1000}}
                       .dump()
                << "\n";
    else
      std::cout << fmt::format("sent {}  acknowledged {}  failed {}  seconds {:.2f}\n", sent, uploader.ok(),
                               uploader.failed(), seconds);
    if (uploader.failed() > 0)
      throw Error(ErrorKind::kUnavailable, std::to_string(uploader.failed()) + " uploads failed");
  });
}

void register_results(CLI::App& app, GlobalOptions&) {
  auto* cmd =
      app.add_subcommand("results", "the device's retriever: long-poll the response queue, print, delete");
  auto queue_url = std::make_shared<std::string>();
  auto expect = std::make_shared<int>(0);
  auto idle = std::make_shared<int>(0);
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("--queue-url", *queue_url,
                  "response queue URL (http://host:port/<account>/<id>-resp-queue)")
      ->required();
  cmd->add_option("--expect", *expect, "stop after this many results (0 = run until interrupted or idle)");
  cmd->add_option("--idle-seconds", *idle, "stop after this long without a result (0 = never)");
  cmd->add_flag("--json", *as_json, "one JSON line per result");
  cmd->callback([queue_url, expect, idle, as_json] {
    auto q = queue::open_queue_url(*queue_url);
    int received = 0, answered_count = 0;
    double latency_sum = 0, answered_sum = 0;
    const int64_t started_ms = now_ms();
    auto last_seen = std::chrono::steady_clock::now();
    while (*expect == 0 || received < *expect) {
      queue::ReceiveOptions ro;
      ro.max_messages = 10;
      ro.wait = std::chrono::seconds(5);
      for (const auto& m : q->receive(ro)) {
        last_seen = std::chrono::steady_clock::now();
        const json body = json::parse(m.body, nullptr, false);
        const std::string id = body.is_object() ? body.value("request_id", "?") : "?";
        // A camera's event (face.entered, ...) carries its own time: latency is from the moment it happened.
        const bool camera_event = events::is_camera_event(body);
        const auto sent = camera_event && body["time"].is_string()
                              ? events::parse_utc_ms(body["time"].get<std::string>())
                              : sent_ms(id);
        // Latency since sending includes any time the answer sat in the queue before this retriever started;
        // the queue's SentTimestamp tells the two apart.
        const double latency = sent ? static_cast<double>(now_ms() - *sent) / 1000.0 : -1;
        const double answered =
            sent && m.sent_timestamp_ms > 0 ? static_cast<double>(m.sent_timestamp_ms - *sent) / 1000.0 : -1;
        const double waited_before_start =
            m.sent_timestamp_ms > 0
                ? std::max<double>(0, static_cast<double>(started_ms - m.sent_timestamp_ms) / 1000.0)
                : 0;
        if (sent) latency_sum += latency;
        if (answered >= 0) {
          answered_sum += answered;
          ++answered_count;
        }
        ++received;
        if (*as_json) {
          json line = body;
          line["latency_s"] = std::round(latency * 1000) / 1000;
          line["answered_s"] = std::round(answered * 1000) / 1000;
          line["waited_before_start_s"] = std::round(waited_before_start * 1000) / 1000;
          std::cout << line.dump() << std::endl;
        } else {
          std::string records;
          if (body.is_object() && body.contains("people"))
            for (const auto& p : body["people"])
              if (p.contains("record") && !p["record"].is_null()) records += " " + p["record"].dump();
          std::string timing;
          if (answered >= 0) timing = fmt::format("answered in {:.2f} s", answered);
          if (waited_before_start > 0)
            timing += fmt::format("{}queued {:.2f} s before results started", timing.empty() ? "" : "; ",
                                  waited_before_start);
          if (!timing.empty()) timing = " (" + timing + ")";
          if (camera_event)
            std::cout << fmt::format("{}  latency {:.2f} s{}\n", events::describe_event(body), latency,
                                     timing)
                      << std::flush;
          else
            std::cout << fmt::format("{:<32} {:<16} latency {:>6.2f} s{}{}\n", id,
                                     body.is_object() ? body.value("result", "?") : m.body, latency, timing,
                                     records)
                      << std::flush;
        }
        q->remove(m.receipt_handle);
      }
      if (*idle > 0 && std::chrono::steady_clock::now() - last_seen > std::chrono::seconds(*idle)) break;
    }
    if (!*as_json && received > 0)
      std::cerr << fmt::format("{} results, average latency {:.2f} s{}\n", received, latency_sum / received,
                               answered_count > 0 ? fmt::format(" (answered in {:.2f} s on average)",
                                                                answered_sum / answered_count)
                                                  : "");
  });
}

}  // namespace

void register_video_commands(CLI::App& app, GlobalOptions& global) {
  register_clip(app, global);
  register_camera(app, global);
  register_results(app, global);
}

}  // namespace facepipe::cli
