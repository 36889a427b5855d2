// Acceptance: the engine recognises people it was shown a few photos of, and nobody else.
// Enrol each person of datasets/video_frames from 3 frames; every other frame must come back as that
// person, and the faces in datasets/misc (people nobody enrolled) must come back Unknown.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/loader.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "recognition/enroll.h"
#include "recognition/evaluate.h"
#include "recognition/pipeline.h"
#include "recognition/thresholds.h"
#include "testutil/testutil.h"

namespace facepipe::recognition {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::datasets;
using facepipe::testing::shared_models;

class RecognitionAcceptance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::EngineOptions options;
    options.models_dir = shared_models().string();
    options.embedder = engine::EmbedderKind::kFaceApi;  // the embedder with real weights here (VGGFace2
                                                        // cannot be downloaded)
    detector_ = engine::make_detector(options).release();
    embedder_ = engine::make_embedder(options).release();
    gallery_ = gallery::Gallery::in_memory(embedder_->id()).release();
    auto sources = sources_from_folder(datasets() / "video_frames", 3);
    ASSERT_EQ(sources.size(), 4u);
    for (const auto& r : enroll(*gallery_, *detector_, *embedder_, sources)) ASSERT_EQ(r.enrolled, 3) << r.name;
  }
  static void TearDownTestSuite() {
    delete gallery_;
    delete embedder_;
    delete detector_;
  }
  static inline face::Detector* detector_ = nullptr;
  static inline face::Embedder* embedder_ = nullptr;
  static inline gallery::Gallery* gallery_ = nullptr;
};

TEST_F(RecognitionAcceptance, EveryOtherFrameIsRecognisedAsItsPerson) {
  std::vector<LabeledImage> rest;
  for (const auto& source : sources_from_folder(datasets() / "video_frames"))
    for (size_t i = 3; i < source.images.size(); ++i) rest.push_back({source.images[i], source.name});
  ASSERT_GE(rest.size(), 50u);
  const float threshold = default_threshold(embedder_->id());
  ASSERT_GT(threshold, 0);
  EvalReport report = evaluate(*detector_, *embedder_, *gallery_, threshold, rest);
  EXPECT_EQ(report.correct, report.total) << report.to_json().dump(2);
  EXPECT_EQ(report.no_face, 0);
}

TEST_F(RecognitionAcceptance, StrangersAreUnknown) {
  const float threshold = default_threshold(embedder_->id());
  int faces_seen = 0;
  for (const char* name : {"misc/multiface.jpg", "misc/kate_siegel.jpg"}) {
    const cv::Mat rgb = image::load_rgb(datasets() / name);
    for (const auto& f : recognize(*detector_, *embedder_, *gallery_, rgb, threshold, /*largest_only=*/false)) {
      ++faces_seen;
      EXPECT_EQ(f.match.name, gallery::kUnknown)
          << name << ": face at " << f.detection.box.x1 << "," << f.detection.box.y1 << " matched "
          << f.match.nearest << " at distance " << f.match.distance << " (threshold " << threshold << ")";
    }
  }
  EXPECT_GE(faces_seen, 7);  // six in the group photo, one portrait
}

TEST_F(RecognitionAcceptance, AlwaysNearestRestoresTheSeedBehaviour) {
  const cv::Mat rgb = image::load_rgb(datasets() / "misc/kate_siegel.jpg");
  auto faces = recognize(*detector_, *embedder_, *gallery_, rgb, /*threshold=*/0, /*largest_only=*/true);
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_NE(faces[0].match.name, gallery::kUnknown);
  EXPECT_EQ(faces[0].match.name, faces[0].match.nearest);
}

TEST(Enroll, SourcesFromPairsValidateTheirInput) {
  EXPECT_THROW(sources_from_pairs({"no-equals-sign"}), Error);
  EXPECT_THROW(sources_from_pairs({"=x.jpg"}), Error);
  EXPECT_THROW(sources_from_pairs({"Bob=/does/not/exist.jpg"}), Error);
  const auto frames = datasets() / "video_frames";
  auto s = sources_from_pairs({"Bean=" + (frames / "Bean/frame_001.jpg").string(),
                               "Bean=" + (frames / "Bean/frame_002.jpg").string(), "Obama=" + (frames / "Obama").string()});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "Bean");
  EXPECT_EQ(s[0].images.size(), 2u);
  EXPECT_GT(s[1].images.size(), 5u);
}

TEST(Enroll, LabelsCsvInTheCourseFormatResolvesImageNames) {
  auto items = labels_from_csv(datasets() / "face_images_1000/labels.csv", datasets() / "face_images_1000");
  ASSERT_EQ(items.size(), 1000u);
  EXPECT_EQ(items[0].path.filename(), "test_000.jpg");
  EXPECT_EQ(items[0].expected, "Paul");
  EXPECT_THROW(labels_from_csv(datasets() / "nope.csv", datasets()), Error);
}

}  // namespace
}  // namespace facepipe::recognition
