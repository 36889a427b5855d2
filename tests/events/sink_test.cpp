// Event sinks opened by URL: JSON lines in a file (appended, one whole line per event, from many threads)
// and messages on a queue of the embedded store; bad URLs say which schemes exist.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "events/sink.h"
#include "queue/queue.h"

namespace facepipe::events {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(EventSink, FileSinkAppendsOneWholeLinePerEventFromManyThreads) {
  const fs::path path = fs::temp_directory_path() / ("fp_events_" + std::to_string(::getpid()) + ".jsonl");
  fs::remove(path);
  {
    auto sink = open_event_sink("file:" + path.string());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) sink->publish({{"thread", t}, {"i", i}, {"pad", std::string(500, 'x')}});
      });
    for (auto& t : threads) t.join();
  }
  open_event_sink("file:" + path.string())->publish({{"again", true}});  // appends, never truncates
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "line " << lines << " is not one whole event";
  }
  EXPECT_EQ(lines, 201);
  fs::remove(path);
}

TEST(EventSink, QueueSinkPutsEachEventOnTheQueue) {
  const fs::path db = fs::temp_directory_path() / ("fp_events_" + std::to_string(::getpid()) + ".db");
  fs::remove(db);
  open_event_sink("sqlite:" + db.string() + "#events")->publish({{"request_id", "r1"}, {"result", "Obama"}});
  auto q = queue::open_queue_service("sqlite:" + db.string())->get("events");
  auto got = q->receive({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(json::parse(got[0].body)["result"], "Obama");
  fs::remove(db);
}

TEST(EventSink, UnknownSchemesAreRefusedWithTheKnownOnes) {
  for (const char* url : {"mqtt://broker/topic", "memory:", "nonsense"}) {
    try {
      open_event_sink(url);
      ADD_FAILURE() << url << " opened";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find(std::string(url) == "memory:" ? "#QUEUE" : "stdout:"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace facepipe::events
