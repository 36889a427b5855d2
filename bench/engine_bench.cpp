// Engine speed: decode, MTCNN, the embedders, and one whole frame (decode + detect + embed + match).
// These are facepipe's own figures, to compare versions of it; against the Python reference, measure
// both in the same run on the same frames with scripts/compare-reference.sh (the reference's speed moves
// with the machine and the day).
//   build/engine_bench --benchmark_min_time=2
// The embedders run at each precision (nn/precision.h): BM_Irv1/bf16/8/240 is a batch of 8 in bf16;
// `--benchmark_enable_random_interleaving=true --benchmark_repetitions=N` alternates fp32 and bf16 runs
// so other load on the machine falls on both.
#include <benchmark/benchmark.h>

#include <fstream>
#include <map>

#include "engine/loader.h"
#include "engine/mtcnn.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "models/faceapi_resnet.h"
#include "models/inception_resnet_v1.h"
#include "nn/precision.h"
#include "recognition/pipeline.h"
#include "testutil/testutil.h"

namespace {

using namespace facepipe;
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const fs::path kFrame720 = "video_frames/Bean/frame_010.jpg";
const fs::path kFrame1080 = "video_frames/Obama/frame_010.jpg";
const fs::path kSmall = "face_images_1000/test_000.jpg";

// Skips (with the reason) a precision this CPU has no units for.
bool skip_unsupported(benchmark::State& state, nn::Precision precision) {
  if (nn::cpu_supports(precision)) return false;
  state.SkipWithError(
      ("no " + nn::to_string(precision) + " units on this CPU (" + nn::cpu_isa_name() + ")").c_str());
  return true;
}

engine::Mtcnn& mtcnn(nn::Precision precision = nn::Precision::kF32) {
  static std::map<nn::Precision, std::unique_ptr<engine::Mtcnn>> by_precision;
  auto& m = by_precision[precision];
  if (!m) {
    engine::MtcnnOptions options;
    options.precision = precision;
    m = std::make_unique<engine::Mtcnn>(testing::shared_models() / "mtcnn", options);
  }
  return *m;
}

void BM_Decode(benchmark::State& state, fs::path rel) {
  const std::string bytes = slurp(testing::datasets() / rel);
  for (auto _ : state) benchmark::DoNotOptimize(image::decode(bytes));
}
BENCHMARK_CAPTURE(BM_Decode, jpeg_1080p, kFrame1080)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, jpeg_720p, kFrame720)->Unit(benchmark::kMillisecond);

// BM_Detect/mtcnn_720p is fp32 (the default); BM_Detect/mtcnn_bf16_720p is --detector-precision bf16.
void BM_Detect(benchmark::State& state, fs::path rel, nn::Precision precision) {
  if (skip_unsupported(state, precision)) return;
  const cv::Mat rgb = image::load_rgb(testing::datasets() / rel);
  engine::Mtcnn& detector = mtcnn(precision);
  detector.detect(rgb);  // warm the primitive caches
  for (auto _ : state) benchmark::DoNotOptimize(detector.detect(rgb));
}
BENCHMARK_CAPTURE(BM_Detect, mtcnn_1080p, kFrame1080, nn::Precision::kF32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Detect, mtcnn_720p, kFrame720, nn::Precision::kF32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Detect, mtcnn_64x64, kSmall, nn::Precision::kF32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Detect, mtcnn_bf16_1080p, kFrame1080, nn::Precision::kBf16)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Detect, mtcnn_bf16_720p, kFrame720, nn::Precision::kBf16)->Unit(benchmark::kMillisecond);

void BM_Irv1(benchmark::State& state, nn::Precision precision) {
  if (skip_unsupported(state, precision)) return;
  static std::map<nn::Precision, std::unique_ptr<models::InceptionResnetV1>> nets;
  auto& net = nets[precision];
  if (!net)
    net = models::InceptionResnetV1::load(
        testing::shared_models() / "inception_resnet_v1/random-seed0-legacy.pt", 240, precision);
  const int batch = static_cast<int>(state.range(0)), size = static_cast<int>(state.range(1));
  std::vector<float> input(static_cast<size_t>(batch) * 3 * size * size, 0.1f);
  net->forward(input.data(), batch, size);
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(input.data(), batch, size));
  state.SetItemsProcessed(state.iterations() * batch);  // faces per second
}
BENCHMARK_CAPTURE(BM_Irv1, fp32, nn::Precision::kF32)
    ->Args({1, 240})
    ->Args({8, 240})
    ->Args({1, 160})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Irv1, bf16, nn::Precision::kBf16)
    ->Args({1, 240})
    ->Args({8, 240})
    ->Args({1, 160})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Irv1, int8, nn::Precision::kInt8)
    ->Args({1, 240})
    ->Args({8, 240})
    ->Args({1, 160})
    ->Unit(benchmark::kMillisecond);

void BM_FaceApi(benchmark::State& state, nn::Precision precision) {
  if (skip_unsupported(state, precision)) return;
  static std::map<nn::Precision, std::unique_ptr<models::FaceApiResNet>> nets;
  auto& net = nets[precision];
  if (!net)
    net = models::FaceApiResNet::load(
        testing::shared_models() / "faceapi/face_recognition_model-weights_manifest.json", precision);
  const int batch = static_cast<int>(state.range(0));
  std::vector<cv::Mat> chips(static_cast<size_t>(batch),
                             cv::Mat(150, 150, CV_8UC3, cv::Scalar(120, 100, 90)));
  net->embed(chips);
  for (auto _ : state) benchmark::DoNotOptimize(net->embed(chips));
  state.SetItemsProcessed(state.iterations() * batch);  // faces per second
}
BENCHMARK_CAPTURE(BM_FaceApi, fp32, nn::Precision::kF32)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaceApi, bf16, nn::Precision::kBf16)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FaceApi, int8, nn::Precision::kInt8)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);

// The whole per-frame job of the course pipeline: decode, detect, largest face, embed, nearest person.
void BM_Frame(benchmark::State& state, fs::path rel, std::string embedder) {
  engine::EngineOptions options;
  options.models_dir = testing::shared_models().string();
  options.embedder = engine::parse_embedder_kind(embedder);
  static std::map<std::string, std::unique_ptr<face::Embedder>> embedders;
  auto& emb = embedders[embedder];
  if (!emb) emb = engine::make_embedder(options);
  auto gallery = gallery::Gallery::in_memory(emb->id());
  for (int i = 0; i < 90; ++i)
    gallery->add("p" + std::to_string(i), std::vector<float>(static_cast<size_t>(emb->dim()), 0.01f * i));
  const std::string bytes = slurp(testing::datasets() / rel);
  recognition::recognize(mtcnn(), *emb, *gallery, image::decode(bytes), 0, true);
  for (auto _ : state)
    benchmark::DoNotOptimize(recognition::recognize(mtcnn(), *emb, *gallery, image::decode(bytes), 0, true));
}
BENCHMARK_CAPTURE(BM_Frame, faceapi_1080p, kFrame1080, std::string("faceapi"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Frame, faceapi_720p, kFrame720, std::string("faceapi"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Frame, irv1_240_1080p, kFrame1080, std::string("irv1-random"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Frame, irv1_240_720p, kFrame720, std::string("irv1-random"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Frame, irv1_240_64x64, kSmall, std::string("irv1-random"))
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
