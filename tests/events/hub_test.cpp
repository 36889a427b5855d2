#include "events/hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace facepipe::events {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(Hub, EverySubscriberGetsEveryEventInOrderWithSeqAndTime) {
  Hub hub;
  auto a = hub.subscribe(), b = hub.subscribe();
  for (int i = 0; i < 5; ++i) hub.publish({{"type", "recognition"}, {"i", i}});
  for (auto* s : {a.get(), b.get()}) {
    auto got = s->next(100ms);
    ASSERT_EQ(got.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(got[i]["i"], i);
      EXPECT_EQ(got[i]["seq"], i + 1);
      EXPECT_EQ(got[i]["time"].get<std::string>().size(), 24u);  // 2026-12-02T01:02:03.456Z
    }
  }
}

TEST(Hub, ASlowSubscriberDropsItsOldestEventsAndCountsThem) {
  Hub hub({.queue_capacity = 4, .recent = 3, .max_subscribers = 8});
  auto slow = hub.subscribe();
  for (int i = 0; i < 10; ++i) hub.publish({{"i", i}});
  auto got = slow->next(10ms);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front()["i"], 6);  // the newest four survive
  EXPECT_EQ(got.back()["i"], 9);
  EXPECT_EQ(slow->dropped(), 6u);
  EXPECT_EQ(hub.dropped(), 6u);
  EXPECT_EQ(hub.published(), 10u);
  auto recent = hub.recent(100);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent.front()["i"], 7);
}

TEST(Hub, SubscribersAreCappedAndFreedWhenReleased) {
  Hub hub({.queue_capacity = 4, .recent = 3, .max_subscribers = 2});
  auto a = hub.subscribe(), b = hub.subscribe();
  EXPECT_EQ(hub.subscribe(), nullptr);
  a.reset();
  EXPECT_NE(hub.subscribe(), nullptr);
  b->close();
  EXPECT_EQ(hub.subscribers(), 0u);
  EXPECT_TRUE(b->next(1ms).empty());
}

TEST(Hub, NextWakesOnPublishAndNotifyRuns) {
  Hub hub;
  auto s = hub.subscribe();
  std::atomic<int> notified{0};
  s->set_notify([&] { ++notified; });
  std::thread publisher([&] {
    std::this_thread::sleep_for(50ms);
    hub.publish({{"type", "x"}});
  });
  auto got = s->next(5s);
  publisher.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(notified, 1);
}

TEST(Hub, ListenersSeeEveryEventEvenWhenSubscribersDrop) {
  Hub hub({.queue_capacity = 1, .recent = 1, .max_subscribers = 1});
  auto s = hub.subscribe();
  std::atomic<int> seen{0};
  hub.add_listener([&](const json&) { ++seen; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) hub.publish({{"i", i}});
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen, 1000);
  EXPECT_EQ(hub.published(), 1000u);
  EXPECT_EQ(s->dropped(), 999u);
}

}  // namespace
}  // namespace facepipe::events
