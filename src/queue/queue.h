// Message queues with Amazon SQS semantics.
//
// Contract (the same for the local SQLite store and for any SQS-compatible endpoint):
// - At-least-once delivery. receive() hides each returned message for the visibility timeout; unless it is
//   deleted with its receipt handle before then, it becomes visible and is delivered again.
// - Each delivery gets a new receipt handle; only the newest one deletes or changes visibility.
// - receive() long-polls up to `wait` (at most 20 s) and returns as soon as a message is there.
// - After a message has been received max_receive_count times without being deleted, the next receive
//   moves it to the dead-letter queue instead of delivering it (when the queue has one).
// - A message accepted by send() is durable: it survives a restart of the process that holds the store.
// - send() refuses, with Error(kInvalidInput), what SQS refuses (queue/sqs_rules.h): bodies that are empty,
//   over 256 KiB, not UTF-8 or with characters outside SQS's set, and delays outside 0..900 s. A delayed
//   message becomes visible `delay` after it was sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace facepipe::queue {

struct Message {
  std::string id;
  std::string receipt_handle;
  std::string body;
  int receive_count = 0;          // ApproximateReceiveCount, including this delivery
  int64_t sent_timestamp_ms = 0;  // SentTimestamp, ms since the epoch
};

struct OutgoingMessage {
  std::string body;
  std::chrono::seconds delay{0};  // DelaySeconds, 0..900
};

struct ReceiveOptions {
  int max_messages = 1;                            // 1..10
  std::chrono::milliseconds wait{0};               // long poll, at most 20 s
  std::optional<std::chrono::seconds> visibility;  // overrides the queue's default; 0..43200 s
};

struct QueueConfig {
  std::chrono::seconds visibility_timeout{30};
  int max_receive_count = 5;      // receives before dead-lettering; 0 = never
  std::string dead_letter_queue;  // queue name; empty = none
  std::chrono::seconds retention{4 * 24 * 3600};
};

// A queue's tags (TagQueue / ListQueueTags): key -> value, as SQS keeps them (case-sensitive keys).
using QueueTags = std::map<std::string, std::string>;

struct QueueStats {
  int64_t visible = 0;    // ApproximateNumberOfMessages
  int64_t in_flight = 0;  // ApproximateNumberOfMessagesNotVisible
  int64_t delayed = 0;    // ApproximateNumberOfMessagesDelayed
};

class Queue {
 public:
  virtual ~Queue() = default;
  virtual const std::string& name() const = 0;
  virtual std::string url() const = 0;
  // Sends every message (in one transaction or batches of 10, in order); returns their ids in order.
  virtual std::vector<std::string> send_messages(const std::vector<OutgoingMessage>& messages) = 0;
  // Returns the message id.
  std::string send(const std::string& body, std::chrono::seconds delay = std::chrono::seconds(0));
  std::vector<std::string> send_batch(const std::vector<std::string>& bodies);
  virtual std::vector<Message> receive(const ReceiveOptions& options) = 0;
  // DeleteMessage. A stale or unknown receipt handle throws Error(kInvalidInput).
  virtual void remove(const std::string& receipt_handle) = 0;
  virtual void change_visibility(const std::string& receipt_handle, std::chrono::seconds timeout) = 0;
  virtual void purge() = 0;
  virtual QueueStats stats() = 0;
  // The queue's attributes (GetQueueAttributes). Error(kNotFound) when it was deleted.
  virtual QueueConfig config() = 0;
  // TagQueue: adds or replaces these tags, keeping the others. Error(kInvalidInput) past SQS's rules
  // (queue/sqs_rules.h check_tags); Error(kNotFound) when the queue was deleted.
  virtual void tag(const QueueTags& tags) = 0;
  // ListQueueTags. Error(kNotFound) when the queue was deleted.
  virtual QueueTags tags() = 0;
};

// A namespace of queues: the local store, or one SQS endpoint (account + region).
class QueueService {
 public:
  virtual ~QueueService() = default;
  // Idempotent, as SQS CreateQueue with equal attributes.
  virtual std::shared_ptr<Queue> create(const std::string& name, const QueueConfig& config) = 0;
  // Throws Error(kNotFound) naming the queue when it does not exist.
  virtual std::shared_ptr<Queue> get(const std::string& name) = 0;
  virtual std::vector<std::string> list(const std::string& prefix = "") = 0;
  virtual void remove_queue(const std::string& name) = 0;
  // SetQueueAttributes: gives an existing queue `config`, keeping its messages. Error(kNotFound) when absent.
  virtual void set_config(const std::string& name, const QueueConfig& config) = 0;
  // Those of `names` that do not exist (a cheap check for health probes: one call or one SQL query).
  virtual std::vector<std::string> missing(const std::vector<std::string>& names);
};

// Opens a queue service from an endpoint string:
//   "sqlite:PATH"        the embedded store (SQLite, WAL), durable across process crashes and restarts;
//                        "sqlite:PATH?sync=full" also across power cuts (fsync per commit)
//   "memory:"            the embedded store in memory (tests)
//   "http(s)://HOST..."  any SQS-compatible endpoint (facepipe serve, AWS SQS, moto) through the one SQS
//                        client (queue/sqs_queue.h): JSON protocol, keep-alive connections, SigV4-signed
//                        when AWS credentials are in the environment, plain otherwise (serve's endpoint)
std::unique_ptr<QueueService> open_queue_service(const std::string& endpoint);

// One queue by its SQS URL (scheme://host[:port]/<account>/<name>, see parse_queue_url in
// queue/sqs_rules.h), without a GetQueueUrl call (a Lambda function's role may only send to it).
std::shared_ptr<Queue> open_queue_url(const std::string& queue_url);

}  // namespace facepipe::queue
