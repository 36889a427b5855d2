// The engine of the in-process service tests and benchmarks: the bundled models and an in-memory gallery
// of the four people of video_frames, enrolled from `per_person` frames each, at the given precisions.
#pragma once

#include "gallery/gallery.h"
#include "recognition/enroll.h"
#include "service/stage_engine.h"
#include "testutil/testutil.h"

namespace facepipe::testing {

inline service::StageEngine enrolled_engine(engine::EmbedderKind embedder, int per_person = 3,
                                            nn::Precision precision = nn::Precision::kF32,
                                            nn::Precision detector_precision = nn::Precision::kF32) {
  auto e = service::load_stage_engine({.models_dir = shared_models().string(),
                                       .precision = precision,
                                       .detector_precision = detector_precision,
                                       .embedder = embedder,
                                       .need_gallery = false});
  e.gallery = gallery::Gallery::in_memory(e.embedder->id());
  recognition::enroll(*e.gallery, *e.detector, *e.embedder,
                      recognition::sources_from_folder(datasets() / "video_frames", per_person));
  return e;
}

}  // namespace facepipe::testing
