#include "service/engine_pool.h"

#include <malloc.h>

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

#include "service/metrics.h"

namespace facepipe::service {

struct EnginePool::Job {
  int64_t pixels = 0;
  int overtaken = 0;  // younger jobs that started before this one
  const std::function<void()>* work = nullptr;
  enum class State { kQueued, kRunning, kDone, kRefused } state = State::kQueued;
  std::exception_ptr error;
  std::condition_variable done_cv;
};

EnginePool::EnginePool(EnginePoolOptions options) : options_(options) {
  if (options_.threads <= 0)
    options_.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options_.pixel_budget <= 0 || options_.byte_budget <= 0)
    throw Error(ErrorKind::kInvalidInput, "the engine's pixel and byte budgets must be positive");
  // glibc gives each new thread its own arena, up to 8 per core, and each keeps its high-water mark: with
  // dozens of HTTP threads that was 100-120 MB each (issue 14). A few shared arenas keep one.
  static const bool arenas_limited = [] { return mallopt(M_ARENA_MAX, 2) == 1; }();
  (void)arenas_limited;
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { loop(); });
}

EnginePool::~EnginePool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& job : queue_) {
      job->state = Job::State::kRefused;
      job->done_cv.notify_all();
    }
    queue_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void EnginePool::refuse_locked() { ++stats_.refused; }

bool EnginePool::outlier_locked(int64_t pixels) {
  constexpr size_t kRemembered = 16;
  std::vector<int64_t> sorted(recent_pixels_.begin(), recent_pixels_.end());
  recent_pixels_.push_back(pixels);
  if (recent_pixels_.size() > kRemembered) recent_pixels_.pop_front();
  if (sorted.empty()) return true;  // nothing regular known yet: the first frame's memory is not kept
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  return pixels > static_cast<int64_t>(options_.outlier_factor) * sorted[sorted.size() / 2];
}

void EnginePool::run(int64_t pixels, const std::function<void()>& work) {
  pixels = std::max<int64_t>(pixels, 1);
  if (pixels > options_.pixel_budget) {
    std::lock_guard lock(mu_);
    refuse_locked();
    throw Error(ErrorKind::kTooLarge, "the frame's " + std::to_string(pixels) +
                                          " pixels exceed the engine's budget of " +
                                          std::to_string(options_.pixel_budget) + "; send a smaller frame");
  }
  auto job = std::make_shared<Job>();
  job->pixels = pixels;
  job->work = &work;
  std::unique_lock lock(mu_);
  if (stopping_)
    throw Overloaded("the service is shutting down; retry on another instance", options_.retry_after_s);
  if (queue_.size() >= options_.max_queued) {
    refuse_locked();
    throw Overloaded("the engine is busy (" + std::to_string(queue_.size()) +
                         " frames waiting); retry after the Retry-After delay",
                     options_.retry_after_s);
  }
  queue_.push_back(job);
  stats_.queued = queue_.size();
  work_cv_.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + options_.max_wait;
  while (job->state == Job::State::kQueued) {
    if (job->done_cv.wait_until(lock, deadline) == std::cv_status::timeout &&
        job->state == Job::State::kQueued) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), job));
      stats_.queued = queue_.size();
      refuse_locked();
      work_cv_.notify_all();  // the head may have changed
      throw Overloaded("the engine did not get to this frame within " +
                           std::to_string(options_.max_wait.count()) +
                           " ms; retry after the Retry-After delay",
                       options_.retry_after_s);
    }
  }
  job->done_cv.wait(lock,
                    [&] { return job->state == Job::State::kDone || job->state == Job::State::kRefused; });
  if (job->state == Job::State::kRefused)
    throw Overloaded("the service is shutting down; retry on another instance", options_.retry_after_s);
  if (job->error) std::rethrow_exception(job->error);
}

std::deque<std::shared_ptr<EnginePool::Job>>::iterator EnginePool::next_locked() {
  const int64_t room = options_.pixel_budget - stats_.pixels_in_flight;
  auto best = queue_.end();
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {  // oldest first
    const bool fits = (*it)->pixels <= room;
    if ((*it)->overtaken >= options_.max_overtakes)  // no younger job may start before this one
      return best != queue_.end() ? best : fits ? it : queue_.end();
    if (fits && (best == queue_.end() || (*it)->pixels < (*best)->pixels)) best = it;
  }
  return best;
}

void EnginePool::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto next = queue_.end();
    const auto ready = [&] { return stopping_ || (next = next_locked()) != queue_.end(); };
    // Once the pool has been idle for idle_trim_after, the buffers kept for the next frame go back too.
    if (idle_trim_pending_ && options_.idle_trim_after.count() > 0 &&
        !work_cv_.wait_for(lock, options_.idle_trim_after, ready) && stats_.running == 0 &&
        idle_trim_pending_) {
      idle_trim_pending_ = false;
      lock.unlock();
      malloc_trim(0);
      lock.lock();
    }
    work_cv_.wait(lock, ready);
    if (stopping_) return;
    auto job = *next;
    for (auto it = queue_.begin(); it != next; ++it) ++(*it)->overtaken;
    queue_.erase(next);
    job->state = Job::State::kRunning;
    job->done_cv.notify_all();
    stats_.queued = queue_.size();
    ++stats_.running;
    stats_.pixels_in_flight += job->pixels;
    stats_.peak_pixels = std::max(stats_.peak_pixels, stats_.pixels_in_flight);
    const bool outlier = outlier_locked(job->pixels);
    work_cv_.notify_all();  // the next job may fit too
    lock.unlock();
    try {
      (*job->work)();
    } catch (...) {
      job->error = std::current_exception();
    }
    // A rare huge frame leaves hundreds of MB free in this thread's arena (the raised mmap threshold,
    // nn/layers.cpp, keeps large blocks on the heap); give them back so they do not stay resident. Not
    // after regular frames: the next one would need the same pages, faulted and zeroed again.
    // The caller frees the frame after the job too: what it leaves is given back once the pool is idle.
    bool leave_for_idle = false;
    if (options_.trim_above_bytes > 0) {
      const size_t free_bytes = mallinfo2().fordblks;
      if (free_bytes > options_.trim_above_bytes && (outlier || free_bytes > options_.keep_free_bytes))
        malloc_trim(0);
      else
        leave_for_idle = true;
    }
    lock.lock();
    if (leave_for_idle) idle_trim_pending_ = true;
    stats_.pixels_in_flight -= job->pixels;
    --stats_.running;
    ++stats_.completed;
    job->state = Job::State::kDone;
    job->done_cv.notify_all();
    work_cv_.notify_all();
  }
}

EnginePool::BytesLease::~BytesLease() {
  if (!pool_) return;
  std::lock_guard lock(pool_->mu_);
  pool_->stats_.bytes_in_flight -= bytes_;
}

EnginePool::BytesLease EnginePool::hold_bytes(int64_t bytes) {
  std::lock_guard lock(mu_);
  if (stats_.bytes_in_flight + bytes > options_.byte_budget) {
    refuse_locked();
    throw Overloaded("the service holds " + std::to_string(stats_.bytes_in_flight) +
                         " request bytes already (budget " + std::to_string(options_.byte_budget) +
                         "); retry after the Retry-After delay",
                     options_.retry_after_s);
  }
  stats_.bytes_in_flight += bytes;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.bytes_in_flight);
  return BytesLease(this, bytes);
}

EnginePool::Stats EnginePool::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void EnginePool::export_metrics(Metrics& metrics) {
  metrics.add_collector([this](std::string& out) {
    const Stats s = stats();
    auto gauge = [&out](const char* name, int64_t value) {
      append_metric_type(out, name, "gauge");
      append_metric_sample(out, name, "", std::to_string(value));
    };
    gauge(metric::kEnginePixelsInFlight, s.pixels_in_flight);
    gauge(metric::kEnginePixelBudget, options_.pixel_budget);
    gauge(metric::kEngineBytesInFlight, s.bytes_in_flight);
    gauge(metric::kEngineByteBudget, options_.byte_budget);
    gauge(metric::kEnginePeakPixels, s.peak_pixels);
    gauge(metric::kEnginePeakBytes, s.peak_bytes);
    append_metric_type(out, metric::kEngineJobs, "gauge");
    append_metric_sample(out, metric::kEngineJobs, "state=\"queued\"", std::to_string(s.queued));
    append_metric_sample(out, metric::kEngineJobs, "state=\"running\"", std::to_string(s.running));
    append_metric_type(out, metric::kEngineRefused, "counter");
    append_metric_sample(out, metric::kEngineRefused, "", std::to_string(s.refused));
  });
}

}  // namespace facepipe::service
