#include "server/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>

#include "core/error.h"
#include "server/sqs_protocol.h"
#include "service/engine_pool.h"

namespace facepipe::server {
namespace {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // replace: a string holding invalid UTF-8 (an echoed client value) must not turn the answer into a 500.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, {{"error", code}, {"message", message}});
}

void send_sqs(httplib::Response& res, const SqsReply& reply) {
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers) res.set_header(k, v);
  res.set_content(reply.body, reply.content_type);
}

// A handler's JSON answer as a 200, its facepipe::Error as that error's status with {"error", "message"},
// anything else as a logged 500. Returns the status sent.
int answer(httplib::Response& res, const std::string& route, const std::function<json()>& handler) {
  try {
    send_json(res, 200, handler());
    return 200;
  } catch (const service::Overloaded& e) {  // load, not the request: tell the client when to come back
    res.set_header("Retry-After", std::to_string(e.retry_after_seconds()));
    send_json(res, 503,
              {{"error", "overloaded"}, {"message", e.what()}, {"retry_after", e.retry_after_seconds()}});
    return 503;
  } catch (const Error& e) {
    send_error(res, e.http_status(), e.code(), e.what());
    return e.http_status();
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected failure: {}", route, e.what());
    send_error(res, 500, "internal", std::string("unexpected failure: ") + e.what());
    return 500;
  }
}

// Queue URLs name the host the client reached us at, so they work whatever address we bound.
std::string request_base(const httplib::Request& req, const std::string& fallback) {
  auto host = req.get_header_value("Host");
  return host.empty() ? fallback : "http://" + host;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options, queue::QueueService* queues, service::Metrics& metrics)
    : options_(std::move(options)),
      queues_(queues),
      metrics_(metrics),
      http_(std::make_unique<httplib::Server>()) {
  int threads = std::max(4, options_.threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_keep_alive_max_count(1000);
  http_->set_tcp_nodelay(true);      // small JSON answers must not wait for Nagle + delayed ACK
  http_->set_keep_alive_timeout(5);  // idle keep-alive connections hold a worker (and delay stop) this long
  // A long poll answers after up to 20 s: the write side must outlast it.
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(30, 0);

  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });

  auto sqs_query = [this](const httplib::Request& req, httplib::Response& res) {
    if (!queues_) return send_error(res, 404, "not_found", "this server has no queue endpoint");
    SqsProtocol sqs(*queues_, request_base(req, base_url()));
    std::multimap<std::string, std::string> params(req.params.begin(), req.params.end());
    const SqsReply reply = sqs.handle_query(params, req.path);
    send_sqs(res, reply);
    metrics_.inc("facepipe_sqs_requests_total",
                 "protocol=\"query\",status=\"" + std::to_string(reply.status) + "\"");
  };
  http_->Get(R"(/.*)", [sqs_query](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("Action")) return sqs_query(req, res);
    send_error(res, 404, "not_found",
               "no such path '" + req.path + "': try POST /, GET /healthz or GET /metrics");
  });

  http_->Post(R"(/.*)", [this, sqs_query](const httplib::Request& req, httplib::Response& res) {
    auto start = std::chrono::steady_clock::now();
    auto target = req.get_header_value("X-Amz-Target");
    if (!target.empty()) {
      if (!queues_) return send_error(res, 404, "not_found", "this server has no queue endpoint");
      SqsProtocol sqs(*queues_, request_base(req, base_url()));
      const SqsReply reply = sqs.handle_json(target, req.body);
      send_sqs(res, reply);
      metrics_.inc("facepipe_sqs_requests_total",
                   "protocol=\"json\",status=\"" + std::to_string(reply.status) + "\"");
      return;
    }
    if (req.has_param("Action")) return sqs_query(req, res);
    if (auto route = routes_.find(req.path); route != routes_.end()) {
      const std::map<std::string, std::string> params(req.params.begin(), req.params.end());
      const int status = answer(res, req.path, [&] { return route->second(req.body, params); });
      metrics_.inc("facepipe_http_requests_total",
                   "route=\"" + req.path + "\",status=\"" + std::to_string(status) + "\"");
      return;
    }
    if (req.path != "/")
      return send_error(res, 404, "not_found", "no such path '" + req.path + "': post frames to /");
    if (!function_) return send_error(res, 404, "not_found", "this server runs no face-detection function");
    bool wait = req.has_param("wait") && req.get_param_value("wait") != "0";
    const int status = answer(res, "function URL", [&] { return function_(req.body, wait); });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_.inc("facepipe_http_requests_total",
                 "route=\"function\",status=\"" + std::to_string(status) + "\"");
    metrics_.observe("facepipe_http_request_seconds", "route=\"function\"", seconds);
  });

  // httplib answers an oversized body with an empty 413: give it the JSON error every 4xx has.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      metrics_.inc("facepipe_http_requests_total", "route=\"function\",status=\"413\"");
      // httplib caps form-encoded bodies at 8 KB (curl --data-binary's default Content-Type).
      if (req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
        return send_error(
            res, 413, "too_large",
            "form-encoded bodies are limited to 8 KB: send frames with Content-Type: application/json "
            "and clips with Content-Type: video/mp4");
      send_error(
          res, 413, "too_large",
          "request body over " + std::to_string(options_.max_body_bytes) + " bytes; send a smaller frame");
    } else {
      send_error(res, res.status, "http_error", "HTTP " + std::to_string(res.status));
    }
  });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::set_function(FunctionHandler handler) { function_ = std::move(handler); }

void HttpServer::add_post_route(const std::string& path, RouteHandler handler) {
  routes_[path] = std::move(handler);
}

int HttpServer::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
  } else {
    port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0)
    throw Error(ErrorKind::kUnavailable, "cannot listen on " + options_.host + ":" +
                                             std::to_string(options_.port) +
                                             "; is another server using the port? choose one with --port");
  return port_;
}

void HttpServer::run() { http_->listen_after_bind(); }

void HttpServer::stop() {
  if (http_) http_->stop();
}

std::string HttpServer::base_url() const { return "http://" + options_.host + ":" + std::to_string(port_); }

}  // namespace facepipe::server
