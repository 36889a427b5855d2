// A minimal SQS JSON-protocol client over plain HTTP, for facepipe's own `serve` endpoint.
//
// Why it exists beside queue/sqs_queue.h: workers and the workload client must talk to `serve` even in a
// build without the AWS module; requests are unsigned (serve does not check SigV4), so this client is
// for http:// endpoints you run yourself. AWS SQS itself needs the signed client (make_sqs_queue_service).
#pragma once

#include <memory>
#include <string>

#include "queue/queue.h"

namespace facepipe::queue {

// `endpoint` is "http://host:port" (a trailing path is ignored). Queue operations that fail over the
// network throw Error(kUnavailable); SQS errors map to the contract's kinds (QueueDoesNotExist ->
// kNotFound, ReceiptHandleIsInvalid -> kInvalidInput, ...).
std::unique_ptr<QueueService> make_http_sqs_client(const std::string& endpoint);

// Splits a queue URL "http://host:port/<account>/<name>" into its endpoint and queue name.
// Error(kInvalidInput) when it has no queue name.
std::pair<std::string, std::string> split_queue_url(const std::string& queue_url);

}  // namespace facepipe::queue
