// The embedded store against the SQS contract in queue/queue.h.
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

TEST(SqliteStore, SendReceiveDeleteInOrder) {
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

TEST(SqliteStore, InvisibleUntilTimeoutThenRedeliveredWithNewHandle) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("a", quick(1));
  q->send("x");
  auto first = q->receive({});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(q->receive({}).empty());
  auto again = q->receive({.wait = 3s});  // long poll wakes when the message reappears
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, first[0].id);
  EXPECT_EQ(again[0].receive_count, 2);
  EXPECT_NE(again[0].receipt_handle, first[0].receipt_handle);
  // The old handle is stale: only the newest delivery deletes.
  EXPECT_THROW(q->remove(first[0].receipt_handle), Error);
  q->remove(again[0].receipt_handle);
  EXPECT_EQ(q->stats().visible + q->stats().in_flight, 0);
}

TEST(SqliteStore, ChangeVisibilityZeroReleasesAtOnce) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("a", quick(60));
  q->send("x");
  auto m = q->receive({});
  ASSERT_EQ(m.size(), 1u);
  q->change_visibility(m[0].receipt_handle, 0s);
  EXPECT_EQ(q->receive({}).size(), 1u);
  EXPECT_THROW(q->change_visibility("nope", 0s), Error);
}

TEST(SqliteStore, LongPollReturnsWhenAnotherThreadSends) {
  auto svc = open_queue_service("memory:");
  auto q = svc->create("a", quick(30));
  auto start = std::chrono::steady_clock::now();
  std::thread sender([&] {
    std::this_thread::sleep_for(200ms);
    q->send("late");
  });
  auto got = q->receive({.wait = 10s});
  sender.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // An empty long poll lasts its wait and returns nothing.
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(q->receive({.wait = 300ms}).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 290ms);
}

TEST(SqliteStore, DeadLettersAfterMaxReceives) {
  auto svc = open_queue_service("memory:");
  auto dlq = svc->create("a-dlq", quick(30));
  auto q = svc->create("a", quick(0, 2, "a-dlq"));
  q->send("poison");
  EXPECT_EQ(q->receive({}).size(), 1u);  // receive 1 (visibility 0: back at once)
  EXPECT_EQ(q->receive({}).size(), 1u);  // receive 2
  EXPECT_TRUE(q->receive({}).empty());   // third receive moves it instead
  auto dead = dlq->receive({});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body, "poison");
}

TEST(SqliteStore, PurgeListRemoveAndErrors) {
  auto svc = open_queue_service("memory:");
  svc->create("p-1", quick());
  auto q = svc->create("p-2", quick());
  svc->create("other", quick());
  EXPECT_EQ(svc->list("p-"), (std::vector<std::string>{"p-1", "p-2"}));
  EXPECT_EQ(svc->list().size(), 3u);
  q->send_batch({"a", "b"});
  q->purge();
  EXPECT_EQ(q->stats().visible, 0);
  // Idempotent create with equal attributes; conflict with different ones.
  EXPECT_NO_THROW(svc->create("p-1", quick()));
  try {
    svc->create("p-1", quick(99));
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  }
  try {
    svc->get("missing");
    FAIL() << "expected not found";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
  }
  EXPECT_THROW(svc->create("bad name!", quick()), Error);
  EXPECT_THROW(q->receive({.max_messages = 11}), Error);
  EXPECT_THROW(q->receive({.max_messages = 0}), Error);
  svc->remove_queue("p-2");
  EXPECT_THROW(q->send("x"), Error);
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
