// The embedded store's own properties: FIFO order, durability across a reopen, concurrent consumers, delayed
// counts. The contract every backend shares is tests/queue/queue_contract_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "core/error.h"
#include "queue/queue.h"

namespace facepipe::queue {
namespace {

using namespace std::chrono_literals;

std::filesystem::path temp_db(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("fp_queue_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir / "queues.db";
}

QueueConfig quick(int visibility_s = 1, int max_receive = 0, std::string dlq = "") {
  QueueConfig c;
  c.visibility_timeout = std::chrono::seconds(visibility_s);
  c.max_receive_count = max_receive;
  c.dead_letter_queue = std::move(dlq);
  return c;
}

TEST(SqliteStore, DeliversInSendOrder) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("a", quick(30));
  auto ids = q->send_batch({"one", "two", "three"});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 3u);
  auto got = q->receive({.max_messages = 10});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].body, "one");
  EXPECT_EQ(got[2].body, "three");
  EXPECT_EQ(got[0].id, ids[0]);
  EXPECT_EQ(got[0].receive_count, 1);
  EXPECT_EQ(q->stats().in_flight, 3);
  EXPECT_EQ(q->stats().visible, 0);
  for (auto& m : got) q->remove(m.receipt_handle);
  EXPECT_EQ(q->stats().in_flight, 0);
  EXPECT_TRUE(q->receive({}).empty());
}

TEST(SqliteStore, StatsCountDelayedApartFromInFlight) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("d", quick(30));
  q->send("later", 60s);
  q->send("now");
  ASSERT_EQ(q->receive({}).size(), 1u);
  const auto s = q->stats();
  EXPECT_EQ(s.visible, 0);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.delayed, 1);
  EXPECT_THROW(open_queue_service("ftp://x"), Error);
}

TEST(SqliteStore, MessagesSurviveReopen) {
  auto db = temp_db("reopen");
  std::string in_flight_id;
  {
    auto svc = open_queue_service("sqlite:" + db.string());
    auto q = svc->create("durable", quick(1));
    q->send_batch({"kept-1", "kept-2"});
    auto m = q->receive({});
    ASSERT_EQ(m.size(), 1u);
    in_flight_id = m[0].id;  // received but not deleted: must come back after the restart
  }
  auto svc = open_queue_service("sqlite:" + db.string());
  auto q = svc->get("durable");
  auto got = q->receive({.max_messages = 10, .wait = 3s});
  std::set<std::string> bodies;
  for (auto& m : got) bodies.insert(m.body);
  if (got.size() < 2) {
    auto more = q->receive({.max_messages = 10, .wait = 3s});
    for (auto& m : more) bodies.insert(m.body);
  }
  EXPECT_EQ(bodies, (std::set<std::string>{"kept-1", "kept-2"}));
  std::filesystem::remove_all(db.parent_path());
}

TEST(SqliteStore, ConcurrentConsumersGetEachMessageOnce) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("c", quick(60));
  std::vector<std::string> bodies;
  for (int i = 0; i < 200; ++i) bodies.push_back("m" + std::to_string(i));
  q->send_batch(bodies);
  std::mutex mu;
  std::multiset<std::string> seen;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      while (true) {
        auto got = q->receive({.max_messages = 10, .wait = 100ms});
        if (got.empty()) return;
        for (auto& m : got) {
          q->remove(m.receipt_handle);
          std::lock_guard lock(mu);
          seen.insert(m.body);
        }
      }
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 200u);
}

}  // namespace
}  // namespace facepipe::queue
