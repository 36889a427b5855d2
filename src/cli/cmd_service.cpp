// facepipe serve | worker detect|recognize | workload: the service on one machine, its stages as separate
// processes against any SQS-compatible endpoint, and the workload client.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/answer_flags.h"
#include "cli/commands.h"
#include "core/error.h"
#include "api/compreface.h"
#include "auth/authorizer.h"
#include "auth/keys.h"
#include "engine/loader.h"
#include "gallery/gallery.h"
#include "queue/queue.h"
#include "queue/service_queues.h"
#include "recognition/thresholds.h"
#include "server/clip_endpoint.h"
#include "server/compreface_routes.h"
#include "server/console_routes.h"
#include "server/http_server.h"
#include "service/detection.h"
#include "service/engine_pool.h"
#include "service/metrics.h"
#include "service/queue_connect.h"
#include "service/recognition.h"
#include "service/stage_engine.h"
#include "service/worker.h"
#include "service/workload.h"

namespace facepipe::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The queue names and their creation live in queue/service_queues.h (they refuse a bad --id).
struct QueueNames : queue::ServiceQueueNames {
  explicit QueueNames(const std::string& id) : queue::ServiceQueueNames(queue::service_queue_names(id)) {}
};

using QueueSettings = queue::ServiceQueueSettings;

// Creates the three queues (idempotent; recreates deleted ones) and returns the request and response queues.
std::pair<std::shared_ptr<queue::Queue>, std::shared_ptr<queue::Queue>> ensure_queues(
    queue::QueueService& svc, const std::string& id, const QueueSettings& s, bool reset = false) {
  auto q = queue::ensure_service_queues(svc, id, s, reset);
  return {q.request, q.response};
}

// Blocks SIGINT/SIGTERM in every thread started after this; `on_signal` runs on a dedicated thread
// (so it may take locks and stop servers, which a signal handler may not).
void handle_signals(std::function<void()> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, on_signal] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {}: shutting down", sig);
    on_signal();
  }).detach();
}

using Engine = service::StageEngine;

Engine load_engine(const GlobalOptions& global, const std::string& gallery_path, const std::string& embedder,
                   std::optional<float> threshold, bool need_detector, bool need_gallery,
                   bool allow_empty_gallery = false) {
  return service::load_stage_engine({.models_dir = global.models_dir,
                                     .gallery_path = gallery_path,
                                     .embedder = embedder,
                                     .threshold = threshold,
                                     .need_detector = need_detector,
                                     .need_gallery = need_gallery,
                                     .allow_empty_gallery = allow_empty_gallery});
}

// Lets a ?wait=1 request block until recognition answers its id (in-process recognition only).
class Waiters {
 public:
  void expect(const std::string& id) {
    std::lock_guard lock(mu_);
    results_[id];
  }
  void deliver(const json& response) {
    std::lock_guard lock(mu_);
    auto it = results_.find(response.value("request_id", ""));
    if (it == results_.end()) return;
    it->second = response;
    cv_.notify_all();
  }
  std::optional<json> wait(const std::string& id, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return results_[id].has_value(); });
    auto r = results_[id];
    results_.erase(id);
    return r;
  }
  void forget(const std::string& id) {
    std::lock_guard lock(mu_);
    results_.erase(id);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::optional<json>> results_;
};

void add_queue_depths(service::Metrics& metrics, std::vector<std::shared_ptr<queue::Queue>> queues) {
  metrics.add_collector([queues](std::string& out) {
    out += "# TYPE facepipe_queue_messages gauge\n";
    for (auto& q : queues) {
      try {
        auto s = q->stats();
        out += "facepipe_queue_messages{queue=\"" + q->name() + "\",state=\"visible\"} " +
               std::to_string(s.visible) + "\n";
        out += "facepipe_queue_messages{queue=\"" + q->name() + "\",state=\"in_flight\"} " +
               std::to_string(s.in_flight) + "\n";
      } catch (const std::exception&) {
      }
    }
  });
}

// The engine pool's admission control (service/engine_pool.h; README "Limits and budgets").
void add_engine_pool_options(CLI::App* cmd, service::EnginePoolOptions& o) {
  cmd->add_option("--engine-threads", o.threads, "threads decoding and detecting frames (0 = cores)")
      ->capture_default_str();
  cmd->add_option("--pixel-budget", o.pixel_budget,
                  "pixels decoded or detected at once (peak memory ~50 B each)")
      ->capture_default_str();
  cmd->add_option("--byte-budget", o.byte_budget, "request bytes held by admitted work at once")
      ->capture_default_str();
  cmd->add_option("--engine-queue", o.max_queued, "frames waiting for the engine before 503")
      ->capture_default_str();
}

}  // namespace

void register_service_commands(CLI::App& app, GlobalOptions& global) {
  // ---- serve ----
  struct ServeArgs {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string data_dir = "facepipe-data";
    std::string id = "facepipe";
    std::string gallery;
    std::string embedder = "auto";
    std::optional<float> threshold;
    int recognizers = 1;
    int http_threads = 32;
    size_t max_body = 6 * 1024 * 1024;
    service::EnginePoolOptions engine_pool;
    bool queues_only = false;
    bool no_recognize = false;
    std::string allow_anonymous;
    bool reset_queues = false;
    std::string public_url, tls_cert, tls_key;
    QueueSettings queues;
  };
  auto sa = std::make_shared<ServeArgs>();
  auto* serve = app.add_subcommand(
      "serve", "run the whole service in one process: function URL, queues (SQS API), workers");
  serve->add_option("--host", sa->host, "address to listen on")->capture_default_str();
  serve->add_option("--port", sa->port, "port (0 = any free port, printed on start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--public-url", sa->public_url,
                    "URL clients reach this server at, used in returned queue URLs (default: the bound address)");
  serve->add_option("--tls-cert", sa->tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  serve->add_option("--tls-key", sa->tls_key, "PEM private key for --tls-cert");
  serve->add_option("--data-dir", sa->data_dir, "where the queues are kept (queues.db)")
      ->capture_default_str();
  serve->add_option("--id", sa->id, "queue prefix: <id>-req-queue, <id>-resp-queue")->capture_default_str();
  serve->add_option("--gallery", sa->gallery, "gallery database");
  serve->add_option("--embedder", sa->embedder, "embedder when the gallery does not name one")
      ->capture_default_str();
  serve->add_option("--threshold", sa->threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--recognizers", sa->recognizers, "recognition worker threads")->capture_default_str();
  serve->add_option("--http-threads", sa->http_threads, "HTTP worker threads")->capture_default_str();
  serve->add_option("--max-body", sa->max_body, "largest request body in bytes")->capture_default_str();
  add_engine_pool_options(serve, sa->engine_pool);
  serve->add_option("--visibility-timeout", sa->queues.visibility_s, "request queue visibility timeout, s")
      ->capture_default_str();
  serve->add_option("--max-receives", sa->queues.max_receives, "receives before a request is dead-lettered")
      ->capture_default_str();
  serve->add_flag("--reset-queues", sa->reset_queues,
                  "give existing queues of this --id serve's attributes (messages are kept)");
  serve->add_flag("--queues-only", sa->queues_only, "serve only the queues (SQS API), no face engine");
  serve->add_flag("--no-recognize", sa->no_recognize,
                  "run no recognition workers (use `facepipe worker recognize`)");
  serve->add_option("--allow-anonymous", sa->allow_anonymous,
                    "serve beyond loopback without keys: function-url (only POST /) or all")
      ->check(CLI::IsMember({"function-url", "all"}));
  auto serve_answer = add_answer_flags(serve);
  serve->callback([sa, &global, serve_answer] {
    // Before any thread starts (OpenMP, the engine pool, the server's handler threads), so that every
    // thread inherits the blocked SIGINT/SIGTERM and the signal reaches the thread that stops the server
    // (a thread without the mask would have died of it: exit 143).
    std::atomic<bool> stop{false};
    std::atomic<server::HttpServer*> running{nullptr};
    handle_signals([&] {
      stop = true;
      if (auto* h = running.load()) h->stop();
    });
    // The engine first: a start-up that fails (no gallery, no models) leaves no data folder behind.
    std::optional<Engine> engine;
    if (!sa->queues_only)
      // A gallery named with --gallery may start empty (created if missing): /api/v1/ adds people to it.
      engine = load_engine(global, sa->gallery, sa->embedder, sa->threshold, true, !sa->no_recognize,
                           !sa->gallery.empty());
    fs::create_directories(sa->data_dir);
    // API keys (auth/authorizer.h): refuse to listen beyond loopback without them unless told to.
    auto keys = auth::KeyStore::open(auth::key_store_path(sa->data_dir));
    std::optional<auth::Anonymous> anonymous;
    if (!sa->allow_anonymous.empty()) anonymous = auth::parse_anonymous(sa->allow_anonymous);
    auth::check_listen_policy(sa->host, keys.get(), anonymous);
    const auth::Authorizer authorizer(keys.get(), anonymous.value_or(auth::Anonymous::kNone));
    const fs::path queues_db = fs::absolute(fs::path(sa->data_dir) / "queues.db");
    spdlog::info("serve: queues kept in {} (--data-dir)", queues_db.string());
    auto queues = queue::open_queue_service("sqlite:" + queues_db.string());
    auto [requests, responses] = ensure_queues(*queues, sa->id, sa->queues, sa->reset_queues);
    service::Metrics metrics;
    add_queue_depths(metrics, {requests, responses, queues->get(QueueNames(sa->id).dead_letter)});

    server::ServerOptions so;
    so.host = sa->host;
    so.port = sa->port;
    so.threads = sa->http_threads;
    so.max_body_bytes = sa->max_body;
    so.public_url = sa->public_url;
    so.tls_cert = sa->tls_cert;
    so.tls_key = sa->tls_key;
    server::HttpServer http(so, queues.get(), metrics);
    http.set_auth([&authorizer](const server::Request& r, const server::Route&) {
      return server::check_access(authorizer, r);
    });
    std::unique_ptr<api::CompreFaceApi> compreface;
    std::unique_ptr<api::Console> console;  // people API, live events, unknown faces, /ui/
    if (engine && engine->gallery) {  // the CompreFace-compatible API under /api/v1/
      console = server::attach_console(http, *engine->detector, *engine->embedder, *engine->gallery, engine->threshold, sa->data_dir, metrics);
      compreface = std::make_unique<api::CompreFaceApi>(*engine->detector, *engine->embedder, *engine->gallery,
                                                        api::CompreFaceOptions{.threshold = engine->threshold, .on_recognize = [&](const std::string& image, const auto& faces) { console->observe({.image = image}, faces); }});
      server::add_compreface_routes(http.routes(), *compreface, metrics);
    } else {
      server::add_compreface_absent_route(http.routes());
    }
    http.set_health_check([&queues, names = QueueNames(sa->id)] {
      std::vector<std::string> problems;
      for (auto& name : queue::missing_service_queues(*queues, names))
        problems.push_back("queue " + name + " was deleted; restart serve to recreate it");
      return problems;
    });
    http.bind();  // before any thread starts: a port in use ends the command cleanly

    Waiters waiters;
    std::unique_ptr<service::EnginePool> pool;
    if (engine) {
      pool = std::make_unique<service::EnginePool>(sa->engine_pool);
      pool->export_metrics(metrics);
    }
    std::unique_ptr<service::DetectionHandler> detection;
    std::unique_ptr<service::RecognitionHandler> recognition;
    std::vector<std::thread> workers;
    bool in_process_recognition = engine && !sa->no_recognize;
    if (engine) {
      service::DetectionOptions detection_options;
      detection_options.pool = pool.get();
      detection = std::make_unique<service::DetectionHandler>(
          *engine->detector, engine->embedder->crop_spec(), requests, &metrics, detection_options);
      http.set_function([&](const std::string& body, bool wait) {
        if (console) console->remember_frame(body);
        if (!wait || !in_process_recognition) return detection->handle(body);
        // Register before queueing so a fast answer is not missed; the id is known only after parsing.
        auto request = json::parse(body, nullptr, false);
        std::string id =
            request.is_object() && request.contains("request_id") && request["request_id"].is_string()
                ? request["request_id"].get<std::string>()
                : "";
        if (id.empty()) return detection->handle(body);  // refuses it with the precise reason
        waiters.expect(id);
        json accepted;
        try {
          accepted = detection->handle(body);
        } catch (...) {
          waiters.forget(id);
          throw;
        }
        auto result = waiters.wait(id, std::chrono::seconds(30));
        if (!result) {
          accepted["status"] = "queued; no result within 30 s, poll the response queue";
          return accepted;
        }
        return *result;
      });
    }
    if (in_process_recognition) {
      recognition = std::make_unique<service::RecognitionHandler>(*engine->embedder, *engine->gallery,
                                                                  engine->threshold, responses, &metrics,
                                                                  *serve_answer);
      recognition->on_response = [&](const json& r) { waiters.deliver(r); };
      if (console) recognition->on_faces = [&](const json& r, const auto& faces) { console->observe_response(r, faces); };
      for (int i = 0; i < std::max(1, sa->recognizers); ++i)
        workers.emplace_back(
            [&] { service::run_recognition_worker(*requests, *recognition, stop, {}, &metrics); });
    }
    if (engine && engine->gallery)  // the video variant's clip uploads (POST /clips)
      server::add_clip_endpoint(http, *engine->detector, *engine->embedder, *engine->gallery,
                                engine->threshold, responses.get(), video::FramePolicy::parse("fps:2"),
                                pool.get(), *serve_answer);
    spdlog::info(
        "serve: listening on {} (function URL POST /, SQS endpoint, /healthz, /metrics); queues {} and {}; "
        "response queue URL {}/000000000000/{}",
        http.base_url(), requests->name(), responses->name(), http.base_url(), responses->name());
    std::cout << "listening on " << http.base_url() << std::endl;
    running = &http;
    if (!stop) http.run();  // a signal before this point: stop at once
    running = nullptr;
    stop = true;
    for (auto& t : workers) t.join();
    spdlog::info("serve: stopped");
  });

  // ---- worker ----
  struct WorkerArgs {
    std::string endpoint;
    std::string id = "facepipe";
    std::string gallery;
    std::string embedder = "auto";
    std::optional<float> threshold;
    int threads = 1;
    std::string host = "127.0.0.1";
    int port = 8081;
    QueueSettings queues;
    service::EnginePoolOptions engine_pool;
  };
  auto wa = std::make_shared<WorkerArgs>();
  auto* worker =
      app.add_subcommand("worker", "run one stage as its own process against an SQS-compatible endpoint");
  worker->require_subcommand(1);
  auto common = [wa](CLI::App* sub) {
    sub->add_option("--queue-endpoint", wa->endpoint, "SQS endpoint URL (facepipe serve's, or AWS SQS)")
        ->required();
    sub->add_option("--id", wa->id, "queue prefix: <id>-req-queue, <id>-resp-queue")->capture_default_str();
    sub->add_option("--gallery", wa->gallery, "gallery database (chooses the embedder)");
    sub->add_option("--embedder", wa->embedder, "embedder when no gallery names one")->capture_default_str();
  };
  auto* detect =
      worker->add_subcommand("detect", "serve the face-detection function URL; queue detected faces");
  common(detect);
  detect->add_option("--host", wa->host, "address to listen on")->capture_default_str();
  detect->add_option("--port", wa->port, "port (0 = any)")->check(CLI::Range(0, 65535))->capture_default_str();
  add_engine_pool_options(detect, wa->engine_pool);
  detect->callback([wa, &global] {
    std::atomic<server::HttpServer*> running{nullptr};
    std::atomic<bool> stopping{false};
    handle_signals([&] {  // before any thread starts (see serve)
      stopping = true;
      if (auto* h = running.load()) h->stop();
    });
    auto engine = load_engine(global, wa->gallery, wa->embedder, std::nullopt, true, false);
    auto svc = queue::open_queue_service(wa->endpoint);
    auto requests = service::connect_queue(*svc, QueueNames(wa->id).request, wa->endpoint);
    service::Metrics metrics;
    service::EnginePool pool(wa->engine_pool);
    pool.export_metrics(metrics);
    service::DetectionOptions detection_options;
    detection_options.pool = &pool;
    service::DetectionHandler detection(*engine.detector, engine.embedder->crop_spec(), requests, &metrics,
                                        detection_options);
    server::ServerOptions so;
    so.host = wa->host;
    so.port = wa->port;
    server::HttpServer http(so, nullptr, metrics);
    http.set_function([&](const std::string& body, bool) { return detection.handle(body); });
    http.bind();
    std::cout << "listening on " << http.base_url() << std::endl;
    running = &http;
    if (!stopping) http.run();
    running = nullptr;
  });
  auto* recognize = worker->add_subcommand(
      "recognize", "consume the request queue in batches; answer on the response queue");
  common(recognize);
  recognize->add_option("--threshold", wa->threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  recognize->add_option("--threads", wa->threads, "consumer threads")->capture_default_str();
  auto worker_answer = add_answer_flags(recognize);
  recognize->callback([wa, &global, worker_answer] {
    auto engine = load_engine(global, wa->gallery, wa->embedder, wa->threshold, false, true);
    auto svc = queue::open_queue_service(wa->endpoint);
    QueueNames names(wa->id);
    auto requests = service::connect_queue(*svc, names.request, wa->endpoint);
    auto responses = service::connect_queue(*svc, names.response, wa->endpoint);
    service::Metrics metrics;
    service::RecognitionHandler recognition(*engine.embedder, *engine.gallery, engine.threshold, responses,
                                            &metrics, *worker_answer);
    std::atomic<bool> stop{false};
    handle_signals([&] { stop = true; });
    std::cout << "consuming " << requests->url() << std::endl;
    std::vector<std::thread> threads;
    for (int i = 0; i < std::max(1, wa->threads); ++i)
      threads.emplace_back(
          [&] { service::run_recognition_worker(*requests, recognition, stop, {}, &metrics); });
    for (auto& t : threads) t.join();
  });

  // ---- workload ----
  struct WorkloadArgs {
    std::string url, queue_url, images, labels;
    int requests = 0, concurrency = 1;
    std::string interval = "0s";
    int timeout_s = 60;
    bool json_out = false;
  };
  auto la = std::make_shared<WorkloadArgs>();
  auto* workload = app.add_subcommand("workload", "send frames, poll the response queue, check the names");
  workload->add_option("--url", la->url, "face-detection function URL")->required();
  workload->add_option("--queue-url", la->queue_url, "response queue URL")->required();
  workload->add_option("--images", la->images, "frames folder (with --labels, or a folder per person)")
      ->required();
  workload->add_option("--labels", la->labels, "labels CSV (Image,Results)");
  workload->add_option("--requests", la->requests, "requests to send (default: every frame once)");
  workload->add_option("--interval", la->interval, "time between request starts, e.g. 1s, 250ms")
      ->capture_default_str();
  workload->add_option("--concurrency", la->concurrency, "requests in flight")->capture_default_str();
  workload->add_option("--timeout", la->timeout_s, "seconds to wait for each response")
      ->capture_default_str();
  workload->add_flag("--json", la->json_out, "print the report as JSON");
  workload->callback([la] {
    auto items = service::load_workload(la->images, la->labels);
    service::WorkloadOptions o;
    o.url = la->url;
    o.queue_url = la->queue_url;
    o.requests = la->requests;
    o.concurrency = la->concurrency;
    o.timeout = std::chrono::seconds(la->timeout_s);
    const std::string& iv = la->interval;
    try {
      size_t used = 0;
      double v = std::stod(iv, &used);
      std::string unit = iv.substr(used);
      if (unit == "ms")
        o.interval = std::chrono::milliseconds(static_cast<int64_t>(v));
      else if (unit == "s" || unit.empty())
        o.interval = std::chrono::milliseconds(static_cast<int64_t>(v * 1000));
      else
        throw std::invalid_argument(unit);
    } catch (const std::exception&) {
      throw Error(ErrorKind::kInvalidInput, "--interval '" + iv + "' is not a duration like 1s or 250ms");
    }
    std::mutex print_mu;
    o.progress = [&](int done, int total) {
      std::lock_guard lock(print_mu);
      int width = 40, filled = total ? done * width / total : width;
      std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done
                << "/" << total << std::flush;
      if (done == total) std::cerr << "\n";
    };
    auto report = service::run_workload(items, o);
    if (la->json_out)
      std::cout << report.to_json().dump(2) << "\n";
    else
      std::cout << report.to_text();
    // A check a script can rely on: every request answered, every answer right.
    if (const std::string why = service::workload_failure(report); !why.empty())
      throw Error(ErrorKind::kUnavailable, why);
  });
}

}  // namespace facepipe::cli
