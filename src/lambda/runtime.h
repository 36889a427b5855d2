// The AWS Lambda Runtime API client loop, so a container needs no runtime interface client (and no Python):
//   GET  /2018-06-01/runtime/invocation/next            -> the event, with Lambda-Runtime-Aws-Request-Id,
//                                                           -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
//   POST /2018-06-01/runtime/invocation/<id>/response   <- the handler's JSON answer
//   POST /2018-06-01/runtime/invocation/<id>/error      <- {"errorMessage", "errorType"} when it throws
//   POST /2018-06-01/runtime/init/error                 <- when the function cannot start (models missing)
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace facepipe::lambda {

struct Invocation {
  std::string request_id;
  int64_t deadline_ms = 0;  // ms since the epoch; 0 = none given
  std::string function_arn;
  std::string trace_id;
  std::string event;  // the raw JSON payload

  // Time left before the deadline (a large value when no deadline was given).
  std::chrono::milliseconds remaining() const;
};

// A function: the event's JSON -> the answer's JSON. Throwing reports an invocation error (Lambda then
// retries asynchronous events; SQS batches come back after their visibility timeout).
using Handler = std::function<nlohmann::json(const nlohmann::json& event, const Invocation& invocation)>;

struct RuntimeOptions {
  std::string api;          // host:port; empty = $AWS_LAMBDA_RUNTIME_API
  int max_invocations = 0;  // stop after this many (tests, cold-start measurement); 0 = forever
  const std::atomic<bool>* stop = nullptr;
};

// Builds the handler (cold start: models are loaded here, once per container), reporting a failure to
// /runtime/init/error, then serves invocations until `max_invocations` or `stop`. Returns the process exit
// code: 0 after a clean stop, 1 when init failed or the Runtime API went away.
int run_runtime(const RuntimeOptions& options, const std::function<Handler()>& init);

}  // namespace facepipe::lambda
