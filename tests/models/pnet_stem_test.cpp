// PNet's fused first stage (models/pnet_stem.h) against oneDNN's convolution, PReLU and ceil-mode max
// pooling run as separate layers (the path MTCNN took before), on a real frame's pyramid level and on odd
// sizes whose last pooling windows are partial.
#include "models/pnet_stem.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "nn/layers.h"
#include "nn/prelu_pool.h"
#include "weights/torch_file.h"
#include "testutil/testutil.h"

namespace facepipe::models {
namespace {

TEST(PnetStem, MatchesConvPreluAndPoolAsSeparateLayers) {
  const auto sd = weights::load_state_dict(facepipe::testing::shared_models() / "mtcnn/pnet.pt");
  const auto& w = weights::expect(sd, "conv1.weight", {10, 3, 3, 3});
  const auto& b = weights::expect(sd, "conv1.bias", {10});
  const auto& a = weights::expect(sd, "prelu1.weight", {10});
  const PnetStem stem(w, b.data, a.data);
  nn::Conv2d conv(nn::ConvSpec{10, 3, 3, 3, 1, 0, 0, false}, w, b.data, nullptr, nn::Activation::kNone);
  const nn::PreluMaxPool2d pool(a.data, 2, 2, true);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-1.f, 1.f);  // MTCNN's normalised pixels
  for (const auto& [h, w_] : {std::pair{4, 4}, std::pair{12, 12}, std::pair{13, 17}, std::pair{57, 100},
                              std::pair{324, 577}}) {
    const int height = h, width = w_;
    std::vector<float> planar(static_cast<size_t>(3) * height * width + PnetStem::kReadPastEnd);
    for (float& v : planar) v = value(rng);
    std::vector<float> got;
    int oh = 0, ow = 0;
    stem.forward(planar.data(), height, width, got, oh, ow);
    dnnl::stream s(nn::cpu_engine());
    const auto want_act = pool.forward(s, conv.forward(s, nn::from_nchw(planar.data(), 1, 3, height, width)));
    const auto d = want_act.dims();
    ASSERT_EQ(oh, d[2]) << height << "x" << width;
    ASSERT_EQ(ow, d[3]) << height << "x" << width;
    const std::vector<float> want = nn::to_nchw(s, want_act);  // 10 x oh x ow
    float worst = 0;
    for (int c = 0; c < 10; ++c)
      for (int i = 0; i < oh * ow; ++i)
      {
        const float expected = want[static_cast<size_t>(c) * oh * ow + i];
        worst = std::max(worst, std::abs(got[static_cast<size_t>(i) * 10 + c] - expected) / (1 + std::abs(expected)));
      }
    // Float rounding of a 27-term sum in another order: a few ulps, relative to the value (or to 1).
    EXPECT_LT(worst, 1e-6f) << height << "x" << width;
  }
}

TEST(PnetStem, RefusesWrongWeightsOrATooSmallInput) {
  weights::Tensor wrong{{10, 3, 5, 5}, std::vector<float>(750)};
  EXPECT_THROW(PnetStem(wrong, std::vector<float>(10), std::vector<float>(10)), Error);
  weights::Tensor w{{10, 3, 3, 3}, std::vector<float>(270)};
  const PnetStem stem(w, std::vector<float>(10), std::vector<float>(10));
  std::vector<float> in(3 * 3 * 3 + PnetStem::kReadPastEnd), out;
  int oh = 0, ow = 0;
  EXPECT_THROW(stem.forward(in.data(), 3, 3, out, oh, ow), Error);
}

}  // namespace
}  // namespace facepipe::models
