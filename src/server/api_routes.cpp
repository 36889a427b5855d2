#include "server/api_routes.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <set>

#include "core/error.h"
#include "server/error_status.h"
#include "server/sqs_protocol.h"
#include "service/engine_pool.h"

namespace facepipe::server {
namespace {

using nlohmann::json;

// An SQS error in the request's own protocol (JSON when it came with X-Amz-Target, XML otherwise).
Response sqs_refusal(const Request& req, int status, const std::string& code, const std::string& message) {
  return to_response(fault_reply({code, code, message, status, true}, req.has_header("X-Amz-Target")));
}

// True when a browser sent the request from a page of another origin. Browsers send Origin on every
// cross-origin request and on same-origin POSTs; Sec-Fetch-Site on all requests (current browsers).
bool cross_site(const Request& req) {
  const std::string site = req.header("Sec-Fetch-Site");
  if (!site.empty() && site != "same-origin" && site != "none") return true;
  const std::string origin = req.header("Origin");
  return !origin.empty() && origin != req.base_url;
}

// Actions that only read: the ones a GET may carry.
bool read_only(const std::string& action) {
  static const std::set<std::string> actions = {"GetQueueUrl", "ListQueues", "GetQueueAttributes",
                                                "ListQueueTags", "ListDeadLetterSourceQueues"};
  return actions.count(action) > 0;
}

// The query protocol's parameters: the URL's, and a form body's.
std::multimap<std::string, std::string> query_params(const Request& req) {
  std::multimap<std::string, std::string> params = req.query;
  if (req.method == "POST" && req.media_type() == "application/x-www-form-urlencoded")
    params.merge(parse_form(req.body));
  return params;
}

bool has_action(const Request& req) {
  if (req.has_param("Action")) return true;
  return req.method == "POST" && req.media_type() == "application/x-www-form-urlencoded" &&
         parse_form(req.body).count("Action") > 0;
}

bool is_receive(const Request& req) {
  const std::string target = req.header("X-Amz-Target");
  if (!target.empty()) return target == "AmazonSQS.ReceiveMessage";
  auto params = query_params(req);
  auto it = params.find("Action");
  return it != params.end() && it->second == "ReceiveMessage";
}

}  // namespace

Response answer_json(const std::string& route, const std::function<json()>& handler) {
  try {
    return Response::json(200, handler());
  } catch (const service::Overloaded& e) {  // load, not the request: tell the client when to come back
    Response r = Response::json(
        503, {{"error", "overloaded"}, {"message", e.what()}, {"retry_after", e.retry_after_seconds()}});
    r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_seconds()));
    return r;
  } catch (const Error& e) {
    return error_response(e);
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected failure: {}", route, e.what());
    return Response::error(500, "internal", std::string("unexpected failure: ") + e.what());
  }
}

void add_health_routes(RouteTable& routes, const HealthCheck* check, const HealthDetail* detail) {
  routes.add({"healthz", "GET", "/healthz", [check, detail](const Request&) {
                std::vector<std::string> problems;
                try {
                  if (check && *check) problems = (*check)();
                } catch (const std::exception& e) {
                  problems.push_back(e.what());
                }
                json body = problems.empty() ? json{{"status", "ok"}}
                                             : json{{"status", "unhealthy"}, {"problems", problems}};
                try {
                  if (detail && *detail) {
                    const json extra = (*detail)();  // named: items() of a temporary would dangle
                    for (auto& [key, value] : extra.items()) body[key] = value;
                  }
                } catch (const std::exception& e) {
                  body["detail_error"] = e.what();
                }
                return Response::json(problems.empty() ? 200 : 503, body);
              }});
}

void add_metrics_route(RouteTable& routes, service::Metrics& metrics) {
  routes.add({"metrics", "GET", "/metrics", [&metrics](const Request&) {
                Response r;
                r.content_type = "text/plain; version=0.0.4";
                r.body = metrics.render();
                return r;
              }});
}

void add_sqs_routes(RouteTable& routes, queue::QueueService* queues, service::Metrics& metrics) {
  auto handle = [queues, &metrics](const Request& req) -> Response {
    if (!queues) return Response::error(404, "not_found", "this server has no queue endpoint");
    if (cross_site(req))
      return sqs_refusal(req, 403, "AccessDenied",
                         "requests from web pages of another origin are refused; use an AWS SDK or the CLI");
    SqsProtocol sqs(*queues, req.base_url);
    const std::string target = req.header("X-Amz-Target");
    const bool json_protocol = !target.empty();
    SqsReply reply;
    if (json_protocol) {
      reply = sqs.handle_json(target, req.body);
    } else {
      auto params = query_params(req);
      auto action = params.find("Action");
      if (req.method != "POST" && (action == params.end() || !read_only(action->second)))
        return sqs_refusal(req, 400, "UnsupportedOperation",
                           "Action " + (action == params.end() ? std::string() : action->second) +
                               " changes state and must be sent with POST, not " + req.method +
                               "; only GetQueueUrl, ListQueues and GetQueueAttributes may use GET.");
      reply = sqs.handle_query(params, req.path);
    }
    metrics.inc(service::metric::kSqsRequests, std::string("protocol=\"") +
                                                   (json_protocol ? "json" : "query") + "\",status=\"" +
                                                   std::to_string(reply.status) + "\"");
    return to_response(reply);
  };
  auto json_target = [](const Request& r) { return r.has_header("X-Amz-Target"); };
  // Receives may long-poll (WaitTimeSeconds up to 20 s): on the long-wait threads.
  routes.add({"sqs", "POST", "/*", handle, [=](const Request& r) { return json_target(r) && is_receive(r); },
              Pool::kLong});
  routes.add({"sqs", "POST", "/*", handle, json_target});
  routes.add({"sqs", "POST", "/*", handle, [](const Request& r) { return has_action(r) && is_receive(r); },
              Pool::kLong});
  routes.add({"sqs", "POST", "/*", handle, has_action});
  routes.add({"sqs", "GET", "/*", handle, [](const Request& r) { return r.has_param("Action"); }});
}

namespace {

// Refuses what a web page can post across sites without a CORS preflight, and bodies without a type.
std::optional<Response> refuse_simple_types(const Request& req) {
  const std::string type = req.media_type();
  if (type.empty() || type == "text/plain" || type == "application/x-www-form-urlencoded" ||
      type == "multipart/form-data")
    return Response::error(415, "unsupported_media_type",
                           "POST " + req.path + " does not take Content-Type '" +
                               (type.empty() ? std::string("none") : type) +
                               "': name the body's type, e.g. -H 'Content-Type: video/mp4' for a clip");
  return std::nullopt;
}

}  // namespace

void add_function_url(RouteTable& routes, FunctionHandler function, service::Metrics& metrics) {
  auto handle = [function, &metrics](const Request& req) -> Response {
    const auto start = std::chrono::steady_clock::now();
    Response res;
    if (req.media_type() != "application/json") {
      const std::string type = req.media_type().empty() ? std::string("none") : req.media_type();
      res = Response::error(415, "unsupported_media_type",
                            "the function URL takes Content-Type: application/json, not '" + type +
                                "' (curl: -H 'Content-Type: application/json')");
    } else {
      const bool wait = req.has_param("wait") && req.param("wait") != "0";
      res = answer_json("function URL", [&] { return function(req.body, wait); });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.inc(service::metric::kHttpRequests,
                "route=\"function\",status=\"" + std::to_string(res.status) + "\"");
    metrics.observe(service::metric::kHttpRequestSeconds, "route=\"function\"", seconds);
    return res;
  };
  auto waits = [](const Request& r) { return r.has_param("wait") && r.param("wait") != "0"; };
  routes.add({"function", "POST", "/", handle, waits, Pool::kLong});
  routes.add({"function", "POST", "/", handle});
}

void add_json_post_route(RouteTable& routes, const std::string& path, RouteHandler handler,
                         service::Metrics& metrics) {
  routes.add({path, "POST", path, [path, handler, &metrics](const Request& req) -> Response {
                Response res;
                if (auto refused = refuse_simple_types(req)) {
                  res = *refused;
                } else {
                  std::map<std::string, std::string> params;
                  for (const auto& [k, v] : req.query) params.emplace(k, v);  // the first of each name
                  res = answer_json(path, [&] { return handler(req.body, params); });
                }
                metrics.inc(service::metric::kHttpRequests,
                            "route=\"" + path + "\",status=\"" + std::to_string(res.status) + "\"");
                return res;
              }});
}

}  // namespace facepipe::server
