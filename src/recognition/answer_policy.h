// Which face answers for a frame. Every face of a frame is recognised and kept; the frame's single answer
// (the course's "result") is then chosen by a policy:
//   known   (default) the enrolled person whose face matches best (smallest distance) among the faces that
//           pass the quality gate; Unknown when no such face matches; "no face" when none was detected.
//           A bystander, a poster or a false detection larger than the person cannot take the answer.
//   largest the seed's rule exactly: the largest box's name, gate or not.
// Serve, worker, Lambda, clip, recognize, eval and the workload all answer through decide().
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/types.h"
#include "gallery/gallery.h"
#include "recognition/quality.h"

namespace facepipe::recognition {

enum class AnswerPolicy { kKnown, kLargest };

// "known" | "largest"; anything else is Error(kInvalidInput) saying which values exist.
AnswerPolicy parse_answer_policy(const std::string& text);
const char* to_string(AnswerPolicy policy);

struct AnswerOptions {
  AnswerPolicy policy = AnswerPolicy::kKnown;
  QualityBounds quality;
};

struct FaceAnswer {
  face::Detection detection;
  gallery::Match match;
  Quality quality;
  bool answered = false;  // this face gave the frame's answer
};

struct FrameAnswer {
  std::vector<FaceAnswer> faces;  // every face, largest box first
  int answering = -1;             // index into faces, -1 when no face answers
  // The answer: an enrolled name, gallery::kUnknown, or empty when no face was detected (callers print
  // their own "no face" string).
  std::string result;
  bool no_face() const { return faces.empty(); }
};

// Sorts `faces` largest first, applies `policy`, marks the answering face. Faces must carry their match
// and quality already.
FrameAnswer decide(std::vector<FaceAnswer> faces, AnswerPolicy policy);

// One face as the response queue and `recognize --json` list it:
//   {"name", "distance", "box": [x1,y1,x2,y2], "prob", "quality": {...}, "answered"}
nlohmann::json face_json(const FaceAnswer& face);

}  // namespace facepipe::recognition
