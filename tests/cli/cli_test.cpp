// The facepipe command as a user runs it: JSON or tables out, non-zero exit with a message on bad input.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "image/codec.h"
#include "testutil/testutil.h"

namespace facepipe::cli {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::datasets;
using facepipe::testing::run_command;
using facepipe::testing::shared;
using facepipe::testing::shared_models;

// The command with the bundled models (tests/testutil).
constexpr auto fp = &facepipe::testing::facepipe_command;

fs::path temp(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("facepipe_cli_" + name);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
  return p;
}

TEST(Cli, DetectPrintsFacesAsJson) {
  const auto r = run_command(fp() + "detect --json '" + (datasets() / "misc/multiface.jpg").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["faces"].size(), 6u);
  EXPECT_EQ(j[0]["faces"][0]["landmarks"].size(), 5u);
}

TEST(Cli, EnrollRecognizeAndEvalEndToEnd) {
  const auto db = temp("e2e.db");
  auto r = run_command(fp() + "enroll --json --gallery '" + db.string() + "' --folder '" +
                       (datasets() / "video_frames").string() + "' --per-person 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["people"].size(), 4u);

  r = run_command(fp() + "recognize --json --gallery '" + db.string() + "' '" +
                  (datasets() / "video_frames/Obama/frame_015.jpg").string() + "' '" +
                  (datasets() / "misc/kate_siegel.jpg").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["results"][0]["faces"][0]["name"], "Obama");
  EXPECT_EQ(j["results"][1]["faces"][0]["name"], "Unknown");
  EXPECT_NE(j["results"][1]["faces"][0]["nearest"], "Unknown");

  r = run_command(fp() + "eval --json --gallery '" + db.string() + "' --images '" +
                  (datasets() / "video_frames").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["total"], 63);
  EXPECT_EQ(j["correct"], 63);
  EXPECT_EQ(j["confusion"]["Bean"]["Bean"], j["total"].get<int>() -
                                                j["confusion"]["Obama"]["Obama"].get<int>() -
                                                j["confusion"]["Trump"]["Trump"].get<int>() -
                                                j["confusion"]["Freeman"]["Freeman"].get<int>());

  r = run_command(fp() + "gallery list --json --gallery '" + db.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["embedder"], "faceapi-resnet34/aligned150");
  r = run_command(fp() + "gallery remove --gallery '" + db.string() + "' Bean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(fp() + "gallery list --json --gallery '" + db.string() + "'");
  EXPECT_EQ(nlohmann::json::parse(r.output)["people"].size(), 3u);
}

// --index (a global option, before or after the subcommand) reaches the gallery opened for matching; a
// gallery this small is searched exactly whatever it says (gallery/index.h: kIvfMinRows), so the answers
// are today's; a bad value is refused with the choices.
TEST(Cli, IndexOptionIsTakenByMatchingCommands) {
  const auto db = temp("index.db");
  auto r = run_command(fp() + "enroll --json --gallery '" + db.string() + "' --folder '" +
                       (datasets() / "video_frames").string() + "' --per-person 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const std::string index : {"exact", "ivf", "auto"}) {
    r = run_command(fp() + "--index " + index + " recognize --json --gallery '" + db.string() + "' '" +
                    (datasets() / "video_frames/Obama/frame_015.jpg").string() + "'");
    ASSERT_EQ(r.exit_code, 0) << index << ": " << r.output;
    EXPECT_EQ(nlohmann::json::parse(r.output)["results"][0]["faces"][0]["name"], "Obama") << index;
  }
  r = run_command(fp() + "recognize --gallery '" + db.string() + "' --index fast '" +
                      (datasets() / "video_frames/Obama/frame_015.jpg").string() + "'",
                  true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--index"), std::string::npos) << r.output;
}

TEST(Cli, GalleryImportOfTheCourseDataPt) {
  const auto db = temp("import.db");
  auto r = run_command(fp() + "gallery import --gallery '" + db.string() + "' '" +
                       (shared() / "galleries/face_images_1000.data.pt").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(fp() + "gallery list --json --gallery '" + db.string() + "'");
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["people"].size(), 90u);
  EXPECT_EQ(j["embedder"], "irv1-vggface2/box240");
  // Recognising with the face-api embedder against an InceptionResnetV1 gallery is refused, clearly.
  r = run_command(fp() + "recognize --embedder faceapi --gallery '" + db.string() + "' '" +
                      (datasets() / "face_images_1000/test_000.jpg").string() + "'",
                  true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("irv1-vggface2/box240"), std::string::npos) << r.output;
}

TEST(Cli, BadInputExitsNonZeroWithAMessage) {
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"detect /does/not/exist.jpg", "cannot read image"},
      {"detect /etc/hostname", "not a JPEG or PNG"},
      {"recognize --gallery /does/not/exist.db x.jpg", "does not exist"},
      {"enroll --gallery " + temp("bad.db").string() + " nobody-without-equals", "NAME=PATH"},
      {"enroll --gallery " + temp("bad2.db").string(), "nothing to enroll"},
      {"gallery import --gallery " + temp("bad3.db").string() + " " +
           (datasets() / "misc/multiface.jpg").string(),
       "not a readable PyTorch file"},
      {"no-such-command", ""},
  };
  for (const auto& c : cases) {
    const auto r = run_command(fp() + c.args, true);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
  const auto r = run_command(
      "'" + facepipe::testing::facepipe_binary().string() + "' --models-dir /nowhere detect x.jpg", true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--models-dir"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace facepipe::cli

namespace facepipe::cli {
namespace {
// `facepipe bench` times real frames (the figures are for people, not asserted) and reports the peak
// memory of the process with every model loaded, which the engine promises to keep under 300 MB.
TEST(Cli, BenchReportsFramesAndPeakMemory) {
  const auto frames = datasets() / "video_frames";
  const auto r = run_command(fp() + "bench --json --runs 2 '" + (frames / "Bean/frame_005.jpg").string() +
                             "' '" + (frames / "Obama/frame_005.jpg").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = nlohmann::json::parse(r.output.substr(r.output.rfind('{')));
  EXPECT_EQ(report["frames"], 2);
  EXPECT_GT(report["frame_ms_median"].get<double>(), 0);
  // The split compare-reference.sh sets beside the reference's: detect within the frame, the rest embeds.
  EXPECT_GT(report["detect_ms_median"].get<double>(), 0);
  EXPECT_LE(report["decode_detect_ms_median"].get<double>(), report["frame_ms_p90"].get<double>());
  EXPECT_GT(report["embed_ms_median"].get<double>(), 0);
  EXPECT_LT(report["peak_rss_mb"].get<double>(), 300) << r.output;
  EXPECT_NE(run_command(fp() + "bench --runs 1 x.jpg").exit_code, 0);
}

// scripts/compare-reference.sh, the README's way to state a speed: bad precisions and frames are refused
// with what to pass; one short real run (the reference on Debian's python3-torch, facepipe at an
// EMBEDDER/DETECTOR precision) prints a ratio for each precision asked.
TEST(CompareReference, RefusesWhatItCannotTimeAndPrintsARatioPerPrecision) {
  const std::string script = facepipe::testing::source_dir().string() + "/scripts/compare-reference.sh";
  const std::string frame = "'" + (datasets() / "video_frames/Bean/frame_005.jpg").string() + "'";
  const std::string binary = "FACEPIPE='" + facepipe::testing::facepipe_binary().string() + "' ";
  for (const std::string& bad : {"--precision fp16 " + frame, "--precision bf16/int8 " + frame,
                                 "--rounds 0 " + frame, std::string("/nonexistent.jpg"), std::string()}) {
    const auto r = run_command(binary + script + " " + bad, true);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
    EXPECT_NE(r.output.find("compare-reference: "), std::string::npos) << bad << "\n" << r.output;
  }
  if (run_command("/usr/bin/python3 -c 'import torch, torchvision, PIL, numpy'", true).exit_code != 0)
    GTEST_SKIP() << "the reference needs python3-torch python3-torchvision python3-pil python3-numpy "
                    "(scripts/deps.sh)";
  const auto r = run_command(binary + script + " --rounds 1 --runs 1 --precision fp32,fp32/bf16 " + frame);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* p : {"facepipe fp32:", "facepipe fp32/bf16:"}) {
    const size_t at = r.output.find(std::string("median per frame, ") + p);
    ASSERT_NE(at, std::string::npos) << p << "\n" << r.output;
    const std::string line = r.output.substr(at, r.output.find('\n', at) - at);
    EXPECT_NE(line.find("x faster"), std::string::npos) << line;
  }
}

// A frame without a face is timed as well (decode and detection); bench once crashed on such a set.
TEST(Cli, BenchOfFramesWithoutFacesTimesThemAndSaysSo) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_bench_noface_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto gray = dir / "gray.png";
  {
    std::ofstream out(gray, std::ios::binary);
    out << image::encode_png(cv::Mat(64, 96, CV_8UC3, cv::Scalar(128, 128, 128)));
  }
  const auto r = run_command(fp() + "bench --json --runs 2 '" + gray.string() + "'", true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no face in any image"), std::string::npos) << r.output;
  const auto report = nlohmann::json::parse(r.output.substr(r.output.rfind('{')));
  EXPECT_EQ(report["frames"], 1);
  EXPECT_GT(report["detect_ms_median"].get<double>(), 0);
  std::filesystem::remove_all(dir);
}
}  // namespace
}  // namespace facepipe::cli

namespace facepipe::cli {
namespace {
// --log-format json (and FACEPIPE_LOG_FORMAT, which the Lambda template sets): every log line is one JSON
// object with the level and the message; an unknown format is refused.
TEST(Cli, JsonLogsAreOneObjectALine) {
  const auto r = run_command("FACEPIPE_REQUEST_QUEUE_URL=http://127.0.0.1:9/0/q FACEPIPE_LOG_FORMAT=json " +
                             fp() + "lambda face-detection --runtime-api 127.0.0.1:9 2>&1");
  ASSERT_NE(r.exit_code, 0);
  int objects = 0, errors = 0;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    // The queue is opened by URL without a call (as on AWS), so start-up logs come before the failure.
    EXPECT_TRUE(j["level"] == "info" || j["level"] == "error") << line;
    errors += j["level"] == "error";
    EXPECT_FALSE(j["message"].get<std::string>().empty());
    EXPECT_TRUE(j.contains("time"));
    ++objects;
  }
  EXPECT_GE(objects, 1) << r.output;
  EXPECT_GE(errors, 1) << r.output;
  EXPECT_EQ(run_command(fp() + "--log-format xml detect x.jpg").exit_code, 2);
}
}  // namespace
}  // namespace facepipe::cli

namespace facepipe::cli {
namespace {
// Start-up cost is a feature (every Lambda cold start and CLI call pays it): the binary must not link the
// libraries that cost most to load. libav is loaded on the first clip (video/libav.h); images are coded
// without OpenCV's imgcodecs (image/codec.h).
TEST(Cli, StartsWithoutLoadingLibavOrImgcodecs) {
  const auto r = run_command("ldd '" + facepipe::testing::facepipe_binary().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("libavformat"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libavcodec"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libopencv_imgcodecs"), std::string::npos) << r.output;
}
}  // namespace
}  // namespace facepipe::cli

namespace facepipe::cli {
namespace {
// The camera given a still image instead of a recording says so and exits 2 (it once aborted: its upload
// threads were not joined when reading the source failed); bad flag combinations are refused too.
TEST(Cli, CameraRefusesAStillImageAndBadFlags) {
  const std::string image = "'" + (datasets() / "misc/multiface.jpg").string() + "'";
  const std::string clip = "'" + (datasets() / "videos/Obama.mp4").string() + "'";
  auto r = run_command(
      fp() + "camera --mode clips --clip-seconds 1 --url http://127.0.0.1:9/ --source " + image, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("still image"), std::string::npos) << r.output;
  r = run_command(fp() + "camera --mode frames --url http://127.0.0.1:9/ --source " + image, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_command(fp() + "camera --mode frames --s3-bucket b --source " + clip, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--mode clips"), std::string::npos) << r.output;
  r = run_command(fp() + "camera --mode clips --source " + clip, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--url"), std::string::npos) << r.output;
}
}  // namespace
}  // namespace facepipe::cli
