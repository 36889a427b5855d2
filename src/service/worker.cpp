#include "service/worker.h"

#include <thread>

#include <spdlog/spdlog.h>

namespace facepipe::service {

void run_recognition_worker(queue::Queue& requests, RecognitionHandler& handler,
                            const std::atomic<bool>& stop, WorkerOptions options, Metrics* metrics) {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop.load()) {
    std::vector<queue::Message> batch;
    try {
      batch = requests.receive({.max_messages = options.batch, .wait = options.poll});
      backoff = std::chrono::milliseconds(100);
    } catch (const std::exception& e) {
      spdlog::warn("worker: receiving from '{}' failed: {}; retrying in {} ms", requests.name(), e.what(),
                   backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    if (batch.empty()) continue;
    std::vector<std::string> bodies;
    for (auto& m : batch) bodies.push_back(m.body);
    auto failed = handler.handle_batch(bodies);
    std::vector<bool> is_failed(batch.size(), false);
    for (auto i : failed) is_failed[i] = true;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (is_failed[i]) {
        spdlog::warn("worker: message {} failed (receive {}); it returns after the visibility timeout",
                     batch[i].id, batch[i].receive_count);
        continue;
      }
      try {
        requests.remove(batch[i].receipt_handle);
      } catch (const std::exception& e) {
        // Answered but not deleted (handle expired): it will be answered again; at-least-once.
        spdlog::warn("worker: deleting message {} failed: {}", batch[i].id, e.what());
      }
    }
    if (metrics) metrics->inc(metric::kBatches, "stage=\"recognize\"");
  }
}

}  // namespace facepipe::service
