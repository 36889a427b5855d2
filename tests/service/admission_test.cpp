// Admission control and the memory budget (issue 14, findings 1 and 2), against the real `facepipe serve`:
// sixteen 40-megapixel frames at once must neither crash it nor exceed the budget (work beyond it is
// refused with 503 + Retry-After), and a long run of ordinary frames keeps its resident memory flat.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "image/codec.h"
#include "service/base64.h"
#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr size_t kMB = 1 << 20;

// Samples a process's RSS every 50 ms on a thread until stopped; keeps the highest value.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            peak_ = std::max(peak_.load(), proc_memory(pid));
            std::this_thread::sleep_for(50ms);
          }
        }) {}
  ~RssSampler() { finish(); }
  size_t finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<size_t> peak_{0};
  std::thread thread_;
};

std::string request(const std::string& id, const std::string& name, const std::string& bytes) {
  return json{{"request_id", id}, {"filename", name}, {"content", service::base64_encode(bytes)}}.dump();
}

double metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST(Admission, SixteenHugeFramesAtOnceStayWithinTheBudget) {
  auto dir = temp_dir("huge");
  // Budget: one 6320x6320 frame (40 MP) at a time; a short queue so the rest is refused quickly.
  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
               video_gallery().string(), "--id", "huge", "--pixel-budget", "40000000", "--engine-queue", "3"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  const size_t rss_start = proc_memory(serve.pid());

  const std::string png = image::encode_png(cv::Mat(6320, 6320, CV_8UC3, cv::Scalar(0, 0, 0)));
  ASSERT_LT(png.size(), 1 * kMB);  // a small upload that declares a huge frame
  RssSampler sampler(serve.pid());
  std::mutex mu;
  std::map<int, int> statuses;
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&, i] {
      httplib::Client c(url);
      c.set_read_timeout(300, 0);
      auto res = c.Post("/", request("huge-" + std::to_string(i), "black.png", png), "application/json");
      std::lock_guard lock(mu);
      if (!res) {
        ++statuses[-1];
        return;
      }
      ++statuses[res->status];
      auto j = json::parse(res->body, nullptr, false);
      EXPECT_TRUE(j.is_object()) << res->body;
      if (res->status == 503) {
        EXPECT_EQ(j.value("error", ""), "overloaded") << res->body;
        EXPECT_TRUE(res->has_header("Retry-After"));
      } else {
        EXPECT_EQ(res->status, 200) << res->body;
      }
    });
  for (auto& t : clients) t.join();
  const size_t peak = sampler.finish();
  ASSERT_TRUE(serve.alive()) << serve.log();
  EXPECT_EQ(statuses[-1], 0) << "connections failed";
  EXPECT_GE(statuses[200], 1);
  EXPECT_EQ(statuses[200] + statuses[503], 16);
  // One 40 MP frame costs about 1.9 GB (decoded RGBA + RGB + MTCNN's pyramid, README "Limits and budgets":
  // 50 B a pixel): the budget allows one at a time (4 at once reached 6.2 GB before admission control, 16
  // were killed by the kernel at 23.6 GB).
  EXPECT_LT(peak, rss_start + 50 * 40'000'000 + 96 * kMB) << "peak RSS " << peak / kMB << " MB";
  httplib::Client c(url);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_LE(metric(m->body, "facepipe_engine_peak_pixels"), 40'000'000);
  EXPECT_EQ(metric(m->body, "facepipe_engine_pixels_in_flight"), 0);
  EXPECT_EQ(metric(m->body, "facepipe_engine_bytes_in_flight"), 0);
  // The huge frames' memory is given back afterwards: at once beyond 256 MB free, the rest once the engine
  // has been idle for 2 s (service/engine_pool.h).
  size_t after = proc_memory(serve.pid());
  for (int i = 0; i < 100 && after >= 300 * kMB; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = proc_memory(serve.pid());
  }
  EXPECT_LT(after, 300 * kMB) << "RSS " << after / kMB << " MB 10 s after the huge frames";
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  std::cerr << "peak RSS " << peak / kMB << " MB, after " << after / kMB << " MB, " << statuses[200]
            << " accepted, " << statuses[503] << " refused\n";
}

TEST(Admission, HundredSequentialFramesKeepMemoryFlat) {
  auto dir = temp_dir("flat");
  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
               video_gallery().string(), "--id", "flat"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  std::vector<fs::path> frames;
  for (auto& person : fs::directory_iterator(datasets() / "video_frames"))
    for (auto& f : fs::directory_iterator(person.path())) frames.push_back(f.path());
  std::sort(frames.begin(), frames.end());
  ASSERT_GE(frames.size(), 20u);
  std::vector<size_t> rss;
  for (int i = 0; i < 100; ++i) {
    // A new connection each time: httplib gives each to the next free HTTP thread (32 by default), which
    // is how per-thread arenas grew to 1.7-1.9 GB before detection moved to the engine pool.
    httplib::Client c(url);
    c.set_read_timeout(60, 0);
    const auto& f = frames[static_cast<size_t>(i) % frames.size()];
    auto res =
        c.Post("/", request("flat-" + std::to_string(i), f.filename(), read_file(f)), "application/json");
    ASSERT_TRUE(res) << i;
    ASSERT_EQ(res->status, 200) << res->body;
    rss.push_back(proc_memory(serve.pid()));
  }
  // The engine pool keeps the regular frames' buffers (up to 256 MB free, engine_pool.h), so RSS rises over
  // the first few dozen frames of mixed sizes and then stays (2026-12-04: 149 MB after 20, 227 after 50, 233
  // after 100; 278 MB from frame 40 to 300 in a longer run).
  // A leak of 1 MB a frame would add 50 MB between frame 50 and frame 100.
  const size_t at50 = rss[49], last = rss.back(), top = *std::max_element(rss.begin(), rss.end());
  std::cerr << "RSS after 20 frames " << rss[19] / kMB << " MB, after 50 " << at50 / kMB << " MB, after 100 "
            << last / kMB << " MB, max " << top / kMB << " MB\n";
  EXPECT_LT(top, 320 * kMB);
  EXPECT_LT(last, at50 + 40 * kMB) << "RSS still growing";
}

// Issue 14, finding 7: invalid UTF-8 in the body answered 500, and a 1 MB filename answered 500 after
// detection had run ("does not fit in 256 KiB"); a CMYK JPEG was refused.
TEST(ClientErrors, BadTextIs400BeforeDetectionAndCmykIsAccepted) {
  auto dir = temp_dir("client_errors");
  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery",
               video_gallery().string(), "--id", "ce"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  httplib::Client c(url);
  auto decodes = [&] {
    auto m = c.Get("/metrics");
    const std::string key = "facepipe_stage_seconds_count{stage=\"decode\"} ";
    auto at = m ? m->body.find(key) : std::string::npos;
    return at == std::string::npos ? 0.0 : std::stod(m->body.substr(at + key.size()));
  };
  const fs::path frame = datasets() / "video_frames/Obama/frame_001.jpg";
  auto ok = c.Post("/", request("ce-ok", "frame.jpg", read_file(frame)), "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const double decoded_before = decodes();

  const std::string bad_utf8 =
      "{\"request_id\": \"u1\", \"filename\": \"\xff\xfe.jpg\", \"content\": \"AAAA\"}";
  auto a = c.Post("/", bad_utf8, "application/json");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 400) << a->body;
  auto aj = json::parse(a->body, nullptr, false);
  ASSERT_TRUE(aj.is_object()) << a->body;
  EXPECT_NE(aj.value("message", "").find("UTF-8"), std::string::npos) << a->body;

  auto b = c.Post("/", request("ce-long", std::string(1 << 20, 'n'), read_file(frame)), "application/json");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 400) << b->body;
  EXPECT_NE(json::parse(b->body).value("message", "").find("'filename'"), std::string::npos) << b->body;
  EXPECT_EQ(decodes(), decoded_before) << "a refused request was decoded";

  // A CMYK JPEG (ImageMagick writes YCCK) is a valid frame: found and recognised like its RGB original.
  const fs::path cmyk = dir / "cmyk.jpg";
  const auto made = shell("convert " + frame.string() + " -colorspace CMYK " + cmyk.string());
  ASSERT_EQ(made.status, 0) << made.out << " (scripts/deps.sh installs imagemagick)";
  auto d = c.Post("/?wait=1", request("ce-cmyk", "cmyk.jpg", read_file(cmyk)), "application/json");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 200) << d->body;
  EXPECT_EQ(json::parse(d->body).value("result", ""), "Obama") << d->body;
  EXPECT_TRUE(serve.alive());
}

}  // namespace
}  // namespace facepipe::testing
