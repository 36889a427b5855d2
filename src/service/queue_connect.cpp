#include "service/queue_connect.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::service {

std::shared_ptr<queue::Queue> connect_queue(queue::QueueService& service, const std::string& name,
                                            const std::string& endpoint, const ConnectOptions& options) {
  const auto give_up = std::chrono::steady_clock::now() + options.give_up_after;
  auto wait = options.first_wait;
  for (int attempt = 1;; ++attempt) {
    try {
      auto q = service.get(name);
      if (attempt > 1) spdlog::info("queue endpoint {} is up: using {}", endpoint, name);
      return q;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kNotFound) {
        const std::string suffix = "-req-queue";
        const bool request = name.size() > suffix.size() && name.ends_with(suffix);
        throw Error(ErrorKind::kNotFound,
                    "no queue '" + name + "' at " + endpoint +
                        ": pass the --id the queues were made with (`serve --id " +
                        (request ? name.substr(0, name.size() - suffix.size()) : "ID") +
                        "` makes ID-req-queue and ID-resp-queue; the default is facepipe)");
      }
      if (e.kind() != ErrorKind::kUnavailable || std::chrono::steady_clock::now() + wait > give_up) throw;
      spdlog::warn("queue endpoint {} not reachable yet (try {}: {}); retrying in {:.1f} s", endpoint,
                   attempt, e.what(), std::chrono::duration<double>(wait).count());
      std::this_thread::sleep_for(wait);
      wait = std::min(options.max_wait, wait * 2);
    }
  }
}

}  // namespace facepipe::service
