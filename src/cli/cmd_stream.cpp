// Live cameras on the command line:
//   facepipe watch --gallery G --camera NAME=URL [--camera ...] --fps F [--json] [--sink URL ...]
// pulls the cameras itself and prints one event a line (stream/watcher.h runs it; this file maps flags).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <span>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/answer_flags.h"
#include "cli/commands.h"
#include "core/error.h"
#include "events/fanout.h"
#include "events/sink.h"
#include "events/snapshot_store.h"
#include "service/stage_engine.h"
#include "stream/watcher.h"

namespace facepipe::cli {
namespace {

using nlohmann::json;

// One line a camera: what an operator watching the log wants to see.
std::string status_line(const json& c) {
  const json& s = c["source"];
  std::string line = fmt::format(
      "camera {}: {} ({}x{} {}), {:.1f} fps in, {} analysed ({:.1f}/s, {:.0f} ms), {} dropped, {} tracks "
      "({} open), {} embeddings for {} faces, {} events",
      c["name"].get<std::string>(), s["state"].get<std::string>(), s["width"].get<int>(),
      s["height"].get<int>(), s["codec"].get<std::string>(), s["fps_in"].get<double>(),
      c["frames_analysed"].get<int64_t>(), c["analysis_fps"].get<double>(), c["analysis_ms"].get<double>(),
      c["frames_dropped"].get<int64_t>(), c["tracks_started"].get<int64_t>(),
      c["tracks_active"].get<int64_t>(), c["embeddings"].get<int64_t>(), c["faces_seen"].get<int64_t>(),
      c["events"].get<int64_t>());
  if (!s["last_error"].is_null())
    line += fmt::format("; last error {:.0f} s ago: {}", s["last_error_age_s"].get<double>(),
                        s["last_error"].get<std::string>());
  return line;
}

void register_watch(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand(
      "watch", "watch live cameras (RTSP, HTTP, V4L2, files): track faces, print one event per appearance");
  struct Options {
    std::string gallery;
    std::vector<std::string> cameras, sinks;
    stream::WatchOptions watch;
    float threshold = -1;
    bool json_out = false;
    double duration = 0, status_every = 10;
    std::string data_dir = "facepipe-data";
    bool snapshots = true;
    size_t snapshot_files = 2000;
    double snapshot_mb = 200;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("--gallery", o->gallery, "gallery database")->required()->check(CLI::ExistingFile);
  cmd->add_option(
         "--camera", o->cameras,
         "NAME=URL, repeatable: rtsp://, rtsps://, http(s):// (MJPEG, MPEG-TS, HLS), /dev/videoN, or "
         "a video file")
      ->required();
  cmd->add_option("--fps", o->watch.fps,
                  "analysed frames per second per camera (decoding keeps the stream's rate)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json_out, "print each event as one JSON object a line");
  cmd->add_option("--sink", o->sinks,
                  "also publish events to this URL (repeatable): stdout:, file:PATH, an SQS queue URL, "
                  "memory:#Q, sqlite:PATH#Q");
  cmd->add_option("--threshold", o->threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--duration", o->duration,
                  "stop after this many seconds (0 = until interrupted or the files end)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--status-every", o->status_every, "seconds between status lines on stderr (0 = none)")
      ->capture_default_str();
  const char* snap = "Snapshots";
  cmd->add_option("--data-dir", o->data_dir, "snapshots go to DATA_DIR/snapshots/<camera>/")
      ->capture_default_str()
      ->group(snap);
  cmd->add_flag("!--no-snapshots", o->snapshots, "keep no JPEG snapshots (events carry \"snapshot\": null)")
      ->group(snap);
  cmd->add_option("--snapshot-max-files", o->snapshot_files, "snapshots kept at most (oldest deleted first)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(snap);
  cmd->add_option("--snapshot-max-mb", o->snapshot_mb, "megabytes of snapshots kept at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(snap);
  const char* src = "Sources";
  auto& so = o->watch.source;
  cmd->add_option("--rtsp-transport", so.rtsp_transport, "RTSP over tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str()
      ->group(src);
  cmd->add_option("--open-timeout", so.open_timeout, "seconds to open a stream")
      ->capture_default_str()
      ->group(src);
  cmd->add_option("--stall-timeout", so.stall_timeout,
                  "seconds without data before a stream counts as stalled")
      ->capture_default_str()
      ->group(src);
  cmd->add_option("--retry-min", so.backoff_initial, "seconds before the first reconnection attempt")
      ->capture_default_str()
      ->group(src);
  cmd->add_option("--retry-max", so.backoff_max, "cap of the doubling wait between attempts, seconds")
      ->capture_default_str()
      ->group(src);
  cmd->add_flag("--realtime", so.realtime, "files: play at the video's pace, as a camera would")->group(src);
  cmd->add_option("--loops", so.loops, "files: play this many times (0 = forever)")
      ->capture_default_str()
      ->group(src);
  const char* trk = "Tracking";
  auto& to = o->watch.tracker;
  cmd->add_option("--track-timeout", to.max_age, "seconds a face may be unseen before it has left")
      ->capture_default_str()
      ->group(trk);
  cmd->add_option("--min-hits", to.min_hits, "good sightings before face.entered")
      ->capture_default_str()
      ->group(trk);
  cmd->add_option("--embed-interval", to.embed_interval,
                  "seconds between a track's embeddings (besides its first and clear quality gains)")
      ->capture_default_str()
      ->group(trk);
  cmd->add_option("--min-iou", to.min_iou, "box overlap that continues a track")
      ->capture_default_str()
      ->group(trk);
  add_quality_flags(cmd, o->watch.quality);

  cmd->callback([&global, o] {
    std::vector<stream::CameraSpec> cameras;
    for (const auto& c : o->cameras) cameras.push_back(stream::parse_camera_spec(c));
    // Sinks deliver on their own threads: a slow webhook or broker never holds up a camera.
    events::FanOut sinks;
    for (const auto& url : o->sinks) sinks.add(url);
    std::unique_ptr<events::SnapshotStore> store;
    stream::SnapshotSaver saver;
    if (o->snapshots) {
      store = std::make_unique<events::SnapshotStore>(
          std::filesystem::path(o->data_dir) / "snapshots",
          events::SnapshotLimits{o->snapshot_files, static_cast<uint64_t>(o->snapshot_mb * 1024 * 1024)});
      saver = [&store](const std::string& camera, const std::string& track, const std::string& face_jpeg,
                       const std::string& frame_jpeg) -> json {
        auto bytes = [](const std::string& s) {
          return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        };
        return {{"face", store->save(camera, track, "face", bytes(face_jpeg))},
                {"frame", store->save(camera, track, "frame", bytes(frame_jpeg))}};
      };
      spdlog::info("snapshots kept in {} (at most {} files, {} MB)", store->root().string(),
                   o->snapshot_files, o->snapshot_mb);
    }

    service::StageEngineOptions stage = engine_options(global);
    stage.gallery_path = o->gallery;
    stage.read_only_gallery = true;
    if (o->threshold >= 0) stage.threshold = o->threshold;
    auto engine = service::load_stage_engine(stage);
    o->watch.threshold = engine.threshold;
    // Re-identifying a face that lost its track takes a match stricter than the open-set threshold.
    if (o->watch.threshold > 0) o->watch.tracker.reid_distance = 0.9f * o->watch.threshold;

    std::mutex out_mu;
    const bool json_out = o->json_out;
    auto publish = [&](const json& event) {
      {
        std::lock_guard<std::mutex> lock(out_mu);
        if (json_out) {
          std::cout << event.dump() << std::endl;
        } else {
          std::cout << fmt::format("{} {:<10} {:<16} {:<12} {} ({:.3f}){}{}",
                                   event["time"].get<std::string>(), event["camera"].get<std::string>(),
                                   event["type"].get<std::string>(), event["track_id"].get<std::string>(),
                                   event["name"].get<std::string>(), event["distance"].get<double>(),
                                   event.contains("duration_s")
                                       ? fmt::format(" after {:.1f} s", event["duration_s"].get<double>())
                                       : "",
                                   event["record"].is_null() ? "" : " " + event["record"].dump())
                    << std::endl;
        }
      }
      if (sinks.size() > 0) sinks.publish(event);
    };

    // SIGINT/SIGTERM blocked before any thread starts, and taken here: open tracks leave cleanly.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    stream::Watcher watcher(*engine.detector, *engine.embedder, *engine.gallery, o->watch, publish, saver);
    for (const auto& c : cameras) watcher.add_camera(c);
    watcher.start();
    spdlog::info("watching {} camera{} at {} analysed fps", cameras.size(), cameras.size() == 1 ? "" : "s",
                 o->watch.fps);
    const auto start = std::chrono::steady_clock::now();
    auto last_status = start;
    for (;;) {
      timespec tick{0, 200'000'000};
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig > 0) {
        spdlog::info("signal {}: stopping the cameras", sig);
        break;
      }
      if (watcher.wait_for(std::chrono::milliseconds(0))) break;
      const auto now = std::chrono::steady_clock::now();
      if (o->duration > 0 && now - start >= std::chrono::duration<double>(o->duration)) break;
      if (o->status_every > 0 && now - last_status >= std::chrono::duration<double>(o->status_every)) {
        last_status = now;
        const json status = watcher.status();  // named: a range-for over a temporary's member would dangle
        for (const auto& c : status["cameras"]) spdlog::info("{}", status_line(c));
      }
    }
    watcher.stop();
    watcher.wait();
    const json status = watcher.status();
    for (const auto& c : status["cameras"]) spdlog::info("{}", status_line(c));
    std::cerr << status.dump() << std::endl;
    if (sinks.size() > 0 && !sinks.flush(std::chrono::seconds(10)))
      spdlog::warn("event sinks: not every event was delivered within 10 s");
  });
}

}  // namespace

void register_stream_commands(CLI::App& app, GlobalOptions& global) { register_watch(app, global); }

}  // namespace facepipe::cli
