// The SQS JSON protocol (X-Amz-Target + JSON body) over an in-memory queue store. Input: the target's
// action name, a newline, the body. The store persists across inputs, so sequences of actions are explored.
#include <string>

#include "fuzz_util.h"
#include "sqs_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = facepipe::fuzz::split_first_line(data, size);
  const std::string action = parts.head_body ? parts.head_body->first : parts.input;
  const std::string body = parts.head_body ? parts.head_body->second : "";
  const auto reply = facepipe::fuzz::sqs_protocol().handle_json("AmazonSQS." + action, body);
  facepipe::fuzz::check_status(reply.status, reply.body);
  return 0;
}
