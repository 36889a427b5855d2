#include "recognition/enroll.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "face/distance.h"
#include "image/decode.h"
#include "recognition/pipeline.h"

namespace facepipe::recognition {
namespace fs = std::filesystem;

namespace {

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> images_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<EnrollSource> sources_from_folder(const fs::path& dir, int per_person) {
  if (!fs::is_directory(dir))
    throw Error(ErrorKind::kNotFound, "enrol folder '" + dir.string() +
                                          "' does not exist; give a folder with one sub-folder of photos per person");
  std::vector<EnrollSource> out;
  std::vector<fs::path> people;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) people.push_back(e.path());
  std::sort(people.begin(), people.end());
  for (const auto& p : people) {
    auto images = images_in(p);
    if (images.empty()) continue;
    if (per_person > 0 && images.size() > static_cast<size_t>(per_person)) images.resize(per_person);
    out.push_back({p.filename().string(), std::move(images)});
  }
  if (out.empty())
    throw Error(ErrorKind::kNotFound, "no person folder with .jpg/.png images in '" + dir.string() +
                                          "'; lay it out as DIR/<name>/<photo>.jpg");
  return out;
}

std::vector<EnrollSource> sources_from_pairs(const std::vector<std::string>& pairs, int per_person) {
  std::map<std::string, EnrollSource> by_name;
  std::vector<std::string> order;
  for (const auto& pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size())
      throw Error(ErrorKind::kInvalidInput, "'" + pair + "' is not NAME=PATH (e.g. Obama=photos/obama1.jpg)");
    std::string name = pair.substr(0, eq);
    fs::path path = pair.substr(eq + 1);
    if (!fs::exists(path)) throw Error(ErrorKind::kNotFound, "'" + path.string() + "' (for " + name + ") does not exist");
    auto [it, inserted] = by_name.try_emplace(name, EnrollSource{name, {}});
    if (inserted) order.push_back(name);
    if (fs::is_directory(path)) {
      auto images = images_in(path);
      if (images.empty())
        throw Error(ErrorKind::kNotFound, "folder '" + path.string() + "' (for " + name + ") holds no .jpg/.png image");
      it->second.images.insert(it->second.images.end(), images.begin(), images.end());
    } else {
      it->second.images.push_back(path);
    }
  }
  std::vector<EnrollSource> out;
  for (const auto& name : order) {
    auto& images = by_name[name].images;
    if (per_person > 0 && images.size() > static_cast<size_t>(per_person)) images.resize(per_person);
    out.push_back(std::move(by_name[name]));
  }
  return out;
}

nlohmann::json EnrollResult::to_json() const {
  nlohmann::json skip = nlohmann::json::array(), warn = nlohmann::json::array();
  for (const auto& [path, why] : skipped) skip.push_back({{"image", path}, {"reason", why}});
  for (const auto& [path, what] : warnings) warn.push_back({{"image", path}, {"warning", what}});
  return {
      {"name", name},       {"images", images},         {"enrolled", enrolled}, {"left_out", left_out},
      {"duplicates", duplicates},
      {"no_face", no_face}, {"unreadable", unreadable}, {"skipped", skip},      {"warnings", warn}};
}

Error no_usable_photo(const EnrollResult& result, int refused, const std::string& refused_as,
                      const std::string& suffix) {
  return Error(ErrorKind::kInvalidInput,
               "no usable photo of '" + result.name + "': " + std::to_string(result.no_face) +
                   " without a face, " + std::to_string(result.unreadable) + " unreadable, " +
                   std::to_string(refused) + " " + refused_as +
                   (result.skipped.empty()
                        ? ""
                        : " (first: " + result.skipped[0].first + ": " + result.skipped[0].second + ")") +
                   "; give clear frontal photos (.jpg/.png)" + suffix);
}

std::vector<EnrollResult> enroll(gallery::Gallery& gallery, face::Detector& detector, face::Embedder& embedder,
                                 const std::vector<EnrollSource>& sources, const Progress& progress,
                                 const EnrollOptions& options) {
  const face::CropSpec spec = embedder.crop_spec();
  size_t total = 0;
  for (const auto& s : sources) total += s.images.size();
  size_t done = 0;
  std::vector<EnrollResult> results;
  for (const auto& source : sources) {
    EnrollResult result{source.name, static_cast<int>(source.images.size())};
    struct Usable {
      float score;
      size_t order;
      std::string path;
      cv::Mat crop;
    };
    std::vector<Usable> usable;
    int failed_gate = 0;
    for (const auto& path : source.images) {
      if (progress) progress(done, total, path.string());
      ++done;
      try {
        const cv::Mat rgb = image::load_rgb(path);
        const auto faces = detector.detect(rgb);
        if (faces.empty()) {
          ++result.no_face;
          result.skipped.emplace_back(path.string(),
                                      "no face found (the image was read; use a clearer, frontal photo)");
          continue;
        }
        // The largest face that passes the gate; when none does, the largest face's reason.
        std::vector<size_t> order(faces.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return faces[a].box.area() > faces[b].box.area(); });
        std::string refusal;
        bool found = false;
        for (size_t i : order) {
          cv::Mat crop = face::extract_crop(rgb, faces[i], spec);
          const Quality q = assess_quality(faces[i], rgb.cols, rgb.rows, crop, options.quality);
          if (!q.ok()) {
            if (refusal.empty()) refusal = q.failed;
            continue;
          }
          usable.push_back({q.score, usable.size(), path.string(), std::move(crop)});
          found = true;
          break;
        }
        if (!found) {
          ++failed_gate;
          result.skipped.emplace_back(path.string(), "the face fails the quality gate: " + refusal +
                                                         "; give a sharper, frontal, well-lit photo");
        } else if (faces.size() > 1) {
          result.warnings.emplace_back(path.string(), std::to_string(faces.size()) +
                                                          " faces: enrolled the largest usable one; check it is " +
                                                          source.name + " or crop the photo");
        }
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kInvalidInput && e.kind() != ErrorKind::kNotFound &&
            e.kind() != ErrorKind::kTooLarge)
          throw;
        ++result.unreadable;
        result.skipped.emplace_back(path.string(), std::string("unreadable: ") + e.what());
      }
    }
    if (options.per_person > 0 && usable.size() > static_cast<size_t>(options.per_person)) {
      std::stable_sort(usable.begin(), usable.end(),
                       [](const Usable& a, const Usable& b) { return a.score > b.score; });
      result.left_out = static_cast<int>(usable.size()) - options.per_person;
      usable.resize(static_cast<size_t>(options.per_person));
      std::sort(usable.begin(), usable.end(), [](const Usable& a, const Usable& b) { return a.order < b.order; });
    }
    std::vector<cv::Mat> crops;
    for (const auto& u : usable) {
      crops.push_back(u.crop);
      if (options.mirror) {
        cv::Mat m;
        cv::flip(u.crop, m, 1);
        crops.push_back(m);
      }
    }
    std::vector<face::Embedding> embedded;
    if (!crops.empty()) embedded = embedder.embed(crops);
    // The same photo twice (a re-run, or one file under two names) would weigh that photo double.
    const size_t per_photo = options.mirror ? 2 : 1;
    std::vector<face::Embedding> accepted;  // the photos' own embeddings, to find repeats within the run
    std::vector<face::Embedding> embeddings;
    for (size_t u = 0; u < usable.size(); ++u) {
      const face::Embedding& embedding = embedded[u * per_photo];
      std::optional<std::string> same = gallery::find_same_photo(gallery, embedding);
      for (const auto& pending : accepted) {
        if (face::l2_distance(pending, embedding) < gallery::kSamePhotoDistance) same = source.name;
      }
      if (same) {
        ++result.duplicates;
        result.skipped.emplace_back(usable[u].path, "already in the gallery" +
                                                        (*same == source.name ? "" : " as '" + *same + "'"));
        continue;
      }
      accepted.push_back(embedding);
      for (size_t k = 0; k < per_photo; ++k) embeddings.push_back(embedded[u * per_photo + k]);
    }
    if (embeddings.empty() && result.duplicates == 0)
      throw no_usable_photo(result, failed_gate, "failing the quality gate");
    for (const auto& e : embeddings) gallery.add(source.name, e);
    result.enrolled = static_cast<int>(accepted.size());
    results.push_back(std::move(result));
  }
  if (progress) progress(total, total, "");
  return results;
}

}  // namespace facepipe::recognition
