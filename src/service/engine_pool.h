// Admission control for the face engine: a fixed pool of engine threads and a memory budget.
//
// The HTTP threads only read, validate and hand work here; decoding and detection run on the pool's
// threads (cores by default), so the heap's per-thread arenas and activation buffers exist once per
// engine thread, not once per HTTP thread. Two budgets bound what is held at any moment:
//   - pixels: the sum of the declared pixels (width x height, from the header) of the frames being
//     decoded or detected. A job starts only when its pixels fit beside the running ones. The smallest
//     waiting job that fits starts first, so a camera's 1080p frame is not queued behind a flood of 40 MP
//     ones; a job overtaken `max_overtakes` times can be overtaken no more, so a large frame waits for at
//     most that many smaller ones.
//   - bytes: the request bytes handlers hold (the body and its decoded image file) while they wait or run.
// Work beyond the budget waits in a bounded queue for at most `max_wait`; a full queue, a longer wait or
// an exhausted byte budget throws Overloaded (HTTP 503 with Retry-After), as Lambda answers 429 when
// throttled. A job larger than the whole pixel budget can never run and is refused (Error kTooLarge).
//
// Peak memory is therefore about: resident base + pixel_budget x bytes-per-pixel of the engine +
// byte_budget (README, "Limits and budgets"). The heap is limited to a few arenas (every thread's
// allocations, HTTP threads included, share them instead of each keeping its own high-water mark), and
// after a rare huge frame (or when much is free), and once the pool is idle, the heap is trimmed, so that
// memory does not stay resident while, under load, the buffers of the regular frames do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace facepipe::service {

class Metrics;

// Refused for load, not for the request's content: retry later.
class Overloaded : public Error {
 public:
  Overloaded(const std::string& message, int retry_after_s)
      : Error(ErrorKind::kUnavailable, message), retry_after_s_(retry_after_s) {}
  int retry_after_seconds() const { return retry_after_s_; }

 private:
  int retry_after_s_;
};

struct EnginePoolOptions {
  int threads = 0;                             // engine threads; 0 = the machine's cores
  int64_t pixel_budget = 40'000'000;           // pixels being decoded or detected at once (>= largest frame)
  int64_t byte_budget = 96ll << 20;            // request bytes held by admitted work at once
  size_t max_queued = 32;                      // jobs waiting for a thread or for pixels
  std::chrono::milliseconds max_wait{30'000};  // longest wait in the queue before 503
  int retry_after_s = 2;                       // the Retry-After a refused client is told
  int max_overtakes = 16;                      // smaller jobs that may start before a waiting one
  // After a job the heap is trimmed (its free pages given back) when more than `trim_above_bytes` are
  // free and either the job was a rare huge one (more than `outlier_factor` times the median pixels of
  // the last jobs) or more than `keep_free_bytes` are free. Regular frames' buffers stay resident:
  // trimming after each of them made the kernel fault and zero them in again, a third of serve's CPU.
  size_t trim_above_bytes = size_t{64} << 20;
  size_t keep_free_bytes = size_t{256} << 20;
  int outlier_factor = 4;
  // And when the pool has had no job for this long, whatever is free goes back (0: never): under load the
  // buffers are reused, and an idle service returns to its base. Above the course's one frame a second.
  std::chrono::milliseconds idle_trim_after{2000};
};

class EnginePool {
 public:
  explicit EnginePool(EnginePoolOptions options = {});
  ~EnginePool();  // finishes running jobs, refuses queued ones
  EnginePool(const EnginePool&) = delete;
  EnginePool& operator=(const EnginePool&) = delete;

  // Runs `job` on an engine thread once `pixels` fit in the budget and returns when it is done,
  // rethrowing what it threw. Throws Overloaded when the queue is full or the wait exceeds max_wait,
  // Error(kTooLarge) when `pixels` exceed the whole budget.
  void run(int64_t pixels, const std::function<void()>& job);

  // Holds `bytes` of the byte budget until the lease is destroyed. Throws Overloaded when they do not fit.
  class BytesLease {
   public:
    BytesLease() = default;
    BytesLease(BytesLease&& other) noexcept : pool_(other.pool_), bytes_(other.bytes_) {
      other.pool_ = nullptr;
    }
    BytesLease& operator=(BytesLease&&) = delete;
    ~BytesLease();

   private:
    friend class EnginePool;
    BytesLease(EnginePool* pool, int64_t bytes) : pool_(pool), bytes_(bytes) {}
    EnginePool* pool_ = nullptr;
    int64_t bytes_ = 0;
  };
  BytesLease hold_bytes(int64_t bytes);

  struct Stats {
    int64_t pixels_in_flight = 0, bytes_in_flight = 0;
    int64_t peak_pixels = 0, peak_bytes = 0;
    size_t queued = 0, running = 0;
    uint64_t completed = 0, refused = 0;
  };
  Stats stats() const;
  const EnginePoolOptions& options() const { return options_; }
  // Exposes the gauges (facepipe_engine_pixels_in_flight, _bytes_in_flight, _queued, _running) and the
  // refusal counter on `metrics`' /metrics page. `metrics` must outlive the pool's use.
  void export_metrics(Metrics& metrics);

 private:
  struct Job;
  void loop();
  void refuse_locked();
  // Records a starting job's pixels; true when they are far more than the recent jobs' median.
  bool outlier_locked(int64_t pixels);
  // The waiting job to start now, queue_.end() when none may.
  std::deque<std::shared_ptr<Job>>::iterator next_locked();

  EnginePoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // engine threads: a job arrived or pixels were released
  std::deque<std::shared_ptr<Job>> queue_;
  Stats stats_;
  std::deque<int64_t> recent_pixels_;  // the last jobs' pixels, for what a regular frame is
  bool idle_trim_pending_ = false;     // a job ran since the heap was last trimmed
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace facepipe::service
