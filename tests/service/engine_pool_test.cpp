// The engine pool's order of work (service/engine_pool.h): the smallest waiting job that fits starts
// first, and a job overtaken max_overtakes times is overtaken no more. Real threads and real waits; the
// jobs only record when they ran. And what the pool gives back to the kernel after a job: the resident
// memory of the test's own process, with real allocations.
#include "service/engine_pool.h"

#include <gtest/gtest.h>

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testutil/process_util.h"

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

// This test process's resident memory.
size_t resident_bytes() { return facepipe::testing::proc_memory(::getpid()); }

// What a frame's job does to the heap: `blocks` buffers of 40 MB (under glibc's 64 MB per-thread heap)
// allocated, written and freed.
std::function<void()> allocating_job(int blocks) {
  return [blocks] {
    std::vector<void*> held;
    for (int i = 0; i < blocks; ++i) {
      void* p = std::malloc(size_t{40} << 20);
      ASSERT_NE(p, nullptr);
      std::memset(p, 1, size_t{40} << 20);
      held.push_back(p);
    }
    for (void* p : held) std::free(p);
  };
}

constexpr size_t kMB = size_t{1} << 20;

// One engine thread that trims above 16 MB free and counts as idle after `idle_trim_after`, over a heap
// set as nn/layers.cpp sets it when a model loads (large blocks come from the heap and stay there).
EnginePoolOptions memory_test_options(std::chrono::milliseconds idle_trim_after) {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  EnginePoolOptions options;
  options.threads = 1;
  options.trim_above_bytes = 16 * kMB;
  options.idle_trim_after = idle_trim_after;
  return options;
}

TEST(EnginePoolMemory, RegularFramesKeepTheirBuffersAndARareHugeOneGivesItsBack) {
  EnginePool pool(memory_test_options(std::chrono::minutes(10)));  // not idle within this test
  const size_t before = resident_bytes();
  for (int i = 0; i < 6; ++i) pool.run(2'000'000, allocating_job(2));
  const size_t regular = resident_bytes();
  // The 80 MB a regular frame used stay resident for the next one (trimming them cost a third of serve's
  // CPU in page faults).
  EXPECT_GT(regular, before + 60 * kMB)
      << "before " << before / kMB << " MB, after regular frames " << regular / kMB << " MB";
  pool.run(9'000'000, allocating_job(6));  // 4.5x the median frame: rare and huge
  const size_t after = resident_bytes();
  EXPECT_LT(after, before + 100 * kMB) << "the huge frame's 240 MB stayed: " << after / kMB
                                       << " MB resident, " << before / kMB << " MB before";
}

TEST(EnginePoolMemory, MoreFreeThanKeepFreeBytesIsGivenBackEvenAfterRegularFrames) {
  EnginePoolOptions options = memory_test_options(std::chrono::minutes(10));
  options.keep_free_bytes = 64 * kMB;
  EnginePool pool(options);
  const size_t before = resident_bytes();
  for (int i = 0; i < 6; ++i) pool.run(2'000'000, allocating_job(3));
  const size_t after = resident_bytes();
  EXPECT_LT(after, before + 60 * kMB) << "120 MB free were kept beside a 64 MB allowance: " << after / kMB
                                      << " MB resident, " << before / kMB << " MB before";
}

TEST(EnginePoolMemory, AnIdlePoolGivesBackTheBuffersItKeptForTheNextFrame) {
  EnginePool pool(memory_test_options(300ms));
  const size_t before = resident_bytes();
  for (int i = 0; i < 6; ++i) pool.run(2'000'000, allocating_job(2));
  const size_t busy = resident_bytes();
  size_t idle = busy;
  for (int i = 0; i < 100 && idle > before + 40 * kMB; ++i) {
    std::this_thread::sleep_for(50ms);
    idle = resident_bytes();
  }
  EXPECT_GT(busy, before + 60 * kMB) << "the regular frames' buffers were not kept while busy";
  EXPECT_LT(idle, before + 40 * kMB) << "still " << idle / kMB << " MB resident 5 s after the last job, "
                                     << before / kMB << " MB before";
}

}  // namespace
}  // namespace facepipe::service
