// facepipe::Error kinds as HTTP statuses. This mapping belongs to the edges that speak HTTP (this server,
// the Lambda function URL answer), not to core/, which knows nothing of HTTP.
#pragma once

#include "core/error.h"
#include "server/http_types.h"

namespace facepipe::server {

// kInvalidInput 400, kNotFound 404, kTooLarge 413, kConflict 409, kUnavailable 503, kInternal 500.
int http_status(ErrorKind kind);
inline int http_status(const Error& e) { return http_status(e.kind()); }
// The error as {"error": e.code(), "message": e.what()} with its status (503 also says Retry-After: 1).
Response error_response(const Error& e);

}  // namespace facepipe::server
