// The whole camera loop on loopback, with the real binary: `people import` records, `serve`,
// `camera --mode clips` uploading Obama.mp4 (several in flight), `results` printing each result with its
// record and latency; then an unusable upload gets a 4xx and an error result on the queue.
#define FACEPIPE_BIN FACEPIPE_BINARY
#include "testutil/process_util.h"

#include <fstream>
#include <map>
#include <sstream>

#include "testutil/recording.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace facepipe::testing {
namespace {

TEST(CameraLoop, ClipsUploadedByTheCameraComeBackWithRecordsAndLatency) {
  const auto dir = temp_dir("camera");
  const auto gallery = dir / "gallery.db";
  auto r = shell(facepipe_cmd("enroll --gallery " + gallery.string() + " --folder " +
                              (datasets() / "video_frames").string() + " --per-person 3"));
  ASSERT_EQ(r.status, 0) << r.out;
  {
    std::ofstream csv(dir / "people.csv");
    csv << "name,major,year\nObama,Law,1991\nTrump,Business,1968\nBean,Drama,1979\nFreeman,Film,1961\n";
  }
  r = shell(
      facepipe_cmd("people import --gallery " + gallery.string() + " " + (dir / "people.csv").string()));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("imported 4"), std::string::npos) << r.out;
  r = shell(facepipe_cmd("people get --json --gallery " + gallery.string() + " Obama"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["year"], 1991);
  r = shell(facepipe_cmd("people get --gallery " + gallery.string() + " Nobody"));
  EXPECT_NE(r.status, 0) << r.out;

  Child serve({"serve", "--port", "0", "--data-dir", (dir / "data").string(), "--gallery", gallery.string(),
               "--id", "cam"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();

  const std::string clip = (datasets() / "videos/Obama.mp4").string();
  r = shell(
      facepipe_cmd("camera --json --source " + clip + " --mode clips --repeat 3 --in-flight 2 --url " + url));
  ASSERT_EQ(r.status, 0) << r.out << serve.log();
  EXPECT_NE(r.out.find("\"acknowledged\":3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("camera: "), std::string::npos) << "no progress line: " << r.out;

  const std::string queue = url + "/000000000000/cam-resp-queue";
  r = shell(facepipe_cmd("results --queue-url " + queue + " --expect 3 --idle-seconds 60"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(occurrences(r.out, "Obama"), 6) << r.out;  // the name and the record's name, three times
  EXPECT_EQ(occurrences(r.out, "\"major\":\"Law\""), 3) << r.out;
  EXPECT_EQ(occurrences(r.out, "latency"), 4) << r.out;  // three results and the summary
  EXPECT_NE(r.out.find("3 results, average latency"), std::string::npos) << r.out;

  // A continuous recording (Bean, then Obama) cut by the camera into ~1 s clips: each clip is answered, the
  // first with Bean and the last with Obama.
  const auto recording = dir / "recording.mp4";
  make_recording({"Bean", "Obama"}, recording);
  r = shell(facepipe_cmd("camera --json --source " + recording.string() +
                         " --mode clips --clip-seconds 1 --no-realtime --id-prefix rec --url " + url));
  ASSERT_EQ(r.status, 0) << r.out << serve.log();
  const int clips = nlohmann::json::parse(r.out.substr(r.out.rfind('{')))["sent"];
  EXPECT_GE(clips, 3) << r.out;
  r = shell(facepipe_cmd("results --json --queue-url " + queue + " --expect " + std::to_string(clips) +
                         " --idle-seconds 60"));
  ASSERT_EQ(r.status, 0) << r.out;
  std::map<std::string, std::string> by_id;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("request_id")) by_id[j["request_id"]] = j["result"];
    }
  ASSERT_EQ(static_cast<int>(by_id.size()), clips) << r.out;
  EXPECT_EQ(by_id.begin()->second, "Bean") << r.out;  // ids sort in sending order (rec-000000@...)
  EXPECT_EQ(by_id.rbegin()->second, "Obama") << r.out;

  // Not a video: a clear 4xx for the uploader and an error result for the retriever.
  r = shell("curl -s -w ' HTTP%{http_code}' -H 'Content-Type: video/mp4' --data-binary @" +
            (datasets() / "misc/kate_siegel.jpg").string() + " '" + url +
            "/clips?request_id=bad-1&filename=photo.jpg'");
  EXPECT_NE(r.out.find("HTTP4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("still image"), std::string::npos) << r.out;
  r = shell(facepipe_cmd("results --json --queue-url " + queue + " --expect 1 --idle-seconds 30"));
  ASSERT_EQ(r.status, 0) << r.out;
  const size_t start = r.out.find('{');
  ASSERT_NE(start, std::string::npos) << r.out;
  const auto line = nlohmann::json::parse(r.out.substr(start, r.out.find('\n', start) - start));
  EXPECT_EQ(line["request_id"], "bad-1");
  EXPECT_EQ(line["result"], "Error");
  EXPECT_FALSE(line["message"].get<std::string>().empty());
}

}  // namespace
}  // namespace facepipe::testing
