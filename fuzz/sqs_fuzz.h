// The SQS harnesses' shared set-up: one in-memory queue store with a queue "fuzz-q", kept across inputs
// so that sequences of actions are explored, and the protocol as serve runs it on that store.
#pragma once

#include "queue/queue.h"
#include "server/sqs_protocol.h"

namespace facepipe::fuzz {

inline server::SqsProtocol& sqs_protocol() {
  static auto queues = [] {
    auto q = queue::open_queue_service("memory:");
    q->create("fuzz-q", {});
    return q;
  }();
  static server::SqsProtocol sqs(*queues, "http://127.0.0.1:9324");
  return sqs;
}

}  // namespace facepipe::fuzz
