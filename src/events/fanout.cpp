#include "events/fanout.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

namespace facepipe::events {

// One sink, its queue and the thread that empties it.
struct FanOut::Lane {
  std::string url;
  std::unique_ptr<EventSink> sink;
  size_t capacity;

  mutable std::mutex mu;
  std::condition_variable wake;  // an event arrived, or stop
  std::condition_variable idle;  // the queue emptied
  std::deque<nlohmann::json> queue;
  bool busy = false;  // a publish is in progress
  bool stopping = false;
  SinkStats stats;
  std::thread thread;

  Lane(std::string u, std::unique_ptr<EventSink> s, size_t cap)
      : url(std::move(u)), sink(std::move(s)), capacity(cap ? cap : 1) {
    stats.url = redact_url(url);
    thread = std::thread([this] { run(); });
  }

  void push(const nlohmann::json& event) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      if (queue.size() >= capacity) {
        queue.pop_front();
        // Logged at powers of two so a dead sink cannot flood the log.
        const uint64_t dropped = ++stats.dropped;
        if ((dropped & (dropped - 1)) == 0)
          spdlog::warn("events: {} is too slow; {} events dropped so far (queue of {} full)", stats.url,
                       stats.dropped, capacity);
      }
      queue.push_back(event);
    }
    wake.notify_one();
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      nlohmann::json event = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      std::string error;
      try {
        sink->publish(event);
      } catch (const std::exception& e) {
        error = e.what();
      }
      lock.lock();
      busy = false;
      if (error.empty()) {
        ++stats.delivered;
      } else {
        const uint64_t failed = ++stats.failed;
        if ((failed & (failed - 1)) == 0)
          spdlog::warn("events: {} failed ({} so far): {}", stats.url, stats.failed, error);
        stats.last_error = error;
      }
      if (queue.empty()) idle.notify_all();
      if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
        stats.dropped += queue.size();
        queue.clear();
        idle.notify_all();
        return;
      }
    }
  }

  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu);
    return idle.wait_until(lock, deadline, [&] { return queue.empty() && !busy; });
  }

  void stop(std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard lock(mu);
      stopping = true;
      stop_deadline = deadline;
    }
    wake.notify_all();
    thread.join();
  }

  std::chrono::steady_clock::time_point stop_deadline;
};

FanOut::FanOut(FanOutOptions options) : options_(options) {}

FanOut::~FanOut() {
  const auto deadline = std::chrono::steady_clock::now() + options_.drain;
  for (auto& lane : lanes_) lane->wait_idle(deadline);
  for (auto& lane : lanes_)
    if (auto* i = dynamic_cast<Interruptible*>(lane->sink.get())) i->interrupt();
  for (auto& lane : lanes_) lane->stop(deadline);
}

std::vector<FanOut::Lane*> FanOut::snapshot() const {
  std::lock_guard lock(lanes_mu_);
  std::vector<Lane*> out;
  for (const auto& lane : lanes_) out.push_back(lane.get());
  return out;
}

void FanOut::add(std::string url, std::unique_ptr<EventSink> sink) {
  auto lane = std::make_unique<Lane>(std::move(url), std::move(sink), options_.queue_capacity);
  std::lock_guard lock(lanes_mu_);
  lanes_.push_back(std::move(lane));
}

void FanOut::add(const std::string& url) { add(url, open_event_sink(url)); }

void FanOut::publish(const nlohmann::json& event) {
  for (Lane* lane : snapshot()) lane->push(event);
}

bool FanOut::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool all = true;
  for (Lane* lane : snapshot()) all = lane->wait_idle(deadline) && all;
  return all;
}

std::vector<SinkStats> FanOut::stats() const {
  std::vector<SinkStats> out;
  for (const Lane* lane : snapshot()) {
    std::lock_guard l(lane->mu);
    SinkStats s = lane->stats;
    s.queued = lane->queue.size();
    out.push_back(std::move(s));
  }
  return out;
}

size_t FanOut::size() const {
  std::lock_guard lock(lanes_mu_);
  return lanes_.size();
}

std::string redact_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority_start = scheme_end + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  const auto at = url.rfind('@', authority_end == std::string::npos ? url.size() : authority_end);
  if (at == std::string::npos || at < authority_start) return url;
  const auto colon = url.find(':', authority_start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace facepipe::events
