// The SQS query protocol (form-encoded Action=...) over an in-memory queue store. Input: the request path,
// a newline, the form body, decoded by cpp-httplib's own form parser as the server does.
#include <httplib.h>

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
  const std::string path = nl == std::string::npos ? "/" : input.substr(0, nl);
  const std::string form = nl == std::string::npos ? input : input.substr(nl + 1);
  httplib::Params parsed;
  httplib::detail::parse_query_text(form, parsed);
  std::multimap<std::string, std::string> params(parsed.begin(), parsed.end());
  facepipe::server::SqsProtocol sqs(*queues, "http://127.0.0.1:9324");
  const auto reply = sqs.handle_query(params, path);
  facepipe::fuzz::check_status(reply.status, reply.body);
  return 0;
}
