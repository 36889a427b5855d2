// MTCNN against facenet-pytorch's outputs on every golden image, and the face crops it cuts.
#include <gtest/gtest.h>

#include <cmath>

#include "face/embedder.h"
#include "engine/mtcnn.h"
#include "image/decode.h"
#include "models/inception_resnet_v1.h"
#include "testutil/testutil.h"

namespace facepipe::engine {

using namespace facepipe::face;  // the contracts the engine implements
namespace {

using facepipe::testing::datasets;
using facepipe::testing::golden;
using facepipe::testing::read_f32;
using facepipe::testing::read_json;
using facepipe::testing::shared_models;

class MtcnnGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mtcnn_ = new Mtcnn(shared_models() / "mtcnn"); }
  static void TearDownTestSuite() { delete mtcnn_; }
  static inline Mtcnn* mtcnn_ = nullptr;
};

TEST_F(MtcnnGolden, AllGoldenImagesMatchFacenetPytorch) {
  const auto golden_json = read_json(golden() / "mtcnn_detect.json");
  const auto& images = golden_json["images"];
  ASSERT_GE(images.size(), 1000u);
  int same_count = 0, total = 0, faces_compared = 0, faces_off = 0;
  float worst_box = 0, worst_landmark = 0, worst_prob = 0;
  std::vector<std::string> count_mismatches, value_mismatches;
  for (const auto& [rel, expected] : images.items()) {
    ++total;
    const cv::Mat rgb = image::load_rgb(datasets() / rel);
    const auto faces = mtcnn_->detect(rgb);
    const size_t want = expected.is_null() ? 0 : expected["boxes"].size();
    if (faces.size() != want) {
      count_mismatches.push_back(rel + " (" + std::to_string(faces.size()) + " vs " + std::to_string(want) + ")");
      continue;
    }
    ++same_count;
    for (size_t i = 0; i < want; ++i) {
      const auto& b = expected["boxes"][i];
      const auto& lm = expected["landmarks"][i];
      const Detection& d = faces[i];
      const float box_err = std::max({std::abs(d.box.x1 - b[0].get<float>()), std::abs(d.box.y1 - b[1].get<float>()),
                                      std::abs(d.box.x2 - b[2].get<float>()), std::abs(d.box.y2 - b[3].get<float>())});
      float lm_err = 0;
      for (int p = 0; p < 5; ++p)
        lm_err = std::max({lm_err, std::abs(d.landmarks[p].x - lm[p][0].get<float>()),
                           std::abs(d.landmarks[p].y - lm[p][1].get<float>())});
      const float prob_err = std::abs(d.prob - expected["probs"][i].get<float>());
      worst_box = std::max(worst_box, box_err);
      worst_landmark = std::max(worst_landmark, lm_err);
      worst_prob = std::max(worst_prob, prob_err);
      ++faces_compared;
      if (box_err > 1 || lm_err > 1 || prob_err > 1e-3f) {
        ++faces_off;
        value_mismatches.push_back(rel + " face " + std::to_string(i) + ": box " + std::to_string(box_err) +
                                   " landmarks " + std::to_string(lm_err) + " prob " + std::to_string(prob_err));
      }
    }
  }
  std::cout << "images " << total << ", same face count " << same_count << ", faces compared " << faces_compared
            << ", max errors: box " << worst_box << " px, landmarks " << worst_landmark << " px, prob " << worst_prob
            << "\n";
  for (const auto& m : count_mismatches) std::cout << "  count differs: " << m << "\n";
  for (const auto& m : value_mismatches) std::cout << "  values differ: " << m << "\n";
  EXPECT_GE(same_count, static_cast<int>(std::ceil(0.99 * total)));
  EXPECT_EQ(faces_off, 0);
}

TEST_F(MtcnnGolden, LargestFaceCropsMatchTheGoldenTensors) {
  const auto spec = read_json(golden() / "irv1_random_embeddings.json");
  float worst = 0;
  for (const auto& c : spec["crops"]) {
    const cv::Mat rgb = image::load_rgb(datasets() / c["image"].get<std::string>());
    const auto faces = mtcnn_->detect(rgb);
    ASSERT_FALSE(faces.empty()) << c["image"];
    const cv::Mat crop = extract_crop(rgb, faces[static_cast<size_t>(largest_face(faces))], {CropSpec::Method::kBox, 240, 0});
    ASSERT_EQ(crop.rows, 240);
    std::vector<float> mine(3 * 240 * 240);
    models::standardize_chw(crop, mine.data());
    const auto want = read_f32(golden() / c["crop"].get<std::string>());
    ASSERT_EQ(want.size(), mine.size());
    float err = 0;
    for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(want[i] - mine[i]));
    worst = std::max(worst, err);
    EXPECT_LE(err, 0.02f) << c["image"];
  }
  std::cout << "max crop error " << worst << " (one 8-bit level is " << 1 / 128.f << ")\n";
}

TEST_F(MtcnnGolden, KeepsEveryFaceOfAGroupPhotoLargestFirst) {
  const auto faces = mtcnn_->detect(image::load_rgb(datasets() / "misc/multiface.jpg"));
  ASSERT_GE(faces.size(), 6u);
  for (size_t i = 1; i < faces.size(); ++i) EXPECT_GE(faces[i - 1].box.area(), faces[i].box.area());
  EXPECT_EQ(largest_face(faces), 0);
}

TEST_F(MtcnnGolden, AnImageWithoutFacesGivesNone) {
  cv::Mat grey(200, 300, CV_8UC3, cv::Scalar(128, 128, 128));
  EXPECT_TRUE(mtcnn_->detect(grey).empty());
  cv::Mat tiny(5, 5, CV_8UC3, cv::Scalar(0, 0, 0));
  EXPECT_TRUE(mtcnn_->detect(tiny).empty());
}

}  // namespace
}  // namespace facepipe::engine
