// Evaluation: run labelled images through detect -> embed -> match and count what comes back.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "recognition/answer_policy.h"
#include "recognition/enroll.h"

namespace facepipe::recognition {

struct LabeledImage {
  std::filesystem::path path;
  std::string expected;  // a person's name, or gallery::kUnknown for someone who is not enrolled
};

// The course's labels file: CSV with header "Image,Results"; Image is a file name with or without its
// extension (".jpg" is tried, then ".jpeg", ".png"), relative to `images_dir`.
std::vector<LabeledImage> labels_from_csv(const std::filesystem::path& csv, const std::filesystem::path& images_dir);
// A folder per person: every image is labelled with its folder's name.
std::vector<LabeledImage> labels_from_folders(const std::filesystem::path& dir);

struct EvalReport {
  int total = 0;
  int correct = 0;
  int wrong = 0;    // recognised as another enrolled person
  int unknown = 0;  // answered Unknown (correct when expected is Unknown: counted in correct instead)
  int no_face = 0;  // no face detected
  int errors = 0;   // unreadable image
  std::map<std::string, std::map<std::string, int>> confusion;  // expected -> answered -> count
  std::vector<nlohmann::json> mistakes;                         // {image, expected, answered, distance}
  std::vector<std::string>
      enrolment_images;  // test images that are enrolment photos (gallery::kSamePhotoDistance)
  double accuracy() const { return total ? double(correct) / total : 0; }
  double unknown_rate() const { return total ? double(unknown) / total : 0; }
  nlohmann::json to_json() const;
};

// Each image answered as the service answers a frame (`answer`: policy and quality gate).
EvalReport evaluate(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                    float threshold, const std::vector<LabeledImage>& images, const Progress& progress = {},
                    const AnswerOptions& answer = {});
// Every image of `dir` (recursively) labelled gallery::kUnknown: people nobody enrolled.
std::vector<LabeledImage> strangers_from_folder(const std::filesystem::path& dir);

// What would make `report` mislead, one sentence each with the fix: test images that are also enrolment
// photos (they match themselves), labels naming people who are not in the gallery (they can only be wrong).
std::vector<std::string> evaluation_warnings(const gallery::Gallery& gallery,
                                             const std::vector<LabeledImage>& images,
                                             const EvalReport& report);

}  // namespace facepipe::recognition
