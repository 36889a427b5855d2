// The tracker on real detections and real embeddings: the frames of datasets/video_frames (every third
// frame of the bundled clips, at their times) through MTCNN and the face-api embedder, with a gallery
// enrolled from the first 3 frames of each person; the tracked frames are the others.
#include "stream/tracker.h"

#include <map>
#include <set>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "engine/loader.h"
#include "image/decode.h"
#include "recognition/enroll.h"
#include "recognition/thresholds.h"
#include "testutil/testutil.h"

namespace facepipe::stream {
namespace {

using facepipe::testing::datasets;

class TrackerOnRealFrames : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::EngineOptions options;
    options.models_dir = facepipe::testing::shared_models().string();
    options.embedder = engine::EmbedderKind::kFaceApi;
    detector_ = engine::make_detector(options).release();
    embedder_ = engine::make_embedder(options).release();
    gallery_ = gallery::Gallery::in_memory(embedder_->id()).release();
    for (const auto& r :
         recognition::enroll(*gallery_, *detector_, *embedder_,
                             recognition::sources_from_folder(datasets() / "video_frames", 3)))
      ASSERT_EQ(r.enrolled, 3) << r.name;
    threshold_ = recognition::default_threshold(embedder_->id());
  }
  static void TearDownTestSuite() {
    delete gallery_;
    delete embedder_;
    delete detector_;
  }

  // Frames 4.. of a person (the enrolled ones excluded), in order.
  static std::vector<cv::Mat> frames(const std::string& person) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(datasets() / "video_frames" / person))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<cv::Mat> out;
    for (size_t i = 3; i < files.size(); ++i) out.push_back(image::load_rgb(files[i]));
    return out;
  }

  struct Step {
    FrameUpdate update;
    std::vector<Observation> faces;
  };
  // One frame through detection, quality, the tracker and (for what it asks) the embedder.
  Step step(Tracker& tracker, double t, const cv::Mat& rgb) {
    Step s;
    const auto spec = embedder_->crop_spec();
    std::vector<cv::Mat> crops;
    for (const auto& d : detector_->detect(rgb)) {
      crops.push_back(face::extract_crop(rgb, d, spec));
      s.faces.push_back({d, recognition::assess_quality(d, rgb.cols, rgb.rows, crops.back(), {})});
    }
    s.update = tracker.update(t, s.faces, [&](const std::vector<int>& indices) {
      std::vector<cv::Mat> batch;
      for (int i : indices) batch.push_back(crops[static_cast<size_t>(i)]);
      std::vector<EmbeddedMatch> out;
      for (auto& e : embedder_->embed(batch)) out.push_back({e, gallery_->match(e, threshold_)});
      embedded_ += static_cast<int>(indices.size());
      return out;
    });
    for (const auto& e : s.update.events) events_.push_back(e);
    return s;
  }

  std::vector<std::string> story() const {
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(std::string(to_string(e.type)) + " " + e.track.name);
    return out;
  }

  static face::Detector* detector_;
  static face::Embedder* embedder_;
  static gallery::Gallery* gallery_;
  static float threshold_;
  std::vector<TrackEvent> events_;
  int embedded_ = 0;
};
face::Detector* TrackerOnRealFrames::detector_ = nullptr;
face::Embedder* TrackerOnRealFrames::embedder_ = nullptr;
gallery::Gallery* TrackerOnRealFrames::gallery_ = nullptr;
float TrackerOnRealFrames::threshold_ = 0;

constexpr double kFramePeriod = 3 / 23.976;  // every third frame of a 23.976 fps clip

TEST_F(TrackerOnRealFrames, OnePersonIsOneTrackEmbeddedAFewTimes) {
  Tracker tracker("door");
  const auto bean = frames("Bean");
  double t = 0;
  std::set<std::string> ids;
  for (const auto& f : bean) {
    const auto s = step(tracker, t, f);
    for (const auto& id : s.update.track_of)
      if (!id.empty()) ids.insert(id);
    t += kFramePeriod;
  }
  for (const auto& e : tracker.finish()) events_.push_back(e);
  ASSERT_EQ(story(),
            (std::vector<std::string>{"face.entered Bean", "face.identified Bean", "face.left Bean"}));
  EXPECT_EQ(ids.size(), 1u);
  const TrackInfo& left = events_.back().track;
  EXPECT_EQ(left.id, "door-1");
  EXPECT_TRUE(left.known && left.certain);
  EXPECT_LT(left.distance, threshold_);
  EXPECT_EQ(left.frames_seen, static_cast<int>(bean.size()));
  // Embedded at its start, then about once a second (and on clear quality gains), not at each frame.
  EXPECT_GE(left.embeddings, 2);
  EXPECT_LE(left.embeddings, 1 + static_cast<int>(t / TrackerOptions{}.embed_interval) + 2);
  EXPECT_LT(left.embeddings * 3, left.frames_seen);
  EXPECT_EQ(left.embeddings, embedded_);
  EXPECT_EQ(tracker.embeddings(), embedded_);
  // The entered event came after min_hits good frames.
  EXPECT_EQ(events_.front().track.good_frames, TrackerOptions{}.min_hits);
}

TEST_F(TrackerOnRealFrames, PeopleOneAfterAnotherEnterAndLeaveInOrder) {
  Tracker tracker("door");
  double t = 0;
  // Every other frame: about 4 analysed frames a second.
  for (const std::string person : {"Bean", "Obama", "Freeman"}) {
    const auto f = frames(person);
    for (size_t i = 0; i < f.size(); i += 2) {
      step(tracker, t, f[i]);
      t += 2 * kFramePeriod;
    }
    for (const auto& e : tracker.expire(t + 2)) events_.push_back(e);  // an empty doorway for 2 s
    t += 2;
  }
  std::vector<std::string> entered_left;
  for (const auto& s : story())
    if (s.rfind("face.identified", 0) != 0) entered_left.push_back(s);
  EXPECT_EQ(entered_left,
            (std::vector<std::string>{"face.entered Bean", "face.left Bean", "face.entered Obama",
                                      "face.left Obama", "face.entered Freeman", "face.left Freeman"}));
  EXPECT_EQ(tracker.active(), 0u);
  for (const auto& e : events_) EXPECT_TRUE(e.track.known) << e.track.id;
}

TEST_F(TrackerOnRealFrames, AFaceThatJumpsIsReattachedByItsEmbedding) {
  // Obama's frames, then the same frames shifted 500 px to the right after a short gap: no box overlap,
  // so only the embedding can tell it is the same face.
  Tracker tracker("door");
  const auto obama = frames("Obama");
  double t = 0;
  for (size_t i = 0; i < obama.size() / 2; ++i, t += kFramePeriod) step(tracker, t, obama[i]);
  t += 0.5;  // under max_age
  std::set<std::string> ids;
  for (size_t i = obama.size() / 2; i < obama.size(); ++i, t += kFramePeriod) {
    cv::Mat shifted(obama[i].rows, obama[i].cols + 500, CV_8UC3, cv::Scalar(0, 0, 0));
    obama[i].copyTo(shifted(cv::Rect(500, 0, obama[i].cols, obama[i].rows)));
    const auto s = step(tracker, t, shifted);
    for (size_t k = 0; k < s.faces.size(); ++k)
      if (!s.update.track_of[k].empty() && s.faces[k].quality.ok()) ids.insert(s.update.track_of[k]);
  }
  EXPECT_EQ(ids, std::set<std::string>{"door-1"});
  for (const auto& e : events_) EXPECT_EQ(e.track.id, "door-1") << to_string(e.type);
}

TEST_F(TrackerOnRealFrames, TwoPeopleAtOnceAreTwoTracksWithTheirOwnNames) {
  Tracker tracker("hall");
  auto bean = frames("Bean"), freeman = frames("Freeman");
  const size_t n = std::min(bean.size(), freeman.size());
  std::map<std::string, std::string> name_of;
  for (size_t i = 0; i < n; ++i) {
    // Side by side at 640x360 each (Freeman's clip is 720p as Bean's).
    cv::Mat left, right, frame(360, 1280, CV_8UC3);
    cv::resize(bean[i], left, {640, 360});
    cv::resize(freeman[i], right, {640, 360});
    left.copyTo(frame(cv::Rect(0, 0, 640, 360)));
    right.copyTo(frame(cv::Rect(640, 0, 640, 360)));
    step(tracker, static_cast<double>(i) * kFramePeriod, frame);
  }
  for (const auto& e : tracker.finish()) events_.push_back(e);
  for (const auto& e : events_)
    if (e.type == TrackEvent::Type::kLeft) name_of[e.track.id] = e.track.name;
  EXPECT_EQ(name_of.size(), 2u);
  std::set<std::string> names;
  for (const auto& [id, name] : name_of) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"Bean", "Freeman"}));
}

TEST(Iou, OverlapOfBoxes) {
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0f);
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0f / 150.0f);
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.0f);
  EXPECT_FLOAT_EQ(iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0f);
}

}  // namespace
}  // namespace facepipe::stream
