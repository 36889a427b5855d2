// The engine used from several threads at once, as `serve` uses it (detection in HTTP threads, embedding in
// recognition workers): every result must be bit-identical to the same work done alone. oneDNN's shared
// default scratchpad once made this fail under load (nn/layers.cpp).
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "engine/loader.h"
#include "image/decode.h"
#include "recognition/pipeline.h"
#include "testutil/testutil.h"

namespace facepipe::engine {

using namespace facepipe::face;  // the contracts the engine implements
namespace {

TEST(EngineConcurrency, ParallelDetectionAndEmbeddingGiveTheSameResultsAsAlone) {
  EngineOptions options;
  options.models_dir = facepipe::testing::shared_models().string();
  options.embedder = engine::EmbedderKind::kFaceApi;
  auto detector = make_detector(options);
  auto embedder = make_embedder(options);
  std::vector<cv::Mat> frames;
  for (const char* f :
       {"Bean/frame_010.jpg", "Obama/frame_010.jpg", "Trump/frame_010.jpg", "Freeman/frame_005.jpg"})
    frames.push_back(image::load_rgb(facepipe::testing::datasets() / "video_frames" / f));
  // Alone.
  std::vector<std::vector<Detection>> boxes;
  std::vector<recognition::EmbeddedFace> faces;
  for (const auto& f : frames) {
    boxes.push_back(detector->detect(f));
    faces.push_back(recognition::embed_faces(*detector, *embedder, f, true).at(0));
  }
  // Together: two detecting threads and two embedding threads, several rounds each.
  std::atomic<int> mismatches{0};
  auto detect_all = [&] {
    for (int round = 0; round < 3; ++round)
      for (size_t i = 0; i < frames.size(); ++i) {
        const auto got = detector->detect(frames[i]);
        if (got.size() != boxes[i].size()) {
          ++mismatches;
          continue;
        }
        for (size_t k = 0; k < got.size(); ++k)
          if (got[k].box.x1 != boxes[i][k].box.x1 || got[k].box.y2 != boxes[i][k].box.y2 ||
              got[k].prob != boxes[i][k].prob)
            ++mismatches;
      }
  };
  auto embed_all = [&] {
    for (int round = 0; round < 3; ++round)
      for (size_t i = 0; i < frames.size(); ++i) {
        const auto got = recognition::embed_faces(*detector, *embedder, frames[i], true);
        if (got.size() != 1 || got[0].embedding != faces[i].embedding) ++mismatches;
      }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(detect_all);
  threads.emplace_back(detect_all);
  threads.emplace_back(embed_all);
  threads.emplace_back(embed_all);
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace facepipe::engine
