#include "service/recognition.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "queue/sqs_rules.h"
#include "service/messages.h"

namespace facepipe::service {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RecognitionHandler::RecognitionHandler(face::Embedder& embedder, const gallery::Gallery& gallery,
                                       float threshold, std::shared_ptr<queue::Queue> response_queue,
                                       Metrics* metrics, recognition::AnswerOptions answer)
    : embedder_(embedder),
      gallery_(gallery),
      threshold_(threshold),
      answer_(std::move(answer)),
      queue_(std::move(response_queue)),
      metrics_(metrics) {}

json RecognitionHandler::handle(const std::string& message_body) {
  std::vector<json> responses;
  std::vector<std::string> errors;
  process({message_body}, responses, errors);
  if (!errors.at(0).empty()) throw Error(ErrorKind::kInvalidInput, errors.at(0));  // failed or dead-lettered
  return responses.at(0);
}

bool RecognitionHandler::dead_letter(const std::string& body, const std::string& reason) {
  if (!dead_letter_) return false;
  std::string annotated = body;
  json message = json::parse(body, nullptr, false);
  if (message.is_object()) {
    message["dead_letter"] = {{"reason", reason}, {"embedder", embedder_.id()}, {"time_ms", now_ms()}};
    if (std::string dumped = message.dump(); dumped.size() <= queue::kMaxMessageBytes) annotated = dumped;
  }
  try {
    dead_letter_->send(annotated);
  } catch (const std::exception& e) {
    spdlog::warn("recognize: cannot dead-letter a message ({}); it returns after the visibility timeout",
                 e.what());
    return false;
  }
  spdlog::error("recognize: message dead-lettered to '{}' at once: {}", dead_letter_->name(), reason);
  if (metrics_) metrics_->inc("facepipe_messages_dead_lettered_total");
  return true;
}

std::vector<size_t> RecognitionHandler::handle_batch(const std::vector<std::string>& bodies) {
  std::vector<json> responses;
  std::vector<std::string> errors;
  return process(bodies, responses, errors);
}

std::vector<size_t> RecognitionHandler::process(const std::vector<std::string>& bodies,
                                                std::vector<json>& responses,
                                                std::vector<std::string>& errors) {
  std::vector<size_t> failed;
  responses.assign(bodies.size(), json());
  errors.assign(bodies.size(), std::string());
  std::vector<RequestMessage> messages(bodies.size());
  std::vector<bool> ok(bodies.size(), false);
  std::vector<bool> dead_lettered(bodies.size(), false);  // can never succeed: sent to the dead-letter queue
  std::vector<cv::Mat> crops;
  auto spec = embedder_.crop_spec();
  auto t = Clock::now();
  for (size_t i = 0; i < bodies.size(); ++i) {
    try {
      messages[i] = decode_request(bodies[i]);
      auto& s = messages[i].crop_spec;
      if (s.method != spec.method || s.size != spec.size || s.margin != spec.margin)
        throw Error(ErrorKind::kInvalidInput,
                    "request " + messages[i].request_id + ": its crops were cut for another embedder (size " +
                        std::to_string(s.size) + "); run detection with the same model");
      for (auto& f : messages[i].faces) crops.push_back(f.crop);
      ok[i] = true;
    } catch (const std::exception& e) {
      spdlog::warn("recognize: message {} of the batch is invalid: {}", i, e.what());
      errors[i] = e.what();
      dead_lettered[i] = dead_letter(bodies[i], errors[i]);
    }
  }
  std::vector<face::Embedding> embeddings;
  if (!crops.empty()) {
    try {
      embeddings = embedder_.embed(crops);  // every crop of the batch in one forward pass
    } catch (const std::exception& e) {
      spdlog::error("recognize: embedding a batch of {} crops failed: {}", crops.size(), e.what());
      for (size_t i = 0; i < ok.size(); ++i)
        if (ok[i]) errors[i] = std::string("embedding failed: ") + e.what();
      ok.assign(ok.size(), false);
    }
  }
  if (metrics_) metrics_->observe(metric::kStageSeconds, "stage=\"embed\"", since(t));
  size_t next = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (!ok[i]) {
      if (dead_lettered[i]) continue;  // done: the dead-letter queue holds it with its reason
      failed.push_back(i);
      if (metrics_) metrics_->inc(metric::kMessagesFailed);
      continue;
    }
    auto& m = messages[i];
    try {
      std::vector<recognition::FaceAnswer> faces;
      for (auto& f : m.faces) {
        auto match = gallery_.match(embeddings.at(next++), threshold_);
        faces.push_back(
            {f.detection, std::move(match),
             recognition::assess_quality(f.detection, m.width, m.height, f.crop, answer_.quality)});
      }
      json response = response_json(m.request_id, m.filename,
                                    recognition::decide(std::move(faces), answer_.policy), answer_.policy);
      auto ts = Clock::now();
      queue_->send(response.dump());
      if (metrics_) {
        metrics_->observe(metric::kStageSeconds, "stage=\"respond\"", since(ts));
        if (m.accepted_ms > 0)
          metrics_->observe(metric::kEndToEndSeconds, "", (now_ms() - m.accepted_ms) / 1000.0);
        metrics_->inc(metric::kResponses);
      }
      spdlog::debug("recognize: request {} -> {}", m.request_id, response["result"].get<std::string>());
      responses[i] = response;
      if (on_response) on_response(response);
    } catch (const std::exception& e) {
      spdlog::warn("recognize: request {} failed: {}", m.request_id, e.what());
      errors[i] = e.what();
      failed.push_back(i);
      if (metrics_) metrics_->inc(metric::kMessagesFailed);
    }
  }
  return failed;
}

}  // namespace facepipe::service
