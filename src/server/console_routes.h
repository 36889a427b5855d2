// The web console on the transport: facepipe's people API and the console's data (api/console.h) on the
// route table, the live event stream, the console's files, and serve's wiring of it all.
//
//   GET /api/v1/events   Server-Sent Events: every event the hub publishes, as `id: <seq>` and
//                        `data: <json>`; first the last ?replay=N (default 0, at most 200) recent events.
//                        A client that falls behind loses its oldest events (events/hub.h) and is told
//                        with {"type": "dropped", "count": n}. At most HubOptions::max_subscribers
//                        streams at once (503 beyond). Heartbeat comments every stream_heartbeat.
//   GET /ui/*            the console's files (web/), public (they hold no data; the page asks for a key),
//                        with a Content-Security-Policy that allows only this origin's scripts.
//
// Cross-site requests: the API's keys travel only in a header (x-api-key, never a cookie), which a
// foreign page cannot set without a CORS preflight that facepipe never grants. On top of that, a state
// change (anything but GET/HEAD) to these routes that carries an Origin (or Sec-Fetch-Site) showing
// another site is refused 403, which also protects a loopback serve that runs without keys. The Origin
// must be the server's own URL (Request::base_url, never the Host header alone: DNS rebinding), or a
// loopback name for it on the same port.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "api/console.h"
#include "server/http_server.h"
#include "server/route_table.h"
#include "service/metrics.h"

namespace facepipe::server {

// `console` and `metrics` must outlive the routes. Register before routes that catch /api/v1/*.
void add_console_routes(RouteTable& routes, api::Console& console, service::Metrics& metrics);
// GET /ui/* from `web_dir`, and /ui -> /ui/.
void add_console_files(RouteTable& routes, const std::filesystem::path& web_dir);

// 403 for a state-changing request from another site; nullopt otherwise.
std::optional<Response> cross_site_refusal(const Request& request);

// Where the console's files are: $FACEPIPE_WEB_DIR, <binary's folder>/../share/facepipe/web, the source
// tree's web/ (a build tree's binary). Empty when none holds index.html.
std::filesystem::path find_web_dir();

// serve's wiring in one call: the console over `gallery` with snapshots under `data_dir`, its routes and
// files on `http`, its metrics. Hook its observers to the recognition handler (Console::observe_response)
// and the function URL (Console::remember_frame).
std::unique_ptr<api::Console> attach_console(HttpServer& http, face::Detector& detector,
                                             face::Embedder& embedder, gallery::Gallery& gallery,
                                             float threshold, const std::filesystem::path& data_dir,
                                             service::Metrics& metrics);

}  // namespace facepipe::server
