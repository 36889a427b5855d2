// Lets a caller block until recognition answers a request id: serve's `POST /?wait=1` when recognition
// runs in the same process. Register the id before queueing the frame, so a fast answer is not missed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace facepipe::service {

class Waiters {
 public:
  // Before the frame is queued: its answer will be kept for wait().
  void expect(const std::string& id) {
    std::lock_guard lock(mu_);
    results_[id];
  }
  // A response as recognition sent it; ignored unless its request_id is expected.
  void deliver(const nlohmann::json& response) {
    std::lock_guard lock(mu_);
    auto it = results_.find(response.value("request_id", ""));
    if (it == results_.end()) return;
    it->second = response;
    cv_.notify_all();
  }
  // The answer, or nullopt after `timeout`; either way the id is forgotten.
  std::optional<nlohmann::json> wait(const std::string& id, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return results_[id].has_value(); });
    auto r = results_[id];
    results_.erase(id);
    return r;
  }
  // The frame was refused: nothing will come.
  void forget(const std::string& id) {
    std::lock_guard lock(mu_);
    results_.erase(id);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::optional<nlohmann::json>> results_;
};

}  // namespace facepipe::service
