// Where results go besides the response queue: an EventSink publishes one JSON event (a recognition
// result, a clip's people) at a time. Opened by URL scheme, as queue::open_queue_service opens queues:
//   "stdout:"                              one JSON object a line on standard output
//   "file:PATH"                            one JSON object a line appended to PATH (created)
//   "http(s)://HOST[:PORT]/ACCOUNT/QUEUE"  a message on that SQS queue (serve's, AWS SQS, moto)
//   "memory:" / "sqlite:PATH" + "#QUEUE"   a message on a queue of the embedded store (tests, one machine)
// MQTT and webhooks are further schemes of open_event_sink (the streams work).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace facepipe::events {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Delivered (written, or durably queued) when it returns; Error(kUnavailable) when it could not be.
  // Thread-safe.
  virtual void publish(const nlohmann::json& event) = 0;
};

// Error(kInvalidInput) naming the known schemes for any other URL.
std::unique_ptr<EventSink> open_event_sink(const std::string& url);

}  // namespace facepipe::events
