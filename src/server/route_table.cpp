#include "server/route_table.h"

namespace facepipe::server {

bool Route::matches_path(const std::string& request_path) const {
  if (!path.empty() && path.back() == '*')
    return request_path.compare(0, path.size() - 1, path, 0, path.size() - 1) == 0;
  return request_path == path;
}

void RouteTable::add(Route route) { routes_.push_back(std::move(route)); }

RouteTable::Match RouteTable::find(const Request& request) const {
  Match m;
  // HEAD is answered as GET without the body (http_server.cpp drops it).
  const std::string& method = request.method == "HEAD" ? std::string("GET") : request.method;
  for (const auto& r : routes_) {
    if (!r.matches_path(request.path)) continue;
    if (r.when && !r.when(request)) continue;
    if (r.method == "*" || r.method == method) {
      m.route = &r;
      return m;
    }
    if (m.allow.find(r.method) == std::string::npos) m.allow += (m.allow.empty() ? "" : ", ") + r.method;
    m.status = 405;
  }
  return m;
}

}  // namespace facepipe::server
