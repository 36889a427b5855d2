// Messages that can never succeed go to the dead-letter queue at once, with their reason (issue 16:
// "silent mismatches"), and a recognizer refuses to start when the queue's detector cuts other crops.
// The embedder is a stand-in (this is the handler's routing); the queues are the real embedded store.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "gallery/gallery.h"
#include "queue/queue.h"
#include "service/crop_contract.h"
#include "service/messages.h"
#include "service/recognition.h"

namespace facepipe::service {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Embeds a crop as its mean colour, scaled: enough to tell two flat crops apart.
class MeanColourEmbedder : public face::Embedder {
 public:
  explicit MeanColourEmbedder(face::CropSpec spec) : spec_(spec) {}
  std::string id() const override { return "test-mean/box" + std::to_string(spec_.size); }
  int dim() const override { return 3; }
  face::CropSpec crop_spec() const override { return spec_; }
  std::vector<face::Embedding> embed(const std::vector<cv::Mat>& crops) override {
    std::vector<face::Embedding> out;
    for (const auto& c : crops) {
      const cv::Scalar m = cv::mean(c);
      out.push_back(
          {static_cast<float>(m[0] / 255), static_cast<float>(m[1] / 255), static_cast<float>(m[2] / 255)});
    }
    return out;
  }

 private:
  face::CropSpec spec_;
};

std::string request_body(const std::string& id, face::CropSpec spec, cv::Vec3b colour) {
  RequestMessage m;
  m.request_id = id;
  m.filename = id + ".jpg";
  m.width = 640;
  m.height = 480;
  m.crop_spec = spec;
  face::Detection d;
  d.box = {100, 100, 200, 220};
  d.prob = 0.99f;
  m.faces.push_back({d, cv::Mat(spec.size, spec.size, CV_8UC3, cv::Scalar(colour[0], colour[1], colour[2]))});
  return encode_request(m);
}

// The quality gate open: the stand-in crops are flat colour with no landmarks.
recognition::AnswerOptions gate_open() {
  recognition::AnswerOptions a;
  a.quality.min_prob = a.quality.min_size = a.quality.min_in_frame = a.quality.min_eye_ratio = 0;
  a.quality.min_sharpness = 0;
  a.quality.max_eye_ratio = a.quality.max_yaw = a.quality.max_roll = 1e9f;
  a.quality.geometry = false;
  return a;
}

struct Queues {
  std::unique_ptr<queue::QueueService> service = queue::open_queue_service("memory:");
  std::shared_ptr<queue::Queue> requests = service->create("t-req-queue", {});
  std::shared_ptr<queue::Queue> responses = service->create("t-resp-queue", {});
  std::shared_ptr<queue::Queue> dead = service->create("t-req-dlq", {});
};

TEST(DeadLetter, MismatchedAndMalformedMessagesGoAtOnceWithTheirReasonAndGoodOnesAreAnswered) {
  const face::CropSpec box160{face::CropSpec::Method::kBox, 160, 0};
  const face::CropSpec box240{face::CropSpec::Method::kBox, 240, 0};
  MeanColourEmbedder embedder(box160);
  auto gallery = gallery::Gallery::in_memory(embedder.id());
  gallery->add("Red", embedder.embed({cv::Mat(160, 160, CV_8UC3, cv::Scalar(250, 10, 10))})[0]);
  gallery->add("Blue", embedder.embed({cv::Mat(160, 160, CV_8UC3, cv::Scalar(10, 10, 250))})[0]);
  Queues q;
  RecognitionHandler handler(embedder, *gallery, 0, q.responses, nullptr, gate_open());
  handler.set_dead_letter_queue(q.dead);

  const std::vector<std::string> bodies = {request_body("good", box160, {240, 20, 20}),
                                           request_body("cut-for-240", box240, {240, 20, 20}),
                                           R"({"request_id": "no-faces-field"})"};
  EXPECT_TRUE(handler.handle_batch(bodies).empty()) << "nothing is left to come back";

  auto answered = q.responses->receive({.max_messages = 10, .wait = 1s});
  ASSERT_EQ(answered.size(), 1u);
  const json answer = json::parse(answered[0].body);
  EXPECT_EQ(answer["request_id"], "good");
  EXPECT_EQ(answer["result"], "Red");

  auto dead = q.dead->receive({.max_messages = 10, .wait = 1s});
  ASSERT_EQ(dead.size(), 2u);
  std::map<std::string, json> by_id;
  for (const auto& m : dead) {
    const json j = json::parse(m.body);
    by_id[j.value("request_id", "")] = j;
  }
  ASSERT_TRUE(by_id.count("cut-for-240"));
  const json& mismatch = by_id["cut-for-240"];
  EXPECT_NE(mismatch["dead_letter"]["reason"].get<std::string>().find("another embedder"), std::string::npos)
      << mismatch["dead_letter"].dump();
  EXPECT_EQ(mismatch["dead_letter"]["embedder"], embedder.id());
  EXPECT_TRUE(mismatch.contains("faces")) << "the message itself is kept, so it can be redriven";
  ASSERT_TRUE(by_id.count("no-faces-field"));
  EXPECT_FALSE(by_id["no-faces-field"]["dead_letter"]["reason"].get<std::string>().empty());
  // The single-message form still reports the failure to its caller.
  EXPECT_THROW(handler.handle(bodies[1]), Error);
}

TEST(DeadLetter, WithoutADeadLetterQueueFailuresComeBackForTheQueuesRedrive) {
  MeanColourEmbedder embedder({face::CropSpec::Method::kBox, 160, 0});
  auto gallery = gallery::Gallery::in_memory(embedder.id());
  gallery->add("Red", embedder.embed({cv::Mat(160, 160, CV_8UC3, cv::Scalar(250, 10, 10))})[0]);
  Queues q;
  RecognitionHandler handler(embedder, *gallery, 0, q.responses);
  EXPECT_EQ(handler.handle_batch({R"({"request_id": "x"})"}), std::vector<size_t>{0});
  EXPECT_TRUE(q.dead->receive({.wait = 0ms}).empty());
}

TEST(CropContract, ARecognizerForOtherCropsIsRefusedWithWhatToChange) {
  Queues q;
  const face::CropSpec box160{face::CropSpec::Method::kBox, 160, 0};
  const face::CropSpec aligned112{face::CropSpec::Method::kAligned, 112, 0};
  EXPECT_NO_THROW(check_crops(*q.requests, aligned112, "x")) << "nothing announced: cannot be known";
  announce_crops(*q.requests, box160);
  EXPECT_EQ(announced_crops(*q.requests), "box-160-0");
  EXPECT_NO_THROW(check_crops(*q.requests, box160, "faceapi"));
  try {
    check_crops(*q.requests, aligned112, "arcface/aligned112");
    FAIL() << "a recognizer for other crops started";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    const std::string what = e.what();
    EXPECT_NE(what.find("box-160-0"), std::string::npos) << what;
    EXPECT_NE(what.find("aligned-112-0"), std::string::npos) << what;
    EXPECT_NE(what.find("same gallery"), std::string::npos) << what;
  }
  announce_crops(*q.requests, aligned112);  // the newest detector's promise wins
  EXPECT_NO_THROW(check_crops(*q.requests, aligned112, "arcface/aligned112"));
}

}  // namespace
}  // namespace facepipe::service
