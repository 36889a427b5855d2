// Clip throughput: frames per second through decoding alone and through decoding + recognition
// (MTCNN + embedder + gallery match, aggregated per person), per frame policy, on all bundled clips.
// Counters: frames_per_second = recognised (policy-kept) frames per wall second; decoded_per_second =
// frames libav decoded per second (a policy still decodes every frame up to the last one it keeps).
//   build/video_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include "engine/loader.h"
#include "gallery/gallery.h"
#include "recognition/clip.h"
#include "recognition/enroll.h"
#include "recognition/thresholds.h"
#include "testutil/testutil.h"
#include "video/clip.h"

namespace {

using namespace facepipe;

const std::vector<std::string>& clips() {
  static const std::vector<std::string> bytes = [] {
    std::vector<std::string> out;
    for (const char* name : {"Bean", "Freeman", "Obama", "Trump"})
      out.push_back(testing::read_file(testing::datasets() / "videos" / (std::string(name) + ".mp4")));
    return out;
  }();
  return bytes;
}

const char* const kPolicies[] = {"first", "fps:2", "fps:5", "every"};

struct Engine {
  std::unique_ptr<face::Detector> detector;
  std::unique_ptr<face::Embedder> embedder;
  std::unique_ptr<gallery::Gallery> gallery;
  float threshold = 0;
};

Engine& engine() {
  static Engine e = [] {
    engine::EngineOptions options;
    options.models_dir = testing::shared_models().string();
    Engine e;
    e.detector = engine::make_detector(options);
    e.embedder = engine::make_embedder(options);
    e.gallery = gallery::Gallery::in_memory(e.embedder->id());
    recognition::enroll(*e.gallery, *e.detector, *e.embedder,
                        recognition::sources_from_folder(testing::datasets() / "video_frames", 3));
    e.threshold = recognition::default_threshold(e.embedder->id());
    return e;
  }();
  return e;
}

void BM_Decode(benchmark::State& state) {
  const auto policy = video::FramePolicy::parse(kPolicies[state.range(0)]);
  state.SetLabel(policy.to_string());
  int64_t kept = 0, decoded = 0;
  for (auto _ : state)
    for (const auto& clip : clips()) {
      const auto info = video::decode_clip(clip, policy, [](double, const cv::Mat& rgb) {
        benchmark::DoNotOptimize(rgb.data);
        return true;
      });
      kept += info.delivered;
      decoded += info.decoded;
    }
  state.counters["frames_per_second"] =
      benchmark::Counter(static_cast<double>(kept), benchmark::Counter::kIsRate);
  state.counters["decoded_per_second"] =
      benchmark::Counter(static_cast<double>(decoded), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Decode)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeAndRecognise(benchmark::State& state) {
  const auto policy = video::FramePolicy::parse(kPolicies[state.range(0)]);
  state.SetLabel(policy.to_string());
  Engine& e = engine();
  int64_t kept = 0, decoded = 0, correct = 0, total = 0;
  const char* names[] = {"Bean", "Freeman", "Obama", "Trump"};
  for (auto _ : state)
    for (size_t i = 0; i < clips().size(); ++i) {
      const auto r =
          recognition::recognize_clip(*e.detector, *e.embedder, *e.gallery, clips()[i], policy, e.threshold);
      kept += r.clip.delivered;
      decoded += r.clip.decoded;
      correct += r.main_person() == names[i];
      ++total;
    }
  state.counters["frames_per_second"] =
      benchmark::Counter(static_cast<double>(kept), benchmark::Counter::kIsRate);
  state.counters["decoded_per_second"] =
      benchmark::Counter(static_cast<double>(decoded), benchmark::Counter::kIsRate);
  state.counters["clips_correct"] =
      static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(total, 1));
}
// One pass over the four clips is already seconds long at "every": a single iteration is enough.
BENCHMARK(BM_DecodeAndRecognise)
    ->DenseRange(0, 3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
