// The three queues one facepipe service (one --id) uses, created and checked in one place: by serve on
// start, by workers, and by serve's /healthz.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "queue/queue.h"

namespace facepipe::queue {

struct ServiceQueueNames {
  std::string request, response, dead_letter;  // <id>-req-queue, <id>-resp-queue, <id>-req-dlq
  std::vector<std::string> all() const { return {request, response, dead_letter}; }
};

// Error(kInvalidInput) saying what is allowed when `id` is empty or makes an invalid queue name
// (1 to 69 letters, digits, '-' or '_', so that "<id>-resp-queue" fits SQS's 80 characters).
ServiceQueueNames service_queue_names(const std::string& id);

struct ServiceQueueSettings {
  int visibility_s = 30;  // request queue
  int max_receives = 5;   // receives before a request is dead-lettered
};

struct ServiceQueues {
  ServiceQueueNames names;
  std::shared_ptr<Queue> request, response, dead_letter;
};

// Creates the service's queues where missing (so a service restarted after its queues were deleted gets
// them back). A queue that exists with other attributes is an Error(kConflict) that names it, both sets of
// attributes and the way out; with `reset` its attributes are set to these instead (its messages are kept).
ServiceQueues ensure_service_queues(QueueService& queues, const std::string& id,
                                    const ServiceQueueSettings& settings, bool reset = false);

// The service's queues that no longer exist (one cheap call per probe); empty when all are there.
std::vector<std::string> missing_service_queues(QueueService& queues, const ServiceQueueNames& names);

}  // namespace facepipe::queue
