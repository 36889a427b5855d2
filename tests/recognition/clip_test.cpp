// The camera variant's core: each bundled clip yields its person, with that person's record.
#include "recognition/clip.h"

#include <gtest/gtest.h>

#include "engine/loader.h"
#include "recognition/enroll.h"
#include "recognition/thresholds.h"
#include "testutil/testutil.h"

namespace facepipe::recognition {
namespace {

using facepipe::testing::datasets;
using facepipe::testing::read_file;

TEST(ClipRecognition, EachClipYieldsItsPersonWithTheirRecord) {
  engine::EngineOptions options;
  options.models_dir = facepipe::testing::shared_models().string();
  options.embedder = engine::EmbedderKind::kFaceApi;
  auto detector = engine::make_detector(options);
  auto embedder = engine::make_embedder(options);
  auto gallery = gallery::Gallery::in_memory(embedder->id());
  enroll(*gallery, *detector, *embedder, sources_from_folder(datasets() / "video_frames", 3));
  const nlohmann::json majors = {{"Bean", "Drama"}, {"Freeman", "Film"}, {"Obama", "Law"}, {"Trump", "Business"}};
  for (const auto& [name, major] : majors.items())
    gallery->set_record(name, {{"name", name}, {"major", major}, {"year", 2026}});
  const float threshold = default_threshold(embedder->id());

  for (const std::string name : {"Bean", "Freeman", "Obama", "Trump"}) {
    const std::string clip = read_file(datasets() / "videos" / (name + ".mp4"));
    const ClipResult r = recognize_clip(*detector, *embedder, *gallery, clip, video::FramePolicy::parse("fps:2"), threshold);
    EXPECT_EQ(r.main_person(), name) << r.to_json().dump(2);
    ASSERT_FALSE(r.people.empty());
    const PersonInClip& p = r.people[0];
    EXPECT_EQ(p.record["major"], majors[name]) << name;
    // Seen in (nearly) every recognised frame, at times inside the clip.
    EXPECT_GE(p.frames, r.clip.delivered - 1) << name;
    EXPECT_GE(p.first_seen, 0.0);
    EXPECT_LE(p.last_seen, r.clip.duration + 0.01);
    EXPECT_LE(p.first_seen, 0.6) << name;
    EXPECT_EQ(r.to_json()["result"], name);
  }
}

}  // namespace
}  // namespace facepipe::recognition
