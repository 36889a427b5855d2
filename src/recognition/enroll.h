// Enrolment: put people into a gallery from their photos. Each photo contributes the embedding of its
// largest face that passes the quality gate (recognition/quality.h); a photo without such a face, or one
// that cannot be read, is reported with the reason, never silently skipped; so is a photo already in the
// gallery (enrolling twice adds nothing) and a group photo (its largest usable face is enrolled, with a
// warning).
#pragma once

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "recognition/quality.h"

namespace facepipe::recognition {

struct EnrollSource {
  std::string name;
  std::vector<std::filesystem::path> images;
};

// A folder with one sub-folder per person (its name = the person's name), images inside (*.jpg, *.jpeg,
// *.png) in file-name order. `per_person` > 0 keeps only the first N images of each person (enroll()'s
// EnrollOptions::per_person keeps the N best instead).
// Throws Error(kNotFound) when `dir` is missing or holds no person folder with images.
std::vector<EnrollSource> sources_from_folder(const std::filesystem::path& dir, int per_person = 0);

// "name=path" pairs; a path may be an image or a folder of images. Pairs with the same name merge;
// `per_person` > 0 then keeps the first N images of each person, as for a folder.
// Throws Error(kInvalidInput) on a pair without '=' or with an empty side, kNotFound on a missing path.
std::vector<EnrollSource> sources_from_pairs(const std::vector<std::string>& pairs, int per_person = 0);

struct EnrollResult {
  std::string name;
  int images = 0;
  int enrolled = 0;                                            // photos whose face was added to the gallery
  int left_out = 0;                                            // usable photos beyond per_person
  int duplicates = 0;                                          // already in the gallery (same photo)
  int no_face = 0;                                             // readable, but no face found
  int unreadable = 0;                                          // not an image, corrupt, too large
  std::vector<std::pair<std::string, std::string>> skipped;    // (image path, reason), all of the above
  std::vector<std::pair<std::string, std::string>> warnings;   // (image path, what to check): group photos
  nlohmann::json to_json()
      const;  // {name, images, enrolled, left_out, duplicates, no_face, unreadable, skipped, warnings}
};

// The error for a person none of whose photos could be enrolled: the counts by reason, the first photo
// skipped and what to do. `refused` photos are counted as `refused_as` says (locally the quality gate;
// through the people API also group photos). Local and remote enrolment both raise it.
Error no_usable_photo(const EnrollResult& result, int refused, const std::string& refused_as,
                      const std::string& suffix = "");

using Progress = std::function<void(size_t done, size_t total, const std::string& current)>;

struct EnrollOptions {
  QualityBounds quality;  // a photo whose faces all fail is refused with the reason
  int per_person = 0;     // > 0: keep each person's N photos of best quality score (Quality::score)
  bool mirror = false;    // also enrol each face's mirror image (measured: see README, "Accuracy")
};

// Enrols every source. Skipped photos are listed in the result with the reason (photos left out by
// per_person are only counted); a person with no usable photo is an error (kInvalidInput) naming
// the person and why (unless their photos are all already in the gallery), raised before anything of
// theirs is added.
std::vector<EnrollResult> enroll(gallery::Gallery& gallery, face::Detector& detector, face::Embedder& embedder,
                                 const std::vector<EnrollSource>& sources, const Progress& progress = {},
                                 const EnrollOptions& options = {});

}  // namespace facepipe::recognition
