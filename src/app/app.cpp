#include "app/app.h"

#include <filesystem>
#include <span>

#include <spdlog/spdlog.h>

#include "api/compreface.h"
#include "api/console.h"
#include "app/signals.h"
#include "auth/keys.h"
#include "core/error.h"
#include "events/sink.h"
#include "server/clip_endpoint.h"
#include "server/compreface_routes.h"
#include "server/console_routes.h"
#include "server/http_server.h"
#include "service/crop_contract.h"
#include "service/detection.h"
#include "service/queue_connect.h"
#include "service/recognition.h"
#include "service/waiters.h"
#include "service/worker.h"
#include "stream/camera_metrics.h"

namespace facepipe::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Role = ServeOptions::Role;

// Queue depths computed at scrape time.
void add_queue_depths(service::Metrics& metrics, std::vector<std::shared_ptr<queue::Queue>> queues) {
  metrics.add_collector([queues](std::string& out) {
    const std::string name = service::metric::kQueueMessages;
    service::append_metric_type(out, name, "gauge");
    for (auto& q : queues) {
      try {
        auto s = q->stats();
        const std::string queue = "queue=\"" + q->name() + "\"";
        service::append_metric_sample(out, name, queue + ",state=\"visible\"", std::to_string(s.visible));
        service::append_metric_sample(out, name, queue + ",state=\"in_flight\"", std::to_string(s.in_flight));
      } catch (const std::exception&) {
      }
    }
  });
}

// The engine a role needs: detection needs the detector (and the embedder's crop spec), recognition the
// embedder and a gallery.
service::StageEngineOptions engine_for_role(const ServeOptions& o) {
  service::StageEngineOptions e = o.engine;
  switch (o.role) {
    case Role::kServe:
      e.need_detector = true;
      e.need_gallery = !o.no_recognize;
      // A gallery named with --gallery may start empty (created if missing): /api/v1/ adds people to it.
      e.create_gallery = !e.gallery_path.empty();
      break;
    case Role::kDetect:
      e.need_detector = true;
      e.need_gallery = false;
      e.threshold.reset();
      break;
    case Role::kRecognize:
      e.need_detector = false;
      e.need_gallery = true;
      break;
  }
  return e;
}

bool needs_engine(const ServeOptions& o) { return !(o.role == Role::kServe && o.queues_only); }

// Mistakes in the options themselves, before anything slow (the models) is loaded.
const ServeOptions& checked(const ServeOptions& o) {
  if (o.role != Role::kServe && o.queue_endpoint.empty())
    throw Error(ErrorKind::kInvalidInput,
                "a worker needs the queues' endpoint: pass --queue-endpoint URL (facepipe serve's, or AWS SQS)");
  if (!o.cameras.empty() && (o.role != Role::kServe || o.queues_only || o.engine.gallery_path.empty()))
    throw Error(ErrorKind::kInvalidInput,
                "--camera needs serve with a --gallery (and without --queues-only)");
  for (const auto& c : o.cameras) stream::parse_camera_spec(c);  // a bad camera before anything starts
  for (const auto& url : o.event_sinks) events::open_event_sink(url);
  return o;
}

// Camera events onto a queue (the response queue), as SQS messages of the event's JSON.
class QueueEvents : public events::EventSink {
 public:
  explicit QueueEvents(std::shared_ptr<queue::Queue> queue) : queue_(std::move(queue)) {}
  void publish(const json& event) override { queue_->send(event.dump()); }

 private:
  std::shared_ptr<queue::Queue> queue_;
};

}  // namespace

Service::Service(ServeOptions options) : options_(std::move(options)) {
  checked(options_);
  // The engine first: a start-up that fails (no gallery, no models) leaves no data folder behind.
  std::optional<service::StageEngine> engine;
  if (needs_engine(options_)) engine = service::load_stage_engine(engine_for_role(options_));
  start(std::move(engine));
}

Service::Service(ServeOptions options, service::StageEngine engine) : options_(std::move(options)) {
  checked(options_);
  std::optional<service::StageEngine> e;
  if (needs_engine(options_)) e = std::move(engine);
  start(std::move(e));
}

Service::~Service() {
  stop();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  if (watcher_) watcher_->wait();
}

void Service::start(std::optional<service::StageEngine> engine) {
  engine_ = std::move(engine);
  if (options_.role == Role::kServe)
    open_serve_queues();
  else
    open_worker_queues();
  start_http();
  start_handlers();
}

void Service::open_serve_queues() {
  fs::create_directories(options_.data_dir);
  // API keys (auth/authorizer.h): refuse to listen beyond loopback without them unless told to.
  keys_ = auth::KeyStore::open(auth::key_store_path(options_.data_dir));
  auth::check_listen_policy(options_.host, keys_.get(), options_.allow_anonymous);
  authorizer_ = std::make_unique<auth::Authorizer>(keys_.get(),
                                                   options_.allow_anonymous.value_or(auth::Anonymous::kNone));
  const fs::path queues_db = fs::absolute(fs::path(options_.data_dir) / "queues.db");
  spdlog::info("serve: queues kept in {} (--data-dir)", queues_db.string());
  queues_ = queue::open_queue_service("sqlite:" + queues_db.string());
  auto q = queue::ensure_service_queues(*queues_, options_.id, options_.queues, options_.reset_queues);
  requests_ = q.request;
  responses_ = q.response;
  dead_letter_ = q.dead_letter;
  add_queue_depths(metrics_, {q.request, q.response, q.dead_letter});
}

void Service::open_worker_queues() {
  const auto names = queue::service_queue_names(options_.id);
  queues_ = queue::open_queue_service(options_.queue_endpoint);
  requests_ = service::connect_queue(*queues_, names.request, options_.queue_endpoint);
  if (options_.role == Role::kRecognize) {
    responses_ = service::connect_queue(*queues_, names.response, options_.queue_endpoint);
    try {  // where messages that can never succeed go at once; without it, the queue's own redrive
      dead_letter_ = queues_->get(names.dead_letter);
    } catch (const std::exception& e) {
      spdlog::warn(
          "recognize: no dead-letter queue {} ({}): failing messages return until the request "
          "queue's max receive count",
          names.dead_letter, e.what());
    }
  }
}

// The transport, bound before any engine thread starts: a port in use ends the command cleanly.
void Service::start_http() {
  if (options_.role == Role::kRecognize) return;
  server::ServerOptions so;
  so.host = options_.host;
  so.port = options_.port;
  if (options_.role == Role::kServe) {  // a detection worker keeps the transport's defaults
    so.threads = options_.http_threads;
    so.max_body_bytes = options_.max_body_bytes;
    so.public_url = options_.public_url;
    so.tls_cert = options_.tls_cert;
    so.tls_key = options_.tls_key;
  }
  http_ = std::make_unique<server::HttpServer>(so, options_.role == Role::kServe ? queues_.get() : nullptr,
                                               metrics_);
  if (options_.role == Role::kServe) {
    http_->set_auth([this](const server::Request& r, const server::Route&) {
      return server::check_access(*authorizer_, r);
    });
    if (engine_ && engine_->gallery) {  // the CompreFace-compatible API under /api/v1/
      // First the console (server/console_routes.h): its /api/v1/ routes before CompreFace's catch-all.
      console_ = server::attach_console(*http_, *engine_->detector, *engine_->embedder, *engine_->gallery,
                                        engine_->threshold, options_.data_dir, metrics_);
      compreface_ = std::make_unique<api::CompreFaceApi>(
          *engine_->detector, *engine_->embedder, *engine_->gallery,
          api::CompreFaceOptions{.threshold = engine_->threshold,
                                 .on_recognize = [this](const std::string& image, const auto& faces) {
                                   console_->observe({.image = image}, faces);
                                 }});
      server::add_compreface_routes(http_->routes(), *compreface_, metrics_);
    } else {
      server::add_compreface_absent_route(http_->routes());
    }
    http_->set_health_check([this, names = queue::service_queue_names(options_.id)] {
      std::vector<std::string> problems;
      for (auto& name : queue::missing_service_queues(*queues_, names))
        problems.push_back("queue " + name + " was deleted; restart serve to recreate it");
      return problems;
    });
  }
  http_->bind();
}

void Service::start_handlers() {
  const bool in_process_recognition =
      engine_ && options_.role != Role::kDetect && !(options_.role == Role::kServe && options_.no_recognize);
  // The crops on the request queue must be the embedder's (service/crop_contract.h): a process that detects
  // says which it cuts; a separate recognizer refuses to start on other ones.
  if (engine_ && options_.role == Role::kRecognize)
    service::check_crops(*requests_, engine_->embedder->crop_spec(), engine_->embedder->id());
  if (in_process_recognition) {
    recognition_ = std::make_unique<service::RecognitionHandler>(
        *engine_->embedder, *engine_->gallery, engine_->threshold, responses_, &metrics_, options_.answer);
    recognition_->set_dead_letter_queue(dead_letter_);
  }
  if (!http_ || !engine_) return;

  service::announce_crops(*requests_, engine_->embedder->crop_spec());
  pool_ = std::make_unique<service::EnginePool>(options_.engine_pool);
  pool_->export_metrics(metrics_);
  service::DetectionOptions detection_options;
  detection_options.pool = pool_.get();
  detection_ = std::make_unique<service::DetectionHandler>(*engine_->detector, engine_->embedder->crop_spec(),
                                                           requests_, &metrics_, detection_options);
  if (!in_process_recognition) {
    http_->set_function([this](const std::string& body, bool) { return detection_->handle(body); });
  } else {
    waiters_ = std::make_unique<service::Waiters>();
    recognition_->on_response = [this](const json& r) { waiters_->deliver(r); };
    if (console_)  // the console's events (with the frame as snapshot) and unknown faces
      recognition_->on_faces = [this](const json& r, const auto& faces) { console_->observe_response(r, faces); };
    http_->set_function([this](const std::string& body, bool wait) {
      if (console_) console_->remember_frame(body);
      if (!wait) return detection_->handle(body);
      // Register before queueing so a fast answer is not missed; the id is known only after parsing.
      auto request = json::parse(body, nullptr, false);
      std::string id =
          request.is_object() && request.contains("request_id") && request["request_id"].is_string()
              ? request["request_id"].get<std::string>()
              : "";
      if (id.empty()) return detection_->handle(body);  // refuses it with the precise reason
      waiters_->expect(id);
      json accepted;
      try {
        accepted = detection_->handle(body);
      } catch (...) {
        waiters_->forget(id);
        throw;
      }
      auto result = waiters_->wait(id, options_.wait_timeout);
      if (!result) {
        accepted["status"] = "queued; no result within " + std::to_string(options_.wait_timeout.count()) +
                             " s, poll the response queue";
        return accepted;
      }
      return *result;
    });
  }
  if (options_.role == Role::kServe && engine_->gallery) {  // the video variant's clip uploads (POST /clips)
    server::add_clip_endpoint(*http_, *engine_->detector, *engine_->embedder, *engine_->gallery,
                              engine_->threshold, responses_.get(), video::FramePolicy::parse("fps:2"),
                              pool_.get(), options_.answer);
  }
  start_cameras();
  if (options_.role == Role::kServe)
    spdlog::info(
        "serve: listening on {} (function URL POST /, SQS endpoint, /healthz, /metrics); queues {} and {}; "
        "response queue URL {}/000000000000/{}",
        http_->base_url(), requests_->name(), responses_->name(), http_->base_url(), responses_->name());
}

events::Hub* Service::event_hub() { return console_ ? &console_->hub() : nullptr; }

void Service::start_cameras() {
  if (options_.cameras.empty() || !engine_ || !engine_->gallery || !http_) return;
  // One snapshot store per data directory: the console's when it runs (it serves and erases them), else
  // the cameras' own.
  if (!console_)
    snapshots_ =
        std::make_unique<events::SnapshotStore>(fs::path(options_.data_dir) / "snapshots", options_.snapshots);
  events::SnapshotStore* store = console_ ? &console_->snapshots() : snapshots_.get();
  sinks_ = std::make_unique<events::FanOut>();
  sinks_->add(responses_->url(), std::make_unique<QueueEvents>(responses_));
  for (const auto& url : options_.event_sinks) sinks_->add(url);
  stream::WatchOptions w = options_.watch;
  w.threshold = engine_->threshold;
  w.quality = options_.answer.quality;
  // Re-identifying a face that lost its track takes a match stricter than the open-set threshold.
  if (w.threshold > 0) w.tracker.reid_distance = 0.9f * w.threshold;
  auto save = [store](const std::string& camera, const std::string& track, const std::string& face,
                     const std::string& frame) -> json {
    auto bytes = [](const std::string& b) {
      return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size());
    };
    return {{"face", store->save(camera, track, "face", bytes(face))},
            {"frame", store->save(camera, track, "frame", bytes(frame))}};
  };
  watcher_ = std::make_unique<stream::Watcher>(
      *engine_->detector, *engine_->embedder, *engine_->gallery, w,
      [this](const json& e) {
        sinks_->publish(e);
        if (events::Hub* hub = event_hub()) hub->publish(e);  // the console's live events
      },
      save);
  for (const auto& c : options_.cameras) watcher_->add_camera(stream::parse_camera_spec(c));
  metrics_.add_collector([this](std::string& out) { out += stream::camera_metrics(watcher_->status()); });
  http_->set_health_detail([this] {
    json cameras = json::array();
    const json status = watcher_->status();  // named: a range-for over a temporary's member would dangle
    for (const auto& c : status["cameras"])
      cameras.push_back({{"name", c["name"]},
                         {"state", c["source"]["state"]},
                         {"last_error", c["source"]["last_error"]},
                         {"last_error_age_s", c["source"]["last_error_age_s"]},
                         {"retry_in_s", c["source"]["retry_in_s"]},
                         {"fps_in", c["source"]["fps_in"]},
                         {"analysis_fps", c["analysis_fps"]},
                         {"frames_dropped", c["frames_dropped"]},
                         {"tracks_active", c["tracks_active"]},
                         {"events", c["events"]}});
    return json{{"cameras", cameras}};
  });
  spdlog::info(
      "serve: watching {} camera{} at {} analysed fps; events to {} and {} more sink{}; snapshots in {}",
      options_.cameras.size(), options_.cameras.size() == 1 ? "" : "s", w.fps, responses_->name(),
      options_.event_sinks.size(), options_.event_sinks.size() == 1 ? "" : "s", store->root().string());
}

void Service::run() {
  if (watcher_ && !stop_) watcher_->start();
  if (recognition_ && !stop_)
    for (int i = 0; i < std::max(1, options_.recognizers); ++i)
      workers_.emplace_back(
          [this] { service::run_recognition_worker(*requests_, *recognition_, stop_, {}, &metrics_); });
  if (http_) {
    if (!stop_) http_->run();  // a stop() before this point: stop at once
    stop_ = true;
  }
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  if (watcher_) {  // open tracks leave (face.left) before the sinks drain
    watcher_->stop();
    watcher_->wait();
    sinks_->flush(std::chrono::seconds(5));
  }
  if (options_.role == Role::kServe) spdlog::info("serve: stopped");
}

void Service::stop() {
  stop_ = true;
  if (watcher_) watcher_->stop();
  if (http_) http_->stop();
}

int Service::port() const { return http_ ? http_->port() : 0; }

std::string Service::base_url() const { return http_ ? http_->base_url() : ""; }

void serve_until_signal(ServeOptions options, const std::function<void(Service&)>& started) {
  // Before any thread starts (OpenMP, the engine pool, the server's handler threads), so that every thread
  // inherits the blocked SIGINT/SIGTERM and the signal reaches the thread that stops the server (a thread
  // without the mask would have died of it: exit 143).
  SignalStop signals;
  Service service(std::move(options));
  signals.attach([&service] { service.stop(); });
  if (started) started(service);
  service.run();
  signals.detach();
}

}  // namespace facepipe::app
