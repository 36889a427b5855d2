#include "queue/queue.h"

#include "core/error.h"
#include "queue/sqlite_store.h"
#include "queue/sqs_queue.h"

namespace facepipe::queue {

std::string Queue::send(const std::string& body, std::chrono::seconds delay) {
  return send_messages({OutgoingMessage{body, delay}}).at(0);
}

std::vector<std::string> Queue::send_batch(const std::vector<std::string>& bodies) {
  std::vector<OutgoingMessage> messages;
  messages.reserve(bodies.size());
  for (const auto& body : bodies) messages.push_back({body, std::chrono::seconds(0)});
  return send_messages(messages);
}

std::vector<std::string> QueueService::missing(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    try {
      get(name);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;
      out.push_back(name);
    }
  }
  return out;
}

std::unique_ptr<QueueService> open_queue_service(const std::string& endpoint) {
  if (endpoint == "memory:") return make_sqlite_queue_service(":memory:");
  if (endpoint.rfind("sqlite:", 0) == 0) {
    std::string path = endpoint.substr(7);
    bool full_sync = false;
    if (auto q = path.find("?sync="); q != std::string::npos) {
      std::string mode = path.substr(q + 6);
      if (mode != "full" && mode != "normal")
        throw Error(ErrorKind::kInvalidInput,
                    "queue endpoint '" + endpoint + "': sync must be full or normal");
      full_sync = mode == "full";
      path = path.substr(0, q);
    }
    if (path.empty())
      throw Error(ErrorKind::kInvalidInput,
                  "queue endpoint 'sqlite:' needs a path: sqlite:/var/lib/facepipe/queues.db");
    return make_sqlite_queue_service(path, full_sync);
  }
  if (endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0)
    return make_sqs_queue_service(endpoint);
  throw Error(ErrorKind::kInvalidInput, "unknown queue endpoint '" + endpoint +
                                            "': use sqlite:PATH, memory: or an http(s):// SQS endpoint URL");
}

std::shared_ptr<Queue> open_queue_url(const std::string& queue_url) { return open_sqs_queue_url(queue_url); }

}  // namespace facepipe::queue
