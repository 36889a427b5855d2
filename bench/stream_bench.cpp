// Live streams on one machine (issue 12's benchmark). A load generator on Google Benchmark's harness:
//
// BM_Streams/<height>/<N>: N cameras watched at once by one stream::Watcher, each a LiveSource playing
//   the bundled clips in sequence (Bean, Obama, Freeman with empty gaps; rendered once by
//   tests/stream/rtsp_server.py --render-only at 1280x720 or 1920x1080, 25 fps H.264) at the video's own
//   pace, looping, for FACEPIPE_STREAM_SECONDS (default 20) seconds, analysed at 5 fps. Decoding,
//   sampling, detection, quality, tracking, embedding, events: the whole path of `facepipe watch` except
//   the network (RTSP adds no decoding). Counters:
//     analysed_fps    analysed frames per second per camera (5 = keeping up)
//     dropped_pct     frames offered for analysis but dropped because it was busy
//     sustained       1 when every camera analysed >= 95% of what it was offered
//     cpu_per_stream  CPU seconds per wall second per camera (1.0 = one core)
//     delay_ms        mean frame -> face.entered/identified event delay (decode to publish)
// BM_Embeddings/<tracking>: the same sequence's frames at 5 fps (57 frames, decoded beforehand), through
//   detection + quality + the tracker (1) or through recognition of every face of every frame as the
//   per-frame service answers (0). Counters: embeddings per second of video, and ms per analysed frame.
//
//   build/stream_bench --benchmark_filter=Embeddings
//   FACEPIPE_STREAM_SECONDS=20 build/stream_bench --benchmark_filter=Streams
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <benchmark/benchmark.h>

#include "engine/loader.h"
#include "gallery/gallery.h"
#include "recognition/enroll.h"
#include "recognition/pipeline.h"
#include "recognition/thresholds.h"
#include "stream/tracker.h"
#include "stream/watcher.h"
#include "testutil/testutil.h"
#include "video/live_source.h"

namespace {

using namespace facepipe;

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

// The sequence rendered at `height` (720 or 1080), once per machine (kept in the temp directory).
std::string sequence(int height) {
  const std::string size = height == 1080 ? "1920x1080" : "1280x720";
  const auto file =
      std::filesystem::temp_directory_path() / ("fp_stream_render_" + size + "_1_Bean_Obama_Freeman.mp4");
  if (!std::filesystem::exists(file)) {
    std::string clips;
    for (const char* p : {"Bean", "Obama", "Freeman"})
      clips +=
          (clips.empty() ? "" : ",") + (testing::datasets() / "videos" / (std::string(p) + ".mp4")).string();
    const auto r = testing::run_command(
        "/usr/bin/python3 " + (testing::source_dir() / "tests/stream/rtsp_server.py").string() +
            " --render-only --size " + size + " --clips " + clips + " --render " + file.string(),
        true);
    if (r.exit_code != 0) throw std::runtime_error("cannot render the sequence: " + r.output);
  }
  return file.string();
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void BM_Streams(benchmark::State& state) {
  const int height = static_cast<int>(state.range(0));
  const int cameras = static_cast<int>(state.range(1));
  const char* env = std::getenv("FACEPIPE_STREAM_SECONDS");
  const double seconds = env ? std::atof(env) : 20;
  const std::string file = sequence(height);
  Engine& e = engine();
  for (auto _ : state) {
    stream::WatchOptions o;
    o.fps = 5;
    o.threshold = e.threshold;
    o.source.realtime = true;
    o.source.loops = 0;
    std::mutex mu;
    int64_t events = 0;
    stream::Watcher watcher(*e.detector, *e.embedder, *e.gallery, o, [&](const nlohmann::json&) {
      std::lock_guard<std::mutex> lock(mu);
      ++events;
    });
    for (int i = 0; i < cameras; ++i) watcher.add_camera({"cam" + std::to_string(i), file});
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    watcher.start();
    watcher.wait_for(std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
    const nlohmann::json status = watcher.status();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    watcher.stop();
    watcher.wait();
    double analysed = 0, offered = 0, dropped = 0, delay = 0, min_ratio = 1;
    for (const auto& c : status["cameras"]) {
      const double a = c["frames_analysed"].get<double>(), off = c["frames_offered"].get<double>();
      analysed += a;
      offered += off;
      dropped += c["frames_dropped"].get<double>();
      delay += c["delay_ms"]["mean"].get<double>();
      min_ratio = std::min(min_ratio, off > 0 ? a / off : 0.0);
    }
    state.counters["analysed_fps"] = analysed / cameras / wall;
    state.counters["dropped_pct"] = offered > 0 ? 100 * dropped / offered : 0;
    state.counters["sustained"] = min_ratio >= 0.95 ? 1 : 0;
    state.counters["cpu_per_stream"] = cpu / wall / cameras;
    state.counters["delay_ms"] = delay / cameras;
    // CPU time per analysed frame (decoding included): unlike the rates above, it does not depend on how
    // much of the machine other processes take.
    state.counters["cpu_ms_per_analysed"] = analysed > 0 ? 1000 * cpu / analysed : 0;
    state.counters["events"] = static_cast<double>(events);
    state.SetIterationTime(wall);
  }
  state.SetLabel(std::to_string(height) + "p x" + std::to_string(cameras));
}
BENCHMARK(BM_Streams)
    ->ArgsProduct({{720}, {1, 2, 3, 4}})
    ->ArgsProduct({{1080}, {1, 2, 3}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

// Decoding alone: one camera at the video's pace, its frames converted at 5 fps and handed to nothing.
// cpu_per_stream is what a camera costs before any analysis.
void BM_Decode(benchmark::State& state) {
  const int height = static_cast<int>(state.range(0));
  const std::string file = sequence(height);
  for (auto _ : state) {
    video::LiveOptions o;
    o.realtime = true;
    o.loops = 0;
    video::LiveSource source(file, o);
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    int64_t frames = 0;
    source.run(video::FramePolicy::parse("fps:5"), [&](double, const cv::Mat&) {
      ++frames;
      return std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10);
    });
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["cpu_per_stream"] = (cpu_seconds() - cpu0) / wall;
    state.counters["delivered_fps"] = static_cast<double>(frames) / wall;
    state.SetIterationTime(wall);
  }
  state.SetLabel(std::to_string(height) + "p decode + 5 fps RGB");
}
BENCHMARK(BM_Decode)->Arg(720)->Arg(1080)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

// The 720p sequence at 5 fps, decoded once.
const std::vector<std::pair<double, cv::Mat>>& frames() {
  static const std::vector<std::pair<double, cv::Mat>> out = [] {
    std::vector<std::pair<double, cv::Mat>> f;
    video::LiveSource source(sequence(720));
    source.run(video::FramePolicy::parse("fps:5"), [&](double t, const cv::Mat& rgb) {
      f.emplace_back(t, rgb.clone());
      return true;
    });
    return f;
  }();
  return out;
}

void BM_Embeddings(benchmark::State& state) {
  const bool tracking = state.range(0) == 1;
  Engine& e = engine();
  const auto& f = frames();
  const auto spec = e.embedder->crop_spec();
  int64_t embeddings = 0;
  double busy = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    stream::Tracker tracker("bench");
    for (const auto& [t, rgb] : f) {
      if (!tracking) {
        // What the per-frame path does: every face recognised in every frame.
        const auto answer =
            recognition::answer_frame(*e.detector, *e.embedder, *e.gallery, rgb, e.threshold, {});
        embeddings += static_cast<int64_t>(answer.faces.size());
        continue;
      }
      std::vector<cv::Mat> crops;
      std::vector<stream::Observation> faces;
      for (const auto& d : e.detector->detect(rgb)) {
        crops.push_back(face::extract_crop(rgb, d, spec));
        faces.push_back({d, recognition::assess_quality(d, rgb.cols, rgb.rows, crops.back(), {})});
      }
      tracker.update(t, faces, [&](const std::vector<int>& indices) {
        std::vector<cv::Mat> batch;
        for (int i : indices) batch.push_back(crops[static_cast<size_t>(i)]);
        std::vector<stream::EmbeddedMatch> out;
        for (auto& v : e.embedder->embed(batch)) out.push_back({v, e.gallery->match(v, e.threshold)});
        embeddings += static_cast<int64_t>(indices.size());
        return out;
      });
    }
    busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double video_seconds = f.back().first - f.front().first;
  state.counters["embeddings_per_video_s"] = benchmark::Counter(
      static_cast<double>(embeddings) / video_seconds / static_cast<double>(state.iterations()));
  state.counters["ms_per_frame"] = 1000 * busy / static_cast<double>(f.size() * state.iterations());
  state.SetLabel(tracking ? "tracking" : "every face, every frame");
}
BENCHMARK(BM_Embeddings)->Arg(1)->Arg(0)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
