// A worker's first contact with its queue endpoint. Workers are often started together with (or before) the
// endpoint they consume, so an endpoint that does not answer yet is waited for, with backoff and a log line
// a try; a queue the endpoint does not have is an error at once, naming --id.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "queue/queue.h"

namespace facepipe::service {

struct ConnectOptions {
  std::chrono::milliseconds first_wait{1000};  // doubled after each failed try...
  std::chrono::milliseconds max_wait{30000};   // ...up to this
  std::chrono::seconds give_up_after{300};     // then the last error is raised
};

// The queue `name` of `service` (at `endpoint`, for messages). Error(kNotFound) "no queue ... pass the --id
// that serve uses" when the endpoint answers but has no such queue; Error(kUnavailable) when it has not
// answered within `give_up_after`.
std::shared_ptr<queue::Queue> connect_queue(queue::QueueService& service, const std::string& name,
                                            const std::string& endpoint, const ConnectOptions& options = {});

}  // namespace facepipe::service
