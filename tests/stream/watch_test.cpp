// `facepipe watch` against real servers on loopback: GStreamer's RTSP server (tests/stream/rtsp_server.py)
// serving the bundled clips in sequence (Bean, then Obama, then Freeman, with empty gaps), Python's HTTP
// server for an MPEG-TS stream. Each test starts and stops its own servers.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stream/stream_testutil.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::filesystem::path test_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / ("fp_stream_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// The four people of video_frames enrolled from 3 frames each, with records (once per test binary).
const std::filesystem::path& gallery() {
  static const std::filesystem::path db = [] {
    const auto dir = test_dir("gallery");
    const auto path = dir / "people.db";
    const std::string bin = facepipe_binary().string();
    auto r = run_command(bin + " enroll --gallery " + path.string() + " --folder " +
                             (datasets() / "video_frames").string() + " --per-person 3",
                         true);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(dir / "people.csv")
        << "name,major,year\nObama,Law,1991\nTrump,Business,1968\nBean,Drama,1979\nFreeman,Film,1961\n";
    r = run_command(bin + " people import --gallery " + path.string() + " " + (dir / "people.csv").string(),
                    true);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return path;
  }();
  return db;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::unique_ptr<Process> watch(const std::filesystem::path& dir, std::vector<std::string> args) {
  std::vector<std::string> all = {facepipe_binary().string(), "watch",          "--gallery",
                                  gallery().string(),         "--json",         "--data-dir",
                                  (dir / "data").string(),    "--status-every", "1"};
  all.insert(all.end(), args.begin(), args.end());
  return std::make_unique<Process>(all, dir / "watch.out", dir / "watch.err");
}

// The events of `camera` in `text`.
std::vector<json> events_of(const std::string& text, const std::string& camera) {
  std::vector<json> out;
  for (auto& e : event_lines(text))
    if (e["camera"] == camera) out.push_back(e);
  return out;
}

bool has_event(const std::string& text, const std::string& type, const std::string& name,
               int after_track = 0) {
  for (const auto& e : event_lines(text)) {
    const std::string id = e["track_id"];
    if (e["type"] == type && e["name"] == name && std::stoi(id.substr(id.rfind('-') + 1)) > after_track)
      return true;
  }
  return false;
}

// The last line of `watch`'s stderr: the final status JSON.
json final_status(const std::string& err) {
  const auto start = err.rfind("{\"cameras\"");
  if (start == std::string::npos) return json();
  return json::parse(err.substr(start, err.find('\n', start) - start), nullptr, false);
}

json camera_status(const json& status, const std::string& name) {
  if (status.is_object())
    for (const auto& c : status["cameras"])
      if (c["name"] == name) return c;
  return json();
}

// The order of people in a sequence: entered/left per track, for the known people.
void expect_people_in_order(const std::vector<json>& events, const std::vector<std::string>& people,
                            const std::string& context) {
  std::vector<std::string> seen;  // "entered Bean", "left Bean", ...
  for (const auto& e : events) {
    if (e["type"] == "face.identified") continue;
    seen.push_back((e["type"] == "face.entered" ? "entered " : "left ") + e["name"].get<std::string>());
  }
  std::vector<std::string> expected;
  for (const auto& p : people) {
    expected.push_back("entered " + p);
    expected.push_back("left " + p);
  }
  ASSERT_GE(seen.size(), expected.size()) << context;
  seen.resize(expected.size());
  EXPECT_EQ(seen, expected) << context;
}

TEST(Watch, RtspCameraGivesEnteredAndLeftForEachPersonInOrderWithRecordsAndSnapshots) {
  const auto dir = test_dir("order");
  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"}, 2);
  auto w = watch(dir, {"--camera", "door=" + server.url("door"), "--fps", "5"});
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.left", "Freeman") || !w->alive(); }, seconds(90)))
      << w->out() << w->err();
  EXPECT_EQ(w->stop(SIGTERM), 0) << w->err();
  const auto events = events_of(w->out(), "door");
  expect_people_in_order(events, {"Bean", "Obama", "Freeman"}, w->out());

  const std::map<std::string, std::string> majors = {
      {"Bean", "Drama"}, {"Obama", "Law"}, {"Freeman", "Film"}};
  const std::regex iso("20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z");
  int64_t embeddings = 0, frames = 0;
  std::set<std::string> tracks;
  for (const auto& e : events) {
    if (!e["known"].get<bool>()) ADD_FAILURE() << "a stranger or false detection made an event: " << e.dump();
    const std::string name = e["name"];
    if (!majors.count(name)) continue;
    tracks.insert(e["track_id"]);
    EXPECT_EQ(e["record"]["major"], majors.at(name)) << e.dump();
    EXPECT_EQ(e["track_id"].get<std::string>().rfind("door-", 0), 0u) << e.dump();
    EXPECT_TRUE(std::regex_match(e["time"].get<std::string>(), iso)) << e.dump();
    EXPECT_TRUE(std::regex_match(e["first_seen"].get<std::string>(), iso)) << e.dump();
    EXPECT_LE(e["first_seen"].get<std::string>(), e["time"].get<std::string>());
    EXPECT_EQ(e["frame_size"], json({1280, 720}));
    const auto box = e["box"];
    EXPECT_TRUE(box[0] < box[2] && box[1] < box[3] && box[2].get<double>() <= 1290 &&
                box[3].get<double>() <= 730)
        << e.dump();
    EXPECT_GT(e["quality"].get<double>(), 0);
    EXPECT_LT(e["distance"].get<double>(), 0.5) << e.dump();
    EXPECT_GE(e["embeddings"].get<int>(), 1);
    EXPECT_LE(e["embeddings"].get<int>(), e["frames_seen"].get<int>());
    // Snapshots: the best face and its frame, real JPEGs under the data directory.
    ASSERT_TRUE(e["snapshot"].is_object()) << e.dump();
    for (const char* kind : {"face", "frame"}) {
      const auto file = dir / "data/snapshots" / e["snapshot"][kind].get<std::string>();
      const std::string bytes = slurp(file);
      ASSERT_GT(bytes.size(), 1000u) << file;
      EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0xFF);
      EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0xD8);
    }
    if (e["type"] == "face.left") {
      EXPECT_GT(e["duration_s"].get<double>(), name == "Freeman" ? 1.0 : 2.5) << e.dump();  // in slow motion
      embeddings += e["embeddings"].get<int>();
      frames += e["frames_seen"].get<int>();
    }
  }
  EXPECT_EQ(tracks.size(), 3u) << "one track per person: " << w->out();
  // Tracking embeds a fraction of the faces it sees.
  EXPECT_LT(embeddings * 2, frames) << embeddings << " embeddings for " << frames << " faces";
  const json door = camera_status(final_status(w->err()), "door");
  ASSERT_TRUE(door.is_object()) << w->err();
  EXPECT_EQ(door["source"]["connects"], 1);
  EXPECT_GT(door["frames_analysed"].get<int>(), 20);
  EXPECT_GE(door["source"]["frames_decoded"].get<int>(), 200);  // decoded at the stream's rate (25 fps)
}

TEST(Watch, ReconnectsWhenTheRtspServerIsKilledAndRestarted) {
  const auto dir = test_dir("restart");
  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"});
  auto w = watch(dir, {"--camera", "door=" + server.url("door"), "--fps", "5", "--retry-min", "0.5",
                       "--retry-max", "2", "--stall-timeout", "3"});
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.entered", "Bean") || !w->alive(); }, seconds(60)))
      << w->err();
  server.kill();  // mid-stream, during Bean
  ASSERT_TRUE(eventually([&] { return w->err().find("retrying in") != std::string::npos; }, seconds(20)))
      << w->err();
  std::this_thread::sleep_for(seconds(2));  // a few failed attempts while it is down
  server.restart();
  const int before = static_cast<int>(events_of(w->out(), "door").size());
  // The camera reconnects by itself and the sequence plays again from the start: events resume.
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.left", "Obama", 1) || !w->alive(); }, seconds(90)))
      << w->out() << w->err();
  EXPECT_EQ(w->stop(SIGTERM), 0);
  EXPECT_GT(static_cast<int>(events_of(w->out(), "door").size()), before);
  const json door = camera_status(final_status(w->err()), "door");
  ASSERT_TRUE(door.is_object()) << w->err();
  EXPECT_GE(door["source"]["connects"].get<int>(), 2) << door.dump();
  EXPECT_GE(door["source"]["failures"].get<int>(), 2)
      << door.dump();  // the drop and at least one refused retry
  EXPECT_NE(w->err().find("Connection refused"), std::string::npos) << w->err();
}

TEST(Watch, UnreachableCameraIsRetriedWithBackoffAndOthersAreUnaffected) {
  const auto dir = test_dir("unreachable");
  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"}, 2);
  const std::string gone = "rtsp://127.0.0.1:" + std::to_string(free_port()) + "/nothing";
  auto w = watch(dir, {"--camera", "gone=" + gone, "--camera", "door=" + server.url("door"), "--fps", "5",
                       "--retry-min", "0.5", "--retry-max", "2"});
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.left", "Freeman") || !w->alive(); }, seconds(90)))
      << w->out() << w->err();
  EXPECT_EQ(w->stop(SIGTERM), 0);
  expect_people_in_order(events_of(w->out(), "door"), {"Bean", "Obama", "Freeman"}, w->out());
  EXPECT_TRUE(events_of(w->out(), "gone").empty());
  const std::string err = w->err();
  // A clear error naming the camera, then waits that double up to the cap.
  const std::string prefix = "camera gone " + gone + ": cannot open: Connection refused; retrying in ";
  for (const char* wait : {"0.5 s", "1.0 s", "2.0 s"})
    EXPECT_NE(err.find(prefix + wait), std::string::npos) << err;
  EXPECT_EQ(err.find(prefix + "4.0 s"), std::string::npos) << "the backoff is capped at 2 s: " << err;
  EXPECT_GE(occurrences_of(err, prefix + "2.0 s"), 2) << err;
  const json status = final_status(err);
  const json g = camera_status(status, "gone"), d = camera_status(status, "door");
  ASSERT_TRUE(g.is_object() && d.is_object()) << err;
  EXPECT_EQ(g["source"]["connects"], 0);
  EXPECT_GE(g["source"]["failures"].get<int>(), 4);
  EXPECT_NE(g["source"]["last_error"].get<std::string>().find("Connection refused"), std::string::npos);
  EXPECT_EQ(d["source"]["connects"], 1);
}

TEST(Watch, StalledStreamIsDetectedAndReopened) {
  const auto dir = test_dir("stall");
  RtspServer server(dir, {"Bean", "Obama", "Freeman"}, {"door"});
  auto w = watch(dir, {"--camera", "door=" + server.url("door"), "--fps", "5", "--stall-timeout", "2",
                       "--open-timeout", "2", "--retry-min", "0.5", "--retry-max", "1"});
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.entered", "Bean") || !w->alive(); }, seconds(60)))
      << w->err();
  server.process().signal(SIGSTOP);  // the connection stays open, nothing more arrives
  ASSERT_TRUE(
      eventually([&] { return w->err().find("stalled: no data for 2 s") != std::string::npos; }, seconds(15)))
      << w->err();
  // The stalled track leaves (time passes without frames), and reopening a frozen server times out.
  ASSERT_TRUE(eventually([&] { return has_event(w->out(), "face.left", "Bean"); }, seconds(10))) << w->out();
  ASSERT_TRUE(eventually(
      [&] {
        return w->err().find("no answer within 2 s") != std::string::npos ||
               w->err().find("no stream information within 2 s") != std::string::npos;
      },
      seconds(15)))
      << w->err();
  server.process().signal(SIGCONT);
  ASSERT_TRUE(
      eventually([&] { return has_event(w->out(), "face.entered", "Obama") || !w->alive(); }, seconds(60)))
      << w->out() << w->err();
  EXPECT_EQ(w->stop(SIGTERM), 0);
  const json door = camera_status(final_status(w->err()), "door");
  ASSERT_TRUE(door.is_object()) << w->err();
  EXPECT_GE(door["source"]["connects"].get<int>(), 2) << door.dump();
}

TEST(Watch, CameraArgumentsAreCheckedAndV4l2DevicesAreRetried) {
  // No capture device exists on this machine: V4L2 is built and its arguments are tested, not its capture.
  const auto dir = test_dir("args");
  const std::string bin = facepipe_binary().string() + " watch --gallery " + gallery().string() + " ";
  struct Case {
    std::string camera, message;
  } bad[] = {
      {"cam=/dev/videoX", "is not a V4L2 capture device"},
      {"'cam=/dev/video0?size=big'", "device option 'size=big'"},
      {"'cam=v4l2:/dev/video0?zoom=2'", "device option 'zoom=2'"},
      {"cam=ftp://example.invalid/x", "no video source for 'ftp://example.invalid/x'"},
      {"'bad name=rtsp://127.0.0.1/x'", "is not NAME=URL"},
      {"=rtsp://127.0.0.1/x", "is not NAME=URL"},
      {"cam=", "is not NAME=URL"},
  };
  for (const auto& c : bad) {
    const auto r = run_command(bin + "--camera " + c.camera, true);
    EXPECT_EQ(r.exit_code, 2) << c.camera << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.camera << ": " << r.output;
  }
  // Passwords never reach the output.
  auto r = run_command(bin + "--camera 'cam=rtspx://user:secret@127.0.0.1/x'", true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.find("secret"), std::string::npos) << r.output;
  // A well-formed device that does not exist: a clear error and retries, and the command keeps running.
  r = run_command(bin +
                      "--camera 'cam=v4l2:/dev/video57?size=640x480&fps=15&format=mjpeg' --duration 3 "
                      "--retry-min 0.5 --data-dir " +
                      (dir / "data").string(),
                  true);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(
      r.output.find("camera cam v4l2:/dev/video57?size=640x480&fps=15&format=mjpeg: cannot open: No such "
                    "file or directory; retrying in 0.5 s"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("retrying in 1.0 s"), std::string::npos) << r.output;
}

TEST(Watch, HoursOfVideoFedFastKeepMemoryFlat) {
  // Three minutes of 720p video over HTTP (MPEG-TS), served as fast as it can be read, with decoded
  // frames offered for analysis at up to 60 a second: analysis falls behind (a 720p frame's detection
  // alone takes ~28 ms on 2 cores; 360p frames at 25 a second no longer made it fall behind once MTCNN
  // got faster), frames are dropped (never queued) and memory must stay where it started.
  const auto dir = test_dir("rss");
  const auto ts = std::filesystem::temp_directory_path() / "fp_stream_long_1280x720_16.ts";
  auto r = run_command("/usr/bin/python3 " + (source_dir() / "tests/stream/rtsp_server.py").string() +
                           " --render-only --size 1280x720 --loops 16 --clips " +
                           clips({"Bean", "Obama", "Freeman"}) + " --render " + ts.string(),
                       true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int port = free_port();
  Process http({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                ts.parent_path().string(), std::to_string(port)},
               dir / "http.out", dir / "http.err");
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/" + ts.filename().string();
  ASSERT_TRUE(eventually(
      [&] {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        close(fd);
        return up;
      },
      seconds(20)));
  auto w = watch(dir, {"--camera", "long=" + url, "--fps", "60", "--no-snapshots"});
  std::vector<size_t> rss;
  const bool consumed = eventually(
      [&] {
        std::ifstream in("/proc/" + std::to_string(w->pid()) + "/status");
        for (std::string line; std::getline(in, line);)
          if (line.rfind("VmRSS:", 0) == 0) rss.push_back(std::stoull(line.substr(6)) * 1024);
        return w->err().find("the stream ended") != std::string::npos || !w->alive();
      },
      seconds(240));
  ASSERT_TRUE(consumed) << w->err();
  EXPECT_EQ(w->stop(SIGTERM), 0);
  const json c = camera_status(final_status(w->err()), "long");
  ASSERT_TRUE(c.is_object()) << w->err();
  const int64_t decoded = c["source"]["frames_decoded"];
  EXPECT_GE(decoded, 16 * 280) << c.dump();  // 16 x 11.3 s at 25 fps, all of it
  EXPECT_GT(c["frames_dropped"].get<int64_t>(), c["frames_analysed"].get<int64_t>() / 2) << c.dump();
  EXPECT_GT(c["events"].get<int64_t>(), 6) << c.dump();
  ASSERT_GE(rss.size(), 20u);
  // Warm-up (models, first frames) in the first fifth; then flat.
  const size_t early = *std::max_element(rss.begin() + rss.size() / 5, rss.begin() + 2 * rss.size() / 5);
  const size_t late = *std::max_element(rss.end() - rss.size() / 5, rss.end());
  EXPECT_LT(late, early + 30 * 1024 * 1024) << "RSS grew from " << early / 1048576 << " MB to "
                                            << late / 1048576 << " MB over " << decoded << " frames";
  std::cerr << "RSS " << early / 1048576 << " MB -> " << late / 1048576 << " MB over " << decoded
            << " frames decoded, " << c["frames_analysed"] << " analysed, " << c["frames_dropped"]
            << " dropped\n";
}

}  // namespace
}  // namespace facepipe::testing
