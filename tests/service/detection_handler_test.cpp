// The face-detection handler alone, with a fake detector (fixed boxes, counting calls) and the in-memory
// queue store: what it queues for a frame, how it refuses bad input, and that a refused frame queues
// nothing and may be sent again under the same id.
#include <gtest/gtest.h>

#include <atomic>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "image/codec.h"
#include "queue/queue.h"
#include "service/base64.h"
#include "service/detection.h"
#include "service/messages.h"

namespace facepipe::service {
namespace {

using nlohmann::json;

class FakeDetector : public face::Detector {
 public:
  std::vector<face::Detection> detect(const cv::Mat& rgb) override {
    ++calls;
    last_size = rgb.size();
    std::vector<face::Detection> faces;
    for (int i = 0; i < faces_per_frame; ++i) {
      face::Detection d;
      d.box = {10.f + 40 * i, 10, 40.f + 40 * i, 50};
      d.prob = 0.99f;
      faces.push_back(d);
    }
    return faces;
  }
  int faces_per_frame = 2;
  std::atomic<int> calls{0};
  cv::Size last_size;
};

std::string frame_jpeg(int width, int height) {
  cv::Mat rgb(height, width, CV_8UC3, cv::Scalar(90, 120, 150));
  return image::encode_jpeg(rgb, 90);
}

class DetectionHandlerTest : public ::testing::Test {
 protected:
  DetectionHandlerTest()
      : queues_(queue::open_queue_service("memory:")),
        requests_(queues_->create("t-req-queue", {})),
        handler_(detector_, {face::CropSpec::Method::kBox, 32, 0}, requests_, &metrics_) {}

  size_t queued() { return requests_->stats().visible; }

  FakeDetector detector_;
  Metrics metrics_;
  std::unique_ptr<queue::QueueService> queues_;
  std::shared_ptr<queue::Queue> requests_;
  DetectionHandler handler_;
};

TEST_F(DetectionHandlerTest, AcceptFrameQueuesOneMessageWithACropPerFace) {
  const FrameAccepted a = handler_.accept_frame({"r1", "f.jpg", frame_jpeg(200, 100)});
  EXPECT_EQ(a.request_id, "r1");
  EXPECT_EQ(a.faces, 2u);
  EXPECT_FALSE(a.message_id.empty());
  EXPECT_EQ(detector_.calls, 1);
  EXPECT_EQ(detector_.last_size, cv::Size(200, 100));
  auto got = requests_->receive({});
  ASSERT_EQ(got.size(), 1u);
  const RequestMessage m = decode_request(got[0].body);
  EXPECT_EQ(m.request_id, "r1");
  EXPECT_EQ(m.filename, "f.jpg");
  EXPECT_EQ(m.width, 200);
  EXPECT_EQ(m.height, 100);
  ASSERT_EQ(m.faces.size(), 2u);
  EXPECT_EQ(m.faces[1].detection.box.x1, 50.f);
  EXPECT_EQ(m.faces[0].crop.rows, 32);
  EXPECT_EQ(m.faces[0].crop.cols, 32);
  EXPECT_EQ(metrics_.counter("facepipe_frames_accepted_total"), 1);
}

TEST_F(DetectionHandlerTest, TheCoursesJsonGivesTheSameAnswer) {
  const json body = {
      {"request_id", "r2"}, {"filename", "g.jpg"}, {"content", base64_encode(frame_jpeg(64, 64))}};
  const json answer = handler_.handle(body.dump());
  EXPECT_EQ(answer["request_id"], "r2");
  EXPECT_EQ(answer["filename"], "g.jpg");
  EXPECT_EQ(answer["faces"], 2);
  EXPECT_EQ(answer["status"], "queued");
  EXPECT_TRUE(answer["message_id"].is_string());
  EXPECT_EQ(queued(), 1u);
}

TEST_F(DetectionHandlerTest, BadRequestsAreRefusedWithTheReasonAndQueueNothing) {
  const std::string image = base64_encode(frame_jpeg(64, 64));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {json{{"filename", "f"}, {"content", image}}.dump(), "request_id"},
      {json{{"request_id", 7}, {"filename", "f"}, {"content", image}}.dump(), "must be a string"},
      {json{{"request_id", "x"}, {"filename", ""}, {"content", image}}.dump(), "empty"},
      {json{{"request_id", std::string(300, 'x')}, {"filename", "f"}, {"content", image}}.dump(), "longer"},
      {json{{"request_id", "x"}, {"filename", "f"}, {"content", base64_encode("not an image")}}.dump(), ""},
  };
  for (const auto& [body, reason] : cases) {
    try {
      handler_.handle(body);
      ADD_FAILURE() << "accepted: " << body.substr(0, 80);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << body.substr(0, 80);
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(detector_.calls, 0);
  EXPECT_EQ(queued(), 0u);
}

TEST_F(DetectionHandlerTest, ARepeatedIdIsAConflictButARefusedFrameMayBeSentAgain) {
  EXPECT_THROW(handler_.accept_frame({"same", "f.jpg", "garbage bytes"}), Error);
  handler_.accept_frame({"same", "f.jpg", frame_jpeg(64, 64)});  // the refused one did not use up the id
  try {
    handler_.accept_frame({"same", "f.jpg", frame_jpeg(64, 64)});
    ADD_FAILURE() << "a repeated request_id was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  }
  EXPECT_EQ(queued(), 1u);
}

TEST_F(DetectionHandlerTest, AFrameWithoutFacesIsStillAnswered) {
  detector_.faces_per_frame = 0;
  const FrameAccepted a = handler_.accept_frame({"empty", "f.jpg", frame_jpeg(64, 64)});
  EXPECT_EQ(a.faces, 0u);
  auto got = requests_->receive({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(decode_request(got[0].body).faces.empty());
}

}  // namespace
}  // namespace facepipe::service
