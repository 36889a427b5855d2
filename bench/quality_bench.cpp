// What the answer policy adds to a frame: the quality gate of one face (landmark geometry, pose, the
// Laplacian variance of its crop) and the policy's choice. Compare with engine_bench's Frame figures
// (detection + embedding), which this cost rides on; it must stay far under the 2 ms a frame allowed.
#include <benchmark/benchmark.h>

#include "service/stage_engine.h"
#include "image/decode.h"
#include "recognition/answer_policy.h"
#include "recognition/quality.h"
#include "testutil/testutil.h"

namespace {

using namespace facepipe;

struct Face {
  face::Detection detection;
  cv::Mat crop;
  int width = 0, height = 0;
};

const Face& bundled_face() {
  static const Face f = [] {
    auto engine = service::load_stage_engine({.models_dir = testing::shared_models().string(),
                                              .embedder = engine::EmbedderKind::kFaceApi,
                                              .need_gallery = false});
    auto& detector = engine.detector;
    auto& embedder = engine.embedder;
    const cv::Mat rgb = image::load_rgb(testing::datasets() / "video_frames/Obama/frame_004.jpg");
    Face out;
    out.detection = detector->detect(rgb).at(0);
    out.crop = face::extract_crop(rgb, out.detection, embedder->crop_spec());
    out.width = rgb.cols, out.height = rgb.rows;
    return out;
  }();
  return f;
}

void BM_AssessQuality(benchmark::State& state) {
  const Face& f = bundled_face();
  const recognition::QualityBounds bounds;
  for (auto _ : state)
    benchmark::DoNotOptimize(recognition::assess_quality(f.detection, f.width, f.height, f.crop, bounds));
}
BENCHMARK(BM_AssessQuality)->Unit(benchmark::kMicrosecond);

void BM_DecideAmongSixFaces(benchmark::State& state) {
  std::vector<recognition::FaceAnswer> faces(6);
  for (size_t i = 0; i < faces.size(); ++i) {
    faces[i].detection.box = {0, 0, 10.0f * (i + 1), 10.0f * (i + 1)};
    faces[i].match = {i % 2 ? "Someone" : "Unknown", 0.1f * i, "Someone"};
  }
  for (auto _ : state) benchmark::DoNotOptimize(recognition::decide(faces, recognition::AnswerPolicy::kKnown));
}
BENCHMARK(BM_DecideAmongSixFaces)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
