// Amazon SQS's limits and naming rules, checked in one place by the embedded store, the SQS endpoint
// (server/sqs_protocol.h) and the SQS client, so every path refuses the same input the same way.
// Source: the SQS API reference (botocore's service model for SendMessage, SendMessageBatch,
// ReceiveMessage, CreateQueue).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "queue/queue.h"

namespace facepipe::queue {

inline constexpr size_t kMaxMessageBytes = 262144;  // one message body, and a whole batch
inline constexpr size_t kMaxBatchEntries = 10;
inline constexpr size_t kMaxMessageAttributes = 10;
inline constexpr int kMaxDelaySeconds = 900;
inline constexpr int kMaxVisibilitySeconds = 43200;
inline constexpr size_t kMaxQueueTags = 50;
inline constexpr size_t kMaxTagKeyChars = 128;
inline constexpr size_t kMaxTagValueChars = 256;

// A queue URL: scheme://host[:port]/<account>/<name>. The one parser of queue URLs.
struct QueueUrl {
  std::string endpoint;  // scheme://host[:port]
  std::string account;   // may be empty ("http://host/name")
  std::string name;
};
// Error(kInvalidInput) saying the expected shape when `url` has no scheme, host or queue name.
QueueUrl parse_queue_url(const std::string& url);

// 1 to 80 of [A-Za-z0-9_-] (SQS's rule for queue names; a FIFO queue's ".fifo" suffix is not supported).
bool valid_queue_name(std::string_view name);
// A batch entry Id: 1 to 80 of [A-Za-z0-9_-].
bool valid_batch_entry_id(std::string_view id);

// True when `body` is UTF-8 made only of the characters SQS accepts (those of XML 1.0):
// #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
bool valid_message_text(std::string_view body);
// `body` with every byte sequence valid_message_text refuses replaced by U+FFFD; unchanged when valid.
// Used on the way out, so a message stored before the check existed can still be delivered.
std::string sanitize_message_text(std::string_view body);

// Error(kInvalidInput) with the reason when `message` breaks SQS's rules (empty, over 256 KiB, characters
// outside SQS's set, delay outside 0..900 s). The store and the client both check, so every backend refuses
// the same messages the same way.
void check_message(const OutgoingMessage& message);
// Error(kInvalidInput) when MaxNumberOfMessages is not 1..10, the wait not 0..20 s or the visibility
// timeout not 0..43200 s.
void check_receive(const ReceiveOptions& options);
// Error(kInvalidInput) when `added` would leave the queue with more than 50 tags (counting `existing`), or a
// key is not 1..128 characters or a value over 256, or either is not text SQS accepts.
void check_tags(const QueueTags& existing, const QueueTags& added);

}  // namespace facepipe::queue
