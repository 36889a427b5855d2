// The APIs `facepipe serve` answers, each a module that registers its routes in a RouteTable. The
// transport (http_server.h) knows none of them.
//
//   add_health_routes   GET /healthz                {"status":"ok"}, or 503 {"status":"unhealthy","problems":[...]}
//                       when the health check names problems (e.g. queues deleted under the service)
//   add_metrics_route   GET /metrics                Prometheus text
//   add_sqs_routes      POST any path with X-Amz-Target: AmazonSQS.*   the SQS JSON protocol
//                       POST any path with Action=... (form or query) the SQS query protocol
//                       GET  ...?Action=...          read-only actions only (GetQueueUrl, ListQueues,
//                                                    GetQueueAttributes, ...): a link or an <img> on any
//                                                    web page can send a GET, so it must not change state
//                       Requests a browser sends from another origin (Origin / Sec-Fetch-Site) are refused
//                       with 403: AWS SDKs never send them, a cross-site form post always does.
//   add_function_url    POST /   the course's face-detection function URL, Content-Type application/json
//                       only (415 otherwise: text/plain, forms and multipart are what a web page can post
//                       across sites without asking); ?wait=1 runs on the long-wait threads
//   add_json_post_route POST <path>   a handler of the raw body and query parameters that answers JSON
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "server/route_table.h"
#include "service/metrics.h"

namespace facepipe::server {

// The function URL's handler: the request body and whether the caller asked to wait (?wait=1).
// Returns the JSON answer; throws facepipe::Error for a 4xx/5xx.
using FunctionHandler = std::function<nlohmann::json(const std::string& body, bool wait)>;
// A POST route's handler (the video variant's /clips, see clip_endpoint.h): the raw body and the query
// parameters. Returns the JSON answer; throws facepipe::Error for a 4xx/5xx.
using RouteHandler =
    std::function<nlohmann::json(const std::string& body, const std::map<std::string, std::string>& params)>;

// What is wrong right now (empty: healthy). Called on every probe: keep it cheap.
using HealthCheck = std::function<std::vector<std::string>()>;
// Detail added to every /healthz body (e.g. {"cameras": [...]}): what is degraded but not unhealthy.
using HealthDetail = std::function<nlohmann::json()>;
// `check` may be null or empty: then /healthz is always ok. It is read at each probe, so it may be set
// after the route is added (before the server runs); so is `detail` (null or empty: none).
void add_health_routes(RouteTable& routes, const HealthCheck* check = nullptr,
                       const HealthDetail* detail = nullptr);
void add_metrics_route(RouteTable& routes, service::Metrics& metrics);
// `queues` may be null: then SQS requests answer 404. Queue URLs are `<request.base_url>/<account>/<name>`.
void add_sqs_routes(RouteTable& routes, queue::QueueService* queues, service::Metrics& metrics);
void add_function_url(RouteTable& routes, FunctionHandler handler, service::Metrics& metrics);
// Bodies of the CORS "simple" types (text/plain, forms, multipart) or without a type are refused with 415,
// for the reason above.
void add_json_post_route(RouteTable& routes, const std::string& path, RouteHandler handler,
                         service::Metrics& metrics);

// A handler's JSON answer as a 200, its facepipe::Error as that error's status with {"error","message"},
// anything else as a logged 500.
Response answer_json(const std::string& route, const std::function<nlohmann::json()>& handler);

}  // namespace facepipe::server
