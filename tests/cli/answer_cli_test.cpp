// The answer policy, the quality gate and the accuracy report as a user meets them on the command line.
#include <unistd.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace facepipe::cli {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::datasets;
using facepipe::testing::run_command;
using facepipe::testing::shared_models;

// The command with the bundled models (tests/testutil).
constexpr auto fp = &facepipe::testing::facepipe_command;

fs::path fresh(const std::string& name) {
  // Per process: ctest runs each test of this file as its own process, several at once.
  const fs::path p =
      fs::temp_directory_path() / ("facepipe_answer_cli_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(p.string() + suffix);
  return p;
}

// A gallery of the four video people from their 3 best frames, shared by the tests below.
const fs::path& gallery() {
  static const fs::path db = [] {
    const fs::path p = fresh("gallery.db");
    const auto r = run_command(fp() + "enroll --json --gallery '" + p.string() + "' --folder '" +
                               (datasets() / "video_frames").string() + "' --per-person 3");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    for (const auto& person : j["people"]) EXPECT_EQ(person["enrolled"], 3) << person;
    return p;
  }();
  return db;
}

TEST(AnswerCli, RecognizeListsEveryFaceWithItsQualityAndWhichAnswered) {
  const auto r = run_command(fp() + "recognize --json --gallery '" + gallery().string() + "' '" +
                             (datasets() / "video_frames/Obama/frame_009.jpg").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["answer"], "known");
  const auto& frame = j["results"][0];
  EXPECT_EQ(frame["result"], "Obama");
  ASSERT_EQ(frame["faces"].size(), 2u) << frame;  // Obama and a small face in the background
  EXPECT_EQ(frame["faces"][0]["name"], "Obama");
  EXPECT_TRUE(frame["faces"][0]["answered"].get<bool>());
  EXPECT_FALSE(frame["faces"][1]["answered"].get<bool>());
  for (const char* key : {"ok", "score", "size", "sharpness", "yaw", "roll", "eye_ratio", "in_frame", "geometry"})
    EXPECT_TRUE(frame["faces"][0]["quality"].contains(key)) << key;
}

TEST(AnswerCli, BadPolicyAndBoundsAreRefused) {
  auto r = run_command(fp() + "recognize --answer biggest --gallery '" + gallery().string() + "' x.jpg", true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--answer"), std::string::npos) << r.output;
  r = run_command(fp() + "recognize --min-face-prob lots --gallery '" + gallery().string() + "' x.jpg", true);
  EXPECT_NE(r.exit_code, 0) << r.output;
}

// A photo whose only face fails the gate is refused at enrolment, with the reason.
TEST(AnswerCli, EnrolmentSaysWhyAPhotoWasRefused) {
  const fs::path db = fresh("strict.db");
  // The sharpest bundled face measures 466 (src/recognition/quality.cpp): 1000 refuses every face.
  const auto r = run_command(fp() + "enroll --min-sharpness 1000 --gallery '" + db.string() + "' Kate='" +
                                 (datasets() / "misc/kate_siegel.jpg").string() + "'",
                             true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("Kate"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("quality gate: sharpness"), std::string::npos) << r.output;
}

TEST(AnswerCli, EvalWritesTheAccuracyReport) {
  const fs::path dir = fresh("report");
  const auto r = run_command(fp() + "eval --json --gallery '" + gallery().string() + "' --images '" +
                             (datasets() / "video_frames").string() + "' --strangers '" +
                             (datasets() / "misc").string() + "' --report '" + dir.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["total"], 65);  // 63 frames, 2 photos of strangers
  EXPECT_EQ(j["correct"], 65) << j["mistakes"];
  const auto& report = j["report"];
  EXPECT_EQ(report["strangers_admitted"], 0);
  EXPECT_EQ(report["identification"]["rank1"], 1.0);
  EXPECT_EQ(report["verification"]["eer"], 0.0);
  EXPECT_GT(report["verification"]["margin"].get<double>(), 0);
  EXPECT_EQ(report["identification"]["mated_searches"], 63);
  EXPECT_EQ(report["identification"]["non_mated_searches"], 7);  // six in the group photo, one portrait
  EXPECT_EQ(report["verification"]["genuine"]["count"], 63);
  EXPECT_EQ(report["verification"]["impostor"]["count"], 63 * 3 + 7 * 4);
  for (const char* f : {"report.json", "index.html", "roc.svg", "det.svg", "distances.svg", "fnir_fpir.svg",
                        "confusion.svg"}) {
    ASSERT_TRUE(fs::exists(dir / f)) << f;
    EXPECT_GT(fs::file_size(dir / f), 200u) << f;
  }
  const std::string roc = facepipe::testing::read_file(dir / "roc.svg");
  EXPECT_NE(roc.find("service threshold 0.50"), std::string::npos) << "the service's threshold is marked";
  EXPECT_NE(roc.find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace facepipe::cli
