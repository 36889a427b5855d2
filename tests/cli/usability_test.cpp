// What a new user trips over (issue 16), command by command with the real binary and the bundled data:
// enrolment that duplicates or invents people, output that differs between the table and --json, errors
// that do not name the fix, evaluations that mislead silently.
#define FACEPIPE_BIN FACEPIPE_BINARY
#include "testutil/process_util.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "image/codec.h"
#include "testutil/testutil.h"

namespace facepipe::cli {
namespace {

namespace fs = std::filesystem;
using facepipe::testing::datasets;
using facepipe::testing::run_command;
using facepipe::testing::shared;
using facepipe::testing::shared_models;
using nlohmann::json;

// The command with the bundled models (tests/testutil).
constexpr auto fp = &facepipe::testing::facepipe_command;

// A fresh scratch folder per test.
fs::path scratch(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("facepipe_usability_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

constexpr auto q = &facepipe::testing::shell_quoted;
constexpr auto frame = &facepipe::testing::video_frame;

// The last JSON document of an output (progress lines may come first).
json last_json(const std::string& out) {
  const size_t at = std::min(out.find('{'), out.find('['));
  return json::parse(out.substr(at));
}

// A gallery with Obama and Bean from one frame each (the frames are fast to embed).
fs::path small_gallery(const fs::path& dir) {
  const fs::path db = dir / "g.db";
  const auto r = run_command(fp() + "enroll --gallery " + q(db) + " Obama=" + frame("Obama", 1) +
                             " Bean=" + frame("Bean", 1));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return db;
}

// ------------------------------------------------------------------------------------------- enrolment

TEST(Usability, EnrollTwiceSkipsTheSamePhotosAndHonoursPerPersonInPairs) {
  const auto dir = scratch("enroll_twice");
  const auto db = dir / "g.db";
  const std::string args = "enroll --json --per-person 2 --gallery " + q(db) +
                           " Obama=" + (datasets() / "video_frames/Obama").string();
  auto r = run_command(fp() + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = last_json(r.output);
  // --per-person keeps the N best-quality photos (recognition/enroll.h), in the NAME=PATH form too.
  EXPECT_EQ(j["people"][0]["enrolled"], 2) << "--per-person ignored in the NAME=PATH form";
  EXPECT_EQ(j["people"][0]["left_out"].get<int>(), j["people"][0]["images"].get<int>() - 2);
  r = run_command(fp() + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = last_json(r.output);
  EXPECT_EQ(j["people"][0]["enrolled"], 0);
  EXPECT_EQ(j["people"][0]["duplicates"], 2);
  EXPECT_NE(j["people"][0]["skipped"][0]["reason"].get<std::string>().find("already in the gallery"),
            std::string::npos);
  r = run_command(fp() + "gallery list --json --gallery " + q(db));
  EXPECT_EQ(last_json(r.output)["people"][0]["embeddings"], 2) << r.output;
  // The table says the same with the same names.
  r = run_command(fp() + "enroll --per-person 2 --gallery " + q(db) + " Obama=" +
                  (datasets() / "video_frames/Obama").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("duplicates"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("already in the gallery"), std::string::npos) << r.output;
}

TEST(Usability, EnrollWarnsAboutAGroupPhotoAndTellsNoFaceFromUnreadable) {
  const auto dir = scratch("enroll_group");
  auto r = run_command(fp() + "enroll --json --gallery " + q(dir / "g.db") +
                       " Group=" + (datasets() / "misc/multiface.jpg").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto warnings = last_json(r.output)["people"][0]["warnings"];
  ASSERT_EQ(warnings.size(), 1u) << r.output;
  EXPECT_NE(warnings[0]["warning"].get<std::string>().find("6 faces: enrolled the largest"),
            std::string::npos);

  // A readable image without a face, and a file that is not an image.
  const fs::path photos = dir / "nobody";
  fs::create_directories(photos);
  const cv::Mat grey(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  std::ofstream(photos / "blank.jpg", std::ios::binary) << image::encode_jpeg(grey, 90);
  std::ofstream(photos / "text.jpg") << "not an image";
  const fs::path db = dir / "new.db";
  r = run_command(fp() + "enroll --gallery " + q(db) + " Nobody=" + q(photos), true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("1 without a face, 1 unreadable"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(db)) << "a failed enrolment left an empty gallery behind";
}

TEST(Usability, GalleryImportTwiceAddsNothingAndAFailedImportLeavesNoGallery) {
  const auto dir = scratch("import");
  const fs::path bad = dir / "bad.db";
  auto r = run_command(
      fp() + "gallery import --gallery " + q(bad) + " " + (datasets() / "misc/multiface.jpg").string(), true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(bad)) << "a failed import left a gallery behind";

  const fs::path db = dir / "g.db";
  const std::string import = "gallery import --json --gallery " + q(db) + " " +
                             (shared() / "galleries/face_images_1000.data.pt").string();
  r = run_command(fp() + import);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int first = last_json(r.output)["imported"];
  EXPECT_GT(first, 0);
  r = run_command(fp() + import);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(last_json(r.output)["imported"], 0);
  EXPECT_EQ(last_json(r.output)["skipped"].size(), static_cast<size_t>(first));
}

TEST(Usability, AnEmptyGalleryTakesTheEmbedderOfItsFirstEnrolment) {
  const auto dir = scratch("empty_gallery");
  const fs::path db = dir / "g.db";
  // What a failed import used to leave: a gallery bound to VGGFace2 with nobody in it.
  ASSERT_EQ(run_command("sqlite3 " + q(db) +
                        " \"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                        " INSERT INTO meta VALUES ('embedder_id', 'irv1-vggface2/box240');\"")
                .exit_code,
            0);
  const auto r = run_command(fp() + "enroll --json --embedder faceapi --gallery " + q(db) +
                             " Obama=" + frame("Obama", 1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(last_json(r.output)["embedder"], "faceapi-resnet34/aligned150");
}

// ------------------------------------------------------------------------------------------- people

TEST(Usability, PeopleRecordsBelongToEnrolledPeople) {
  const auto dir = scratch("people");
  const auto db = small_gallery(dir);
  auto r = run_command(fp() + "people set --gallery " + q(db) + " Ghost major=CS", true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--create"), std::string::npos) << r.output;
  r = run_command(fp() + "people set --gallery " + q(db) + " Obamma year=1991", true);
  EXPECT_NE(r.output.find("did you mean 'Obama'"), std::string::npos) << r.output;
  r = run_command(fp() + "people set --create --gallery " + q(db) + " Ghost major=CS");
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // Quoted cells (a comma, a quote, a line break), CRLF, numbers stay numbers; an unknown name refuses all.
  const fs::path csv = dir / "people.csv";
  std::ofstream(csv) << "name,major,year,note\r\nObama,\"Law, Harvard\",1991,\"said \"\"yes\"\"\"\r\n"
                        "Bean,Drama,1979,\"two\nlines\"\r\nNobodi,X,1,\n";
  r = run_command(fp() + "people import --gallery " + q(db) + " " + q(csv), true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("'Nobodi'"), std::string::npos) << r.output;
  r = run_command(fp() + "people get --json --gallery " + q(db) + " Obama", true);
  EXPECT_NE(r.exit_code, 0) << "the refused import stored a record: " << r.output;
  std::ofstream(csv) << "name,major,year,note\r\nObama,\"Law, Harvard\",1991,\"said \"\"yes\"\"\"\r\n"
                        "Bean,Drama,1979,\"two\nlines\"";
  r = run_command(fp() + "people import --gallery " + q(db) + " " + q(csv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("imported 2 records"), std::string::npos) << r.output;

  // get: the name's case does not matter; a typo gets the closest name.
  r = run_command(fp() + "people get --json --gallery " + q(db) + " obama");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = last_json(r.output);
  EXPECT_EQ(j["major"], "Law, Harvard");
  EXPECT_EQ(j["year"], 1991);
  EXPECT_EQ(j["note"], "said \"yes\"");
  r = run_command(fp() + "people get --gallery " + q(db) + " Bena", true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("did you mean 'Bean'"), std::string::npos) << r.output;

  // list: a table and --json with the same field names.
  r = run_command(fp() + "people list --json --gallery " + q(db));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = last_json(r.output);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[1]["name"], "Bean");
  EXPECT_EQ(j[1]["record"]["note"], "two\nlines");
  EXPECT_EQ(j[1]["embeddings"], 1);
  r = run_command(fp() + "people list --gallery " + q(db));
  EXPECT_NE(r.output.find("embeddings"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 people"), std::string::npos) << r.output;

  // The DynamoDB form deploy-aws.sh uses comes from the same reader.
  r = run_command(fp() + "people to-dynamodb " + q(csv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto item = json::parse(r.output.substr(0, r.output.find('\n')));
  EXPECT_EQ(item["year"], json({{"N", "1991"}}));
  EXPECT_EQ(item["major"], json({{"S", "Law, Harvard"}}));
  std::ofstream(dir / "open.csv") << "name,major\nObama,\"Law\n";
  r = run_command(fp() + "people to-dynamodb " + q(dir / "open.csv"), true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("never closed"), std::string::npos) << r.output;
}

// ------------------------------------------------------------------------------------------- output and
// errors

TEST(Usability, ErrorsNameTheFix) {
  const auto dir = scratch("errors");
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"detct x.jpg", "did you mean 'detect'"},
      {"gallery lst --gallery x.db", "did you mean 'list'"},
      {"recognize --treshold 0.5 --gallery x.db x.jpg", "did you mean '--threshold'"},
      {"recognize --threshold -1 --gallery x.db x.jpg", "--threshold"},
      {"clip --threshold -1 --gallery " + (datasets() / "misc/multiface.jpg").string() + " " +
           (datasets() / "videos/Obama.mp4").string(),
       "--threshold"},
      {"detect " + (datasets() / "video_frames/Obama").string(), "is a folder, not an image file"},
      {"eval --gallery " + small_gallery(dir).string() + " --images /nope",
       "image folder '/nope' does not exist"},
      // A global option after the subcommand is understood (here: the models folder it names is missing).
      {"detect x.jpg --models-dir /nowhere", "--models-dir"},
  };
  for (const auto& c : cases) {
    const auto r = run_command(fp() + c.args, true);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
}

TEST(Usability, JsonLogFormatCoversErrorMessages) {
  for (const std::string args :
       {"--log-format json detect /does/not/exist.jpg", "--log-format json detct x.jpg"}) {
    const auto r = run_command(fp() + args + " 2>&1");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    std::istringstream lines(r.output);
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << r.output;
    const auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << args << ": not JSON: " << r.output;
    EXPECT_EQ(j["level"], "error");
    EXPECT_FALSE(j["message"].get<std::string>().empty());
  }
}

TEST(Usability, ClipIsATableOrRoundedJsonAndBenchSaysImagesTimesPasses) {
  const auto dir = scratch("clip");
  const auto db = small_gallery(dir);
  const std::string clip = (datasets() / "videos/Obama.mp4").string();
  auto r = run_command(fp() + "clip --policy fps:2 --gallery " + q(db) + " " + clip);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("best_distance"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("result Obama"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('{'), std::string::npos) << "no JSON without --json: " << r.output;
  r = run_command(fp() + "clip --json --policy fps:2 --gallery " + q(db) + " " + clip);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = last_json(r.output);
  for (const auto& p : j["people"])
    for (const auto& t : p["seconds"]) {
      const double v = t.get<double>();
      EXPECT_NEAR(v * 1000, std::round(v * 1000), 1e-6) << t;  // milliseconds, no float noise
      EXPECT_LE(t.dump().size(), 6u) << t;
    }

  r = run_command(fp() + "bench --runs 2 " + frame("Bean", 5) + " " + frame("Obama", 5));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 images × 1 passes"), std::string::npos) << r.output;
}

// ------------------------------------------------------------------------------------------- silent
// mismatches

TEST(Usability, EvalWarnsAboutEnrolmentImagesAndLabelsForPeopleNotInTheGallery) {
  const auto dir = scratch("eval");
  const auto db = small_gallery(dir);
  const fs::path labels = dir / "labels.csv";
  std::ofstream(labels) << "Image,Results\nframe_001,Obama\nframe_002,Freeman\n";
  const fs::path images = dir / "images";
  fs::create_directories(images);
  fs::copy_file(frame("Obama", 1), images / "frame_001.jpg");
  fs::copy_file(frame("Freeman", 2), images / "frame_002.jpg");
  auto r = run_command(fp() + "eval --json --gallery " + q(db) + " --images " + q(images) + " --labels " +
                       q(labels) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 of 2 test images are enrolment photos"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not in the gallery: 'Freeman'"), std::string::npos) << r.output;
  const auto j = last_json(r.output.substr(r.output.find("{\n")));
  EXPECT_EQ(j["warnings"].size(), 2u) << r.output;
  EXPECT_EQ(j["enrolment_images"].size(), 1u) << r.output;
}

// serve names what it needs and leaves nothing behind when it cannot start; once up it prints the response
// queue's URL; workload fails (exit != 0) when an answer is wrong, so a script can rely on it.
TEST(Usability, ServeStartsOrSaysWhyAndWorkloadFailsOnWrongAnswers) {
  const auto dir = scratch("serve");
  auto r = run_command("cd " + q(dir) + " && " + fp() + "serve --port 0", true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("pass --gallery G.db"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "facepipe-data")) << "a failed start-up created facepipe-data/";

  const auto db = small_gallery(dir);
  facepipe::testing::Child serve(
      {"--models-dir", shared_models().string(), "serve", "--port", "0", "--data-dir",
       (dir / "data").string(), "--gallery", db.string(), "--id", "wl"},
      dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  const std::string queue = url + "/000000000000/wl-resp-queue";
  EXPECT_NE(serve.log().find("response queue URL " + queue), std::string::npos) << serve.log();
  EXPECT_NE(serve.log().find((dir / "data/queues.db").string()), std::string::npos) << serve.log();

  const fs::path images = dir / "frames";
  fs::create_directories(images);
  fs::copy_file(frame("Obama", 10), images / "a.jpg");
  fs::copy_file(frame("Bean", 10), images / "b.jpg");
  std::ofstream(dir / "right.csv") << "Image,Results\na,Obama\nb,Bean\n";
  std::ofstream(dir / "wrong.csv") << "Image,Results\na,Bean\nb,Bean\n";
  const std::string workload = "workload --url " + url + "/ --queue-url " + queue + " --images " + q(images) +
                               " --timeout 60 --labels ";
  r = run_command(fp() + workload + q(dir / "right.csv"), true);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command(fp() + workload + q(dir / "wrong.csv"), true);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 of 2 answers wrong"), std::string::npos) << r.output;

  // A worker with the wrong --id is told which; one whose endpoint is not up yet waits for it, saying so.
  r = run_command(fp() + "worker recognize --queue-endpoint " + url + " --gallery " + q(db), true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("pass the --id"), std::string::npos) << r.output;
  r = run_command(
      "timeout 4 " + fp() + "worker recognize --queue-endpoint http://127.0.0.1:9 --gallery " + q(db), true);
  EXPECT_NE(r.output.find("not reachable yet"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("retrying in"), std::string::npos) << r.output;
}

// The full serve (recognition workers in the process) stops on SIGTERM as the others do: exit 0, a log
// line, the queues' write-ahead log checkpointed away.
TEST(Usability, FullServeStopsCleanlyOnSigterm) {
  const auto dir = scratch("sigterm");
  const auto db = small_gallery(dir);
  const fs::path log = dir / "serve.log";
  const std::string script = fp() + "serve --port 0 --data-dir " + q(dir / "data") + " --gallery " + q(db) +
                             " >" + q(log) +
                             " 2>&1 & pid=$!; for i in $(seq 600); do grep -q 'listening on' " + q(log) +
                             " && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo rc=$?";
  const auto r = run_command(script);
  const std::string text = facepipe::testing::read_file(log);
  EXPECT_NE(r.output.find("rc=0"), std::string::npos) << r.output << text;
  EXPECT_NE(text.find("shutting down"), std::string::npos) << text;
  EXPECT_NE(text.find("serve: stopped"), std::string::npos) << text;
  const fs::path wal = dir / "data/queues.db-wal";
  EXPECT_TRUE(!fs::exists(wal) || fs::file_size(wal) == 0) << "queues.db-wal left behind";
}

}  // namespace
}  // namespace facepipe::cli
