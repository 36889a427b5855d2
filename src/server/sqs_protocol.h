// The SQS wire protocol over a QueueService, so unmodified AWS clients (aws CLI, boto3, the AWS SDKs)
// work against `facepipe serve` with --endpoint-url.
//
// Both protocols SQS speaks are served by one action layer:
// - JSON (current SDKs): POST, `X-Amz-Target: AmazonSQS.<Action>`, `Content-Type:
// application/x-amz-json-1.0`,
//   JSON request and answer; errors are HTTP 400 with {"__type": "com.amazonaws.sqs#<Code>", "message"} and
//   the `x-amzn-query-error: <LegacyCode>;Sender` header the SDKs use for the legacy error codes.
// - Query (older SDKs, curl): form-encoded `Action=...&Version=2012-11-05`, XML answers and <ErrorResponse>.
// Actions (one table, action name -> handler, shared by both protocols): CreateQueue, GetQueueUrl,
// ListQueues, DeleteQueue, SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility,
// PurgeQueue, GetQueueAttributes, SetQueueAttributes.
// Input is validated as SQS does (queue/sqs_rules.h), with SQS's error codes, all HTTP 400: bodies must be
// UTF-8 in SQS's character set (InvalidMessageContents), DelaySeconds 0..900, VisibilityTimeout 0..43200,
// at most 10 message attributes, batches of 1..10 entries (EmptyBatchRequest,
// TooManyEntriesInBatchRequest) with distinct (BatchEntryIdsNotDistinct) and well-formed
// (InvalidBatchEntryId) Ids and at most 256 KiB in all (BatchRequestTooLong). Replies never fail on stored
// bytes: a body stored before these checks is delivered with invalid sequences replaced by U+FFFD (and the
// MD5 of what is delivered), and XML replies are always well-formed.
// Queue URLs are `<base_url>/<account>/<queue name>`; only the last path segment names the queue.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "server/http_types.h"

namespace facepipe::server {

struct SqsReply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;
};

class SqsProtocol {
 public:
  // `base_url` is what clients reach this server at ("http://127.0.0.1:8080"); it prefixes queue URLs.
  SqsProtocol(queue::QueueService& queues, std::string base_url, std::string account = "000000000000");

  // A JSON-protocol request; `target` is the X-Amz-Target header value.
  SqsReply handle_json(const std::string& target, const std::string& body);
  // A query-protocol request: its decoded form (or URL) parameters and the request path (the queue URL's
  // path when the client posts to the queue URL instead of passing QueueUrl).
  SqsReply handle_query(const std::multimap<std::string, std::string>& params, const std::string& path);

  // The action layer both protocols share: JSON-protocol request/answer shapes. Throws SqsFault.
  nlohmann::json run(const std::string& action, const nlohmann::json& request);

  std::string queue_url(const std::string& name) const;
  queue::QueueService& queues() const { return queues_; }

  // The longest a ReceiveMessage long-polls, whatever its WaitTimeSeconds (still validated as 0..20).
  // Serve keeps SQS's 20 s; the fuzz harnesses set 0, so that no input sleeps on an empty queue (they
  // ran at the wall clock's pace, a core mostly idle).
  void cap_long_poll(std::chrono::seconds cap) { long_poll_cap_ = cap; }
  std::chrono::seconds long_poll_cap() const { return long_poll_cap_; }
  const std::string& account() const { return account_; }

 private:
  queue::QueueService& queues_;
  std::string base_url_;
  std::string account_;
  std::chrono::seconds long_poll_cap_{20};
};

// An SQS error: the modern code (JSON `__type`), the legacy query-protocol code, the message.
struct SqsFault {
  std::string code;         // "QueueDoesNotExist"
  std::string legacy_code;  // "AWS.SimpleQueueService.NonExistentQueue"
  std::string message;
  int status = 400;
  bool sender = true;
};

// The reply SQS sends for `fault`: JSON protocol ({"__type", "message"} + x-amzn-query-error) or the query
// protocol's XML <ErrorResponse>. Used by the actions and by the transport's authentication refusals.
SqsReply fault_reply(const SqsFault& fault, bool json_protocol);
// The transport's response for an SQS reply.
Response to_response(const SqsReply& reply);

// Hex MD5 of a message body, as SQS returns in MD5OfMessageBody / MD5OfBody (the SDKs verify it).
std::string md5_hex(const std::string& data);

// `raw` as XML character data for the query protocol's replies (and any other XML answer): invalid UTF-8
// and characters XML 1.0 cannot hold become U+FFFD, then the markup characters are escaped.
std::string xml_text(const std::string& raw);

}  // namespace facepipe::server
