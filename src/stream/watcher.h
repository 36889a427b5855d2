// Cameras watched in-process: for each camera a LiveSource decodes at the stream's rate on its own
// thread and offers frames at --fps to a LatestFrame; an analysis thread takes the latest, detects,
// scores quality, tracks (stream/tracker.h) and embeds what the tracker asks for, and turns the track
// events into the event JSON every sink and the console consume:
//   {"type": "face.entered" | "face.identified" | "face.left", "camera", "track_id", "name", "known",
//    "distance", "record" (the person's record or null), "time" (UTC ISO-8601 ms), "first_seen",
//    "duration_s" (face.left), "box" [x1,y1,x2,y2], "quality", "frame_size" [w,h], "embeddings",
//    "frames_seen", "snapshot" {"face", "frame"} or null}
// A camera that fails (cannot be opened, drops, stalls) is retried by its source and never affects the
// others. `facepipe watch` and `facepipe serve --camera` both run one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "recognition/answer_policy.h"
#include "stream/tracker.h"
#include "video/live_source.h"

namespace facepipe::stream {

struct CameraSpec {
  std::string name;  // [A-Za-z0-9_-]{1,64}: it appears in track ids, topics and file names
  std::string url;
};
// "NAME=URL"; Error(kInvalidInput) saying the form and the allowed name characters otherwise.
CameraSpec parse_camera_spec(const std::string& text);

struct WatchOptions {
  double fps = 5;  // analysed frames per second per camera
  video::LiveOptions source;
  TrackerOptions tracker;
  recognition::QualityBounds quality;
  float threshold = 0;  // open-set distance (<= 0: always the nearest)
};

// Called for every event, from the cameras' analysis threads (one call at a time per camera).
using EventPublisher = std::function<void(const nlohmann::json& event)>;
// Stores a track's best face crop and its frame (JPEG bytes) and returns how events name them
// ({"face": ..., "frame": ...}), or null when it did not store them. Called from analysis threads.
using SnapshotSaver =
    std::function<nlohmann::json(const std::string& camera, const std::string& track_id,
                                 const std::string& face_jpeg, const std::string& frame_jpeg)>;

// UTC ISO-8601 with milliseconds: "2026-12-02T01:02:03.456Z".
std::string iso_time(std::chrono::system_clock::time_point t);

class Watcher {
 public:
  Watcher(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
          WatchOptions options, EventPublisher publish, SnapshotSaver snapshots = {});
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Before start(). Error(kInvalidInput) for a bad URL or a name already used.
  void add_camera(const CameraSpec& camera);
  void start();
  // Any thread. Open tracks leave (face.left) before the analysis threads end.
  void stop();
  // Blocks up to `limit`; true once every camera has finished (files that ended, or after stop()).
  bool wait_for(std::chrono::milliseconds limit);
  void wait();

  // {"cameras": [{"name", "source": SourceStatus, "frames_analysed", "frames_dropped", "analysis_fps",
  //   "analysis_ms", "tracks_active", "tracks_started", "embeddings", "faces_seen", "events",
  //   "delay_ms": {"last", "mean", "max"}}]}
  nlohmann::json status() const;

 private:
  struct Camera;
  void analyse(Camera& camera);

  face::Detector& detector_;
  face::Embedder& embedder_;
  const gallery::Gallery& gallery_;
  const WatchOptions options_;
  EventPublisher publish_;
  SnapshotSaver snapshots_;
  std::vector<std::unique_ptr<Camera>> cameras_;
  std::atomic<bool> started_{false}, stopping_{false};
};

}  // namespace facepipe::stream
