// The HTTP transport of `facepipe serve`: reads requests, finds their route (route_table.h), runs the
// authentication hook and the handler on handler threads, writes the answer. It knows no API: each API
// registers its routes (api_routes.h); the constructor registers /healthz, /metrics and SQS, and
// set_function / add_post_route / mount_static add the rest.
//
// Why Boost.Beast on Asio and not cpp-httplib: cpp-httplib gives every connection a pool thread for its
// whole life, so 32 idle or slow connections (any client can open them) stop the service. Measured against
// the cpp-httplib server (the attacks of tests/server/transport_test.cpp replayed on `serve`): with 40
// connections dripping a body one byte every 5 s, with 200 idle ones, or with 200 dripping header lines,
// every other request timed out (> 5 s); here they answer in 1-3 ms (README, "Limits and budgets"). Here
// connections cost a socket and a buffer on a few I/O threads; a request reaches a handler thread only once
// it has been read whole, and handlers that may wait (SQS long polls, ?wait=1) have threads of their own.
//
// Limits (ServerOptions): a complete header within `header_timeout` of the connection or of the previous
// answer, at most `max_header_bytes`; a body within `body_grace` + length / `min_body_rate` (answers are
// written under the same rule); a Content-Length over `max_body_bytes` answered 413 before any body byte
// is read; two Content-Length headers, or one with Transfer-Encoding, answered 400; at most
// `max_connections` in all and `max_connections_per_client` per client address (429 + Retry-After);
// request bodies held at once within `max_inflight_body_bytes` (503 + Retry-After); requests waiting for a
// handler thread at most `max_queued` per pool (503). The listening socket has a backlog of `backlog`,
// and never SO_REUSEPORT, so a port in use is refused instead of shared.
//
// TLS: with `tls_cert` and `tls_key` (PEM files) every connection is HTTPS (OpenSSL through asio::ssl),
// under the same limits; the handshake counts against `header_timeout`.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "server/api_routes.h"
#include "server/http_types.h"
#include "server/route_table.h"
#include "service/metrics.h"

namespace facepipe::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0..65535; 0 = any free port (see port())
  // The URL clients reach this server at, for the URLs it returns (SQS queue URLs), e.g. behind a proxy:
  // "https://faces.example.org". Default: the address a connection arrived at. Never the Host header.
  std::string public_url;
  int threads = 32;       // handler threads for ordinary requests
  int long_threads = 64;  // handler threads for requests that may wait (long polls, ?wait=1)
  int io_threads = 2;     // threads that read and write sockets (event-driven)
  size_t max_body_bytes = size_t{6} * 1024 * 1024;  // Lambda's function URL limit
  size_t max_header_bytes = size_t{16} * 1024;
  size_t max_inflight_body_bytes = size_t{256} * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_grace{10000};
  size_t min_body_rate = size_t{32} * 1024;  // bytes per second, after body_grace
  // Streamed answers (Server-Sent Events, http_types.h StreamBody): a heartbeat after this much silence,
  // so dead clients are found and proxies keep the connection.
  std::chrono::milliseconds stream_heartbeat{15000};
  int max_connections = 4096;
  int max_connections_per_client = 128;
  int backlog = 1024;
  size_t max_queued = 1024;  // requests waiting for a handler thread, per pool
  std::string tls_cert;      // PEM certificate chain; with tls_key, serve HTTPS
  std::string tls_key;       // PEM private key
};

// Sees every request that has a route before its handler runs (on a handler thread): returns a refusal
// (401/403 + JSON) or nullopt to let it through. The default lets everything through.
using AuthHook = std::function<std::optional<Response>(const Request&, const Route&)>;

class HttpServer {
 public:
  // `queues` may be null: then the SQS endpoint answers 404.
  HttpServer(ServerOptions options, queue::QueueService* queues, service::Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes are added before run(); they are matched in the order added.
  RouteTable& routes() { return routes_; }
  // POST / : the function URL (api_routes.h: add_function_url).
  void set_function(FunctionHandler handler);
  // Before run(): /healthz answers 503 with what `problems` returns when that is not empty (e.g. the
  // service's queues that were deleted under it). Called on every probe: keep it cheap.
  void set_health_check(HealthCheck problems);
  // Before run(): fields added to every /healthz answer (e.g. the cameras' states).
  void set_health_detail(HealthDetail detail);
  // POST `path` (exact) goes to `handler` (api_routes.h: add_json_post_route).
  void add_post_route(const std::string& path, RouteHandler handler);
  // GET `prefix`* serves the files of `directory` (static_mount.h).
  void mount_static(const std::string& prefix, const std::string& directory);
  void set_auth(AuthHook hook);

  // Binds the socket; returns the port (useful with port 0). Throws Error(kUnavailable) when the port is
  // in use or the address cannot be bound, Error(kInvalidInput) for a port out of range or bad TLS files.
  int bind();
  // Serves until stop(); bind() first. Returns after the handlers still running have finished.
  void run();
  // Thread-safe; also before run().
  void stop();
  int port() const { return port_; }
  // "http://host:port" as bound ("https://" with TLS).
  std::string base_url() const;

  struct Impl;

 private:
  ServerOptions options_;
  service::Metrics& metrics_;
  RouteTable routes_;
  AuthHook auth_;
  HealthCheck health_check_;
  HealthDetail health_detail_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace facepipe::server
