#include "queue/queue.h"

#include <cstdlib>

#include "core/error.h"
#include "queue/http_sqs_client.h"
#include "queue/sqlite_store.h"
#include "queue/sqs_queue.h"

namespace facepipe::queue {

std::vector<std::string> Queue::send_batch(const std::vector<std::string>& bodies) {
  std::vector<std::string> ids;
  ids.reserve(bodies.size());
  for (const auto& body : bodies) ids.push_back(send(body));
  return ids;
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
  if (endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0) {
    // With AWS credentials in the environment, requests are SigV4-signed (AWS SQS, moto, and serve, which
    // ignores signatures); without them, plain JSON-protocol calls reach serve's own endpoint.
    if (std::getenv("AWS_ACCESS_KEY_ID") != nullptr) return make_sqs_queue_service(endpoint);
    if (endpoint.rfind("https://", 0) == 0)
      throw Error(ErrorKind::kInvalidInput,
                  "queue endpoint '" + endpoint +
                      "' needs AWS credentials: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                      "(and AWS_SESSION_TOKEN for temporary ones) and AWS_REGION");
    return make_http_sqs_client(endpoint);
  }
  throw Error(ErrorKind::kInvalidInput, "unknown queue endpoint '" + endpoint +
                                            "': use sqlite:PATH, memory: or an http(s):// SQS endpoint URL");
}

std::shared_ptr<Queue> open_queue_url(const std::string& queue_url) {
  if (std::getenv("AWS_ACCESS_KEY_ID") != nullptr) return open_sqs_queue_url(queue_url);
  const auto slash = queue_url.rfind('/');
  if (queue_url.rfind("http", 0) != 0 || slash == std::string::npos || slash + 1 == queue_url.size())
    throw Error(ErrorKind::kInvalidInput,
                "'" + queue_url + "' is not a queue URL (http(s)://HOST/<account>/<queue name>)");
  return open_queue_service(queue_url)->get(queue_url.substr(slash + 1));
}

}  // namespace facepipe::queue
