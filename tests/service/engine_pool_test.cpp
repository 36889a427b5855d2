// The engine pool's order of work (service/engine_pool.h): the smallest waiting job that fits starts
// first, and a job overtaken max_overtakes times is overtaken no more. Real threads and real waits; the
// jobs only record when they ran.
#include "service/engine_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace facepipe::service {
namespace {

using namespace std::chrono_literals;

// Jobs that block until released, and the order in which they started.
class Recorder {
 public:
  std::function<void()> job(const std::string& name, bool hold = false) {
    return [this, name, hold] {
      std::unique_lock lock(mu_);
      started_.push_back(name);
      cv_.notify_all();
      if (hold) cv_.wait(lock, [&] { return released_; });
    };
  }
  void wait_started(size_t n) {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, 10s, [&] { return started_.size() >= n; }));
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> started() {
    std::lock_guard lock(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> started_;
  bool released_ = false;
};

// Submits `pixels` from a thread of its own and waits (bounded) until the pool has queued it.
std::thread submit(EnginePool& pool, int64_t pixels, const std::function<void()>& job, size_t queued_after) {
  std::thread t([&pool, pixels, job] { pool.run(pixels, job); });
  for (int i = 0; i < 1000 && pool.stats().queued < queued_after; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(pool.stats().queued, queued_after);
  return t;
}

TEST(EnginePoolOrder, ASmallFrameStartsBeforeLargeOnesQueuedEarlier) {
  EnginePoolOptions options;
  options.threads = 1;
  options.pixel_budget = 100;
  EnginePool pool(options);
  Recorder rec;
  std::vector<std::thread> clients;
  clients.push_back(std::thread([&] { pool.run(100, rec.job("huge-running", true)); }));
  rec.wait_started(1);
  clients.push_back(submit(pool, 100, rec.job("huge-1"), 1));
  clients.push_back(submit(pool, 100, rec.job("huge-2"), 2));
  clients.push_back(submit(pool, 2, rec.job("camera-frame"), 3));
  rec.release();
  for (auto& t : clients) t.join();
  EXPECT_EQ(rec.started(), (std::vector<std::string>{"huge-running", "camera-frame", "huge-1", "huge-2"}));
}

TEST(EnginePoolOrder, AJobOvertakenMaxOvertakesTimesStartsNext) {
  EnginePoolOptions options;
  options.threads = 1;
  options.pixel_budget = 100;
  options.max_overtakes = 2;
  EnginePool pool(options);
  Recorder rec;
  std::vector<std::thread> clients;
  clients.push_back(std::thread([&] { pool.run(100, rec.job("running", true)); }));
  rec.wait_started(1);
  clients.push_back(submit(pool, 100, rec.job("huge"), 1));
  for (int i = 0; i < 4; ++i)
    clients.push_back(submit(pool, 1, rec.job("small-" + std::to_string(i)), 2 + i));
  rec.release();
  for (auto& t : clients) t.join();
  // Two small ones overtake the huge frame; then it runs before the rest, which keep their order.
  EXPECT_EQ(rec.started(),
            (std::vector<std::string>{"running", "small-0", "small-1", "huge", "small-2", "small-3"}));
}

TEST(EnginePoolOrder, AJobThatFitsBesideTheRunningOnesStartsAtOnce) {
  EnginePoolOptions options;
  options.threads = 2;
  options.pixel_budget = 100;
  EnginePool pool(options);
  Recorder rec;
  std::vector<std::thread> clients;
  clients.push_back(std::thread([&] { pool.run(60, rec.job("sixty", true)); }));
  rec.wait_started(1);
  clients.push_back(submit(pool, 50, rec.job("fifty"), 1));  // does not fit beside 60: waits
  clients.push_back(std::thread([&] { pool.run(30, rec.job("thirty")); }));
  rec.wait_started(2);  // 30 fits beside 60 and starts while "sixty" still runs
  EXPECT_EQ(rec.started(), (std::vector<std::string>{"sixty", "thirty"}));
  rec.release();
  for (auto& t : clients) t.join();
  EXPECT_EQ(rec.started().back(), "fifty");
}

}  // namespace
}  // namespace facepipe::service
