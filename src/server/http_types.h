// What a route sees and returns: one parsed HTTP request and one response, independent of the socket
// library underneath (http_server.cpp), so API modules and the authentication hook never touch transport.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace facepipe::server {

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // as sent: "/path?query"
  std::string path;                               // the target without its query, still percent-encoded
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order, names as sent
  std::string body;
  std::string remote_address;  // the peer's IP ("127.0.0.1", "::1")
  // What clients reach this server at, for URLs the server returns ("http://127.0.0.1:8080"): the
  // configured --public-url, else the address the connection was accepted on; never the Host header.
  std::string base_url;

  // The first header named `name` (case-insensitive), or "".
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const;
  // The first query parameter named `key`, or "".
  std::string param(const std::string& key) const;
  bool has_param(const std::string& key) const { return query.count(key) > 0; }
  // The media type of Content-Type, lower-cased, without parameters ("application/json").
  std::string media_type() const;
};

// A body written as it is produced, for as long as the connection lives (Server-Sent Events). The
// transport sends the head without a Content-Length and with Connection: close, then calls pull() on its
// I/O thread whenever wake (given to start()) has been called, and at least every heartbeat interval;
// the connection ends when pull() sets `done`, the client goes away, a write misses its deadline (a
// client that stops reading), or the server stops. Implementations must be thread-safe: wake may be
// called from any thread, and must not block.
class StreamBody {
 public:
  virtual ~StreamBody() = default;
  // Once, before any pull(); `wake` stays callable (and harmless) after the connection has ended.
  virtual void start(std::function<void()> wake) = 0;
  // The next bytes to send, "" when there is nothing now. Never blocks.
  virtual std::string pull(bool& done) = 0;
  // What to send when nothing was sent for a heartbeat interval (keeps proxies and dead-peer detection
  // going), e.g. ": ping\n\n" for SSE.
  virtual std::string heartbeat() = 0;
  // The connection has ended (either side).
  virtual void finish() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<StreamBody> stream;  // set: `body` is ignored and the stream is sent instead

  static Response json(int status, const nlohmann::json& body);
  // Every 4xx/5xx facepipe sends: {"error": code, "message": message}.
  static Response error(int status, const std::string& code, const std::string& message);
};

// application/x-www-form-urlencoded (and query strings): `+` is a space, %XX a byte. Malformed escapes
// are kept as written, as browsers and cpp-httplib do.
std::string url_decode(const std::string& s, bool plus_is_space);
std::multimap<std::string, std::string> parse_form(const std::string& text);

}  // namespace facepipe::server
