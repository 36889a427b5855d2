#include "server/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "server/error_status.h"
#include "server/static_mount.h"
#include "server/worker_pool.h"

namespace facepipe::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const ServerOptions& o, const RouteTable& r, const AuthHook& a, service::Metrics& m)
      : options(o),
        routes(r),
        auth(a),
        metrics(m),
        acceptor(ioc),
        retry_accept(ioc),
        short_pool(std::max(1, o.threads), o.max_queued),
        long_pool(std::max(1, o.long_threads), o.max_queued) {}

  const ServerOptions& options;
  const RouteTable& routes;
  const AuthHook& auth;
  service::Metrics& metrics;
  std::string scheme = "http";
  std::string configured_base;  // base_url() once bound

  // Declared before the io_context: sessions still pending when it is destroyed update these.
  std::mutex clients_mu;
  std::unordered_map<std::string, int> per_client;
  struct Gauges {
    std::atomic<int> connections{0};
    std::atomic<size_t> inflight_body{0};
  };
  std::shared_ptr<Gauges> gauges = std::make_shared<Gauges>();  // shared with the metrics collector
  std::atomic<int>& connections = gauges->connections;
  std::atomic<size_t>& inflight_body = gauges->inflight_body;
  std::atomic<bool> stopped{false};
  std::optional<ssl::context> tls;

  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::steady_timer retry_accept;
  WorkerPool short_pool;
  WorkerPool long_pool;

  // Connection bookkeeping: false when the client already holds its share.
  bool admit(const std::string& address) {
    std::lock_guard<std::mutex> lock(clients_mu);
    int& n = per_client[address];
    if (n >= options.max_connections_per_client) {
      if (n == 0) per_client.erase(address);
      return false;
    }
    ++n;
    return true;
  }
  void release(const std::string& address) {
    std::lock_guard<std::mutex> lock(clients_mu);
    auto it = per_client.find(address);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
  }
  // Reserves `bytes` of the in-flight body budget; false when it does not fit.
  bool reserve_body(size_t bytes) {
    size_t current = inflight_body.load();
    do {
      if (current + bytes > options.max_inflight_body_bytes) return false;
    } while (!inflight_body.compare_exchange_weak(current, current + bytes));
    return true;
  }
  void release_body(size_t bytes) { inflight_body -= bytes; }

  std::chrono::steady_clock::duration transfer_deadline(uint64_t bytes) const {
    const uint64_t rate = std::max<uint64_t>(1, options.min_body_rate);
    return options.body_grace + std::chrono::milliseconds(bytes * 1000 / rate);
  }

  void refused(const char* reason) {
    metrics.inc(service::metric::kHttpRefused, std::string("reason=\"") + reason + "\"");
  }

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
};

namespace {

// One connection: HTTP/1.1 requests in turn (keep-alive), each read whole under its deadlines, handed to
// a handler thread, answered. `Stream` is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(HttpServer::Impl& server, Stream stream, std::string remote, bool counted)
      : server_(server), stream_(std::move(stream)), remote_(std::move(remote)), counted_(counted) {}
  ~Session() {
    if (stream_body_ && !ended_) stream_body_->finish();
    if (reserved_) server_.release_body(reserved_);
    if (counted_) server_.release(remote_);
    --server_.connections;
  }

  void start() {
    lowest().expires_after(server_.options.header_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->read_header();
                              });
    } else {
      read_header();
    }
  }

  // Answers `status` before reading any request (too many connections) and closes.
  void refuse(int status, const std::string& code, const std::string& message) {
    lowest().expires_after(std::chrono::seconds(2));
    keep_alive_ = false;
    Response r = Response::error(status, code, message);
    r.headers.emplace_back("Retry-After", "1");
    write(std::move(r));
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    lowest().expires_after(server_.options.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    // Beast refuses differing Content-Lengths and Content-Length with chunked; a repeated equal one or a
    // list ("5, 5") it merges. Proxies may disagree about which one counts (request smuggling): refuse.
    const auto lengths = req.count(http::field::content_length);
    if (lengths > 1 ||
        (lengths == 1 && req[http::field::content_length].find(',') != beast::string_view::npos))
      return fail(400, "bad_request", "more than one Content-Length; send exactly one", "bad_framing");
    const auto length = parser_->content_length();
    if (length && *length > server_.options.max_body_bytes)
      return fail(413, "too_large",
                  "request body of " + std::to_string(*length) + " bytes is over the limit of " +
                      std::to_string(server_.options.max_body_bytes) + " bytes; send a smaller frame or clip",
                  "too_large");
    const size_t expected = length               ? static_cast<size_t>(*length)
                            : parser_->chunked() ? server_.options.max_body_bytes
                                                 : 0;
    if (expected > 0) {
      if (!server_.reserve_body(expected)) {
        Response r =
            Response::error(503, "busy", "the server is reading too many request bodies; retry shortly");
        r.headers.emplace_back("Retry-After", "1");
        server_.refused("body_budget");
        keep_alive_ = false;
        return write(std::move(r));
      }
      reserved_ = expected;
    }
    if (parser_->is_done()) return on_body({});
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      return http::async_write(stream_, *cont,
                               [self = this->shared_from_this(), cont](beast::error_code e, size_t) {
                                 if (e) return self->close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    const uint64_t length = parser_->content_length().value_or(server_.options.max_body_bytes);
    lowest().expires_after(server_.transfer_deadline(length));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return fail(
          413, "too_large",
          "request body over the limit of " + std::to_string(server_.options.max_body_bytes) + " bytes",
          "too_large");
    if (ec == http::error::header_limit)
      return fail(431, "header_too_large",
                  "request header over " + std::to_string(server_.options.max_header_bytes) + " bytes",
                  "header_too_large");
    if (ec == beast::error::timeout) {
      // Beast has closed the socket: nothing more can be said to this client.
      if (parser_ && parser_->got_some()) server_.refused("timeout");
      return;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated)
      return close();
    if (ec.category() == http::make_error_code(http::error::bad_method).category())
      return fail(400, "bad_request", "malformed HTTP request: " + ec.message(), "bad_request");
    close();
  }

  void on_body(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto message = parser_->release();
    Request req;
    req.method = std::string(message.method_string());
    req.target = std::string(message.target());
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = parse_form(req.target.substr(q + 1));
    for (const auto& field : message)
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    req.body = std::move(message.body());
    req.remote_address = remote_;
    req.base_url = base_url();

    const auto match = server_.routes.find(req);
    if (!match.route) {
      Response r =
          match.status == 405
              ? Response::error(405, "method_not_allowed",
                                req.method + " " + req.path + " is not served; use " + match.allow)
              : Response::error(404, "not_found",
                                "no such path '" + req.path + "': try POST /, GET /healthz or GET /metrics");
      if (match.status == 405) r.headers.emplace_back("Allow", match.allow);
      return write(std::move(r));
    }
    const Route* route = match.route;
    WorkerPool& pool = route->pool == Pool::kLong ? server_.long_pool : server_.short_pool;
    // No deadline while the handler runs: it has its own budgets; the client waits.
    lowest().expires_never();
    auto job = [self = this->shared_from_this(), route, req = std::move(req)]() mutable {
      Response res = self->run_handler(*route, req);
      req.body.clear();
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    if (!pool.submit(std::move(job))) {
      Response r = Response::error(503, "busy", "every handler thread is busy; retry shortly");
      r.headers.emplace_back("Retry-After", "1");
      server_.refused("handlers_busy");
      write(std::move(r));
    }
  }

  Response run_handler(const Route& route, const Request& req) {
    try {
      if (server_.auth)
        if (auto refusal = server_.auth(req, route)) return *refusal;
      return route.handler(req);
    } catch (const Error& e) {
      return error_response(e);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unexpected failure: {}", req.method, req.path, e.what());
      return Response::error(500, "internal", std::string("unexpected failure: ") + e.what());
    }
  }

  std::string base_url() {
    if (!server_.options.public_url.empty()) {
      std::string u = server_.options.public_url;
      while (!u.empty() && u.back() == '/') u.pop_back();
      return u;
    }
    if (!is_wildcard(server_.options.host)) return server_.configured_base;
    beast::error_code ec;
    const auto local = lowest().socket().local_endpoint(ec);
    if (ec) return server_.configured_base;
    return server_.scheme + "://" + url_host(local.address().to_string()) + ":" +
           std::to_string(local.port());
  }

  // Answers and closes without reading the rest of the request.
  void fail(int status, const std::string& code, const std::string& message, const char* reason) {
    server_.refused(reason);
    keep_alive_ = false;
    write(Response::error(status, code, message));
  }

  void write(Response r) {
    if (reserved_) {
      server_.release_body(reserved_);
      reserved_ = 0;
    }
    if (r.stream && !head_) return write_stream(std::move(r));
    auto msg = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    msg->set(http::field::server, "facepipe");
    if (r.status != 304 && r.status != 204 && !r.content_type.empty())
      msg->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) msg->insert(k, v);
    const size_t size = r.body.size();
    if (head_) {
      msg->content_length(size);
    } else {
      msg->body() = std::move(r.body);
      msg->prepare_payload();
    }
    msg->keep_alive(keep_alive_);
    lowest().expires_after(server_.transfer_deadline(size));
    http::async_write(stream_, *msg, [self = this->shared_from_this(), msg](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_) return self->linger_close();
      self->head_ = false;
      self->read_header();
    });
  }

  // A streamed answer (StreamBody, e.g. Server-Sent Events): the head without a length, then whatever the
  // body yields until it is done, the client leaves or stops reading, or the server stops. The
  // connection is not reused.
  void write_stream(Response r) {
    keep_alive_ = false;
    stream_body_ = std::move(r.stream);
    auto head = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), 11);
    head->set(http::field::server, "facepipe");
    if (!r.content_type.empty()) head->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) head->insert(k, v);
    head->keep_alive(false);
    lowest().expires_after(server_.transfer_deadline(1024));
    http::async_write(stream_, *head, [self = this->shared_from_this(), head](beast::error_code ec, size_t) {
      self->lowest().expires_never();
      if (ec) return self->end_stream();
      std::weak_ptr<Session> weak = self;
      auto executor = self->stream_.get_executor();
      self->stream_body_->start([weak, executor] {
        asio::post(executor, [weak] {
          if (auto s = weak.lock()) s->pump();
        });
      });
      self->heartbeat_.emplace(executor);
      self->arm_heartbeat();
      self->pump();
    });
  }

  void pump() {
    if (writing_ || ended_ || !stream_body_) return;
    bool done = false;
    std::string data = stream_body_->pull(done);
    if (data.empty()) {
      if (done) end_stream();
      return;
    }
    send_stream(std::move(data), done);
  }

  void send_stream(std::string data, bool last) {
    writing_ = true;
    auto buffer = std::make_shared<std::string>(std::move(data));
    // A client that stops reading fills its socket buffer; the write's deadline then ends it.
    lowest().expires_after(server_.transfer_deadline(buffer->size()));
    asio::async_write(stream_, asio::buffer(*buffer),
                      [self = this->shared_from_this(), buffer, last](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        self->lowest().expires_never();
                        if (ec || last) return self->end_stream();
                        self->sent_since_heartbeat_ = true;
                        self->pump();
                      });
  }

  void arm_heartbeat() {
    heartbeat_->expires_after(server_.options.stream_heartbeat);
    heartbeat_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->ended_) return;
      if (!self->writing_ && !self->sent_since_heartbeat_) self->send_stream(self->stream_body_->heartbeat(), false);
      self->sent_since_heartbeat_ = false;
      self->arm_heartbeat();
    });
  }

  void end_stream() {
    if (ended_) return;
    ended_ = true;
    if (heartbeat_) heartbeat_->cancel();
    if (stream_body_) stream_body_->finish();
    close();
  }

  // After an answer that ends the connection: stop sending, drain what the client still sends for a
  // moment (closing with unread data makes the kernel reset the connection, which can destroy the answer
  // before the client reads it), then close.
  void linger_close() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      lowest().expires_after(std::chrono::seconds(2));
      drain();
    }
  }

  void drain() {
    lowest().async_read_some(asio::buffer(discard_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->close();
                               self->drain();
                             });
  }

  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  HttpServer::Impl& server_;
  Stream stream_;
  std::string remote_;
  bool counted_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t reserved_ = 0;
  bool keep_alive_ = true;
  bool head_ = false;
  std::shared_ptr<StreamBody> stream_body_;  // a streamed answer in progress
  std::optional<asio::steady_timer> heartbeat_;
  bool writing_ = false, ended_ = false, sent_since_heartbeat_ = false;
  std::array<char, 4096> discard_{};
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || stopped) return;
  if (ec) {
    // Out of file descriptors (EMFILE) and the like: try again shortly instead of spinning.
    spdlog::warn("http: accept failed: {}; retrying in 100 ms", ec.message());
    retry_accept.expires_after(std::chrono::milliseconds(100));
    retry_accept.async_wait([this](beast::error_code e) {
      if (!e) accept();
    });
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);  // small JSON answers must not wait for Nagle + delayed ACK
  const auto remote_ep = socket.remote_endpoint(ec);
  const std::string remote = ec ? std::string("unknown") : remote_ep.address().to_string();
  ++connections;
  const bool over_total = connections > options.max_connections;
  const bool admitted = !over_total && admit(remote);
  auto refuse_reason = over_total ? "connections" : "connections_per_client";
  if (tls) {
    auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls), remote,
        admitted);
    if (admitted)
      s->start();
    else
      refused(refuse_reason);  // the session closes as it goes out of scope
  } else {
    auto s = std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)), remote,
                                                          admitted);
    if (admitted) {
      s->start();
    } else {
      refused(refuse_reason);
      s->refuse(429, "too_many_connections",
                over_total ? "the server holds its limit of " + std::to_string(options.max_connections) +
                                 " connections; retry shortly"
                           : "too many connections from " + remote + " (limit " +
                                 std::to_string(options.max_connections_per_client) +
                                 "); reuse keep-alive connections or retry shortly");
    }
  }
  accept();
}

HttpServer::HttpServer(ServerOptions options, queue::QueueService* queues, service::Metrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {
  impl_ = std::make_unique<Impl>(options_, routes_, auth_, metrics_);
  add_health_routes(routes_, &health_check_, &health_detail_);
  add_metrics_route(routes_, metrics_);
  add_sqs_routes(routes_, queues, metrics_);
  metrics_.add_collector([gauges = impl_->gauges](std::string& out) {
    using namespace service;
    append_metric_type(out, metric::kHttpConnections, "gauge");
    append_metric_sample(out, metric::kHttpConnections, "", std::to_string(gauges->connections.load()));
    append_metric_type(out, metric::kHttpBodyBytesInFlight, "gauge");
    append_metric_sample(out, metric::kHttpBodyBytesInFlight, "", std::to_string(gauges->inflight_body.load()));
  });
}

HttpServer::~HttpServer() {
  stop();
  impl_->short_pool.shutdown();
  impl_->long_pool.shutdown();
}

void HttpServer::set_function(FunctionHandler handler) {
  add_function_url(routes_, std::move(handler), metrics_);
}

void HttpServer::add_post_route(const std::string& path, RouteHandler handler) {
  add_json_post_route(routes_, path, std::move(handler), metrics_);
}

void HttpServer::mount_static(const std::string& prefix, const std::string& directory) {
  add_static_mount(routes_, prefix, directory);
}

void HttpServer::set_health_check(HealthCheck problems) { health_check_ = std::move(problems); }

void HttpServer::set_health_detail(HealthDetail detail) { health_detail_ = std::move(detail); }

void HttpServer::set_auth(AuthHook hook) { auth_ = std::move(hook); }

int HttpServer::bind() {
  const std::string where = url_host(options_.host) + ":" + std::to_string(options_.port);
  if (options_.port < 0 || options_.port > 65535)
    throw Error(ErrorKind::kInvalidInput,
                "port " + std::to_string(options_.port) + " is out of range: choose one in 0..65535");
  if (options_.tls_cert.empty() != options_.tls_key.empty())
    throw Error(ErrorKind::kInvalidInput,
                "TLS needs both a certificate and a key (--tls-cert and --tls-key)");
  if (!options_.tls_cert.empty()) {
    impl_->tls.emplace(ssl::context::tls_server);
    impl_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                            ssl::context::single_dh_use);
    beast::error_code ec;
    impl_->tls->use_certificate_chain_file(options_.tls_cert, ec);
    if (ec)
      throw Error(ErrorKind::kInvalidInput,
                  "cannot load the TLS certificate '" + options_.tls_cert + "': " + ec.message());
    impl_->tls->use_private_key_file(options_.tls_key, ssl::context::pem, ec);
    if (ec)
      throw Error(ErrorKind::kInvalidInput,
                  "cannot load the TLS key '" + options_.tls_key + "': " + ec.message());
    impl_->scheme = "https";
  }

  beast::error_code ec;
  tcp::endpoint endpoint;
  const auto address = asio::ip::make_address(options_.host.empty() ? "0.0.0.0" : options_.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<uint16_t>(options_.port));
  } else {
    tcp::resolver resolver(impl_->ioc);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty())
      throw Error(ErrorKind::kInvalidInput,
                  "cannot listen on " + where + ": unknown host (" + ec.message() + ")");
    endpoint = results.begin()->endpoint();
  }
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR lets a restart bind while old connections linger in TIME_WAIT; Linux still refuses a
  // port another socket listens on. No SO_REUSEPORT: that would let two servers share the port.
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec == asio::error::address_in_use)
    throw Error(ErrorKind::kUnavailable,
                "cannot listen on " + where +
                    ": the port is already in use (another facepipe serve or another "
                    "program); stop it or choose another port with --port");
  if (!ec) acceptor.listen(options_.backlog, ec);
  if (ec) throw Error(ErrorKind::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  port_ = acceptor.local_endpoint().port();
  impl_->configured_base = base_url();
  // Each connection is a descriptor: lift the soft limit (often 1024) toward what max_connections needs.
  rlimit files{};
  const rlim_t wanted = static_cast<rlim_t>(options_.max_connections) + 256;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < wanted) {
    files.rlim_cur = std::min(wanted, files.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  impl_->accept();
  return port_;
}

void HttpServer::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < std::max(1, options_.io_threads); ++i) extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
  impl_->short_pool.shutdown();
  impl_->long_pool.shutdown();
}

void HttpServer::stop() {
  if (!impl_) return;
  impl_->stopped = true;
  impl_->ioc.stop();
}

std::string HttpServer::base_url() const {
  return impl_->scheme + "://" + url_host(options_.host) + ":" + std::to_string(port_);
}

}  // namespace facepipe::server
