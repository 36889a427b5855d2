// The CompreFace API handlers called directly (no transport), on the real engine and the bundled frames.
#include "api/compreface.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/loader.h"
#include "image/codec.h"
#include "service/base64.h"
#include "testutil/testutil.h"

namespace facepipe::api {
namespace {

using facepipe::testing::datasets;
using facepipe::testing::read_file;
using facepipe::testing::shared_models;
using nlohmann::json;

std::string frame(const std::string& person, int n) {
  return read_file(facepipe::testing::video_frame(person, n));
}

Request multipart(const std::string& method, const std::string& path, const std::string& image,
                  std::multimap<std::string, std::string> query = {}, const std::string& field = "file") {
  Request r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  r.headers["content-type"] = "multipart/form-data; boundary=x";
  r.files.push_back({field, "frame.jpg", "image/jpeg", image});
  return r;
}

Request json_request(const std::string& method, const std::string& path, const json& body,
                     std::multimap<std::string, std::string> query = {}) {
  Request r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  r.headers["content-type"] = "application/json";
  r.body = body.dump();
  return r;
}

Request plain(const std::string& method, const std::string& path,
              std::multimap<std::string, std::string> query = {}) {
  Request r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  return r;
}

class CompreFace : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::EngineOptions o;
    o.models_dir = shared_models().string();
    o.embedder = engine::EmbedderKind::kFaceApi;
    detector_ = engine::make_detector(o).release();
    embedder_ = engine::make_embedder(o).release();
  }
  void SetUp() override {
    gallery_ = gallery::Gallery::in_memory(embedder_->id());
    api_ = std::make_unique<CompreFaceApi>(*detector_, *embedder_, *gallery_,
                                           CompreFaceOptions{.threshold = 0.5f});
  }
  Response call(Request r) { return api_->handle(std::move(r)); }
  std::string add(const std::string& subject, const std::string& image) {
    auto res = call(multipart("POST", "/api/v1/recognition/faces", image, {{"subject", subject}}));
    EXPECT_EQ(res.status, 201) << res.json;
    return res.json.value("image_id", "");
  }

  static face::Detector* detector_;
  static face::Embedder* embedder_;
  std::unique_ptr<gallery::Gallery> gallery_;
  std::unique_ptr<CompreFaceApi> api_;
};
face::Detector* CompreFace::detector_ = nullptr;
face::Embedder* CompreFace::embedder_ = nullptr;

TEST(Similarity, CompreFaceCurveAndTheFaceApiDerivation) {
  const auto facenet = similarity_curve("irv1-vggface2/box240", 0);
  EXPECT_DOUBLE_EQ(facenet.c0, 1.1817961);
  EXPECT_DOUBLE_EQ(facenet.c1, 5.291995557);
  EXPECT_NEAR(facenet(1.1817961), 0.5, 1e-12);
  const auto faceapi = similarity_curve("faceapi-resnet34/aligned150", 0.5f);
  EXPECT_NEAR(faceapi(0.5), 0.5, 1e-12);  // 0.5 at facepipe's calibrated threshold
  EXPECT_GT(faceapi(0.38), 0.9);          // the largest same-person distance on the bundled frames
  EXPECT_LT(faceapi(0.59), 0.15);         // the nearest stranger
  EXPECT_EQ(round5(0.123456789), 0.12346);
}

TEST(Router, LiteralSegmentsWinAndMethodsAreTold) {
  Router r;
  r.add({"POST", "/a/faces/delete", [](const Request&) { return Response::of("literal"); }});
  r.add({"DELETE", "/a/faces/{id}", [](const Request& q) { return Response::of(q.path_params.at("id")); }});
  Request q = plain("DELETE", "/a/faces/abc/");
  auto route = r.find(q);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->handler(q).json, "abc");
  Request p = plain("POST", "/a/faces/delete");
  EXPECT_EQ(r.find(p)->handler(p).json, "literal");
  bool allowed = false;
  Request g = plain("GET", "/a/faces/abc");
  EXPECT_FALSE(r.find(g, &allowed));
  EXPECT_TRUE(allowed);
  Request none = plain("GET", "/b");
  EXPECT_FALSE(r.find(none, &allowed));
  EXPECT_FALSE(allowed);
}

TEST_F(CompreFace, AddRecognizeListVerifyAndDeleteOnTheBundledPeople) {
  for (const std::string person : {"Bean", "Freeman", "Obama", "Trump"})
    for (int n : {1, 2, 3}) EXPECT_EQ(add(person, frame(person, n)).size(), 36u);

  // Multipart and base64 JSON give the same answer; subjects best first, similarities rounded.
  auto res = call(multipart("POST", "/api/v1/recognition/recognize", frame("Obama", 8),
                            {{"prediction_count", "3"}, {"face_plugins", "undefined"}, {"status", "true"}}));
  ASSERT_EQ(res.status, 200) << res.json;
  ASSERT_GE(res.json["result"].size(), 1u);  // biggest face first (a frame may hold a small false one)
  const auto& face = res.json["result"][0];
  ASSERT_EQ(face["subjects"].size(), 3u);
  EXPECT_EQ(face["subjects"][0]["subject"], "Obama");
  const double best = face["subjects"][0]["similarity"];
  EXPECT_GT(best, 0.6);  // Double Take's default match
  EXPECT_GE(best, face["subjects"][1]["similarity"].get<double>());
  EXPECT_EQ(best, round5(best));
  EXPECT_LT(face["subjects"][1]["similarity"].get<double>(), 0.4);
  EXPECT_EQ(face["facepipe"]["name"], "Obama");
  EXPECT_LT(face["box"]["x_min"].get<int>(), face["box"]["x_max"].get<int>());
  EXPECT_EQ(face["landmarks"].size(), 5u);
  EXPECT_TRUE(face["execution_time"].contains("detector"));
  EXPECT_TRUE(res.json.contains("plugins_versions"));
  EXPECT_FALSE(face.contains("embedding"));

  auto b64 = call(json_request("POST", "/api/v1/recognition/recognize",
                               {{"file", service::base64_encode(frame("Obama", 8))}}));
  ASSERT_EQ(b64.status, 200) << b64.json;
  EXPECT_EQ(b64.json["result"][0]["subjects"].size(), 1u);
  EXPECT_EQ(b64.json["result"][0]["subjects"][0], face["subjects"][0]);
  EXPECT_FALSE(b64.json.contains("plugins_versions"));

  // A stranger: low similarity and facepipe's Unknown.
  auto stranger = call(
      multipart("POST", "/api/v1/recognition/recognize", read_file(datasets() / "misc/kate_siegel.jpg")));
  ASSERT_EQ(stranger.status, 200) << stranger.json;
  EXPECT_LT(stranger.json["result"][0]["subjects"][0]["similarity"].get<double>(), 0.4);
  EXPECT_EQ(stranger.json["result"][0]["facepipe"]["name"], "Unknown");

  // Several faces, limit biggest first.
  auto group =
      call(multipart("POST", "/api/v1/detection/detect", read_file(datasets() / "misc/multiface.jpg")));
  ASSERT_EQ(group.status, 200);
  EXPECT_EQ(group.json["result"].size(), 6u);
  auto two = call(multipart("POST", "/api/v1/recognition/recognize",
                            read_file(datasets() / "misc/multiface.jpg"), {{"limit", "2"}}));
  ASSERT_EQ(two.json["result"].size(), 2u);
  auto area = [](const json& f) {
    return (f["box"]["x_max"].get<int>() - f["box"]["x_min"].get<int>()) *
           (f["box"]["y_max"].get<int>() - f["box"]["y_min"].get<int>());
  };
  EXPECT_GE(area(two.json["result"][0]), area(two.json["result"][1]));

  // Listing with paging, and the stored image.
  auto page = call(plain("GET", "/api/v1/recognition/faces", {{"page", "1"}, {"size", "5"}}));
  EXPECT_EQ(page.json["total_elements"], 12);
  EXPECT_EQ(page.json["total_pages"], 3);
  EXPECT_EQ(page.json["page_number"], 1);
  EXPECT_EQ(page.json["faces"].size(), 5u);
  auto beans = call(plain("GET", "/api/v1/recognition/faces", {{"subject", "Bean"}}));
  ASSERT_EQ(beans.json["faces"].size(), 3u);
  const std::string bean_id = beans.json["faces"][0]["image_id"];
  auto img = call(plain("GET", "/api/v1/recognition/faces/" + bean_id + "/img"));
  EXPECT_EQ(img.content_type, "image/jpeg");
  EXPECT_EQ(img.bytes, frame("Bean", 1));
  EXPECT_TRUE(call(plain("GET", "/api/v1/recognition/faces/nope/img")).bytes.empty());

  // Verify against a stored face; embeddings against the gallery; two images.
  auto v = call(multipart("POST", "/api/v1/recognition/faces/" + bean_id + "/verify", frame("Bean", 7)));
  ASSERT_EQ(v.status, 200) << v.json;
  EXPECT_GT(v.json["result"][0]["similarity"].get<double>(), 0.6);
  auto d = call(
      multipart("POST", "/api/v1/detection/detect", frame("Trump", 6), {{"face_plugins", "calculator"}}));
  const auto embedding = d.json["result"][0]["embedding"];
  ASSERT_EQ(embedding.size(), 128u);
  auto e = call(json_request("POST", "/api/v1/recognition/embeddings/recognize",
                             {{"embeddings", {embedding}}}, {{"prediction_count", "2"}}));
  ASSERT_EQ(e.status, 200) << e.json;
  EXPECT_EQ(e.json["result"][0]["similarities"][0]["subject"], "Trump");
  EXPECT_EQ(e.json["result"][0]["similarities"].size(), 2u);
  Request vv;
  vv.method = "POST";
  vv.path = "/api/v1/verification/verify";
  vv.files = {{"source_image", "", "", frame("Freeman", 5)}, {"target_image", "", "", frame("Freeman", 9)}};
  auto ver = call(vv);
  ASSERT_EQ(ver.status, 200) << ver.json;
  EXPECT_GT(ver.json["result"][0]["face_matches"][0]["similarity"].get<double>(), 0.6);
  vv.files[1].content = frame("Trump", 9);
  EXPECT_LT(call(vv).json["result"][0]["face_matches"][0]["similarity"].get<double>(), 0.4);

  // Subjects: rename (merge), delete one face, delete by subject, delete a subject.
  EXPECT_EQ(call(json_request("POST", "/api/v1/recognition/subjects", {{"subject", "Nobody"}})).status, 201);
  EXPECT_EQ(call(json_request("POST", "/api/v1/recognition/subjects", {{"subject", "Nobody"}})).json["code"],
            43);
  EXPECT_EQ(call(plain("GET", "/api/v1/recognition/subjects")).json["subjects"].size(), 5u);
  EXPECT_EQ(call(json_request("PUT", "/api/v1/recognition/subjects/Nobody", {{"subject", "Mr Bean"}}))
                .json["updated"],
            true);
  EXPECT_EQ(call(json_request("PUT", "/api/v1/recognition/subjects/Bean", {{"subject", "Mr Bean"}})).status,
            200);
  auto del = call(plain("DELETE", "/api/v1/recognition/faces/" + bean_id));
  EXPECT_EQ(del.json["subject"], "Mr Bean");
  EXPECT_EQ(call(plain("DELETE", "/api/v1/recognition/faces/" + bean_id)).status, 404);
  EXPECT_EQ(call(plain("DELETE", "/api/v1/recognition/faces", {{"subject", "Mr Bean"}})).json["deleted"], 2);
  EXPECT_EQ(call(plain("DELETE", "/api/v1/recognition/subjects/Trump")).json["subject"], "Trump");
  EXPECT_EQ(call(plain("DELETE", "/api/v1/recognition/subjects/Trump")).status, 404);
  auto after = call(multipart("POST", "/api/v1/recognition/recognize", frame("Trump", 8)));
  EXPECT_NE(after.json["result"][0]["subjects"][0]["subject"], "Trump");  // erased: nobody matches as Trump
  EXPECT_EQ(call(plain("DELETE", "/api/v1/recognition/subjects")).json["deleted"], 3);
  auto empty = call(multipart("POST", "/api/v1/recognition/recognize", frame("Obama", 8)));
  EXPECT_EQ(empty.status, 200);
  EXPECT_TRUE(empty.json["result"][0]["subjects"].empty());
}

TEST_F(CompreFace, BadInputAnswersCompreFaceErrors) {
  cv::Mat grey(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  auto noface = call(multipart("POST", "/api/v1/recognition/recognize", image::encode_jpeg(grey)));
  EXPECT_EQ(noface.status, 400);
  EXPECT_EQ(noface.json, json({{"message", "No face is found in the given image"}, {"code", 28}}));
  EXPECT_EQ(call(multipart("POST", "/api/v1/recognition/faces", image::encode_jpeg(grey), {{"subject", "A"}}))
                .json["code"],
            28);
  // A high det_prob_threshold filters faces away.
  EXPECT_EQ(
      call(multipart("POST", "/api/v1/detection/detect", frame("Bean", 5), {{"det_prob_threshold", "1.0"}}))
          .json["code"],
      28);
  EXPECT_EQ(call(multipart("POST", "/api/v1/recognition/faces", read_file(datasets() / "misc/multiface.jpg"),
                           {{"subject", "Group"}}))
                .json["code"],
            31);
  auto missing = call(plain("POST", "/api/v1/recognition/recognize"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.json["code"], 34);
  EXPECT_EQ(call(multipart("POST", "/api/v1/recognition/recognize", "not an image")).json["code"], 21);
  EXPECT_EQ(call(json_request("POST", "/api/v1/recognition/recognize", {{"file", "%%%"}})).json["code"], 21);
  Request broken = json_request("POST", "/api/v1/recognition/recognize", {});
  broken.body = "{";
  EXPECT_EQ(call(broken).status, 400);
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{"limit", "-1"},
                                                                      {"prediction_count", "0"},
                                                                      {"det_prob_threshold", "2"},
                                                                      {"status", "maybe"},
                                                                      {"limit", "1x"}}) {
    auto r = call(multipart("POST", "/api/v1/recognition/recognize", frame("Bean", 5), {{k, v}}));
    EXPECT_EQ(r.status, 400) << k << "=" << v;
    EXPECT_EQ(r.json["code"], 36);
  }
  EXPECT_EQ(call(multipart("POST", "/api/v1/recognition/faces", frame("Bean", 5))).json["code"], 33);
  EXPECT_EQ(
      call(multipart("POST", "/api/v1/recognition/faces", frame("Bean", 5), {{"subject", "Unknown"}})).status,
      400);
  EXPECT_EQ(call(json_request("POST", "/api/v1/recognition/embeddings/recognize", {{"embeddings", {{1, 2}}}}))
                .status,
            200);  // an empty gallery has no dimension yet: no similarities
  add("Bean", frame("Bean", 1));
  EXPECT_EQ(call(json_request("POST", "/api/v1/recognition/embeddings/recognize", {{"embeddings", {{1, 2}}}}))
                .status,
            400);
  EXPECT_EQ(
      call(json_request("POST", "/api/v1/recognition/embeddings/recognize", {{"embeddings", json::array()}}))
          .json["code"],
      37);
  EXPECT_EQ(call(plain("GET", "/api/v1/recognition/faces", {{"size", "0"}})).status, 400);
  EXPECT_EQ(call(plain("GET", "/api/v1/nothing")).status, 404);
  EXPECT_EQ(call(plain("PATCH", "/api/v1/recognition/faces")).status, 405);
  EXPECT_EQ(call(plain("POST", "/api/v1/recognition/faces/nope/verify")).status, 404);
}

}  // namespace
}  // namespace facepipe::api
