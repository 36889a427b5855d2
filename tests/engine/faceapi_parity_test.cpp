// The C++ face-api descriptor against the official JavaScript implementation (tools/faceapi-ref, run
// under Node) on the same aligned face chips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "face/embedder.h"
#include "engine/mtcnn.h"
#include "image/decode.h"
#include "models/faceapi_resnet.h"
#include "testutil/testutil.h"

namespace facepipe::engine {

using namespace facepipe::face;  // the contracts the engine implements
namespace {

namespace fs = std::filesystem;
using facepipe::testing::datasets;
using facepipe::testing::shared_models;
using facepipe::testing::source_dir;

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

TEST(FaceApiParity, DescriptorsMatchTheJavaScriptImplementation) {
  const fs::path tool = source_dir() / "tools/faceapi-ref";
  ASSERT_TRUE(fs::exists(tool / "node_modules/@vladmandic/face-api/package.json"))
      << "the JavaScript reference is not installed: run scripts/faceapi-ref.sh";
  Mtcnn mtcnn(shared_models() / "mtcnn");
  auto net = models::FaceApiResNet::load(shared_models() / "faceapi/face_recognition_model-weights_manifest.json");
  const fs::path dir = fs::temp_directory_path() / "facepipe_faceapi_parity";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<cv::Mat> chips;
  std::vector<std::string> names;
  for (const char* image : {"video_frames/Bean/frame_001.jpg", "video_frames/Obama/frame_005.jpg",
                            "video_frames/Trump/frame_010.jpg", "video_frames/Freeman/frame_003.jpg",
                            "misc/kate_siegel.jpg", "misc/multiface.jpg", "face_images_1000/test_000.jpg",
                            "face_images_1000/test_500.jpg"}) {
    const cv::Mat rgb = image::load_rgb(datasets() / image);
    for (const auto& f : mtcnn.detect(rgb)) {
      chips.push_back(extract_crop(rgb, f, net->crop_spec()));
      names.push_back("chip_" + std::to_string(chips.size()) + ".rgb");
      std::ofstream(dir / names.back(), std::ios::binary)
          .write(reinterpret_cast<const char*>(chips.back().data), 150 * 150 * 3);
    }
  }
  ASSERT_GE(chips.size(), 12u);
  const auto mine = net->embed(chips);
  const std::string json = run("node '" + (tool / "describe.cjs").string() + "' '" +
                               (shared_models() / "faceapi").string() + "' '" + dir.string() + "' 2>/dev/null");
  ASSERT_FALSE(json.empty()) << "node produced nothing; run scripts/faceapi-ref.sh";
  const auto ref = nlohmann::json::parse(json);
  double worst = 1;
  for (size_t i = 0; i < chips.size(); ++i) {
    const auto want = ref.at(names[i]).get<std::vector<float>>();
    ASSERT_EQ(want.size(), 128u);
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < 128; ++k) {
      dot += double(mine[i][k]) * want[k];
      na += double(mine[i][k]) * mine[i][k];
      nb += double(want[k]) * want[k];
    }
    const double cosine = dot / std::sqrt(na * nb);
    worst = std::min(worst, cosine);
    EXPECT_GE(cosine, 0.999) << names[i];
  }
  std::cout << chips.size() << " chips, lowest cosine similarity with face-api.js: " << worst << "\n";
}

}  // namespace
}  // namespace facepipe::engine
