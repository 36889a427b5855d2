// The face-detection function, free of any transport: the HTTP server (`serve`, `worker detect`) and the
// Lambda runtime loop both pass it the request body and turn its Error into a 4xx/5xx.
//
// handle(body) takes {"request_id": string, "filename": string, "content": base64 JPEG/PNG}, validates it,
// decodes the frame (refusing non-images, truncated files and decompression bombs), runs the detector,
// cuts each face's embedder input with the embedder's CropSpec and puts ONE message for the frame on the
// request queue (format: service/messages.h). It returns {"request_id", "filename", "faces": n,
// "status": "queued", "message_id"} once the message is durably queued.
//
// Errors (nothing is queued): Error(kInvalidInput) for malformed JSON, a missing / empty / non-string field,
// bad base64 or bytes that are no complete image; Error(kTooLarge) for a frame declaring too many pixels;
// Error(kConflict) for a request id already accepted (ids are remembered, up to a bound, per process);
// Overloaded (engine_pool.h, HTTP 503 + Retry-After) when the engine's budget has no room.
// Everything about the request itself (JSON, field lengths, the image's declared size) is checked before
// the frame is decoded or detected.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "image/decode.h"
#include "queue/queue.h"
#include "service/metrics.h"

namespace facepipe::service {

class EnginePool;

// One frame as the function receives it, whatever the transport: the course's JSON (parse_frame_request)
// or a typed caller (a stream source, a test).
struct FrameRequest {
  std::string request_id;  // non-empty, at most DetectionOptions::max_request_id characters
  std::string filename;    // non-empty, at most DetectionOptions::max_filename bytes
  std::string image;       // the encoded JPEG/PNG bytes (not base64)
};

// What accept_frame answers once the frame's message is durably queued.
struct FrameAccepted {
  std::string request_id, filename, message_id;
  size_t faces = 0;
  // {"request_id", "filename", "faces": n, "status": "queued", "message_id"}: the function URL's answer.
  nlohmann::json to_json() const;
};

struct DetectionOptions {
  image::DecodeLimits limits;
  size_t remembered_ids = 100000;  // repeated-request-id window
  size_t max_request_id = 256;     // characters
  size_t max_filename = 1024;      // bytes: the name travels in every message (SQS caps them at 256 KiB)
  // When set, decoding and detection run on the pool's threads within its pixel budget, and the request's
  // bytes are held against its byte budget (service/engine_pool.h); else on the calling thread.
  EnginePool* pool = nullptr;
};

class DetectionHandler {
 public:
  // `metrics` may be null.
  DetectionHandler(face::Detector& detector, face::CropSpec crop_spec,
                   std::shared_ptr<queue::Queue> request_queue, Metrics* metrics = nullptr,
                   DetectionOptions options = {});
  // The course's JSON body -> accept_frame(parse_frame_request(body)).to_json().
  nlohmann::json handle(const std::string& body);
  // Validates the request (Errors as above), detects, crops and queues the frame.
  FrameAccepted accept_frame(const FrameRequest& request);
  // The course's JSON {"request_id", "filename", "content": base64 image} -> FrameRequest, or
  // Error(kInvalidInput) naming the field that is wrong.
  FrameRequest parse_frame_request(const std::string& body) const;

 private:
  bool reserve(const std::string& request_id);
  void release(const std::string& request_id);

  face::Detector& detector_;
  face::CropSpec crop_spec_;
  std::shared_ptr<queue::Queue> queue_;
  Metrics* metrics_;
  DetectionOptions options_;
  std::mutex mu_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> seen_order_;
};

}  // namespace facepipe::service
