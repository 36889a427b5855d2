// The messages the two stages exchange, as JSON, and the exact format of each.
//
// Request queue (<id>-req-queue), one message per frame, written by face-detection:
//   {"v": 1,
//    "request_id": "...", "filename": "...",
//    "frame": {"width": W, "height": H},
//    "crop_spec": {"method": "box"|"aligned", "size": 240, "margin": 0},
//    "faces": [{"box": [x1,y1,x2,y2], "prob": p, "landmarks": [[x,y] x5],
//               "crop_format": "png"|"jpeg", "crop": "<base64 image of the embedder input>"}, ...],
//    "accepted_ms": <ms since epoch when the frame was accepted>}
//   Faces are in the detector's order; the crops are cut by the detection stage with the embedder's CropSpec,
//   so recognition needs no frame. Crops are PNG (lossless: the recognition result equals the one-process
//   pipeline's). A message must stay under SQS's 256 KiB: when the PNGs of many faces do not fit, the crops
//   are re-encoded as JPEG q95, then faces are dropped smallest first (counted in "faces_dropped").
//
// Response queue (<id>-resp-queue), one message per frame, written by face-recognition:
//   {"request_id": "...", "result": "<the answer>" | "Unknown" | "No face detected",
//    "filename": "...", "answer": "known" | "largest",
//    "faces": [{"name", "distance", "box": [x1,y1,x2,y2], "prob",
//               "quality": {"ok", "score", "size", "in_frame", "geometry", "eye_ratio", "sharpness", "yaw",
//                           "roll", "failed": "<reason, when not ok>"},
//               "answered": true|false}, ...]}   (every face, largest first)
//   "result" is chosen by the answer policy (recognition/answer_policy.h): by default the best-matching
//   enrolled face that passes the quality gate. The first two keys are exactly the course's format;
//   clients that know only them keep working.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "face/embedder.h"
#include "face/types.h"
#include "recognition/answer_policy.h"

namespace facepipe::service {

inline constexpr const char* kNoFace = "No face detected";
inline constexpr size_t kMaxMessageBytes = 262144;

struct FaceCrop {
  face::Detection detection;
  cv::Mat crop;  // CV_8UC3 RGB, crop_spec.size squared
};

struct RequestMessage {
  std::string request_id;
  std::string filename;
  int width = 0, height = 0;
  face::CropSpec crop_spec;
  std::vector<FaceCrop> faces;
  int64_t accepted_ms = 0;
  int faces_dropped = 0;
};

// Encodes under kMaxMessageBytes (PNG, then JPEG q95, then dropping the smallest faces).
std::string encode_request(const RequestMessage& message);
// Error(kInvalidInput) naming what is wrong when the body is not a valid request message.
RequestMessage decode_request(const std::string& body);

nlohmann::json response_json(const std::string& request_id, const std::string& filename,
                             const recognition::FrameAnswer& frame, recognition::AnswerPolicy policy);

}  // namespace facepipe::service
