#include "server/compreface_routes.h"

#include <algorithm>
#include <memory>

#include "api/multipart.h"
#include "core/error.h"
#include "server/sqs_protocol.h"

namespace facepipe::server {
namespace {

bool has_param_segment(const std::string& pattern) { return pattern.find('{') != std::string::npos; }

Response answer(const api::CompreFaceApi& api, const Request& request, service::Metrics& metrics) {
  api::Response out;
  try {
    out = api.handle(to_api_request(request));
  } catch (const Error& e) {  // a malformed multipart body: the client's mistake
    out = api::compreface_error(400, api::code::kIncorrectArgument, e.what());
  }
  metrics.inc(service::metric::kHttpRequests, "route=\"api\",status=\"" + std::to_string(out.status) + "\"");
  return to_server_response(out);
}

}  // namespace

api::Request to_api_request(const Request& request) {
  api::Request r;
  r.method = request.method;
  r.path = url_decode(request.path, false);
  r.query = request.query;
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r.headers.emplace(lower, value);  // the first of a repeated header, as Request::header does
  }
  if (request.media_type() == "multipart/form-data")
    r.files = api::parse_multipart(request.body, api::multipart_boundary(request.header("Content-Type")));
  else
    r.body = request.body;
  return r;
}

Response to_server_response(const api::Response& response) {
  Response out;
  out.status = response.status;
  out.content_type = response.bytes.empty() ? "application/json" : response.content_type;
  out.body = response.body();
  for (const auto& h : response.headers) out.headers.push_back(h);
  return out;
}

void add_compreface_routes(RouteTable& routes, const api::CompreFaceApi& api, service::Metrics& metrics) {
  // Literal routes before "{param}" ones, as api::Router prefers them ("/faces/delete" over "/faces/{id}").
  std::vector<api::Route> ordered = api.router().routes();
  std::stable_partition(ordered.begin(), ordered.end(),
                        [](const api::Route& r) { return !has_param_segment(r.pattern); });
  for (const auto& r : ordered) {
    Route route;
    route.name = "api";
    route.method = r.method;
    const std::string prefix = r.pattern.substr(0, r.pattern.find('{'));
    route.path = has_param_segment(r.pattern) ? prefix + "*" : r.pattern;
    if (has_param_segment(r.pattern)) {
      auto one = std::make_shared<api::Router>();
      one->add(r);
      route.when = [one](const Request& request) {
        api::Request probe;
        probe.method = request.method;
        probe.path = url_decode(request.path, false);
        bool allowed = false;
        return one->find(probe, &allowed).has_value();
      };
    }
    route.handler = [&api, &metrics](const Request& request) { return answer(api, request, metrics); };
    routes.add(std::move(route));
  }
  // Unknown paths and methods under /api/v1/: the API's own 404/405 in CompreFace's shape.
  for (const char* method : {"GET", "POST", "PUT", "DELETE"})
    routes.add(
        {.name = "api",
         .method = method,
         .path = "/api/v1/*",
         .handler = [&api, &metrics](const Request& request) { return answer(api, request, metrics); }});
}

void add_compreface_absent_route(RouteTable& routes) {
  routes.add({.name = "api", .method = "*", .path = "/api/v1/*", .handler = [](const Request&) {
                return Response::error(404, "not_found",
                                       "this server serves no /api/v1/: start serve with --gallery FILE");
              }});
}

std::optional<Response> check_access(const auth::Authorizer& authorizer, const Request& request) {
  // A query-protocol SQS call may name its action in a posted form rather than the query string.
  std::multimap<std::string, std::string> form;
  if (request.method == "POST" && request.media_type() == "application/x-www-form-urlencoded")
    form = parse_form(request.body);
  const auth::AccessRequest access{request.method,
                                   request.path,
                                   [&request](const std::string& name) { return request.header(name); },
                                   [&request, &form](const std::string& key) {
                                     if (request.has_param(key)) return request.param(key);
                                     const auto it = form.find(key);
                                     return it == form.end() ? std::string() : it->second;
                                   },
                                   request.target,
                                   &request.body};
  auto refusal = authorizer.check(access);
  if (!refusal) return std::nullopt;
  if (!refusal->sqs_code.empty()) {
    const SqsFault fault{refusal->sqs_code, refusal->sqs_code, refusal->message, refusal->status, true};
    return to_response(fault_reply(fault, request.has_header("x-amz-target")));
  }
  return Response::json(refusal->status, refusal->body);
}

}  // namespace facepipe::server
