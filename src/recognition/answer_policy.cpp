#include "recognition/answer_policy.h"

#include <algorithm>

#include "core/error.h"

namespace facepipe::recognition {

AnswerPolicy parse_answer_policy(const std::string& text) {
  if (text == "known") return AnswerPolicy::kKnown;
  if (text == "largest") return AnswerPolicy::kLargest;
  throw Error(ErrorKind::kInvalidInput,
              "answer policy '" + text +
                  "' is not known: use 'known' (the best-matching enrolled face that passes the quality gate) "
                  "or 'largest' (the largest face, the seed's rule)");
}

const char* to_string(AnswerPolicy policy) { return policy == AnswerPolicy::kKnown ? "known" : "largest"; }

FrameAnswer decide(std::vector<FaceAnswer> faces, AnswerPolicy policy) {
  FrameAnswer out;
  std::stable_sort(faces.begin(), faces.end(), [](const FaceAnswer& a, const FaceAnswer& b) {
    return a.detection.box.area() > b.detection.box.area();
  });
  for (auto& f : faces) f.answered = false;
  out.faces = std::move(faces);
  if (out.faces.empty()) return out;
  if (policy == AnswerPolicy::kLargest) {
    out.answering = 0;
  } else {
    for (size_t i = 0; i < out.faces.size(); ++i) {
      const auto& f = out.faces[i];
      if (!f.quality.ok() || !f.match.known()) continue;
      if (out.answering < 0 || f.match.distance < out.faces[static_cast<size_t>(out.answering)].match.distance)
        out.answering = static_cast<int>(i);
    }
  }
  if (out.answering >= 0) {
    auto& f = out.faces[static_cast<size_t>(out.answering)];
    f.answered = true;
    out.result = f.match.name;
  } else {
    out.result = gallery::kUnknown;
  }
  return out;
}

nlohmann::json face_json(const FaceAnswer& f) {
  const auto& b = f.detection.box;
  return {{"name", f.match.name},
          {"distance", f.match.distance},
          {"box", {b.x1, b.y1, b.x2, b.y2}},
          {"prob", f.detection.prob},
          {"quality", f.quality.to_json()},
          {"answered", f.answered}};
}

}  // namespace facepipe::recognition
