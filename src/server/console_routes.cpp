#include "server/console_routes.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>

#include "core/error.h"
#include "server/compreface_routes.h"
#include "server/static_mount.h"

namespace facepipe::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The hub's events as Server-Sent Events.
class EventStream : public StreamBody {
 public:
  EventStream(std::shared_ptr<events::Subscription> subscription, std::vector<json> replay)
      : subscription_(std::move(subscription)), replay_(std::move(replay)) {}
  void start(std::function<void()> wake) override {
    subscription_->set_notify(wake);
    wake();
  }
  std::string pull(bool& done) override {
    std::string out;
    if (!started_) {
      started_ = true;
      out += "retry: 2000\n\n";
      for (const auto& e : replay_) out += format(e);
      replay_.clear();
    }
    for (const auto& e : subscription_->next(std::chrono::milliseconds(0))) out += format(e);
    if (const uint64_t dropped = subscription_->dropped(); dropped > reported_dropped_) {
      out += format({{"type", "dropped"}, {"count", dropped - reported_dropped_}});
      reported_dropped_ = dropped;
    }
    done = subscription_->closed();
    return out;
  }
  std::string heartbeat() override { return ": ping\n\n"; }
  void finish() override { subscription_->close(); }

 private:
  static std::string format(const json& e) {
    std::string out;
    if (e.contains("seq")) out += "id: " + e["seq"].dump() + "\n";
    // dump() escapes line breaks inside strings, so the event is one data line.
    out += "data: " + e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
    return out;
  }

  std::shared_ptr<events::Subscription> subscription_;
  std::vector<json> replay_;
  bool started_ = false;
  uint64_t reported_dropped_ = 0;
};

// "http://host:port" -> "host:port" (lower case), "" when it is not an origin.
std::string origin_authority(const std::string& origin) {
  const auto scheme = origin.find("://");
  if (scheme == std::string::npos) return "";
  std::string rest = origin.substr(scheme + 3);
  if (rest.find('/') != std::string::npos) rest = rest.substr(0, rest.find('/'));
  std::transform(rest.begin(), rest.end(), rest.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string s = origin.substr(0, scheme);
  // The default ports, as a Host header leaves them out.
  if (s == "http" && rest.size() > 3 && rest.compare(rest.size() - 3, 3, ":80") == 0)
    rest.resize(rest.size() - 3);
  if (s == "https" && rest.size() > 4 && rest.compare(rest.size() - 4, 4, ":443") == 0)
    rest.resize(rest.size() - 4);
  return rest;
}

Response answer(api::Console& console, const Request& request, service::Metrics& metrics) {
  if (auto refusal = cross_site_refusal(request)) return *refusal;
  const api::Response out = console.handle(to_api_request(request));
  metrics.inc("facepipe_http_requests_total",
              "route=\"people\",status=\"" + std::to_string(out.status) + "\"");
  return to_server_response(out);
}

}  // namespace

std::optional<Response> cross_site_refusal(const Request& request) {
  if (request.method == "GET" || request.method == "HEAD") return std::nullopt;
  const std::string site = request.header("Sec-Fetch-Site");
  if (site == "cross-site" || site == "same-site")
    return Response::error(403, "cross_site",
                           "a state change from another site's page is refused; use the console at /ui/ or "
                           "a client that is not a browser page");
  if (!request.has_header("Origin")) return std::nullopt;  // not a browser, or a same-origin GET
  const std::string origin = request.header("Origin");
  if (origin == request.base_url) return std::nullopt;
  // The same server under a loopback name (http://localhost:8080 for http://127.0.0.1:8080). Never
  // another name merely because the Host header repeats it: under DNS rebinding a foreign page's Origin
  // and Host agree.
  std::string host = request.header("Host");
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string authority = origin_authority(origin);
  const std::string name = authority.substr(0, authority.rfind(':'));
  const bool loopback_name = name == "localhost" || name == "[::1]" || name.rfind("127.", 0) == 0;
  if (!authority.empty() && authority == host && loopback_name &&
      authority.substr(authority.rfind(':')) == request.base_url.substr(request.base_url.rfind(':')))
    return std::nullopt;
  return Response::error(403, "cross_site",
                         "Origin '" + origin + "' is not this server (" + request.base_url +
                             "): state changes are taken only from the console's own pages");
}

void add_console_routes(RouteTable& routes, api::Console& console, service::Metrics& metrics) {
  routes.add(
      {.name = "events", .method = "GET", .path = "/api/v1/events", .handler = [&console](const Request& r) {
         auto subscription = console.hub().subscribe();
         if (!subscription) {
           Response busy = Response::error(503, "busy",
                                           "too many live event streams are open; close a console "
                                           "tab or retry shortly");
           busy.headers.emplace_back("Retry-After", "5");
           return busy;
         }
         size_t replay = 0;
         if (r.has_param("replay")) {
           try {
             replay = std::min<size_t>(200, std::stoul(r.param("replay")));
           } catch (const std::exception&) {
             return Response::error(400, "invalid_input", "replay must be a whole number (0..200)");
           }
         }
         Response res;
         res.content_type = "text/event-stream; charset=utf-8";
         res.headers = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
         res.stream = std::make_shared<EventStream>(
             std::move(subscription), replay ? console.hub().recent(replay) : std::vector<json>{});
         return res;
       }});
  for (const char* prefix : {"/api/v1/people", "/api/v1/faces/", "/api/v1/events/", "/api/v1/snapshots/",
                             "/api/v1/unknowns", "/api/v1/openapi.json"}) {
    for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"})
      routes.add({.name = "people",
                  .method = method,
                  .path = std::string(prefix) + "*",
                  .handler = [&console, &metrics](const Request& r) { return answer(console, r, metrics); }});
  }
  metrics.add_collector([&console](std::string& out) {
    auto& hub = console.hub();
    out += "# TYPE facepipe_events_published_total counter\nfacepipe_events_published_total " +
           std::to_string(hub.published()) + "\n";
    out += "# TYPE facepipe_events_dropped_total counter\nfacepipe_events_dropped_total " +
           std::to_string(hub.dropped()) + "\n";
    out += "# TYPE facepipe_event_streams gauge\nfacepipe_event_streams " +
           std::to_string(hub.subscribers()) + "\n";
    out += "# TYPE facepipe_snapshot_bytes gauge\nfacepipe_snapshot_bytes " +
           std::to_string(console.snapshots().bytes()) + "\n";
  });
}

void add_console_files(RouteTable& routes, const fs::path& web_dir) {
  routes.add({.name = "static", .method = "GET", .path = "/ui", .handler = [](const Request&) {
                Response r;
                r.status = 301;
                r.content_type = "";
                r.headers = {{"Location", "/ui/"}};
                return r;
              }});
  RouteTable files;
  add_static_mount(files, "/ui/", web_dir);
  Route route = files.routes().front();
  route.handler = [inner = route.handler](const Request& r) {
    Response res = inner(r);
    res.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
                             "data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                             "base-uri 'none'");
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
    res.headers.emplace_back("X-Frame-Options", "DENY");
    return res;
  };
  routes.add(std::move(route));
}

fs::path find_web_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("FACEPIPE_WEB_DIR"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "../share/facepipe/web");
#ifdef FACEPIPE_SOURCE_WEB_DIR
  candidates.emplace_back(FACEPIPE_SOURCE_WEB_DIR);
#endif
  for (const auto& c : candidates)
    if (fs::exists(c / "index.html", ec)) return fs::canonical(c, ec);
  return {};
}

std::unique_ptr<api::Console> attach_console(HttpServer& http, face::Detector& detector,
                                             face::Embedder& embedder, gallery::Gallery& gallery,
                                             float threshold, const fs::path& data_dir,
                                             service::Metrics& metrics) {
  auto console = std::make_unique<api::Console>(
      detector, embedder, gallery, api::ConsoleOptions{.data_dir = data_dir, .threshold = threshold});
  add_console_routes(http.routes(), *console, metrics);
  if (const fs::path web = find_web_dir(); !web.empty()) {
    add_console_files(http.routes(), web);
    spdlog::info("serve: web console at /ui/ (files from {})", web.string());
  } else {
    spdlog::warn("serve: no web console files found (set FACEPIPE_WEB_DIR to the web/ folder)");
  }
  return console;
}

}  // namespace facepipe::server
