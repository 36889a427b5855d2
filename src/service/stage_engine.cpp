#include "service/stage_engine.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "recognition/thresholds.h"

namespace facepipe::service {

StageEngine load_stage_engine(const StageEngineOptions& o) {
  StageEngine e;
  engine::EngineOptions opts;
  opts.models_dir = o.models_dir;
  opts.embedder = o.embedder;
  opts.irv1_crop_size = o.irv1_crop_size;
  opts.precision = o.precision;
  opts.detector_precision = o.detector_precision;
  const bool gallery_exists = !o.gallery_path.empty() && std::filesystem::exists(o.gallery_path);
  if (o.need_gallery || !o.gallery_path.empty()) {
    if (o.gallery_path.empty())
      throw Error(ErrorKind::kInvalidInput,
                  "no gallery: pass --gallery G.db (make one with `facepipe enroll --gallery G.db --folder "
                  "people/`), or run only the queues with --queues-only");
    if (!gallery_exists && !o.create_gallery)
      throw Error(ErrorKind::kNotFound,
                  "gallery '" + o.gallery_path +
                      "' does not exist; enrol people first (facepipe enroll --gallery PATH ...) or import "
                      "them (facepipe gallery import), and pass --gallery");
    if (gallery_exists) {
      e.gallery = o.read_only_gallery ? gallery::Gallery::open_read_only(o.gallery_path)
                                      : gallery::Gallery::open(o.gallery_path);
      if (e.gallery->people().empty() && !o.create_gallery)
        throw Error(ErrorKind::kInvalidInput,
                    "gallery '" + o.gallery_path + "' has nobody in it; enrol people first");
      if (!o.embedder_must_match || o.embedder == engine::EmbedderKind::kAuto)
        opts = engine::options_for_embedder_id(e.gallery->embedder_id(), opts);
    }
  }
  if (o.need_detector) e.detector = engine::make_detector(opts);
  if (!o.need_embedder) return e;
  e.embedder = engine::make_embedder(opts);
  if (e.gallery && e.embedder->id() != e.gallery->embedder_id())
    throw Error(ErrorKind::kConflict, "gallery '" + o.gallery_path + "' was made by embedder '" +
                                          e.gallery->embedder_id() + "' but '" + e.embedder->id() +
                                          "' was chosen; drop --embedder or re-enroll");
  if (!e.gallery && o.create_gallery && !o.gallery_path.empty()) {
    e.gallery = gallery::Gallery::open(o.gallery_path, e.embedder->id());
    spdlog::info("engine: created an empty gallery '{}' for {}", o.gallery_path, e.embedder->id());
  }
  e.threshold = o.threshold ? *o.threshold : recognition::default_threshold(e.embedder->id());
  spdlog::info("engine: embedder {} ({}), threshold {}{}", e.embedder->id(), nn::to_string(opts.precision),
               e.threshold,
               e.detector ? ", detector MTCNN (" + nn::to_string(opts.detector_precision) + ")" : "");
  return e;
}

}  // namespace facepipe::service
