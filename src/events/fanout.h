// One event to several sinks at once, without letting any of them hold up the caller (the camera loop).
//
// FanOut::publish copies the event into a bounded queue per sink and returns at once; one thread per sink
// delivers that sink's queue in order. A sink that throws is counted (failed) and the next event is tried;
// a sink slower than the events fills its own queue, and then its oldest waiting event is dropped (counted):
// the newest state matters most to a camera's watcher. Other sinks never wait for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/sink.h"

namespace facepipe::events {

// A sink whose publish can take long (retries, backoff) implements this too, so that FanOut's destructor
// can cut a delivery in progress short instead of waiting for it (publish then throws kUnavailable).
class Interruptible {
 public:
  virtual ~Interruptible() = default;
  virtual void interrupt() = 0;  // thread-safe; publish calls after it fail at once
};

struct FanOutOptions {
  size_t queue_capacity = 1000;           // events waiting per sink before the oldest is dropped
  std::chrono::milliseconds drain{2000};  // how long the destructor lets queued events go out
};

struct SinkStats {
  std::string url;         // as opened, with any password replaced by ***
  uint64_t delivered = 0;  // publish returned
  uint64_t failed = 0;     // publish threw (the sink's own retries were exhausted)
  uint64_t dropped = 0;    // never tried: the queue was full
  size_t queued = 0;       // waiting now
  std::string last_error;  // of the latest failure, "" when none
};

class FanOut : public EventSink {
 public:
  explicit FanOut(FanOutOptions options = {});
  // Delivers what is queued for up to `drain` (FanOutOptions), then interrupts the sinks and drops the rest.
  ~FanOut() override;
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  // Adds a sink (before or while publishing). `url` names it in stats and logs.
  void add(std::string url, std::unique_ptr<EventSink> sink);
  // Opens `url` with open_event_sink and adds it; Error(kInvalidInput) for a bad URL.
  void add(const std::string& url);

  // Never blocks on a sink and never throws for one: see the top of this file.
  void publish(const nlohmann::json& event) override;

  // Waits until every queue is empty and no delivery is in progress; false on timeout.
  bool flush(std::chrono::milliseconds timeout);
  std::vector<SinkStats> stats() const;
  size_t size() const;

 private:
  struct Lane;
  FanOutOptions options_;
  std::vector<Lane*> snapshot() const;  // lanes are only removed by the destructor
  std::vector<std::unique_ptr<Lane>> lanes_;
  mutable std::mutex lanes_mu_;
};

// "mqtt://user:secret@host" → "mqtt://user:***@host": for logs, metrics and errors.
std::string redact_url(const std::string& url);

}  // namespace facepipe::events
