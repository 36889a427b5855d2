// facepipe detect: MTCNN on images, boxes / probabilities / landmarks as a table or JSON.
// facepipe bench: the engine's per-frame cost on the user's own images (the Google Benchmark binaries in
// bench/ measure the same with the bundled data).
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "engine/calibrate.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "recognition/pipeline.h"
#include "service/stage_engine.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace facepipe::cli {

void register_engine_commands(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("detect", "find faces (MTCNN, facenet-pytorch semantics), largest first");
  auto images = std::make_shared<std::vector<std::string>>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("images", *images, "image files (JPEG, PNG)")->required();
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([&global, images, as_json] {
    auto detector =
        service::load_stage_engine(engine_options(global, {.need_embedder = false, .need_gallery = false}))
            .detector;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& path : *images) {
      const cv::Mat rgb = image::load_rgb(path);
      nlohmann::json faces = nlohmann::json::array();
      for (const auto& f : detector->detect(rgb)) {
        nlohmann::json lm = nlohmann::json::array();
        for (const auto& p : f.landmarks) lm.push_back({p.x, p.y});
        faces.push_back(
            {{"box", {f.box.x1, f.box.y1, f.box.x2, f.box.y2}}, {"prob", f.prob}, {"landmarks", lm}});
      }
      out.push_back({{"image", path}, {"width", rgb.cols}, {"height", rgb.rows}, {"faces", faces}});
    }
    if (*as_json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<44} {:>4}  {:<28} {:>7}\n", "image", "face", "box [x1,y1,x2,y2]", "prob");
    for (const auto& r : out) {
      if (r["faces"].empty()) std::cout << fmt::format("{:<44} {:>4}\n", r["image"].get<std::string>(), "-");
      int i = 0;
      for (const auto& f : r["faces"]) {
        const std::string box =
            fmt::format("[{:.1f},{:.1f},{:.1f},{:.1f}]", f["box"][0].get<float>(), f["box"][1].get<float>(),
                        f["box"][2].get<float>(), f["box"][3].get<float>());
        std::cout << fmt::format("{:<44} {:>4}  {:<28} {:>7.4f}\n", r["image"].get<std::string>(), i++, box,
                                 f["prob"].get<float>());
      }
    }
  });
}

void register_calibrate_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand(
      "calibrate",
      "record an embedder's int8 calibration table (each layer's input range) from frames with faces");
  auto frames = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto embedder = std::make_shared<std::string>("auto");
  cmd->add_option("frames", *frames, "images with faces (JPEG, PNG): e.g. the bundled video frames")
      ->required();
  cmd->add_option("-o,--out", *out, "write the table here (default: standard output)");
  cmd->add_option("--embedder", *embedder, "auto, irv1, faceapi or irv1-random")->capture_default_str();
  cmd->callback([&global, frames, out, embedder] {
    engine::EngineOptions options;
    options.models_dir = global.models_dir;
    options.embedder = engine::parse_embedder_kind(*embedder);
    const std::vector<std::filesystem::path> paths(frames->begin(), frames->end());
    const nn::CalibrationTable table =
        engine::calibrate_int8(options, paths, [](size_t done, size_t total, size_t faces) {
          std::cerr << "\rcalibrate: " << done << "/" << total << " frames, " << faces << " faces"
                    << std::flush;
        });
    std::cerr << "\n";
    const std::string text = nn::to_json(table).dump(2) + "\n";
    if (out->empty()) {
      std::cout << text;
      return;
    }
    std::ofstream file(*out, std::ios::trunc);
    if (!(file << text) || !file.flush())
      throw Error(ErrorKind::kInvalidInput, "cannot write '" + *out + "'; give a writable path with --out");
    std::cerr << "calibrate: wrote " << *out << " (" << table.input_max.size() << " layers of "
              << table.network << "); use it with FACEPIPE_INT8_CALIBRATION=" << *out
              << " --precision int8\n";
  });
}

namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

// Times each detect() of the detector it wraps, so bench can split a frame into detect and the rest as
// the reference's report does (detect / embed).
class TimedDetector : public face::Detector {
 public:
  explicit TimedDetector(std::unique_ptr<face::Detector> inner) : inner_(std::move(inner)) {}
  std::vector<face::Detection> detect(const cv::Mat& rgb) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto faces = inner_->detect(rgb);
    last_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return faces;
  }
  double last_ms = 0;

 private:
  std::unique_ptr<face::Detector> inner_;
};

void register_bench(CLI::App& app, GlobalOptions& global) {
  struct Args {
    std::vector<std::string> images;
    std::string gallery, embedder = "auto";
    int runs = 10;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "bench",
      "time decode + MTCNN + embedding, matching and quality of every face per frame, and peak memory");
  cmd->add_option("images", a->images, "frames (JPEG, PNG), e.g. 720p-1080p camera frames")->required();
  cmd->add_option("--gallery", a->gallery, "gallery to match against (default: a one-person gallery)");
  cmd->add_option("--embedder", a->embedder, "embedder when no gallery names one")->capture_default_str();
  cmd->add_option("--runs", a->runs, "passes over the images (the first is a warm-up)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([&global, a] {
    if (a->runs < 2)
      throw Error(ErrorKind::kInvalidInput, "--runs must be at least 2 (the first pass warms up)");
    // A gallery given names the embedder (and is created when missing); else a one-person one in memory.
    auto loaded = service::load_stage_engine(
        engine_options(global, {.gallery_path = a->gallery,
                                .embedder = engine::parse_embedder_kind(a->embedder),
                                .need_gallery = false,
                                .create_gallery = true}));
    TimedDetector detector(std::move(loaded.detector));
    auto& embedder = loaded.embedder;
    auto& gallery = loaded.gallery;
    if (!gallery) gallery = gallery::Gallery::in_memory(embedder->id());
    std::vector<std::string> bytes;
    bytes.reserve(a->images.size());
    for (const auto& path : a->images) bytes.push_back(read_file(path, "image"));
    const float threshold = loaded.threshold;
    // decode + detect is what the reference's "detect" covers (it times PIL's decode with MTCNN).
    std::vector<double> decode_ms, detect_ms, decode_detect_ms, embed_ms, frame_ms;
    using clock = std::chrono::steady_clock;
    for (int run = 0; run < a->runs; ++run) {
      for (const auto& b : bytes) {
        const auto t0 = clock::now();
        const cv::Mat rgb = image::decode(b);
        const auto t1 = clock::now();
        if (gallery->people().empty()) {  // a one-person gallery from the first face seen (warm-up pass)
          auto faces = recognition::embed_faces(detector, *embedder, rgb, true);
          if (!faces.empty()) gallery->add("someone", faces[0].embedding);
        }
        // As the service answers a frame: every face embedded, matched, its quality assessed.
        (void)recognition::answer_frame(detector, *embedder, *gallery, rgb, threshold,
                                        recognition::AnswerOptions{});
        const auto t2 = clock::now();
        if (run == 0) continue;
        decode_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        frame_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
        detect_ms.push_back(detector.last_ms);
        decode_detect_ms.push_back(decode_ms.back() + detector.last_ms);
        embed_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count() - detector.last_ms);
      }
      std::fprintf(stderr, "\rbench: pass %d/%d", run + 1, a->runs);
    }
    std::fprintf(stderr, "\n");
    if (gallery->people().empty())  // frames without faces are timed too: decode and detection alone
      std::fprintf(stderr, "bench: no face in any image, so nothing was embedded or matched\n");
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const nlohmann::json report = {{"frames", frame_ms.size()},
                                   {"images", a->images.size()},
                                   {"passes", a->runs - 1},
                                   {"embedder", embedder->id()},
                                   {"precision", nn::to_string(global.precision)},
                                   {"detector_precision", nn::to_string(global.detector_precision)},
                                   {"decode_ms_median", percentile(decode_ms, 0.5)},
                                   {"detect_ms_median", percentile(detect_ms, 0.5)},
                                   {"decode_detect_ms_median", percentile(decode_detect_ms, 0.5)},
                                   {"embed_ms_median", percentile(embed_ms, 0.5)},
                                   {"frame_ms_median", percentile(frame_ms, 0.5)},
                                   {"frame_ms_p90", percentile(frame_ms, 0.9)},
                                   {"peak_rss_mb", static_cast<double>(usage.ru_maxrss) / 1024.0}};
    if (a->json) {
      std::cout << report.dump() << "\n";
      return;
    }
    std::cout << fmt::format(
        "{} images × {} passes = {} frames timed (after 1 warm-up pass), {} ({}, detector {})\n"
        "decode + detect + embed + match  median {:.1f} ms  p90 {:.1f} ms  (medians: decode {:.1f} ms, "
        "detect {:.1f} ms, embed + match {:.1f} ms)\n"
        "peak memory {:.0f} MB\n",
        a->images.size(), a->runs - 1, frame_ms.size(), embedder->id(), nn::to_string(global.precision),
        nn::to_string(global.detector_precision), report["frame_ms_median"].get<double>(),
        report["frame_ms_p90"].get<double>(), report["decode_ms_median"].get<double>(),
        report["detect_ms_median"].get<double>(), report["embed_ms_median"].get<double>(),
        report["peak_rss_mb"].get<double>());
  });
}

}  // namespace

void register_bench_command(CLI::App& app, GlobalOptions& global) { register_bench(app, global); }

}  // namespace facepipe::cli
