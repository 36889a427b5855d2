#include "service/clip_recognition.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "recognition/clip.h"

namespace facepipe::service {

namespace {
int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ClipHandler::ClipHandler(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                         float threshold, queue::Queue* responses, video::FramePolicy policy,
                         video::ClipLimits limits, recognition::AnswerOptions answer)
    : detector_(detector),
      embedder_(embedder),
      gallery_(gallery),
      threshold_(threshold),
      responses_(responses),
      policy_(policy),
      limits_(limits),
      answer_(std::move(answer)) {}

nlohmann::json ClipHandler::handle(const std::string& clip_bytes, const std::string& request_id,
                                   const std::string& filename) {
  if (request_id.empty())
    throw Error(ErrorKind::kInvalidInput, "a clip needs a request_id; pass ?request_id=... with the upload");
  const int64_t accepted = epoch_ms();
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json message;
  try {
    std::lock_guard<std::mutex> lock(mu_);
    const auto result =
        recognition::recognize_clip(detector_, embedder_, gallery_, clip_bytes, policy_, threshold_, limits_,
                                    answer_);
    message = result.to_json();
  } catch (const Error& e) {
    spdlog::warn("clip {} ({}): {}", request_id, filename, e.what());
    if (responses_)
      responses_->send(nlohmann::json{
          {"request_id", request_id},
          {"filename", filename},
          {"result", kClipError},
          {"error", e.code()},
          {"message",
           e.what()}}.dump());
    throw;
  }
  if (record_lookup)
    for (auto& person : message["people"])
      if (person.value("name", "") != gallery::kUnknown)
        person["record"] = record_lookup(person["name"].get<std::string>()).value_or(nlohmann::json());
  // The course's two keys first (nlohmann::json sorts keys, so order is by name; readers go by key).
  message["request_id"] = request_id;
  message["filename"] = filename;
  message["accepted_ms"] = accepted;
  message["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (responses_) responses_->send(message.dump());
  return message;
}

}  // namespace facepipe::service
