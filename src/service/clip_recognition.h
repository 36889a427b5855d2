// The video variant's handler: one uploaded clip (from `facepipe camera --mode clips` through serve's
// POST /clips, or an S3 ObjectCreated event on Lambda) -> frames by policy -> recognition -> one result
// message on the response queue carrying each recognised person's record.
//
// Response message (<id>-resp-queue), one per clip:
//   {"request_id": "...", "result": "<person seen most>" | "No face", "filename": "...",
//    "people": [{"name", "frames", "best_distance", "first_seen", "last_seen", "seconds": [...],
//                "record": {...} | null}, ...],
//    "clip": {"duration", "fps", "width", "height", "codec", "frames_decoded", "frames_recognised",
//             "frames_with_faces", "policy"},
//    "accepted_ms": <ms since epoch when the clip arrived>, "seconds": <processing time>}
// A clip that cannot be used (corrupt, not a video, too long) gives
//   {"request_id", "filename", "result": "Error", "error": "<code>", "message": "<what to do>"}
// on the queue as well, so the device's retriever learns about it; the caller also gets the Error.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "queue/queue.h"
#include "recognition/answer_policy.h"
#include "video/clip.h"

namespace facepipe::service {

inline constexpr const char* kClipError = "Error";

class ClipHandler {
 public:
  // All references must outlive the handler. `responses` may be null (results only returned).
  ClipHandler(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
              float threshold, queue::Queue* responses,
              video::FramePolicy policy = video::FramePolicy::parse("fps:2"), video::ClipLimits limits = {},
              recognition::AnswerOptions answer = {});

  // Recognises one clip, sends its result message, and returns it. Throws facepipe::Error (after
  // sending the error message) for unusable clips. Thread-safe; clips are recognised one at a time
  // because each already keeps both cores busy.
  nlohmann::json handle(const std::string& clip_bytes, const std::string& request_id,
                        const std::string& filename);

  // Where people's records come from when not from the gallery (DynamoDB on AWS): name -> record, or
  // nullopt when the person has none. Set before use; must be thread-safe.
  std::function<std::optional<nlohmann::json>(const std::string& name)> record_lookup;

 private:
  face::Detector& detector_;
  face::Embedder& embedder_;
  const gallery::Gallery& gallery_;
  float threshold_;
  queue::Queue* responses_;
  video::FramePolicy policy_;
  video::ClipLimits limits_;
  recognition::AnswerOptions answer_;
  std::mutex mu_;
};

}  // namespace facepipe::service
