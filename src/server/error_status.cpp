#include "server/error_status.h"

namespace facepipe::server {

Response error_response(const Error& e) {
  Response r = Response::error(http_status(e), e.code(), e.what());
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace facepipe::server
