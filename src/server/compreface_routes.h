// The CompreFace-compatible API (api/compreface.h) on the transport's route table, and API keys
// (auth/authorizer.h) as the transport's authentication hook.
//
// Every route of the API's router becomes a RouteTable entry (its method, the literal prefix of its
// pattern, and a `when` that matches the "{param}" segments), then one catch-all GET/POST/PUT/DELETE
// /api/v1/* that answers unknown paths in CompreFace's 404/405 shape. Bodies of type multipart/form-data
// are split into parts here (api/multipart.h: malformed → 400 JSON); application/json and other bodies
// are passed on as they are (the API refuses what it cannot read).
#pragma once

#include <optional>

#include "api/compreface.h"
#include "auth/authorizer.h"
#include "server/http_types.h"
#include "server/route_table.h"
#include "service/metrics.h"

namespace facepipe::server {

// `api` and `metrics` must outlive the routes.
void add_compreface_routes(RouteTable& routes, const api::CompreFaceApi& api, service::Metrics& metrics);
// serve without a gallery: /api/v1/* answers 404 saying the API needs --gallery.
void add_compreface_absent_route(RouteTable& routes);

// The transport request as the API sees it (multipart parts parsed); throws Error(kInvalidInput) for a
// malformed multipart body.
api::Request to_api_request(const Request& request);
Response to_server_response(const api::Response& response);

// The AuthHook of `facepipe serve`: the authorizer's refusal (401/403 + JSON), or nullopt.
std::optional<Response> check_access(const auth::Authorizer& authorizer, const Request& request);

}  // namespace facepipe::server
