#include "events/sink.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>

#include "core/error.h"
#include "queue/queue.h"

namespace facepipe::events {
namespace {

// JSON lines on a stream; each line is written and flushed whole under the lock.
class LineSink : public EventSink {
 public:
  explicit LineSink(std::ostream& out) : out_(out) {}
  explicit LineSink(const std::string& path) : file_(path, std::ios::app), out_(file_) {
    if (!file_)
      throw Error(ErrorKind::kInvalidInput, "cannot open '" + path + "' for events; check the folder exists");
  }
  void publish(const nlohmann::json& event) override {
    std::lock_guard lock(mu_);
    out_ << event.dump() << '\n' << std::flush;
    if (!out_) throw Error(ErrorKind::kUnavailable, "could not write an event (disk full?)");
  }

 private:
  std::mutex mu_;
  std::ofstream file_;
  std::ostream& out_;
};

class QueueSink : public EventSink {
 public:
  QueueSink(std::unique_ptr<queue::QueueService> owner, std::shared_ptr<queue::Queue> queue)
      : owner_(std::move(owner)), queue_(std::move(queue)) {}
  void publish(const nlohmann::json& event) override { queue_->send(event.dump()); }

 private:
  std::unique_ptr<queue::QueueService> owner_;  // null when the queue came by URL
  std::shared_ptr<queue::Queue> queue_;
};

}  // namespace

std::unique_ptr<EventSink> open_event_sink(const std::string& url) {
  if (url == "stdout:") return std::make_unique<LineSink>(std::cout);
  if (url.rfind("file:", 0) == 0) return std::make_unique<LineSink>(url.substr(5));
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
    return std::make_unique<QueueSink>(nullptr, queue::open_queue_url(url));
  if (url.rfind("memory:", 0) == 0 || url.rfind("sqlite:", 0) == 0) {
    const auto hash = url.rfind('#');
    if (hash == std::string::npos || hash + 1 == url.size())
      throw Error(ErrorKind::kInvalidInput, "'" + url + "' names no queue; add #QUEUE, e.g. memory:#events");
    auto svc = queue::open_queue_service(url.substr(0, hash));
    auto q = svc->create(url.substr(hash + 1), {});
    return std::make_unique<QueueSink>(std::move(svc), std::move(q));
  }
  throw Error(ErrorKind::kInvalidInput, "no event sink for '" + url +
                                            "'; use stdout:, file:PATH, an SQS queue URL, or memory:#QUEUE / "
                                            "sqlite:PATH#QUEUE");
}

}  // namespace facepipe::events
