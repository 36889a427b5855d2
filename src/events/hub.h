// The in-process event hub: recognitions (serve) and stream events (streams/) are published here as JSON,
// and every subscriber (an SSE client of GET /api/v1/events, the unknown-face collector) reads them.
//
// Contract:
// - publish() never blocks on a subscriber: each subscriber has a bounded queue; when it is full the
//   OLDEST queued event is dropped and counted (Subscription::dropped, Hub::dropped), so a slow or stalled
//   client loses old events, never the publisher's time or the process's memory.
// - Each event gets "seq" (1, 2, ... per hub) and, when absent, "time" (ISO 8601 UTC, milliseconds).
// - The last `recent` events are kept in a ring (recent()), so a page that connects sees what just happened.
// - At most `max_subscribers` subscriptions at once: subscribe() returns null beyond that (SSE answers 503).
// Thread-safe throughout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

namespace facepipe::events {

struct HubOptions {
  size_t queue_capacity = 256;  // events queued per subscriber before the oldest is dropped
  size_t recent = 200;          // events kept for recent()
  size_t max_subscribers = 32;
};

class Subscription {
 public:
  // The events queued now (oldest first), at most `max`; waits up to `timeout` for the first one.
  // Empty on timeout or once closed.
  std::vector<nlohmann::json> next(std::chrono::milliseconds timeout, size_t max = 64);
  // Called (on the publisher's thread, without the hub's lock) after each event queued for this
  // subscriber; set it before events matter. Must be cheap and thread-safe.
  void set_notify(std::function<void()> notify);
  uint64_t dropped() const;
  void close();
  bool closed() const;

 private:
  friend class Hub;
  explicit Subscription(size_t capacity) : capacity_(capacity) {}
  bool push(const nlohmann::json& event);  // false when it dropped the oldest to make room

  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<nlohmann::json> queue_;
  std::function<void()> notify_;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

class Hub {
 public:
  explicit Hub(HubOptions options = {});
  // Stamps "seq" (and "time" when absent) and hands the event to every subscriber and listener.
  void publish(nlohmann::json event);
  // Null when max_subscribers are subscribed already. The subscription ends when the last shared_ptr to
  // it goes (or close()).
  std::shared_ptr<Subscription> subscribe();
  // Up to `n` most recent events, oldest first.
  std::vector<nlohmann::json> recent(size_t n) const;
  // Runs on every published event, on the publisher's thread, after subscribers are served; for in-process
  // consumers that must see every event (no dropping). Add before publishing starts.
  void add_listener(std::function<void(const nlohmann::json&)> listener);
  // Removes from the recent ring every event `matches` selects and returns them (erasure of a person).
  std::vector<nlohmann::json> erase_recent(const std::function<bool(const nlohmann::json&)>& matches);

  size_t subscribers() const;
  uint64_t published() const;
  uint64_t dropped() const;  // summed over every subscriber, past and present

 private:
  HubOptions options_;
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<Subscription>> subscribers_;
  std::vector<std::function<void(const nlohmann::json&)>> listeners_;
  std::deque<nlohmann::json> recent_;
  uint64_t seq_ = 0;
  uint64_t dropped_ = 0;
};

// Now as the hub stamps it: "2026-12-02T01:02:03.456Z".
std::string iso_time_now();

}  // namespace facepipe::events
