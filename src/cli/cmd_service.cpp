// facepipe serve | worker detect|recognize | workload: the service on one machine, its stages as separate
// processes against any SQS-compatible endpoint, and the workload client. The wiring is app::Service's
// (app/app.h); this file maps flags to app::ServeOptions.
#include <iostream>
#include <mutex>
#include <optional>

#include "app/app.h"
#include "cli/answer_flags.h"
#include "cli/commands.h"
#include "core/error.h"
#include "service/workload.h"

namespace facepipe::cli {
namespace {

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

// Flags that map straight to options; the strings are parsed when the command runs.
struct Args {
  app::ServeOptions serve;
  std::string embedder = "auto";
  std::optional<float> threshold;
  std::string allow_anonymous;
  std::shared_ptr<recognition::AnswerOptions> answer;  // the commands that answer frames
};

// Runs a service until SIGINT/SIGTERM; `started` prints where it is reachable.
void run_service(const GlobalOptions& global, const Args& a, app::ServeOptions::Role role,
                 const std::function<void(app::Service&)>& started) {
  app::ServeOptions o = a.serve;
  o.role = role;
  o.engine = engine_options(global, o.engine);
  o.engine.embedder = engine::parse_embedder_kind(a.embedder);
  o.engine.threshold = a.threshold;
  if (!a.allow_anonymous.empty()) o.allow_anonymous = auth::parse_anonymous(a.allow_anonymous);
  if (a.answer) o.answer = *a.answer;
  app::serve_until_signal(std::move(o), started);
}

void print_listening(app::Service& s) { std::cout << "listening on " << s.base_url() << std::endl; }

}  // namespace

void register_service_commands(CLI::App& app, GlobalOptions& global) {
  using Role = app::ServeOptions::Role;

  // ---- serve ----
  auto sa = std::make_shared<Args>();
  auto& so = sa->serve;
  auto* serve = app.add_subcommand(
      "serve", "run the whole service in one process: function URL, queues (SQS API), workers");
  serve->add_option("--host", so.host, "address to listen on")->capture_default_str();
  serve->add_option("--port", so.port, "port (0 = any free port, printed on start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--public-url", so.public_url,
                    "URL clients reach this server at, used in returned queue URLs (default: the bound address)");
  serve->add_option("--tls-cert", so.tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  serve->add_option("--tls-key", so.tls_key, "PEM private key for --tls-cert");
  serve->add_option("--data-dir", so.data_dir, "where the queues are kept (queues.db)")
      ->capture_default_str();
  serve->add_option("--id", so.id, "queue prefix: <id>-req-queue, <id>-resp-queue")->capture_default_str();
  serve->add_option("--gallery", so.engine.gallery_path, "gallery database");
  serve->add_option("--embedder", sa->embedder, "embedder when the gallery does not name one")
      ->capture_default_str();
  serve->add_option("--threshold", sa->threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--recognizers", so.recognizers, "recognition worker threads")->capture_default_str();
  serve->add_option("--http-threads", so.http_threads, "HTTP worker threads")->capture_default_str();
  serve->add_option("--max-body", so.max_body_bytes, "largest request body in bytes")->capture_default_str();
  add_engine_pool_options(serve, so.engine_pool);
  serve->add_option("--visibility-timeout", so.queues.visibility_s, "request queue visibility timeout, s")
      ->capture_default_str();
  serve->add_option("--max-receives", so.queues.max_receives, "receives before a request is dead-lettered")
      ->capture_default_str();
  serve->add_flag("--reset-queues", so.reset_queues,
                  "give existing queues of this --id serve's attributes (messages are kept)");
  serve->add_flag("--queues-only", so.queues_only, "serve only the queues (SQS API), no face engine");
  serve->add_flag("--no-recognize", so.no_recognize,
                  "run no recognition workers (use `facepipe worker recognize`)");
  serve->add_option("--allow-anonymous", sa->allow_anonymous,
                    "serve beyond loopback without keys: function-url (only POST /) or all")
      ->check(CLI::IsMember({"function-url", "all"}));
  sa->answer = add_answer_flags(serve);
  const char* cams = "Cameras (watched in-process; events to the response queue and --event-sink)";
  serve
      ->add_option("--camera", so.cameras,
                   "NAME=URL, repeatable: rtsp(s)://, http(s)://, /dev/videoN, a file")
      ->group(cams);
  serve->add_option("--fps", so.watch.fps, "analysed frames per second per camera")
      ->capture_default_str()
      ->group(cams);
  serve->add_option("--event-sink", so.event_sinks, "also publish camera events to this URL (repeatable)")
      ->group(cams);
  serve->add_option("--rtsp-transport", so.watch.source.rtsp_transport, "RTSP over tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str()
      ->group(cams);
  serve->add_option("--stall-timeout", so.watch.source.stall_timeout, "seconds without data: reconnect")
      ->capture_default_str()
      ->group(cams);
  serve
      ->add_option("--retry-max", so.watch.source.backoff_max,
                   "cap of the doubling wait between reconnections, s")
      ->capture_default_str()
      ->group(cams);
  serve
      ->add_option("--track-timeout", so.watch.tracker.max_age,
                   "seconds a face may be unseen before it has left")
      ->capture_default_str()
      ->group(cams);
  serve->add_option("--snapshot-max-files", so.snapshots.max_files, "snapshots kept at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(cams);
  serve->callback([sa, &global] { run_service(global, *sa, Role::kServe, print_listening); });

  // ---- worker ----
  auto wa = std::make_shared<Args>();
  auto& wo = wa->serve;
  wo.port = 8081;
  auto* worker =
      app.add_subcommand("worker", "run one stage as its own process against an SQS-compatible endpoint");
  worker->require_subcommand(1);
  auto common = [wa, &wo](CLI::App* sub) {
    sub->add_option("--queue-endpoint", wo.queue_endpoint, "SQS endpoint URL (facepipe serve's, or AWS SQS)")
        ->required();
    sub->add_option("--id", wo.id, "queue prefix: <id>-req-queue, <id>-resp-queue")->capture_default_str();
    sub->add_option("--gallery", wo.engine.gallery_path, "gallery database (chooses the embedder)");
    sub->add_option("--embedder", wa->embedder, "embedder when no gallery names one")->capture_default_str();
  };
  auto* detect =
      worker->add_subcommand("detect", "serve the face-detection function URL; queue detected faces");
  common(detect);
  detect->add_option("--host", wo.host, "address to listen on")->capture_default_str();
  detect->add_option("--port", wo.port, "port (0 = any)")->check(CLI::Range(0, 65535))->capture_default_str();
  add_engine_pool_options(detect, wo.engine_pool);
  detect->callback([wa, &global] { run_service(global, *wa, Role::kDetect, print_listening); });
  auto* recognize = worker->add_subcommand(
      "recognize", "consume the request queue in batches; answer on the response queue");
  common(recognize);
  recognize->add_option("--threshold", wa->threshold, "open-set distance threshold (default: the embedder's)")
      ->check(CLI::NonNegativeNumber);
  recognize->add_option("--threads", wo.recognizers, "consumer threads")->capture_default_str();
  wa->answer = add_answer_flags(recognize);
  recognize->callback([wa, &global] {
    run_service(global, *wa, Role::kRecognize,
                [](app::Service& s) { std::cout << "consuming " << s.request_queue()->url() << std::endl; });
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
