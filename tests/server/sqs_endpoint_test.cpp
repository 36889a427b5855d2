// The SQS wire protocol of the embedded server, driven by real AWS clients (the aws CLI and boto3 installed
// on this machine) and by raw query-protocol requests, against an in-process server on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "server/http_server.h"
#include "server/sqs_protocol.h"
#include "testutil/testutil.h"

namespace facepipe::server {
namespace {

using nlohmann::json;

struct Running {
  std::unique_ptr<queue::QueueService> queues = queue::open_queue_service("memory:");
  service::Metrics metrics;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  Running() {
    ServerOptions o;
    o.port = 0;
    o.threads = 8;
    server = std::make_unique<HttpServer>(o, queues.get(), metrics);
    server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Running() {
    server->stop();
    thread.join();
  }
  std::string url() const { return server->base_url(); }
};

struct Output {
  int status = 0;
  std::string out;
};

// Runs a shell command with dummy AWS credentials; captures stdout and stderr.
Output sh(const std::string& command) {
  const auto r = facepipe::testing::run_with_test_aws(command);
  return {r.exit_code, r.output};
}

json aws(const Running& r, const std::string& args) {
  auto o = sh("aws --endpoint-url " + r.url() + " --output json sqs " + args);
  EXPECT_EQ(o.status, 0) << args << "\n" << o.out;
  return o.out.empty() ? json::object() : json::parse(o.out);
}

TEST(SqsEndpoint, AwsCliFullCycle) {
  Running r;
  auto created = aws(r, "create-queue --queue-name cli-q --attributes VisibilityTimeout=60");
  std::string url = created["QueueUrl"];
  EXPECT_EQ(url, r.url() + "/000000000000/cli-q");
  EXPECT_EQ(aws(r, "get-queue-url --queue-name cli-q")["QueueUrl"], url);
  auto listed = aws(r, "list-queues --queue-name-prefix cli");
  ASSERT_EQ(listed["QueueUrls"].size(), 1u);

  auto sent = aws(r, "send-message --queue-url " + url + " --message-body 'hello <&> world'");
  EXPECT_FALSE(sent["MessageId"].get<std::string>().empty());
  aws(r,
      "send-message-batch --queue-url " + url + " --entries Id=a,MessageBody=second Id=b,MessageBody=third");
  auto attrs = aws(r, "get-queue-attributes --queue-url " + url + " --attribute-names All");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessages"], "3");

  auto got = aws(r, "receive-message --queue-url " + url +
                        " --max-number-of-messages 10 --wait-time-seconds 1 "
                        "--attribute-names All");
  ASSERT_EQ(got["Messages"].size(), 3u);  // the CLI verified every MD5OfBody
  EXPECT_EQ(got["Messages"][0]["Body"], "hello <&> world");
  EXPECT_EQ(got["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "1");
  attrs = aws(r, "get-queue-attributes --queue-url " + url +
                     " --attribute-names ApproximateNumberOfMessagesNotVisible");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "3");

  aws(r, "delete-message --queue-url " + url + " --receipt-handle " +
             got["Messages"][0]["ReceiptHandle"].get<std::string>());
  aws(r, "change-message-visibility --queue-url " + url + " --receipt-handle " +
             got["Messages"][1]["ReceiptHandle"].get<std::string>() + " --visibility-timeout 0");
  auto again = aws(r, "receive-message --queue-url " + url + " --max-number-of-messages 10");
  ASSERT_EQ(again["Messages"].size(), 1u);
  EXPECT_EQ(again["Messages"][0]["Body"], "second");
  auto del =
      aws(r, "delete-message-batch --queue-url " + url + " --entries Id=x,ReceiptHandle=" +
                 again["Messages"][0]["ReceiptHandle"].get<std::string>() + " Id=y,ReceiptHandle=bogus");
  EXPECT_EQ(del["Successful"].size(), 1u);
  EXPECT_EQ(del["Failed"].size(), 1u);
  EXPECT_EQ(del["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
  aws(r, "purge-queue --queue-url " + url);
  attrs = aws(r, "get-queue-attributes --queue-url " + url + " --attribute-names All");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessages"], "0");
  EXPECT_EQ(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "0");
}

TEST(SqsEndpoint, AwsCliErrorsAreSqsErrors) {
  Running r;
  auto o = sh("aws --endpoint-url " + r.url() + " sqs get-queue-url --queue-name nowhere");
  EXPECT_NE(o.status, 0);
  EXPECT_NE(o.out.find("AWS.SimpleQueueService.NonExistentQueue"), std::string::npos) << o.out;
  o = sh("aws --endpoint-url " + r.url() + " sqs receive-message --queue-url " + r.url() +
         "/000000000000/nowhere");
  EXPECT_NE(o.status, 0);
  EXPECT_NE(o.out.find("NonExistentQueue"), std::string::npos) << o.out;
}

TEST(SqsEndpoint, Boto3WithRedriveAndLongPoll) {
  Running r;
  std::string script = R"PY(
import boto3, json, sys, time
sqs = boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1',
                   aws_access_key_id='x', aws_secret_access_key='x')
dlq = sqs.create_queue(QueueName='b-dlq')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
q = sqs.create_queue(QueueName='b-q', Attributes={'VisibilityTimeout': '0',
    'RedrivePolicy': json.dumps({'deadLetterTargetArn': arn, 'maxReceiveCount': '2'})})['QueueUrl']
sqs.send_message(QueueUrl=q, MessageBody='poison')
n = 0
for _ in range(4):
    n += len(sqs.receive_message(QueueUrl=q).get('Messages', []))
dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get('Messages', [])
t = time.time()
empty = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get('Messages', [])
waited = time.time() - t
try:
    sqs.get_queue_url(QueueName='missing')
    code = 'none'
except sqs.exceptions.QueueDoesNotExist as e:
    code = e.response['Error']['Code']
print(json.dumps({'received': n, 'dead': [m['Body'] for m in dead], 'empty': len(empty),
                  'waited': waited, 'code': code}))
)PY";
  auto o = sh("python3 -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\" " + r.url());
  ASSERT_EQ(o.status, 0) << o.out;
  auto j = json::parse(o.out.substr(o.out.find('{')));
  EXPECT_EQ(j["received"], 2);
  EXPECT_EQ(j["dead"], json::array({"poison"}));
  EXPECT_EQ(j["empty"], 0);
  EXPECT_GE(j["waited"].get<double>(), 0.9);
  EXPECT_EQ(j["code"], "AWS.SimpleQueueService.NonExistentQueue");
}

TEST(SqsEndpoint, QueryProtocolXml) {
  Running r;
  httplib::Client c("127.0.0.1", r.server->port());
  auto post = [&](const httplib::Params& p, const std::string& path = "/") {
    return c.Post(path.c_str(), p);
  };
  auto res = post({{"Action", "CreateQueue"}, {"QueueName", "xq"}, {"Version", "2012-11-05"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("<QueueUrl>" + r.url() + "/000000000000/xq</QueueUrl>"), std::string::npos)
      << res->body;
  res = post({{"Action", "SendMessage"}, {"MessageBody", "a<b"}}, "/000000000000/xq");
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("<MD5OfMessageBody>" + md5_hex("a<b") + "</MD5OfMessageBody>"), std::string::npos);
  res = post(
      {{"Action", "ReceiveMessage"}, {"QueueUrl", r.url() + "/000000000000/xq"}, {"AttributeName.1", "All"}});
  EXPECT_NE(res->body.find("<Body>a&lt;b</Body>"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("<Name>ApproximateReceiveCount</Name><Value>1</Value>"), std::string::npos);
  res = post({{"Action", "GetQueueAttributes"},
              {"QueueUrl", r.url() + "/000000000000/xq"},
              {"AttributeName.1", "All"}});
  EXPECT_NE(res->body.find("<Name>ApproximateNumberOfMessagesNotVisible</Name><Value>1</Value>"),
            std::string::npos);
  res = post({{"Action", "GetQueueUrl"}, {"QueueName", "absent"}});
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"), std::string::npos)
      << res->body;
  res = post({{"Action", "Frobnicate"}});
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("InvalidAction"), std::string::npos);
  // Malformed JSON-protocol body: an SQS error, and the server keeps serving.
  httplib::Headers h = {{"X-Amz-Target", "AmazonSQS.SendMessage"}};
  res = c.Post("/", h, "{not json", "application/x-amz-json-1.0");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("__type"), std::string::npos);
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  auto metrics = c.Get("/metrics");
  EXPECT_NE(metrics->body.find("facepipe_sqs_requests_total"), std::string::npos);
}

}  // namespace
}  // namespace facepipe::server
