// FanOut: every sink gets every event in order; a throwing sink and a stalled sink cost the others nothing;
// the stalled sink's queue stays bounded and its drops are counted; the destructor does not hang on it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "events/fanout.h"

namespace facepipe::events {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class RecordingSink : public EventSink {
 public:
  void publish(const json& event) override {
    std::lock_guard lock(mu_);
    seen_.push_back(event["i"].get<int>());
  }
  std::vector<int> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::vector<int> seen_;
};

class FailingSink : public EventSink {
 public:
  void publish(const json&) override {
    ++calls;
    throw Error(ErrorKind::kUnavailable, "broker down");
  }
  std::atomic<int> calls{0};
};

// Blocks every publish until released or interrupted, like a receiver that never answers.
class StalledSink : public EventSink, public Interruptible {
 public:
  void publish(const json&) override {
    std::unique_lock lock(mu_);
    ++entered;
    cv_.wait(lock, [&] { return released_ || interrupted_; });
    if (interrupted_) throw Error(ErrorKind::kUnavailable, "interrupted");
  }
  void interrupt() override {
    std::lock_guard lock(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::atomic<int> entered{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false, interrupted_ = false;
};

TEST(FanOut, EverySinkGetsEveryEventInOrderDespiteAFailingOne) {
  FanOut fan;
  auto a = std::make_unique<RecordingSink>();
  auto b = std::make_unique<RecordingSink>();
  auto bad = std::make_unique<FailingSink>();
  RecordingSink* ra = a.get();
  RecordingSink* rb = b.get();
  FailingSink* rbad = bad.get();
  fan.add("a", std::move(a));
  fan.add("mqtt://user:secret@broker", std::move(bad));
  fan.add("b", std::move(b));
  for (int i = 0; i < 200; ++i) fan.publish({{"i", i}});
  ASSERT_TRUE(fan.flush(10s));
  std::vector<int> want(200);
  for (int i = 0; i < 200; ++i) want[i] = i;
  EXPECT_EQ(ra->seen(), want);
  EXPECT_EQ(rb->seen(), want);
  EXPECT_EQ(rbad->calls.load(), 200);  // each event is tried; failures do not stop the lane
  const auto stats = fan.stats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].delivered, 200u);
  EXPECT_EQ(stats[1].failed, 200u);
  EXPECT_EQ(stats[1].url, "mqtt://user:***@broker");  // no password in stats or logs
  EXPECT_EQ(stats[1].last_error, "broker down");
  EXPECT_EQ(stats[2].dropped, 0u);
}

TEST(FanOut, AStalledSinkNeitherBlocksThePublisherNorTheOthersAndDropsItsOldest) {
  FanOutOptions o;
  o.queue_capacity = 10;
  o.drain = 200ms;
  auto fan = std::make_unique<FanOut>(o);
  auto fast = std::make_unique<RecordingSink>();
  auto slow = std::make_unique<StalledSink>();
  RecordingSink* rfast = fast.get();
  StalledSink* rslow = slow.get();
  fan->add("fast", std::move(fast));
  fan->add("slow", std::move(slow));
  const auto start = std::chrono::steady_clock::now();
  fan->publish({{"i", 0}});
  while (rslow->entered.load() == 0) std::this_thread::sleep_for(1ms);
  for (int i = 1; i < 1000; ++i) {
    fan->publish({{"i", i}});
    // Paced by the fast sink (its own queue is as small): it keeps up although the slow one never moves.
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (rfast->seen().size() < static_cast<size_t>(i + 1) && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "publish waited for the stalled sink";
  EXPECT_FALSE(fan->flush(300ms));  // the stalled lane is not idle
  EXPECT_EQ(rfast->seen().size(), 1000u);
  const auto stats = fan->stats();
  EXPECT_EQ(stats[1].queued, 10u);  // bounded
  EXPECT_EQ(stats[1].dropped, 1000u - 10u - 1u);
  EXPECT_EQ(rslow->entered.load(), 1);
  // The destructor interrupts the stalled delivery rather than waiting for it.
  const auto before = std::chrono::steady_clock::now();
  fan.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
}

TEST(FanOut, ASlowSinkCatchesUpWithTheNewestEvents) {
  FanOutOptions o;
  o.queue_capacity = 5;
  FanOut fan(o);
  auto slow = std::make_unique<StalledSink>();
  StalledSink* rslow = slow.get();
  fan.add("slow", std::move(slow));
  fan.publish({{"i", 0}});
  while (rslow->entered.load() == 0) std::this_thread::sleep_for(1ms);
  for (int i = 1; i < 50; ++i) fan.publish({{"i", i}});
  rslow->release();
  ASSERT_TRUE(fan.flush(5s));
  const auto s = fan.stats()[0];
  EXPECT_EQ(s.delivered, 6u);  // the one in progress, then the newest 5
  EXPECT_EQ(s.dropped, 44u);
}

TEST(FanOut, AddByUrlRefusesBadUrlsAndRedactsPasswords) {
  FanOut fan;
  EXPECT_THROW(fan.add("gopher://x"), Error);
  EXPECT_EQ(fan.size(), 0u);
  EXPECT_EQ(redact_url("webhook+https://u:p@h/x?a=b"), "webhook+https://u:***@h/x?a=b");
  EXPECT_EQ(redact_url("mqtt://h:1883/p"), "mqtt://h:1883/p");
  EXPECT_EQ(redact_url("mqtt://user@h"), "mqtt://user@h");
  EXPECT_EQ(redact_url("file:/tmp/a@b"), "file:/tmp/a@b");
}

}  // namespace
}  // namespace facepipe::events
