#include "service/stage_engine.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "engine/loader.h"
#include "recognition/thresholds.h"

namespace facepipe::service {

StageEngine load_stage_engine(const StageEngineOptions& o) {
  StageEngine e;
  face::EngineOptions opts;
  opts.models_dir = o.models_dir;
  opts.embedder = o.embedder;
  if (o.allow_empty_gallery && !o.gallery_path.empty() && !std::filesystem::exists(o.gallery_path)) {
    const std::string id = face::make_embedder(opts)->id();
    gallery::Gallery::open(o.gallery_path, id);
    spdlog::info("engine: created an empty gallery '{}' for {}", o.gallery_path, id);
  }
  if (o.need_gallery || !o.gallery_path.empty()) {
    if (o.gallery_path.empty())
      throw Error(ErrorKind::kInvalidInput,
                  "no gallery: pass --gallery G.db (make one with `facepipe enroll --gallery G.db --folder "
                  "people/`), or run only the queues with --queues-only");
    if (!std::filesystem::exists(o.gallery_path))
      throw Error(ErrorKind::kNotFound,
                  "gallery '" + o.gallery_path +
                      "' does not exist; enrol people first (facepipe enroll) and pass --gallery");
    e.gallery = o.read_only_gallery ? gallery::Gallery::open_read_only(o.gallery_path)
                                    : gallery::Gallery::open(o.gallery_path);
    if (e.gallery->people().empty() && !o.allow_empty_gallery)
      throw Error(ErrorKind::kInvalidInput,
                  "gallery '" + o.gallery_path + "' has nobody in it; enrol people first");
    opts = face::options_for_embedder_id(e.gallery->embedder_id(), opts);
  }
  if (o.need_detector) e.detector = face::make_detector(opts);
  e.embedder = face::make_embedder(opts);
  e.threshold = o.threshold ? *o.threshold : recognition::default_threshold(e.embedder->id());
  spdlog::info("engine: embedder {}, threshold {}", e.embedder->id(), e.threshold);
  return e;
}

}  // namespace facepipe::service
