#include "stream/watcher.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "image/codec.h"
#include "stream/sampler.h"

namespace facepipe::stream {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

CameraSpec parse_camera_spec(const std::string& text) {
  const auto eq = text.find('=');
  static const std::regex name_re("[A-Za-z0-9_-]{1,64}");
  if (eq == std::string::npos || eq + 1 == text.size() || !std::regex_match(text.substr(0, eq), name_re))
    throw Error(ErrorKind::kInvalidInput,
                "camera '" + video::redact_url(text) +
                    "' is not NAME=URL with a NAME of letters, digits, '-' and '_' (at most 64), e.g. "
                    "door=rtsp://192.168.1.20:554/stream1");
  CameraSpec spec{text.substr(0, eq), text.substr(eq + 1)};
  video::classify_source_url(spec.url);  // a clear error now rather than retries forever
  return spec;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

namespace {
double round_to(double v, int places) {
  const double scale = std::pow(10.0, places);
  return std::round(v * scale) / scale;
}

// The snapshot's face: the box with a fifth of its size around it, inside the frame.
cv::Mat face_snapshot(const cv::Mat& rgb, const face::Box& b) {
  const float mx = b.width() * 0.2f, my = b.height() * 0.2f;
  const int x1 = std::clamp(static_cast<int>(b.x1 - mx), 0, rgb.cols - 1);
  const int y1 = std::clamp(static_cast<int>(b.y1 - my), 0, rgb.rows - 1);
  const int x2 = std::clamp(static_cast<int>(b.x2 + mx), x1 + 1, rgb.cols);
  const int y2 = std::clamp(static_cast<int>(b.y2 + my), y1 + 1, rgb.rows);
  return rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1)).clone();
}
}  // namespace

struct Watcher::Camera {
  CameraSpec spec;
  std::unique_ptr<video::LiveSource> source;
  LatestFrame frames;
  Tracker tracker;
  std::thread decode_thread, analysis_thread;
  std::atomic<bool> done{false};

  // Per open track: first sighting (wall), best snapshot and the names the store gave it.
  struct Shot {
    std::chrono::system_clock::time_point first_wall;
    std::string face_jpeg, frame_jpeg;
    bool stored = false;  // the current best is in the store already
    json names;           // what the store returned for it
  };
  std::map<std::string, Shot> shots;

  mutable std::mutex mu;  // the figures below
  int64_t analysed = 0, events = 0;
  int64_t tracks_active = 0, tracks_started = 0, embeddings = 0, sightings = 0;  // the tracker's, copied
  double analysis_ms = 0;                                                        // moving average
  double delay_last = 0, delay_sum = 0, delay_max = 0;
  int64_t delay_count = 0;
  int width = 0, height = 0;
  SteadyClock::time_point rate_since = SteadyClock::now();
  int64_t rate_analysed = 0;
  double analysis_fps = 0;

  Camera(CameraSpec s, video::LiveOptions o) : spec(std::move(s)), tracker(spec.name) {
    o.name = spec.name;
    source = std::make_unique<video::LiveSource>(spec.url, o);
  }
};

Watcher::Watcher(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                 WatchOptions options, EventPublisher publish, SnapshotSaver snapshots)
    : detector_(detector),
      embedder_(embedder),
      gallery_(gallery),
      options_(std::move(options)),
      publish_(std::move(publish)),
      snapshots_(std::move(snapshots)) {
  if (!(options_.fps > 0) || options_.fps > 60)
    throw Error(ErrorKind::kInvalidInput, "--fps must be above 0 and at most 60 analysed frames per second");
}

Watcher::~Watcher() {
  stop();
  wait();
}

void Watcher::add_camera(const CameraSpec& spec) {
  if (started_) throw Error(ErrorKind::kConflict, "cameras are added before the watcher starts");
  for (const auto& c : cameras_)
    if (c->spec.name == spec.name)
      throw Error(ErrorKind::kInvalidInput,
                  "camera name '" + spec.name + "' is used twice; name each camera once");
  auto camera = std::make_unique<Camera>(spec, options_.source);
  camera->tracker = Tracker(spec.name, options_.tracker);
  cameras_.push_back(std::move(camera));
}

void Watcher::start() {
  if (started_.exchange(true)) return;
  video::FramePolicy policy;
  policy.kind = video::FramePolicy::Kind::kPerSecond;
  policy.per_second = options_.fps;
  for (auto& c : cameras_) {
    Camera* camera = c.get();
    camera->decode_thread = std::thread([this, camera, policy] {
      try {
        camera->source->run(policy, [this, camera](double t, const cv::Mat& rgb) {
          camera->frames.offer({t, std::chrono::system_clock::now(), SteadyClock::now(), rgb});
          return !stopping_.load();
        });
      } catch (const std::exception& e) {
        spdlog::error("camera {}: {}", camera->spec.name, e.what());
      }
      camera->frames.close();
    });
    camera->analysis_thread = std::thread([this, camera] { analyse(*camera); });
  }
}

void Watcher::stop() {
  stopping_ = true;
  for (auto& c : cameras_) c->source->stop();
}

bool Watcher::wait_for(std::chrono::milliseconds limit) {
  const auto end = SteadyClock::now() + limit;
  for (;;) {
    bool all = true;
    for (auto& c : cameras_) all = all && c->done;
    if (all) return true;
    if (SteadyClock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Watcher::wait() {
  for (auto& c : cameras_) {
    if (c->decode_thread.joinable()) c->decode_thread.join();
    if (c->analysis_thread.joinable()) c->analysis_thread.join();
  }
}

void Watcher::analyse(Camera& camera) {
  const face::CropSpec spec = embedder_.crop_spec();
  double last_t = 0;
  auto last_arrival = SteadyClock::now();

  auto emit = [&](const std::vector<TrackEvent>& events, const SampledFrame* frame) {
    for (const auto& e : events) {
      const TrackInfo& tr = e.track;
      auto shot_it = camera.shots.find(tr.id);
      Camera::Shot* shot = shot_it == camera.shots.end() ? nullptr : &shot_it->second;
      json snapshot = nullptr;
      if (shot && snapshots_ && !shot->face_jpeg.empty()) {
        if (!shot->stored) {
          try {
            shot->names = snapshots_(camera.spec.name, tr.id, shot->face_jpeg, shot->frame_jpeg);
          } catch (const std::exception& ex) {
            spdlog::warn("camera {}: snapshot of {} not stored: {}", camera.spec.name, tr.id, ex.what());
            shot->names = nullptr;
          }
          shot->stored = true;
        }
        snapshot = shot->names;
      }
      const auto now_wall = frame ? frame->wall : std::chrono::system_clock::now();
      json record = nullptr;
      if (tr.known) record = gallery_.record(tr.name).value_or(json());
      json event = {
          {"type", to_string(e.type)},
          {"camera", camera.spec.name},
          {"track_id", tr.id},
          {"name", tr.name},
          {"known", tr.known},
          {"certain", tr.certain},
          {"distance", round_to(tr.distance, 4)},
          {"record", record},
          {"time", iso_time(now_wall)},
          {"first_seen", iso_time(shot ? shot->first_wall : now_wall)},
          {"box",
           {round_to(tr.box.x1, 1), round_to(tr.box.y1, 1), round_to(tr.box.x2, 1), round_to(tr.box.y2, 1)}},
          {"quality", round_to(tr.quality, 3)},
          {"best_quality", round_to(tr.best_quality, 3)},
          {"frame_size", {camera.width, camera.height}},
          {"embeddings", tr.embeddings},
          {"frames_seen", tr.frames_seen},
          {"snapshot", snapshot}};
      if (e.type == TrackEvent::Type::kLeft) {
        event["duration_s"] = round_to(tr.last_seen - tr.first_seen, 3);
        camera.shots.erase(tr.id);
      }
      try {
        publish_(event);
      } catch (const std::exception& ex) {
        spdlog::error("camera {}: event {} of {} not published: {}", camera.spec.name,
                      event["type"].get<std::string>(), tr.id, ex.what());
      }
      std::lock_guard<std::mutex> lock(camera.mu);
      ++camera.events;
      if (frame && e.type != TrackEvent::Type::kLeft) {
        const double d =
            std::chrono::duration<double, std::milli>(SteadyClock::now() - frame->arrived).count();
        camera.delay_last = d;
        camera.delay_sum += d;
        camera.delay_max = std::max(camera.delay_max, d);
        ++camera.delay_count;
      }
    }
  };

  // Tracks that left, or never made an event and were dropped, lose their snapshot.
  auto forget_gone = [&] {
    for (auto it = camera.shots.begin(); it != camera.shots.end();)
      it = camera.tracker.is_live(it->first) ? std::next(it) : camera.shots.erase(it);
  };
  auto publish_figures = [&] {
    std::lock_guard<std::mutex> lock(camera.mu);
    camera.tracks_active = static_cast<int64_t>(camera.tracker.active());
    camera.tracks_started = camera.tracker.started();
    camera.embeddings = camera.tracker.embeddings();
    camera.sightings = camera.tracker.sightings();
  };

  while (!stopping_) {
    std::optional<SampledFrame> frame = camera.frames.take(std::chrono::milliseconds(200));
    if (!frame) {
      if (camera.frames.closed()) break;
      // No frame: the stream is down, stalled or slow. Time still passes for the tracks.
      const double idle = std::chrono::duration<double>(SteadyClock::now() - last_arrival).count();
      emit(camera.tracker.expire(last_t + idle), nullptr);
      forget_gone();
      publish_figures();
      continue;
    }
    last_t = frame->t;
    last_arrival = frame->arrived;
    const auto started = SteadyClock::now();
    try {
      const cv::Mat& rgb = frame->rgb;
      {
        std::lock_guard<std::mutex> lock(camera.mu);
        camera.width = rgb.cols;
        camera.height = rgb.rows;
      }
      const std::vector<face::Detection> detections = detector_.detect(rgb);
      std::vector<cv::Mat> crops;
      std::vector<Observation> observations;
      for (const auto& d : detections) {
        crops.push_back(face::extract_crop(rgb, d, spec));
        observations.push_back(
            {d, recognition::assess_quality(d, rgb.cols, rgb.rows, crops.back(), options_.quality)});
      }
      auto embed = [&](const std::vector<int>& indices) {
        std::vector<cv::Mat> batch;
        for (int i : indices) batch.push_back(crops[static_cast<size_t>(i)]);
        std::vector<face::Embedding> embeddings = embedder_.embed(batch);
        std::vector<EmbeddedMatch> out;
        for (auto& e : embeddings) {
          gallery::Match m = gallery_.match(e, options_.threshold);
          out.push_back({std::move(e), std::move(m)});
        }
        return out;
      };
      FrameUpdate update = camera.tracker.update(frame->t, observations, embed);
      for (size_t i = 0; i < update.track_of.size(); ++i)
        if (!update.track_of[i].empty() && !camera.shots.count(update.track_of[i]))
          camera.shots[update.track_of[i]].first_wall = frame->wall;
      for (int i : update.new_best) {
        auto& shot = camera.shots[update.track_of[static_cast<size_t>(i)]];
        if (!snapshots_) continue;
        shot.face_jpeg =
            image::encode_jpeg(face_snapshot(rgb, observations[static_cast<size_t>(i)].detection.box), 90);
        shot.frame_jpeg = image::encode_jpeg(rgb, 80);
        shot.stored = false;
      }
      emit(update.events, &*frame);
      forget_gone();
    } catch (const std::exception& e) {
      spdlog::error("camera {}: frame at {:.2f} s not analysed: {}", camera.spec.name, frame->t, e.what());
    }
    publish_figures();
    const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    std::lock_guard<std::mutex> lock(camera.mu);
    ++camera.analysed;
    camera.analysis_ms = camera.analysed == 1 ? ms : 0.9 * camera.analysis_ms + 0.1 * ms;
    const double window = std::chrono::duration<double>(SteadyClock::now() - camera.rate_since).count();
    if (window >= 5) {
      camera.analysis_fps = static_cast<double>(camera.analysed - camera.rate_analysed) / window;
      camera.rate_since = SteadyClock::now();
      camera.rate_analysed = camera.analysed;
    }
  }
  emit(camera.tracker.finish(), nullptr);
  camera.shots.clear();
  publish_figures();
  camera.done = true;
}

json Watcher::status() const {
  json cameras = json::array();
  for (const auto& c : cameras_) {
    std::lock_guard<std::mutex> lock(c->mu);
    cameras.push_back(
        {{"name", c->spec.name},
         {"source", c->source->status().to_json()},
         {"frames_offered", c->frames.offered()},
         {"frames_analysed", c->analysed},
         {"frames_dropped", c->frames.dropped()},
         {"analysis_fps", round_to(c->analysis_fps, 2)},
         {"analysis_ms", round_to(c->analysis_ms, 1)},
         {"tracks_active", c->tracks_active},
         {"tracks_started", c->tracks_started},
         {"embeddings", c->embeddings},
         {"faces_seen", c->sightings},
         {"events", c->events},
         {"delay_ms",
          {{"last", round_to(c->delay_last, 1)},
           {"mean", c->delay_count ? round_to(c->delay_sum / static_cast<double>(c->delay_count), 1) : 0.0},
           {"max", round_to(c->delay_max, 1)}}},
         {"done", c->done.load()}});
  }
  return {{"cameras", cameras}};
}

}  // namespace facepipe::stream
