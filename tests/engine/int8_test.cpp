// Fidelity of --precision int8 against fp32 on the golden data, and the committed calibration tables'
// freshness. fp32 is facenet-pytorch's own output (../shared/golden) for InceptionResnetV1 and facepipe's
// fp32 for face-api (which matches face-api.js, tests/engine/faceapi_parity_test.cpp). Skipped on a CPU
// without VNNI units, where the option is refused (tests/nn/precision_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "engine/calibrate.h"
#include "engine/loader.h"
#include "engine/mtcnn.h"
#include "face/embedder.h"
#include "image/decode.h"
#include "models/faceapi_resnet.h"
#include "models/inception_resnet_v1.h"
#include "nn/calibration.h"
#include "testutil/testutil.h"

namespace facepipe::engine {
namespace {

using facepipe::testing::datasets;
using facepipe::testing::golden;
using facepipe::testing::read_json;
using facepipe::testing::shared_models;

constexpr double kInt8MinCosine = 0.99;

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

struct Summary {
  double min = 1, sum = 0;
  int n = 0;
  void add(double c) {
    min = std::min(min, c);
    sum += c;
    ++n;
  }
  void print(const std::string& what) const {
    std::cout << what << ": " << n << " embeddings, cosine to fp32 min " << min << " mean " << sum / n
              << "\n";
  }
};

class Int8 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!nn::cpu_supports(nn::Precision::kInt8))
      GTEST_SKIP() << "no VNNI units on this CPU (" << nn::cpu_isa_name() << "): --precision int8 is refused";
  }
};

TEST_F(Int8, InceptionResnetV1EmbeddingsKeepCosine099ToPyTorchOnTheGoldenCrops) {
  const auto golden_set = facepipe::testing::irv1_golden();
  auto int8 = models::InceptionResnetV1::load(golden_set.weights, 240, nn::Precision::kInt8);
  std::vector<double> mean(512, 0);
  for (const auto& e : golden_set.cases)
    for (size_t k = 0; k < 512; ++k) mean[k] += e.embedding_240[k] / double(golden_set.cases.size());
  Summary raw, centred;
  double largest_diff = 0;
  std::vector<float> crops;
  for (const auto& e : golden_set.cases) {
    const auto& want = e.embedding_240;
    const auto got = int8->forward(e.crop.data(), 1, 240);
    ASSERT_EQ(got.size(), 512u);
    const double c = cosine(got.data(), want.data(), 512);
    raw.add(c);
    EXPECT_GE(c, kInt8MinCosine) << e.name;
    std::vector<float> a(512), b(512);
    for (size_t k = 0; k < 512; ++k) {
      a[k] = static_cast<float>(got[k] - mean[k]);
      b[k] = static_cast<float>(want[k] - mean[k]);
      largest_diff = std::max(largest_diff, double(std::abs(got[k] - want[k])));
    }
    centred.add(cosine(a.data(), b.data(), 512));
    crops.insert(crops.end(), e.crop.begin(), e.crop.end());
  }
  ASSERT_EQ(raw.n, 27);
  raw.print("InceptionResnetV1 240 int8, batch 1");
  // With random weights the embeddings of different faces are nearly equal (tests/engine/precision_test.cpp
  // says why); their differences from the mean are what int8 would have to keep: a figure, like bf16's.
  centred.print("InceptionResnetV1 240 int8, centred on the mean PyTorch embedding");
  EXPECT_GT(largest_diff, 1e-4);  // it did compute in int8: fp32 matches PyTorch within 1e-4
  // A batch quantises each image as one does alone (per-tensor scales from the table, not the batch).
  const auto batch = int8->forward(crops.data(), 8, 240);
  for (size_t i = 0; i < 8; ++i) {
    const auto one = int8->forward(crops.data() + i * 3 * 240 * 240, 1, 240);
    EXPECT_GE(cosine(batch.data() + i * 512, one.data(), 512), 0.9999) << i;
  }
}

TEST_F(Int8, FaceApiDescriptorsKeepCosine099ToFp32AndTheirDistancesOnTheGoldenImages) {
  const auto spec = read_json(golden() / "irv1_random_embeddings.json");
  Mtcnn mtcnn(shared_models() / "mtcnn");
  const auto manifest = shared_models() / "faceapi/face_recognition_model-weights_manifest.json";
  auto fp32 = models::FaceApiResNet::load(manifest, nn::Precision::kF32);
  auto int8 = models::FaceApiResNet::load(manifest, nn::Precision::kInt8);
  std::vector<cv::Mat> chips;
  for (const auto& c : spec["crops"]) {
    const cv::Mat rgb = image::load_rgb(datasets() / c["image"].get<std::string>());
    for (const auto& f : mtcnn.detect(rgb)) chips.push_back(face::extract_crop(rgb, f, fp32->crop_spec()));
  }
  ASSERT_GE(chips.size(), 27u);
  const auto want = fp32->embed(chips);
  const auto got = int8->embed(chips);
  Summary s;
  double worst_distance_change = 0, largest_diff = 0;
  for (size_t i = 0; i < chips.size(); ++i) {
    const double c = cosine(got[i].data(), want[i].data(), 128);
    s.add(c);
    EXPECT_GE(c, kInt8MinCosine) << "chip " << i;
    double d = 0;
    for (size_t k = 0; k < 128; ++k) {
      d += double(got[i][k] - want[i][k]) * (got[i][k] - want[i][k]);
      largest_diff = std::max(largest_diff, double(std::abs(got[i][k] - want[i][k])));
    }
    worst_distance_change = std::max(worst_distance_change, std::sqrt(d));
  }
  s.print("face-api int8");
  std::cout << "face-api int8: largest Euclidean distance to its fp32 descriptor " << worst_distance_change
            << "\n";
  EXPECT_GT(largest_diff, 1e-5);  // it did compute in int8
  // The bundled data's margins around face-api's threshold 0.5 are 0.12 and 0.09 (precision_test.cpp):
  // a change under half the smaller cannot move an answer across it.
  EXPECT_LT(worst_distance_change, 0.045);
}

// The tables compiled in (calibration/*.json) are what `facepipe calibrate` makes today from the frames
// each names: a change to a network's layers or to calibration cannot leave them stale.
TEST_F(Int8, CommittedCalibrationTablesAreWhatCalibrateMakesFromTheirFrames) {
  for (const EmbedderKind kind : {EmbedderKind::kIrv1Random, EmbedderKind::kFaceApi}) {
    EngineOptions options;
    options.models_dir = shared_models().string();
    options.embedder = kind;
    const std::string network = make_embedder(options)->id();
    const nn::CalibrationTable committed = nn::find_calibration(network, embedder_weights_bytes(options));
    ASSERT_GE(committed.frames.size(), 8u) << network;
    std::vector<std::filesystem::path> frames;
    for (const auto& f : committed.frames) frames.push_back(datasets() / "video_frames" / f);
    const nn::CalibrationTable fresh = calibrate_int8(options, frames);
    EXPECT_EQ(fresh.network, committed.network);
    EXPECT_EQ(fresh.source, committed.source);
    ASSERT_EQ(fresh.input_max.size(), committed.input_max.size()) << network;
    for (const auto& [layer, max] : committed.input_max) {
      ASSERT_TRUE(fresh.input_max.count(layer)) << network << " " << layer;
      // fp32 convolutions sum in an order that depends on the thread count: equal to 1e-4.
      EXPECT_NEAR(fresh.input_max.at(layer), max, 1e-4 * max) << network << " " << layer;
    }
  }
}

}  // namespace
}  // namespace facepipe::engine
