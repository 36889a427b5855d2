// The service's wiring, once, for every front end that runs it: `facepipe serve`, `facepipe worker
// detect|recognize`, the benchmarks and the in-process tests. A Service composes queues, the engine, the
// handlers of service/, the APIs (api/, auth/) and the HTTP transport of server/ according to ServeOptions
// (LevelDB-style: every field has a default; set what differs):
//
//   Role::kServe      one process: durable queues (SQLite in data_dir) served over the SQS API, the
//                     function URL (POST /, ?wait=1), POST /clips, the CompreFace API (/api/v1/) and
//                     recognition workers; API keys (data_dir) checked before every route
//   Role::kDetect     the function URL only; frames go to the request queue at queue_endpoint
//   Role::kRecognize  recognition workers only, consuming the request queue at queue_endpoint
//
// Usage:   app::serve_until_signal(options, [](app::Service& s) { ... print s.base_url() ... });
// or, in process (tests, benchmarks):
//          app::Service service(options);   // loads models and gallery, opens queues, binds the port
//          std::thread t([&] { service.run(); });  ...  service.stop(); t.join();
//
// A new route or API: register it on the transport's route table in Service's constructor (server/ holds
// the route modules, e.g. server/compreface_routes.h); a new option: a field here with its default.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/authorizer.h"
#include "events/fanout.h"
#include "events/snapshot_store.h"
#include "queue/queue.h"
#include "queue/service_queues.h"
#include "recognition/answer_policy.h"
#include "service/engine_pool.h"
#include "service/metrics.h"
#include "service/stage_engine.h"
#include "stream/watcher.h"

namespace facepipe::server {
class HttpServer;
}
namespace facepipe::api {
class CompreFaceApi;
class Console;
}  // namespace facepipe::api
namespace facepipe::events {
class Hub;
}
namespace facepipe::auth {
class KeyStore;
}
namespace facepipe::service {
class DetectionHandler;
class RecognitionHandler;
class Waiters;
}  // namespace facepipe::service

namespace facepipe::app {

struct ServeOptions {
  enum class Role { kServe, kDetect, kRecognize };
  Role role = Role::kServe;
  // Queue prefix: <id>-req-queue, <id>-resp-queue, <id>-req-dlq (queue/service_queues.h refuses a bad one).
  std::string id = "facepipe";

  // Queues. kServe keeps them in data_dir/queues.db (created, with the API keys); the workers use
  // queue_endpoint (any URL queue::open_queue_service takes: serve's SQS endpoint, AWS SQS, moto), waiting
  // for it to answer (service/queue_connect.h).
  std::string data_dir = "facepipe-data";
  std::string queue_endpoint;
  queue::ServiceQueueSettings queues;  // kServe creates the queues with these
  bool reset_queues = false;           // kServe: existing queues get these attributes (messages kept)

  // HTTP (kServe, kDetect).
  std::string host = "127.0.0.1";
  int port = 8080;         // 0 = any free port (see Service::port())
  std::string public_url;  // kServe: the URL in returned queue URLs (default: the bound address)
  std::string tls_cert;    // kServe: PEM chain; with tls_key, serve HTTPS
  std::string tls_key;     // kServe: PEM private key
  int http_threads = 32;   // kServe (a detection worker keeps the transport's defaults)
  size_t max_body_bytes = size_t{6} * 1024 * 1024;  // kServe
  std::chrono::seconds wait_timeout{30};            // POST /?wait=1 waits this long for the answer
  // kServe beyond loopback: without API keys, refused unless this says what may be anonymous
  // (auth/authorizer.h: check_listen_policy).
  std::optional<auth::Anonymous> allow_anonymous;

  // Engine (need_detector / need_gallery / create_gallery are set per role: kServe creates a missing
  // --gallery and accepts an empty one, people are then added through /api/v1/).
  service::StageEngineOptions engine;
  service::EnginePoolOptions engine_pool;  // kServe, kDetect: decoding and detection within budgets
  recognition::AnswerOptions answer;       // kServe, kRecognize: which face answers, the quality gate
  int recognizers = 1;        // recognition worker threads (kServe, kRecognize)
  bool queues_only = false;   // kServe: only the queues (SQS API), no face engine
  bool no_recognize = false;  // kServe: no recognition workers (they run as `worker recognize`)

  // Cameras watched in-process (kServe with a gallery; stream/watcher.h), each "NAME=URL". Their events go
  // to the response queue (so `facepipe results` prints them) and to every URL of event_sinks
  // (events/sink.h); snapshots to data_dir/snapshots within `snapshots`. Their state is in /metrics
  // (stream/camera_metrics.h) and in /healthz's "cameras". watch.threshold and watch.quality are taken
  // from the engine and `answer`.
  std::vector<std::string> cameras;
  stream::WatchOptions watch;
  std::vector<std::string> event_sinks;
  events::SnapshotLimits snapshots{2000, uint64_t{200} << 20};
};

class Service {
 public:
  // Loads the engine as the role needs it (first: a start-up that fails leaves no data folder behind),
  // opens (kServe: creates) the queues and binds the port, before any engine thread starts. Throws
  // facepipe::Error: kNotFound for a missing gallery or model, kUnavailable for a port in use or an
  // unreachable queue endpoint, kInvalidInput for a bad option, kConflict for queues with other attributes.
  explicit Service(ServeOptions options);
  // The same with an engine built by the caller (tests, benchmarks); options.engine is not read.
  Service(ServeOptions options, service::StageEngine engine);
  ~Service();  // stop(), then joins every thread
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Serves until stop() (from any thread, e.g. a signal's); then the workers finish their batch.
  void run();
  // Thread-safe; also before run() (run() then returns at once).
  void stop();

  int port() const;              // the bound port; 0 for kRecognize
  std::string base_url() const;  // http(s)://host:port; "" for kRecognize
  std::shared_ptr<queue::Queue> request_queue() const { return requests_; }
  std::shared_ptr<queue::Queue> response_queue() const { return responses_; }
  service::Metrics& metrics() { return metrics_; }
  // kServe with a gallery: the web console's event hub (events/hub.h), where stream events are published
  // for GET /api/v1/events; null otherwise.
  events::Hub* event_hub();

 private:
  void start(std::optional<service::StageEngine> engine);
  void open_serve_queues();
  void open_worker_queues();
  void start_http();
  void start_handlers();
  void start_cameras();

  ServeOptions options_;
  service::Metrics metrics_;
  std::unique_ptr<queue::QueueService> queues_;
  std::shared_ptr<queue::Queue> requests_, responses_, dead_letter_;  // dead_letter_ may be null
  std::optional<service::StageEngine> engine_;
  std::unique_ptr<auth::KeyStore> keys_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<api::Console> console_;  // people API, live events, unknown faces, /ui/
  std::unique_ptr<api::CompreFaceApi> compreface_;
  std::unique_ptr<server::HttpServer> http_;
  std::unique_ptr<service::EnginePool> pool_;
  std::unique_ptr<service::Waiters> waiters_;
  std::unique_ptr<service::DetectionHandler> detection_;
  std::unique_ptr<service::RecognitionHandler> recognition_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  // Cameras: the watcher (declared last, stopped first) publishes through the sinks into the store.
  std::unique_ptr<events::SnapshotStore> snapshots_;
  std::unique_ptr<events::FanOut> sinks_;
  std::unique_ptr<stream::Watcher> watcher_;
};

// What `facepipe serve` and `facepipe worker ...` do: SIGINT/SIGTERM handling installed first (before any
// thread starts, so every thread inherits the blocked signals; app/signals.h), then the Service, then
// `started` (e.g. print where it listens), then run() until a signal stops it.
void serve_until_signal(ServeOptions options, const std::function<void(Service&)>& started = {});

}  // namespace facepipe::app
