// Queue-consuming loops: the glue between a queue (embedded or any SQS endpoint) and a handler.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "queue/queue.h"
#include "service/metrics.h"
#include "service/recognition.h"

namespace facepipe::service {

struct WorkerOptions {
  int batch = 10;                        // messages per receive, as an SQS trigger's batch size
  std::chrono::milliseconds poll{2000};  // long-poll wait; short enough to notice `stop` promptly
};

// Receives batches from `requests`, hands them to `handler`, deletes the messages that succeeded and
// leaves failed ones to come back after the visibility timeout. Returns when `stop` becomes true.
// Queue errors (endpoint down) are logged and retried with a back-off; they never end the loop.
void run_recognition_worker(queue::Queue& requests, RecognitionHandler& handler,
                            const std::atomic<bool>& stop, WorkerOptions options = {},
                            Metrics* metrics = nullptr);

}  // namespace facepipe::service
