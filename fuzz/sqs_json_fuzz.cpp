// The SQS JSON protocol (X-Amz-Target + JSON body) over an in-memory queue store. Input: the target's
// action name, a newline, the body. The store persists across inputs, so sequences of actions are explored.
#include <string>

#include "fuzz_util.h"
#include "queue/queue.h"
#include "server/sqs_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto queues = facepipe::queue::open_queue_service("memory:");
  static bool made = [] {
    queues->create("fuzz-q", {});
    return true;
  }();
  (void)made;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string action = nl == std::string::npos ? input : input.substr(0, nl);
  const std::string body = nl == std::string::npos ? "" : input.substr(nl + 1);
  facepipe::server::SqsProtocol sqs(*queues, "http://127.0.0.1:9324");
  const auto reply = sqs.handle_json("AmazonSQS." + action, body);
  facepipe::fuzz::check_status(reply.status, reply.body);
  return 0;
}
