// evaluation_warnings() (recognition/evaluate.h): the checks that keep an evaluation from flattering or
// misleading silently.
#include <set>

#include "core/suggest.h"
#include "recognition/evaluate.h"

namespace facepipe::recognition {

std::vector<std::string> evaluation_warnings(const gallery::Gallery& gallery,
                                             const std::vector<LabeledImage>& images,
                                             const EvalReport& report) {
  std::vector<std::string> out;
  if (!report.enrolment_images.empty())
    out.push_back(
        std::to_string(report.enrolment_images.size()) + " of " + std::to_string(report.total) +
        " test images are enrolment photos (e.g. " + report.enrolment_images[0] +
        "): they match themselves and inflate the accuracy; evaluate on images that were not enrolled");
  std::vector<std::string> known;
  for (const auto& p : gallery.people()) known.push_back(p.name);
  const std::set<std::string> known_set(known.begin(), known.end());
  std::set<std::string> missing;
  for (const auto& item : images)
    if (item.expected != gallery::kUnknown && !known_set.count(item.expected)) missing.insert(item.expected);
  if (!missing.empty()) {
    std::string list;
    for (const auto& name : missing)
      list += (list.empty() ? "'" : ", '") + name + "'" + did_you_mean(name, known);
    out.push_back("labels name " + std::to_string(missing.size()) + " people who are not in the gallery: " +
                  list + "; their images can only be wrong: enroll them, or label them Unknown");
  }
  return out;
}

}  // namespace facepipe::recognition
