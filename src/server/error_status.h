// facepipe::Error kinds as HTTP statuses and error answers. The mapping belongs to the edges that speak
// HTTP (this server, the Lambda function URL answer, the APIs), not to core/, which knows nothing of HTTP;
// its one table is api/http.h's, beneath both the APIs and this transport.
#pragma once

#include "api/http.h"
#include "core/error.h"
#include "server/http_types.h"

namespace facepipe::server {

// kInvalidInput 400, kNotFound 404, kTooLarge 413, kConflict 409, kUnavailable 503, kInternal 500.
inline int http_status(ErrorKind kind) { return api::http_status(kind); }
inline int http_status(const Error& e) { return http_status(e.kind()); }
// The error as {"error": e.code(), "message": e.what()} with its status (503 also says Retry-After: 1).
Response error_response(const Error& e);

}  // namespace facepipe::server
