// InceptionResnetV1 against facenet-pytorch: the random-weight state dict on the golden crops.
#include "models/inception_resnet_v1.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "nn/resample.h"
#include "testutil/testutil.h"

namespace facepipe::models {
namespace {

class Irv1Golden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto set = facepipe::testing::irv1_golden();
    net_ = InceptionResnetV1::load(set.weights).release();
    for (auto& c : set.cases)
      cases_.push_back(
          {std::move(c.crop), std::move(c.embedding_240), std::move(c.embedding_160_area), c.name});
  }
  static void TearDownTestSuite() { delete net_; }
  struct Case {
    std::vector<float> crop, emb240, emb160;
    std::string name;
  };
  static float max_abs(const float* a, const std::vector<float>& b) {
    float m = 0;
    for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  }
  static inline InceptionResnetV1* net_ = nullptr;
  static inline std::vector<Case> cases_;
};

TEST_F(Irv1Golden, EmbeddingsAt240MatchPyTorchWithin1e4) {
  ASSERT_EQ(cases_.size(), 27u);
  float worst = 0;
  for (const auto& c : cases_) {
    ASSERT_EQ(c.crop.size(), 3u * 240 * 240);
    const auto e = net_->forward(c.crop.data(), 1, 240);
    const float err = max_abs(e.data(), c.emb240);
    worst = std::max(worst, err);
    EXPECT_LT(err, 1e-4f) << c.name;
  }
  std::cout << "max abs error at 240: " << worst << "\n";
}

TEST_F(Irv1Golden, EmbeddingsAfterAreaResizeTo160MatchPyTorchWithin1e4) {
  float worst = 0;
  for (const auto& c : cases_) {
    std::vector<float> small(3 * 160 * 160);
    nn::adaptive_avg_pool2d(c.crop.data(), 3, 240, 240, small.data(), 160, 160);
    const auto e = net_->forward(small.data(), 1, 160);
    const float err = max_abs(e.data(), c.emb160);
    worst = std::max(worst, err);
    EXPECT_LT(err, 1e-4f) << c.name;
  }
  std::cout << "max abs error at 160 (area): " << worst << "\n";
}

TEST_F(Irv1Golden, ABatchOfEightEqualsOneByOne) {
  std::vector<float> batch;
  for (size_t i = 0; i < 8; ++i) batch.insert(batch.end(), cases_[i].crop.begin(), cases_[i].crop.end());
  const auto out = net_->forward(batch.data(), 8, 240);
  ASSERT_EQ(out.size(), 8u * 512);
  for (size_t i = 0; i < 8; ++i) EXPECT_LT(max_abs(out.data() + i * 512, cases_[i].emb240), 1e-4f) << i;
}

TEST_F(Irv1Golden, EmbeddingsAreUnitLength) {
  const auto e = net_->forward(cases_[0].crop.data(), 1, 240);
  double n = 0;
  for (float v : e) n += double(v) * v;
  EXPECT_NEAR(std::sqrt(n), 1.0, 1e-5);
  EXPECT_EQ(net_->id(), "irv1-random-seed0-legacy/box240");
}

TEST(Irv1, RefusesAFileOfAnotherNetwork) {
  EXPECT_THROW(InceptionResnetV1::load(facepipe::testing::shared_models() / "mtcnn/onet.pt"), Error);
  EXPECT_THROW(InceptionResnetV1::load(facepipe::testing::shared_models() / "inception_resnet_v1/random-seed0-legacy.pt", 200),
               Error);
}

}  // namespace
}  // namespace facepipe::models
