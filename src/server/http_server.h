// The HTTP front of `facepipe serve` (cpp-httplib): one port serves
//   POST /                 the face-detection function URL (JSON {"request_id","filename","content"});
//                          200 once the frame is accepted, 4xx + {"error","message"} for bad input
//   POST / (SQS)           the SQS JSON protocol (X-Amz-Target) and query protocol (form Action=...),
//                          dispatched by header, so one --endpoint-url serves the function and the queues
//   GET  /healthz          {"status":"ok"}, or 503 {"status":"unhealthy","problems":[...]} (set_health_check)
//   GET  /metrics          Prometheus text
// Keep-alive connections, a fixed worker pool (long polls hold a worker, so the pool is sized for them),
// and a body limit (Lambda's 6 MB by default) enforced before the body is read.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "service/metrics.h"

namespace httplib {
class Server;
}

namespace facepipe::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see port())
  int threads = 32;
  size_t max_body_bytes = size_t{6} * 1024 * 1024;
};

// The function URL's handler: the request body and whether the caller asked to wait (?wait=1).
// Returns the JSON answer; throws facepipe::Error for a 4xx/5xx.
using FunctionHandler = std::function<nlohmann::json(const std::string& body, bool wait)>;
// An extra POST route (the video variant's /clips, see clip_endpoint.h): the raw body and the query
// parameters. Returns the JSON answer; throws facepipe::Error for a 4xx/5xx.
using RouteHandler =
    std::function<nlohmann::json(const std::string& body, const std::map<std::string, std::string>& params)>;

class HttpServer {
 public:
  // `queues` may be null: then the SQS endpoint answers 404.
  HttpServer(ServerOptions options, queue::QueueService* queues, service::Metrics& metrics);
  ~HttpServer();
  void set_function(FunctionHandler handler);
  // Before bind(): /healthz answers 503 with what `problems` returns when that is not empty (e.g. the
  // service's queues that were deleted under it). Called on every probe: keep it cheap.
  void set_health_check(std::function<std::vector<std::string>()> problems);
  // Before bind(): POST `path` (exact) goes to `handler`.
  void add_post_route(const std::string& path, RouteHandler handler);
  // Binds the socket; returns the port (useful with port 0). Throws Error(kUnavailable) when taken.
  int bind();
  // Serves until stop(); bind() first.
  void run();
  void stop();
  int port() const { return port_; }
  std::string base_url() const;

 private:
  ServerOptions options_;
  queue::QueueService* queues_;
  service::Metrics& metrics_;
  FunctionHandler function_;
  std::function<std::vector<std::string>()> health_check_;
  std::map<std::string, RouteHandler> routes_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace facepipe::server
