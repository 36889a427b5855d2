// The SQS query protocol (form-encoded Action=...) over an in-memory queue store. Input: the request path,
// a newline, the form body, decoded by the transport's own form parser (server/http_types.h) as serve does.
#include <string>

#include "fuzz_util.h"
#include "server/http_types.h"
#include "sqs_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = facepipe::fuzz::split_first_line(data, size);
  const std::string path = parts.head_body ? parts.head_body->first : "/";
  const std::string form = parts.head_body ? parts.head_body->second : parts.input;
  const auto reply = facepipe::fuzz::sqs_protocol().handle_query(facepipe::server::parse_form(form), path);
  facepipe::fuzz::check_status(reply.status, reply.body);
  return 0;
}
