// The face-recognition function, free of any transport: the queue worker (`serve`, `worker recognize`)
// and the Lambda runtime loop (SQS events) pass it request-queue message bodies.
//
// For each message (format: service/messages.h) it embeds every face crop, matches each against the
// gallery, and sends one response for the frame to the response queue:
//   {"request_id", "result": <the answer policy's choice> | "No face detected", "filename", "faces": [...]}
// Each face's quality is assessed here, from its detection, the frame's size and its crop.
// A message that fails (malformed, embedder or queue failure) throws / is reported failed and is NOT
// answered, so the caller leaves it on the queue: it is retried after the visibility timeout and
// dead-lettered after the queue's max receive count. A message that can never succeed (malformed, or its
// crops cut for another embedder) goes to the dead-letter queue at once instead, when one is set, with
// the reason added to its JSON as "dead_letter": {"reason", "embedder", "time_ms"} (the rest unchanged, so
// it can be redriven once the workers are fixed); handle_batch then counts it as done.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/embedder.h"
#include "gallery/gallery.h"
#include "queue/queue.h"
#include "recognition/answer_policy.h"
#include "service/metrics.h"

namespace facepipe::service {

class RecognitionHandler {
 public:
  // `threshold` <= 0: always the nearest person (the course's semantics). `metrics` may be null.
  // `answer`: which face answers for a frame and the quality gate (default: known, calibrated bounds).
  RecognitionHandler(face::Embedder& embedder, const gallery::Gallery& gallery, float threshold,
                     std::shared_ptr<queue::Queue> response_queue, Metrics* metrics = nullptr,
                     recognition::AnswerOptions answer = {});
  // One message; returns the response it sent. Throws facepipe::Error on failure (nothing sent).
  nlohmann::json handle(const std::string& message_body);
  // Up to 10 messages as an SQS trigger delivers them; the crops of all messages go through the embedder
  // as one batch. Returns the indices of the messages that failed (Lambda's batchItemFailures).
  std::vector<size_t> handle_batch(const std::vector<std::string>& bodies);
  // Called with every response sent (serve's ?wait=1). Set before use; must be thread-safe.
  std::function<void(const nlohmann::json&)> on_response;
  // Where messages that can never succeed go at once (see above). Null (the default): the queue's own
  // redrive after its max receive count (a Lambda function's SQS trigger). Set before use.
  void set_dead_letter_queue(std::shared_ptr<queue::Queue> dead_letter) {
    dead_letter_ = std::move(dead_letter);
  }

 private:
  std::vector<size_t> process(const std::vector<std::string>& bodies, std::vector<nlohmann::json>& responses,
                              std::vector<std::string>& errors);
  // Sends `body` with `reason` to the dead-letter queue; false when there is none or the send failed.
  bool dead_letter(const std::string& body, const std::string& reason);

  face::Embedder& embedder_;
  const gallery::Gallery& gallery_;
  float threshold_;
  recognition::AnswerOptions answer_;
  std::shared_ptr<queue::Queue> queue_;
  std::shared_ptr<queue::Queue> dead_letter_;
  Metrics* metrics_;
};

}  // namespace facepipe::service
