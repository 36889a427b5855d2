#include "recognition/evaluate.h"

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "image/decode.h"
#include "recognition/pipeline.h"

namespace facepipe::recognition {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

std::vector<LabeledImage> labels_from_csv(const fs::path& csv, const fs::path& images_dir) {
  if (!fs::is_directory(images_dir))
    throw Error(ErrorKind::kNotFound,
                "image folder '" + images_dir.string() +
                    "' does not exist; give --images DIR, the folder the labels' images are in");
  std::ifstream in(csv);
  if (!in) throw Error(ErrorKind::kNotFound, "cannot read labels file '" + csv.string() + "'");
  std::string line;
  std::vector<LabeledImage> out;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    line = trim(line);
    if (line.empty()) continue;
    const auto comma = line.find(',');
    if (comma == std::string::npos)
      throw Error(ErrorKind::kInvalidInput, csv.string() + ":" + std::to_string(line_no) +
                                                ": expected 'Image,Results' (image name, person name)");
    std::string image = trim(line.substr(0, comma)), name = trim(line.substr(comma + 1));
    if (line_no == 1 && (image == "Image" || image == "image" || image == "video")) continue;  // header
    fs::path path = images_dir / image;
    if (!fs::exists(path)) {
      for (const char* ext : {".jpg", ".jpeg", ".png"}) {
        fs::path candidate = images_dir / (image + ext);
        if (fs::exists(candidate)) {
          path = candidate;
          break;
        }
      }
    }
    if (!fs::exists(path))
      throw Error(ErrorKind::kNotFound, csv.string() + ":" + std::to_string(line_no) + ": image '" + image +
                                            "' not found in '" + images_dir.string() + "'");
    out.push_back({path, name});
  }
  if (out.empty()) throw Error(ErrorKind::kInvalidInput, "labels file '" + csv.string() + "' has no rows");
  return out;
}

std::vector<LabeledImage> labels_from_folders(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw Error(ErrorKind::kNotFound,
                "image folder '" + dir.string() +
                    "' does not exist; give --images DIR with a sub-folder of photos per "
                    "person, or --images DIR --labels CSV");
  std::vector<LabeledImage> out;
  for (const auto& source : sources_from_folder(dir))
    for (const auto& path : source.images) out.push_back({path, source.name});
  return out;
}

std::vector<LabeledImage> strangers_from_folder(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw Error(ErrorKind::kNotFound, "strangers folder '" + dir.string() + "' does not exist");
  std::vector<LabeledImage> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") out.push_back({e.path(), gallery::kUnknown});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  if (out.empty()) throw Error(ErrorKind::kNotFound, "no .jpg/.png image in strangers folder '" + dir.string() + "'");
  return out;
}

nlohmann::json EvalReport::to_json() const {
  return {{"total", total},
          {"correct", correct},
          {"wrong", wrong},
          {"unknown", unknown},
          {"no_face", no_face},
          {"errors", errors},
          {"accuracy", accuracy()},
          {"unknown_rate", unknown_rate()},
          {"confusion", confusion},
          {"mistakes", mistakes},
          {"enrolment_images", enrolment_images}};
}

EvalReport evaluate(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                    float threshold, const std::vector<LabeledImage>& images, const Progress& progress,
                    const AnswerOptions& answer) {
  EvalReport report;
  size_t done = 0;
  for (const auto& item : images) {
    if (progress) progress(done++, images.size(), item.path.string());
    ++report.total;
    std::string answered;
    float distance = 0;
    try {
      const cv::Mat rgb = image::load_rgb(item.path);
      const FrameAnswer frame = answer_frame(detector, embedder, gallery, rgb, threshold, answer);
      if (frame.no_face()) {
        answered = "(no face)";
        ++report.no_face;
      } else {
        answered = frame.result;
        distance = frame.faces[frame.answering >= 0 ? static_cast<size_t>(frame.answering) : 0].match.distance;
        for (const auto& f : frame.faces)
          if (f.match.distance < gallery::kSamePhotoDistance) {
            report.enrolment_images.push_back(item.path.string());
            break;
          }
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kInternal || e.kind() == ErrorKind::kUnavailable) throw;
      answered = "(error)";
      ++report.errors;
    }
    report.confusion[item.expected][answered]++;
    if (answered == item.expected) {
      ++report.correct;
      continue;
    }
    if (answered == gallery::kUnknown)
      ++report.unknown;
    else if (answered[0] != '(')
      ++report.wrong;
    report.mistakes.push_back(
        {{"image", item.path.string()}, {"expected", item.expected}, {"answered", answered}, {"distance", distance}});
  }
  if (progress) progress(images.size(), images.size(), "");
  return report;
}

}  // namespace facepipe::recognition
