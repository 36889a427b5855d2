// Method + path → handler, the one place the server decides who answers a request. API modules (function
// URL, clips, SQS, health, metrics, static files) register routes; the transport only reads, finds, runs.
//
// Routes are tried in registration order; the first whose method, path and optional `when` predicate
// match answers. A path that matches with another method answers 405 with Allow; no path, 404.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/http_types.h"

namespace facepipe::server {

// Which handler threads run a route. kLong is for handlers that may wait (SQS long polls up to 20 s,
// ?wait=1): they have their own threads, so a crowd of waiting clients cannot delay anyone else.
enum class Pool { kShort, kLong };

using Handler = std::function<Response(const Request&)>;

struct Route {
  std::string name;    // metrics label and logs ("function", "sqs", "healthz")
  std::string method;  // "GET", "POST", ...; "*" for any
  std::string path;    // exact path, or a prefix when it ends with '*' ("/web/*", "/*")
  Handler handler = nullptr;
  std::function<bool(const Request&)> when =
      nullptr;  // optional extra condition (an SQS header, a parameter)
  Pool pool = Pool::kShort;

  bool matches_path(const std::string& request_path) const;
};

class RouteTable {
 public:
  void add(Route route);
  struct Match {
    const Route* route = nullptr;  // null: see status
    int status = 404;              // 404 no such path, 405 path known but not for this method
    std::string allow;             // for 405: the methods the path takes
  };
  Match find(const Request& request) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace facepipe::server
