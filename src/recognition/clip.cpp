#include "recognition/clip.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "recognition/pipeline.h"

namespace facepipe::recognition {

std::string ClipResult::main_person() const {
  for (const auto& p : people)
    if (p.name != gallery::kUnknown) return p.name;
  return people.empty() ? "" : gallery::kUnknown;
}

// Times to the millisecond and distances to 4 places: what people read (0.5005000000000001 s is noise).
namespace {
double round_to(double v, double places) {
  const double scale = std::pow(10.0, places);
  return std::round(v * scale) / scale;
}
}  // namespace

nlohmann::json ClipResult::to_json() const {
  nlohmann::json people_json = nlohmann::json::array();
  for (const auto& p : people) {
    std::vector<double> seconds;
    for (double t : p.seconds) seconds.push_back(round_to(t, 3));
    people_json.push_back({{"name", p.name},
                           {"frames", p.frames},
                           {"best_distance", round_to(p.best_distance, 4)},
                           {"first_seen", round_to(p.first_seen, 3)},
                           {"last_seen", round_to(p.last_seen, 3)},
                           {"seconds", seconds},
                           {"record", p.record}});
  }
  const std::string main = main_person();
  return {{"result", main.empty() ? "No face" : main},
          {"people", people_json},
          {"clip",
           {{"duration", round_to(clip.duration, 3)},
            {"fps", round_to(clip.fps, 3)},
            {"width", clip.width},
            {"height", clip.height},
            {"codec", clip.codec},
            {"frames_decoded", clip.decoded},
            {"frames_recognised", clip.delivered},
            {"frames_with_faces", frames_with_faces},
            {"frames_expected", clip.expected_frames},
            {"complete", clip.complete},
            {"error", clip.complete ? nlohmann::json() : nlohmann::json(clip.error)},
            {"policy", policy}}},
          {"complete", clip.complete}};
}

ClipResult recognize_clip(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                          std::string_view clip_bytes, const video::FramePolicy& policy, float threshold,
                          const video::ClipLimits& limits, const AnswerOptions& answer) {
  ClipResult result;
  result.policy = policy.to_string();
  std::map<std::string, PersonInClip> seen;
  result.clip = video::decode_clip(
      clip_bytes, policy,
      [&](double t, const cv::Mat& rgb) {
        const FrameAnswer frame = answer_frame(detector, embedder, gallery, rgb, threshold, answer);
        if (!frame.faces.empty()) ++result.frames_with_faces;
        std::map<std::string, float> in_frame;  // a person counts once per frame, at their best distance
        for (const auto& f : frame.faces) {
          if (answer.policy == AnswerPolicy::kKnown && !f.quality.ok()) continue;
          auto [it, inserted] = in_frame.emplace(f.match.name, f.match.distance);
          if (!inserted) it->second = std::min(it->second, f.match.distance);
        }
        for (const auto& [name, distance] : in_frame) {
          auto [it, inserted] = seen.try_emplace(name);
          PersonInClip& p = it->second;
          if (inserted) {
            p.name = name;
            p.best_distance = distance;
            p.first_seen = t;
          }
          ++p.frames;
          p.best_distance = std::min(p.best_distance, distance);
          p.last_seen = t;
          p.seconds.push_back(t);
        }
        return true;
      },
      limits);
  for (auto& [name, p] : seen) {
    if (name != gallery::kUnknown) p.record = gallery.record(name).value_or(nlohmann::json());
    result.people.push_back(std::move(p));
  }
  std::stable_sort(result.people.begin(), result.people.end(),
                   [](const PersonInClip& a, const PersonInClip& b) {
                     return a.frames != b.frames ? a.frames > b.frames : a.best_distance < b.best_distance;
                   });
  return result;
}

}  // namespace facepipe::recognition
