// The SQS harnesses' shared set-up: an in-memory queue store with a queue "fuzz-q", kept across inputs so
// that sequences of actions are explored, and the protocol as serve runs it on that store.
#pragma once

#include <cstddef>
#include <memory>

#include "queue/queue.h"
#include "server/sqs_protocol.h"

namespace facepipe::fuzz {

inline server::SqsProtocol& sqs_protocol() {
  static std::unique_ptr<queue::QueueService> queues;
  static std::unique_ptr<server::SqsProtocol> sqs;
  static size_t inputs = 0;
  // A fresh store every 4096 inputs: long sequences are still explored, while the messages that inputs
  // send do not pile up for a whole run (every receive scanned more of them: 15 s of sqs_query ran 46k
  // inputs before, 89k after, on the same loaded machine).
  if (inputs++ % 4096 == 0) {
    sqs.reset();
    queues = queue::open_queue_service("memory:");
    queues->create("fuzz-q", {});
    sqs = std::make_unique<server::SqsProtocol>(*queues, "http://127.0.0.1:9324");
    sqs->cap_long_poll(std::chrono::seconds(0));  // a long poll on an empty queue would only sleep
  }
  return *sqs;
}

}  // namespace facepipe::fuzz
