// The native AWS clients against moto_server (a real stand-in for SQS, S3 and DynamoDB), and the retry
// behaviour against a local server that answers 503 / throttling first.
#include <httplib.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "aws/client.h"
#include "core/error.h"
#include "queue/queue.h"
#include "queue/sqs_queue.h"
#include "testutil/moto_server.h"
#include "testutil/testutil.h"

namespace facepipe::aws {
namespace {

using facepipe::testing::MotoServer;

class Moto : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!facepipe::testing::on_path("moto_server")) return;
    facepipe::testing::use_test_aws_credentials();
    server_ = new MotoServer(std::filesystem::temp_directory_path() / "fp_moto_clients.log");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr)
      GTEST_SKIP() << "moto_server not on PATH: pip install 'moto[server]' to run the AWS tests";
    ASSERT_TRUE(server_->ok()) << "moto_server did not start (see /tmp/fp_moto_clients.log)";
  }
  static ClientConfig config() { return ClientConfig{.endpoint = server_->url()}; }
  static MotoServer* server_;
};
MotoServer* Moto::server_ = nullptr;

// The rest of the SQS contract against moto is tests/queue/queue_contract_test.cpp.
TEST_F(Moto, SqsQueueByUrlWithoutGetQueueUrlAndDeadLetterArnLookedUp) {
  auto sqs = queue::make_sqs_queue_service(server_->url(), config());
  auto q = sqs->create("fp-test-req", {.visibility_timeout = std::chrono::seconds(30),
                                       .max_receive_count = 2,
                                       .dead_letter_queue = "fp-test-dlq"});
  EXPECT_NE(q->url().find("/fp-test-req"), std::string::npos) << q->url();
  EXPECT_EQ(sqs->get("fp-test-req")->url(), q->url());
  const auto lists = sqs->list("fp-test");
  EXPECT_NE(std::find(lists.begin(), lists.end(), "fp-test-dlq"), lists.end());
  const auto c = q->config();  // moto's own ARN for the dead-letter queue came back as its name
  EXPECT_EQ(c.dead_letter_queue, "fp-test-dlq");
  EXPECT_EQ(c.max_receive_count, 2);

  // The same queue by URL, as a Lambda function opens it (no GetQueueUrl).
  auto by_url = queue::open_sqs_queue_url(q->url(), config());
  by_url->send("by url");
  auto got = q->receive({.max_messages = 10, .wait = std::chrono::seconds(1)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "by url");
  q->purge();
  EXPECT_THROW(sqs->get("fp-test-missing"), Error);
}

TEST_F(Moto, S3PutGetAndMissingKey) {
  S3Client s3(config());
  s3.create_bucket("fp-clips");
  s3.create_bucket("fp-clips");  // idempotent, as CloudFormation and the deploy script rely on
  const std::string clip = facepipe::testing::read_file(facepipe::testing::datasets() / "videos/Obama.mp4");
  s3.put_object("fp-clips", "cam/Obama 1.mp4", clip, "video/mp4");  // a key with a folder and a space
  EXPECT_EQ(s3.get_object("fp-clips", "cam/Obama 1.mp4"), clip);
  try {
    s3.get_object("fp-clips", "cam/none.mp4");
    FAIL() << "a missing key must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound) << e.what();
  }
}

TEST_F(Moto, DynamoDbRecordsRoundTrip) {
  DynamoDbClient db(config());
  db.create_table("fp-people", "name");
  const nlohmann::json record = {{"name", "Obama"},    {"major", "Law"},
                                 {"year", 1991},       {"gpa", 3.5},
                                 {"alumni", true},     {"clubs", {"debate", "chess"}},
                                 {"advisor", nullptr}, {"address", {{"city", "Chicago"}}}};
  db.put_item("fp-people", record);
  const auto back = db.get_item("fp-people", {{"name", "Obama"}});
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, record);
  EXPECT_FALSE(db.get_item("fp-people", {{"name", "Nobody"}}).has_value());
  EXPECT_THROW(db.get_item("fp-no-such-table", {{"name", "Obama"}}), Error);
}

// Throttling and 5xx are retried with backoff; the caller sees the eventual success.
TEST(Retries, ThrottlingAnd5xxAreRetriedThenSucceed) {
  httplib::Server server;
  std::atomic<int> calls{0};
  server.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    EXPECT_NE(req.get_header_value("Authorization").find("AWS4-HMAC-SHA256"), std::string::npos);
    const int n = ++calls;
    if (n > 100) {  // second part: a permanent error
      res.status = 400;
      res.set_content(R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"})",
                      "application/json");
    } else if (n == 1) {
      res.status = 503;
    } else if (n == 2) {
      res.status = 400;
      res.set_content(R"({"__type":"com.amazonaws.sqs#ThrottlingException","message":"slow down"})",
                      "application/x-amz-json-1.0");
    } else {
      res.set_content(R"({"QueueUrl":"http://x/1/q"})", "application/x-amz-json-1.0");
    }
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  ClientConfig config{.region = "us-east-1",
                      .endpoint = "http://127.0.0.1:" + std::to_string(port),
                      .credentials = Credentials{"AKID", "secret", ""}};
  JsonClient client("sqs", "AmazonSQS", config);
  EXPECT_EQ(client.call("GetQueueUrl", {{"QueueName", "q"}})["QueueUrl"], "http://x/1/q");
  EXPECT_EQ(calls, 3);

  // An error that is not transient is not retried and names the AWS error code.
  calls = 100;
  try {
    client.call("GetQueueUrl", {{"QueueName", "q"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("QueueDoesNotExist"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls, 101);
  server.stop();
  t.join();
}

}  // namespace
}  // namespace facepipe::aws
