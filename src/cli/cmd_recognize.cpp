// facepipe embed | enroll | recognize | eval: the engine and the gallery used directly, in one process.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cli/answer_flags.h"
#include "cli/commands.h"
#include "cli/remote_flags.h"
#include "core/error.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "recognition/enroll.h"
#include "recognition/evaluate.h"
#include "recognition/pipeline.h"
#include "recognition/report.h"
#include "service/stage_engine.h"

namespace facepipe::cli {
namespace {

using nlohmann::json;

struct EngineFlags {
  std::string embedder = "auto";
  int crop_size = 240;
  float threshold = -1;  // < 0: the embedder's calibrated default
  bool always_nearest = false;
  bool all_faces = false;
  bool json_output = false;
};

void add_embedder_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--embedder", f.embedder,
                  "auto|faceapi|irv1|irv1-random (auto: the gallery's own embedder, else irv1 when the VGGFace2 "
                  "weights are present, else faceapi)")
      ->capture_default_str();
  cmd->add_option("--crop-size", f.crop_size, "InceptionResnetV1 input size (240 as the course, or 160)")
      ->capture_default_str();
}

void add_match_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--threshold", f.threshold,
                  "open-set distance threshold: farther than this from everyone -> Unknown (default: the "
                  "embedder's calibrated value; 0 = always the nearest)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--always-nearest", f.always_nearest,
                "no open-set threshold: always answer the nearest person (the seed's behaviour)");
}

// The flags as the one engine set-up takes them (service/stage_engine.h): --embedder is explicit here,
// so a gallery made by another embedder is refused; --always-nearest is threshold 0.
service::StageEngine load_engine(const GlobalOptions& global, const EngineFlags& f,
                                 const std::string& gallery_path, bool need_gallery,
                                 bool create_gallery = false) {
  std::optional<float> threshold;
  if (f.always_nearest)
    threshold = 0;
  else if (f.threshold >= 0)
    threshold = f.threshold;
  return service::load_stage_engine(
      engine_options(global, {.gallery_path = gallery_path,
                              .embedder = engine::parse_embedder_kind(f.embedder),
                              .irv1_crop_size = f.crop_size,
                              .threshold = threshold,
                              .need_gallery = need_gallery,
                              .create_gallery = create_gallery,
                              .embedder_must_match = true}));
}

// A one-line progress indicator on stderr, only when stderr is a terminal or progress is long.
recognition::Progress progress_printer(const char* what) {
  return [what](size_t done, size_t total, const std::string&) {
    if (total < 20) return;
    if (done == total || done % 10 == 0) {
      std::fprintf(stderr, "\r%s %zu/%zu", what, done, total);
      if (done == total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    }
  };
}

json detection_json(const face::Detection& d) {
  json lm = json::array();
  for (const auto& p : d.landmarks) lm.push_back({p.x, p.y});
  return {{"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}, {"prob", d.prob}, {"landmarks", lm}};
}

void register_embed(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("embed", "print the face embedding(s) of each image as JSON");
  auto flags = std::make_shared<EngineFlags>();
  auto images = std::make_shared<std::vector<std::string>>();
  cmd->add_option("images", *images, "image files")->required();
  add_embedder_flags(cmd, *flags);
  cmd->add_flag("--all-faces", flags->all_faces, "every face, not only the largest");
  cmd->callback([&global, flags, images] {
    auto engine = load_engine(global, *flags, "", false);
    auto& detector = engine.detector;
    auto& embedder = engine.embedder;
    json out = json::array();
    for (const auto& path : *images) {
      const cv::Mat rgb = image::load_rgb(path);
      json faces = json::array();
      for (auto& f : recognition::embed_faces(*detector, *embedder, rgb, !flags->all_faces)) {
        json j = detection_json(f.detection);
        j["embedding"] = f.embedding;
        faces.push_back(j);
      }
      out.push_back({{"image", path}, {"embedder", embedder->id()}, {"faces", faces}});
    }
    std::cout << out.dump() << "\n";
  });
}

// enroll --url: each photo uploaded to the server's people API, which detects, checks and embeds it with
// the checks a local enrolment makes, except that it refuses a group photo (locally its largest usable face
// is enrolled, with a warning). A person none of whose photos could be enrolled (and none already were) is
// an error, as locally.
void enroll_remote(const RemoteFlags& remote, const std::vector<recognition::EnrollSource>& sources,
                   const json& record_map, bool as_json) {
  auto c = open_client(remote);
  size_t total = 0, done = 0;
  for (const auto& s : sources) total += s.images.size();
  const auto progress = progress_printer("enrolling");
  std::vector<recognition::EnrollResult> results;
  for (const auto& source : sources) {
    recognition::EnrollResult result{source.name, static_cast<int>(source.images.size())};
    int refused = 0;  // quality gate, several faces
    for (const auto& path : source.images) {
      progress(done++, total, path.string());
      std::ifstream in(path, std::ios::binary);
      std::string photo((std::istreambuf_iterator<char>(in)), {});
      if (!in.good() && !in.eof()) {
        ++result.unreadable;
        result.skipped.emplace_back(path.string(), "unreadable: cannot read the file");
        continue;
      }
      const auto outcome = c->add_face(source.name, photo, path.filename().string());
      if (outcome.added) {
        ++result.enrolled;
      } else if (outcome.refusal == "duplicate") {
        ++result.duplicates;
        result.skipped.emplace_back(path.string(), "already in the gallery (" + outcome.message + ")");
      } else if (outcome.refusal == "no_face") {
        ++result.no_face;
        result.skipped.emplace_back(path.string(), outcome.message);
      } else if (outcome.refusal == "bad_image" || outcome.refusal == "too_large") {
        ++result.unreadable;
        result.skipped.emplace_back(path.string(), "unreadable: " + outcome.message);
      } else {
        ++refused;
        result.skipped.emplace_back(path.string(), outcome.message);
      }
    }
    if (result.enrolled == 0 && result.duplicates == 0)
      throw recognition::no_usable_photo(result, refused, "refused by the quality gate or with several faces",
                                         results.empty() ? "" : " (the people before them were enrolled)");
    results.push_back(std::move(result));
  }
  progress(total, total, "");
  for (const auto& [name, record] : record_map.items()) {
    const bool enrolled = std::any_of(sources.begin(), sources.end(), [&](auto& s) { return s.name == name; });
    if (enrolled || c->person(name)) c->set_record(name, record);
  }
  const std::string embedder = c->gallery().embedder;
  json out = json::array();
  for (const auto& r : results) out.push_back(r.to_json());
  if (as_json) {
    std::cout << json{{"gallery", c->url()}, {"embedder", embedder}, {"people", out}}.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("{:<24} {:>7} {:>9} {:>11} {:>8} {:>11}\n", "name", "images", "enrolled",
                           "duplicates", "no_face", "unreadable");
  for (const auto& r : results) {
    std::cout << fmt::format("{:<24} {:>7} {:>9} {:>11} {:>8} {:>11}\n", r.name, r.images, r.enrolled,
                             r.duplicates, r.no_face, r.unreadable);
    for (const auto& [path, why] : r.skipped) std::cout << "  skipped " << path << ": " << why << "\n";
  }
  std::cout << "gallery " << c->url() << " (" << embedder << ")\n";
}

void register_enroll(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("enroll", "add people to a gallery from their photos (largest face of each)");
  auto flags = std::make_shared<EngineFlags>();
  auto gallery_path = std::make_shared<std::string>();
  auto folder = std::make_shared<std::string>();
  auto per_person = std::make_shared<int>(0);
  auto pairs = std::make_shared<std::vector<std::string>>();
  auto records = std::make_shared<std::string>();
  auto remote = std::make_shared<RemoteFlags>();
  auto* gallery_opt = cmd->add_option("--gallery", *gallery_path, "gallery database (created when missing)");
  add_remote_flags(cmd, *remote, gallery_opt);
  cmd->add_option("--folder", *folder, "folder with one sub-folder of photos per person");
  cmd->add_option("--per-person", *per_person, "keep each person's N photos of best quality (0 = all)");
  auto enroll_options = std::make_shared<recognition::EnrollOptions>();
  cmd->add_flag("--mirror", enroll_options->mirror, "also enrol each photo's mirror image");
  add_quality_flags(cmd, enroll_options->quality);
  cmd->add_option("pairs", *pairs, "NAME=PATH pairs (PATH: an image or a folder of images)");
  cmd->add_option("--records", *records, "JSON file {name: record} stored with each person (e.g. major, year)");
  add_embedder_flags(cmd, *flags);
  cmd->add_flag("--json", flags->json_output, "print the result as JSON");
  cmd->callback([cmd, &global, flags, gallery_path, folder, per_person, pairs, records, enroll_options, remote] {
    require_gallery_or_url(*gallery_path, *remote);
    if (folder->empty() && pairs->empty())
      throw Error(ErrorKind::kInvalidInput, "nothing to enroll: give --folder DIR or NAME=PATH pairs");
    if (remote->remote())
      for (const CLI::Option* o : cmd->get_options())
        if (o->count() > 0 && (o->get_name() == "--embedder" || o->get_name() == "--crop-size" ||
                               o->get_name() == "--per-person" || o->get_name() == "--mirror" ||
                               o->get_group().rfind("Quality gate", 0) == 0))
          throw Error(ErrorKind::kInvalidInput,
                      o->get_name() + " is not taken with --url: the server detects, checks and embeds each "
                                      "photo with its own engine and quality gate");
    std::vector<recognition::EnrollSource> sources;
    if (!folder->empty()) sources = recognition::sources_from_folder(*folder);
    enroll_options->per_person = *per_person;
    if (!pairs->empty()) {
      auto more = recognition::sources_from_pairs(*pairs);  // --per-person: the best N, in enroll()
      sources.insert(sources.end(), more.begin(), more.end());
    }
    json record_map = json::object();
    if (!records->empty()) record_map = read_json_file(*records);
    if (remote->remote()) return enroll_remote(*remote, sources, record_map, flags->json_output);

    // An existing gallery chooses the embedder, unless it holds no embedding yet.
    const bool existed = std::filesystem::exists(*gallery_path);
    bool gallery_names_embedder = false;
    if (existed) gallery_names_embedder = gallery::Gallery::open(*gallery_path)->dim() > 0;
    auto engine = load_engine(global, *flags, gallery_names_embedder ? *gallery_path : "", false);
    engine.gallery.reset();  // reopened below for this embedder
    auto& detector = engine.detector;
    auto& embedder = engine.embedder;
    std::vector<recognition::EnrollResult> results;
    {
      auto gallery = gallery::Gallery::open(*gallery_path, embedder->id());
      try {
        results = recognition::enroll(*gallery, *detector, *embedder, sources, progress_printer("enrolling"),
                                      *enroll_options);
      } catch (...) {
        gallery.reset();
        if (!existed) gallery::remove_gallery_files(*gallery_path);  // leave no empty gallery behind
        throw;
      }
      for (const auto& [name, record] : record_map.items())
        if (gallery->record(name) ||
            std::any_of(sources.begin(), sources.end(), [&](auto& s) { return s.name == name; }))
          gallery->set_record(name, record);
    }
    json out = json::array();
    for (const auto& r : results) out.push_back(r.to_json());
    if (flags->json_output) {
      std::cout << json{{"gallery", *gallery_path}, {"embedder", embedder->id()}, {"people", out}}.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<24} {:>7} {:>9} {:>11} {:>8} {:>11}\n", "name", "images", "enrolled",
                             "duplicates", "no_face", "unreadable");
    for (const auto& r : results) {
      std::cout << fmt::format("{:<24} {:>7} {:>9} {:>11} {:>8} {:>11}{}\n", r.name, r.images, r.enrolled,
                               r.duplicates, r.no_face, r.unreadable,
                               r.left_out ? fmt::format("  (the best of {} usable)", r.enrolled + r.left_out) : "");
      for (const auto& [path, why] : r.skipped) std::cout << "  skipped " << path << ": " << why << "\n";
      for (const auto& [path, what] : r.warnings) std::cout << "  warning " << path << ": " << what << "\n";
    }
    std::cout << "gallery " << *gallery_path << " (" << embedder->id() << ")\n";
  });
}

void register_recognize(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("recognize", "name the faces in images against a gallery");
  auto flags = std::make_shared<EngineFlags>();
  auto gallery_path = std::make_shared<std::string>();
  auto images = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--gallery", *gallery_path, "gallery database")->required();
  cmd->add_option("images", *images, "image files")->required();
  add_embedder_flags(cmd, *flags);
  add_match_flags(cmd, *flags);
  auto answer = add_answer_flags(cmd);
  cmd->add_flag("--all-faces", flags->all_faces, "(every face is always listed; kept for old scripts)");
  cmd->add_flag("--json", flags->json_output, "print JSON");
  cmd->callback([&global, flags, gallery_path, images, answer] {
    auto engine = load_engine(global, *flags, *gallery_path, true);
    auto& detector = engine.detector;
    auto& embedder = engine.embedder;
    auto& gallery = engine.gallery;
    const float threshold = engine.threshold;
    json out = json::array();
    for (const auto& path : *images) {
      const cv::Mat rgb = image::load_rgb(path);
      const auto frame = recognition::answer_frame(*detector, *embedder, *gallery, rgb, threshold, *answer);
      json faces = json::array();
      for (const auto& f : frame.faces) {
        json j = recognition::face_json(f);
        j["landmarks"] = detection_json(f.detection)["landmarks"];
        j["nearest"] = f.match.nearest;
        faces.push_back(j);
      }
      out.push_back({{"image", path}, {"result", frame.no_face() ? "(no face)" : frame.result}, {"faces", faces}});
    }
    if (flags->json_output) {
      std::cout << json{{"embedder", embedder->id()},
                        {"threshold", threshold},
                        {"answer", recognition::to_string(answer->policy)},
                        {"results", out}}
                       .dump(2)
                << "\n";
      return;
    }
    std::cout << fmt::format("{:<40} {:<20} {:>8}  {:<22} {}\n", "image", "name", "distance", "box", "answer / quality");
    for (const auto& r : out) {
      if (r["faces"].empty()) std::cout << fmt::format("{:<40} {:<20}\n", r["image"].get<std::string>(), "(no face)");
      for (const auto& f : r["faces"]) {
        const auto& q = f["quality"];
        const std::string note = f["answered"].get<bool>() ? "answers"
                                 : q["ok"].get<bool>()     ? ""
                                                           : "low quality: " + q["failed"].get<std::string>();
        std::cout << fmt::format("{:<40} {:<20} {:>8.3f}  {:<22} {}\n", r["image"].get<std::string>(),
                                 f["name"].get<std::string>(), f["distance"].get<float>(),
                                 fmt::format("[{:.0f},{:.0f},{:.0f},{:.0f}]", f["box"][0].get<float>(),
                                             f["box"][1].get<float>(), f["box"][2].get<float>(),
                                             f["box"][3].get<float>()),
                                 note);
      }
    }
  });
}

void register_eval(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("eval", "accuracy of a gallery on labelled images (confusion, unknown rate)");
  auto flags = std::make_shared<EngineFlags>();
  auto gallery_path = std::make_shared<std::string>();
  auto images_dir = std::make_shared<std::string>();
  auto labels = std::make_shared<std::string>();
  cmd->add_option("--gallery", *gallery_path, "gallery database")->required();
  cmd->add_option("--images", *images_dir, "image folder (a sub-folder per person when no --labels)")->required();
  cmd->add_option("--labels", *labels, "labels CSV 'Image,Results' (course format)");
  auto strangers = std::make_shared<std::vector<std::string>>();
  auto report_dir = std::make_shared<std::string>();
  auto mirror_probe = std::make_shared<bool>(false);
  cmd->add_option("--strangers", *strangers, "folder of people nobody enrolled (repeatable): each must be Unknown");
  cmd->add_option("--report", *report_dir,
                  "write the accuracy report (ROC, DET, FNIR/FPIR, distributions, confusion; JSON, SVG, index.html)");
  cmd->add_flag("--mirror-probe", *mirror_probe, "average each face's embedding with its mirror image's (measurement)");
  add_embedder_flags(cmd, *flags);
  add_match_flags(cmd, *flags);
  auto answer = add_answer_flags(cmd);
  cmd->add_flag("--json", flags->json_output, "print JSON");
  cmd->callback([&global, flags, gallery_path, images_dir, labels, strangers, report_dir, mirror_probe, answer] {
    auto engine = load_engine(global, *flags, *gallery_path, true);
    auto& detector = engine.detector;
    auto& embedder = engine.embedder;
    auto& gallery = engine.gallery;
    const float threshold = engine.threshold;
    auto items = labels->empty() ? recognition::labels_from_folders(*images_dir)
                                 : recognition::labels_from_csv(*labels, *images_dir);
    for (const auto& dir : *strangers) {
      auto more = recognition::strangers_from_folder(dir);
      items.insert(items.end(), more.begin(), more.end());
    }
    recognition::EvalReport report;
    json summary;
    if (!report_dir->empty() || *mirror_probe) {
      recognition::ReportOptions ro{.threshold = threshold, .marked = {}, .answer = *answer, .mirror_probe = *mirror_probe};
      if (embedder->id().rfind("faceapi", 0) == 0) ro.marked.push_back(0.6f);  // face-api's customary threshold
      auto full = recognition::accuracy_report(*detector, *embedder, *gallery, items, ro, progress_printer("evaluating"));
      summary = full.summary;
      summary.erase("curves");
      summary.erase("frames");
      if (!report_dir->empty()) {
        recognition::write_report(full, *report_dir);
        std::cerr << "report written to " << *report_dir << "/index.html\n";
      }
      report = std::move(full.frames);
    } else {
      report = recognition::evaluate(*detector, *embedder, *gallery, threshold, items, progress_printer("evaluating"),
                                     *answer);
    }
    const auto warnings = recognition::evaluation_warnings(*gallery, items, report);
    for (const auto& w : warnings) spdlog::warn("eval: {}", w);
    if (flags->json_output) {
      json j = report.to_json();
      if (!summary.is_null()) j["report"] = summary;
      j["warnings"] = warnings;
      j["threshold"] = threshold;
      j["embedder"] = embedder->id();
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("images {}  correct {}  wrong {}  unknown {}  no face {}  errors {}\n", report.total,
                             report.correct, report.wrong, report.unknown, report.no_face, report.errors);
    std::cout << fmt::format("accuracy {:.2f}%  unknown rate {:.2f}%  (threshold {:.3f}, {})\n",
                             100 * report.accuracy(), 100 * report.unknown_rate(), threshold, embedder->id());
    if (!summary.is_null()) {
      const auto& v = summary["verification"];
      const auto& id = summary["identification"];
      std::cout << fmt::format("verification: TAR@FAR=1e-2 {:.4f}  TAR@FAR=1e-3 {:.4f}  EER {:.4f}  d' {:.2f}\n",
                               v["tar_at_far"]["1e-2"].get<double>(), v["tar_at_far"]["1e-3"].get<double>(),
                               v["eer"].get<double>(), v["d_prime"].get<double>());
      std::cout << fmt::format("identification: rank-1 {:.4f}  FNIR@FPIR=1e-2 {:.4f}  FNIR@FPIR=1e-3 {:.4f}  "
                               "strangers admitted {}\n",
                               id["rank1"].get<double>(), id["fnir_at_fpir"]["1e-2"].get<double>(),
                               id["fnir_at_fpir"]["1e-3"].get<double>(), summary["strangers_admitted"].get<int>());
    }
    std::cout << "confusion (expected -> answered: count)\n";
    for (const auto& [expected, row] : report.confusion)
      for (const auto& [answered, count] : row)
        std::cout << fmt::format("  {:<20} -> {:<20} {}\n", expected, answered, count);
  });
}

}  // namespace

void register_recognition_commands(CLI::App& app, GlobalOptions& global) {
  register_embed(app, global);
  register_enroll(app, global);
  register_recognize(app, global);
  register_eval(app, global);
}

}  // namespace facepipe::cli
