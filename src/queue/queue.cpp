#include "queue/queue.h"

namespace facepipe::queue {

std::vector<std::string> Queue::send_batch(const std::vector<std::string>& bodies) {
  std::vector<std::string> ids;
  ids.reserve(bodies.size());
  for (const auto& body : bodies) ids.push_back(send(body));
  return ids;
}

}  // namespace facepipe::queue
