// facepipe detect: MTCNN on images, boxes / probabilities / landmarks as a table or JSON.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "face/engine.h"
#include "image/decode.h"

namespace facepipe::cli {

void register_engine_commands(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("detect", "find faces (MTCNN, facenet-pytorch semantics), largest first");
  auto images = std::make_shared<std::vector<std::string>>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("images", *images, "image files (JPEG, PNG)")->required();
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([&global, images, as_json] {
    face::EngineOptions options;
    options.models_dir = global.models_dir;
    auto detector = face::make_detector(options);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& path : *images) {
      const cv::Mat rgb = image::load_rgb(path);
      nlohmann::json faces = nlohmann::json::array();
      for (const auto& f : detector->detect(rgb)) {
        nlohmann::json lm = nlohmann::json::array();
        for (const auto& p : f.landmarks) lm.push_back({p.x, p.y});
        faces.push_back({{"box", {f.box.x1, f.box.y1, f.box.x2, f.box.y2}}, {"prob", f.prob}, {"landmarks", lm}});
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
        const std::string box = fmt::format("[{:.1f},{:.1f},{:.1f},{:.1f}]", f["box"][0].get<float>(),
                                            f["box"][1].get<float>(), f["box"][2].get<float>(), f["box"][3].get<float>());
        std::cout << fmt::format("{:<44} {:>4}  {:<28} {:>7.4f}\n", r["image"].get<std::string>(), i++, box,
                                 f["prob"].get<float>());
      }
    }
  });
}

}  // namespace facepipe::cli
