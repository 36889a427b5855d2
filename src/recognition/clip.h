// A whole clip through the engine: the policy's frames are recognised one by one and the answers
// aggregated per person (when and how well they were seen), with each person's record.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "recognition/answer_policy.h"
#include "video/clip.h"

namespace facepipe::recognition {

struct PersonInClip {
  std::string name;             // an enrolled person, or gallery::kUnknown for faces nobody matched
  int frames = 0;               // frames in which they were seen
  float best_distance = 0;      // their closest match over the clip
  double first_seen = 0, last_seen = 0;  // seconds from the clip's start
  std::vector<double> seconds;  // every time they were seen
  nlohmann::json record;        // the gallery record, null when none
};

struct ClipResult {
  video::ClipInfo clip;
  std::string policy;
  int frames_with_faces = 0;
  std::vector<PersonInClip> people;  // most frames first
  // The person seen in most frames (ties: the better distance), or kUnknown / "" when no face at all.
  std::string main_person() const;
  nlohmann::json to_json() const;
};

// Every face of each kept frame is matched (the frame may show several people). With the `known` answer
// policy only faces that pass the quality gate count as sightings (a false detection is nobody); with
// `largest`, every face counts, as the seed did. Errors from the clip decoder (corrupt, not a video, too
// long) propagate as Error.
ClipResult recognize_clip(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                          std::string_view clip_bytes, const video::FramePolicy& policy, float threshold,
                          const video::ClipLimits& limits = {}, const AnswerOptions& answer = {});

}  // namespace facepipe::recognition
