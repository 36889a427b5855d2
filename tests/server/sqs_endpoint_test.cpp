// The SQS wire protocol of the embedded server, driven by real AWS clients (the aws CLI and boto3 installed
// on this machine) and by raw query-protocol requests, against an in-process server on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "queue/queue.h"
#include "queue/sqs_rules.h"
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
  auto created = aws(r, "create-queue --queue-name cli-q --attributes VisibilityTimeout=600");
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

// Whether `xml` is well-formed, as Python's XML parser (expat) sees it.
bool well_formed_xml(const std::string& xml) {
  const auto file = std::filesystem::temp_directory_path() / ("fp_sqs_xml_" + std::to_string(::getpid()));
  std::ofstream(file, std::ios::binary) << xml;
  const auto r = facepipe::testing::run_command(
      "python3 -c \"import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])\" " + file.string(), true);
  std::filesystem::remove(file);
  return r.exit_code == 0;
}

// Issue 14 finding 4: a query-protocol SendMessage with the body %FF%FE (invalid UTF-8) used to be stored,
// and from then on every JSON-protocol ReceiveMessage answered 500 while hiding the whole batch.
TEST(SqsEndpoint, PoisonQueryMessageIsRefusedAndJsonReceiveDeliversTheRealResults) {
  Running r;
  std::string url = aws(r, "create-queue --queue-name poison-q")["QueueUrl"];
  aws(r, "send-message --queue-url " + url + " --message-body result-1");
  httplib::Client c("127.0.0.1", r.server->port());
  auto res = c.Post("/", "Action=SendMessage&QueueUrl=" + url + "&MessageBody=%FF%FE",
                    "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("<Code>InvalidMessageContents</Code>"), std::string::npos) << res->body;
  EXPECT_TRUE(well_formed_xml(res->body)) << res->body;
  // Batch entries are checked too: the bad one fails, the good one is sent.
  res = c.Post(
      "/",
      "Action=SendMessageBatch&QueueUrl=" + url +
          "&SendMessageBatchRequestEntry.1.Id=bad&SendMessageBatchRequestEntry.1.MessageBody=%01"
          "&SendMessageBatchRequestEntry.2.Id=good&SendMessageBatchRequestEntry.2.MessageBody=result-2",
      "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("<Id>bad</Id><SenderFault>true</SenderFault><Code>InvalidMessageContents</Code>"),
            std::string::npos)
      << res->body;
  auto got =
      aws(r, "receive-message --queue-url " + url + " --max-number-of-messages 10 --wait-time-seconds 1");
  ASSERT_EQ(got["Messages"].size(), 2u) << got.dump();
  std::set<std::string> bodies;
  for (auto& m : got["Messages"]) bodies.insert(m["Body"].get<std::string>());
  EXPECT_EQ(bodies, (std::set<std::string>{"result-1", "result-2"}));
}

// A message stored before sends were checked (or by a store written some other way) must not break a
// receive in either protocol: it is delivered with U+FFFD for its bad bytes and a matching MD5.
TEST(SqsEndpoint, StoredPoisonBytesCannotBreakAReceive) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_sqs_poison_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto db = (dir / "q.db").string();
  {
    auto store = queue::open_queue_service("sqlite:" + db);
    auto q = store->create("old", {});
    q->send("placeholder");
    q->send("real result");
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(raw, "UPDATE messages SET body = CAST(X'FFFE3C0126' AS TEXT) WHERE body = 'placeholder'",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(raw);
  auto store = queue::open_queue_service("sqlite:" + db);
  SqsProtocol sqs(*store, "http://127.0.0.1:1");
  const std::string url = "http://127.0.0.1:1/000000000000/old";
  auto reply =
      sqs.handle_json("AmazonSQS.ReceiveMessage",
                      json{{"QueueUrl", url}, {"MaxNumberOfMessages", 10}, {"VisibilityTimeout", 0}}.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto j = json::parse(reply.body);
  ASSERT_EQ(j["Messages"].size(), 2u);
  for (auto& m : j["Messages"]) {
    const std::string body = m["Body"];
    EXPECT_TRUE(queue::valid_message_text(body));
    EXPECT_EQ(m["MD5OfBody"], md5_hex(body));
  }
  EXPECT_EQ(j["Messages"][0]["Body"], "\xEF\xBF\xBD\xEF\xBF\xBD<\xEF\xBF\xBD&");
  EXPECT_EQ(j["Messages"][1]["Body"], "real result");
  const auto xml =
      sqs.handle_query({{"Action", "ReceiveMessage"}, {"QueueUrl", url}, {"MaxNumberOfMessages", "10"}}, "/");
  EXPECT_EQ(xml.status, 200);
  EXPECT_TRUE(well_formed_xml(xml.body)) << xml.body;
  EXPECT_NE(xml.body.find("<Body>\xEF\xBF\xBD\xEF\xBF\xBD&lt;\xEF\xBF\xBD&amp;</Body>"), std::string::npos)
      << xml.body;
  std::filesystem::remove_all(dir);
}

TEST(SqsEndpoint, ALongPollCapShortensTheWaitButNotTheValidation) {
  auto store = queue::open_queue_service("memory:");
  store->create("empty", {});
  SqsProtocol sqs(*store, "http://127.0.0.1:1");
  const std::string url = "http://127.0.0.1:1/000000000000/empty";
  const auto receive = [&](int wait) {
    return sqs.handle_json("AmazonSQS.ReceiveMessage", json{{"QueueUrl", url}, {"WaitTimeSeconds", wait}}.dump());
  };
  EXPECT_EQ(sqs.long_poll_cap(), std::chrono::seconds(20));  // SQS's own bound by default
  sqs.cap_long_poll(std::chrono::seconds(0));
  const auto start = std::chrono::steady_clock::now();
  const auto reply = receive(20);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body), json::object());  // no messages
  EXPECT_LT(waited, std::chrono::seconds(5));          // 20 s without the cap
  const auto out_of_range = receive(21);
  EXPECT_EQ(out_of_range.status, 400) << out_of_range.body;
}

// Issue 14 finding 9: bounds and batch rules as real SQS applies them, with its error codes, through boto3
// (JSON protocol; the codes are the legacy ones boto3 reads from x-amzn-query-error) and the query protocol.
TEST(SqsEndpoint, BoundsAndBatchRulesAsSqs) {
  Running r;
  std::string script = R"PY(
import boto3, json, sys, time
sqs = boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1',
                   aws_access_key_id='x', aws_secret_access_key='x')
q = sqs.create_queue(QueueName='rules-q')['QueueUrl']
out = {}
def code(name, fn):
    try:
        fn()
        out[name] = 'accepted'
    except sqs.exceptions.ClientError as e:
        out[name] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
E = lambda i, b='x': {'Id': i, 'MessageBody': b}
code('dup_ids', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[E('a'), E('a')]))
code('bad_id', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[E('a b/../!')]))
code('long_id', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[E('x' * 81)]))
code('eleven', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[E(str(i)) for i in range(11)]))
code('two_mb', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[E(str(i), 'y' * 250000) for i in range(8)]))
code('empty_batch', lambda: sqs.send_message_batch(QueueUrl=q, Entries=[]))
code('delete_dup_ids', lambda: sqs.delete_message_batch(QueueUrl=q, Entries=[
    {'Id': 'd', 'ReceiptHandle': 'h1'}, {'Id': 'd', 'ReceiptHandle': 'h2'}]))
attrs = {'a%d' % i: {'DataType': 'String', 'StringValue': 'v'} for i in range(11)}
code('eleven_attributes', lambda: sqs.send_message(QueueUrl=q, MessageBody='x', MessageAttributes=attrs))
code('visibility_-1', lambda: sqs.receive_message(QueueUrl=q, VisibilityTimeout=-1))
code('visibility_43201', lambda: sqs.receive_message(QueueUrl=q, VisibilityTimeout=43201))
code('delay_901', lambda: sqs.send_message(QueueUrl=q, MessageBody='x', DelaySeconds=901))
code('delay_-5', lambda: sqs.send_message(QueueUrl=q, MessageBody='x', DelaySeconds=-5))
code('control_char', lambda: sqs.send_message(QueueUrl=q, MessageBody='a\x01b'))
code('bad_queue_name', lambda: sqs.create_queue(QueueName='a/b'))
code('visibility_43200', lambda: sqs.receive_message(QueueUrl=q, VisibilityTimeout=43200))
ten = {'a%d' % i: {'DataType': 'String', 'StringValue': 'v'} for i in range(10)}
code('ten_attributes', lambda: sqs.send_message(QueueUrl=q, MessageBody='ten', MessageAttributes=ten))
sqs.purge_queue(QueueUrl=q)
t = time.time()
sqs.send_message(QueueUrl=q, MessageBody='delayed', DelaySeconds=2)
out['delayed_at_once'] = len(sqs.receive_message(QueueUrl=q).get('Messages', []))
out['delayed_count'] = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=['ApproximateNumberOfMessagesDelayed'])['Attributes']['ApproximateNumberOfMessagesDelayed']
got = []
while not got and time.time() - t < 10:
    got = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5).get('Messages', [])
out['delayed_body'] = [m['Body'] for m in got]
out['delayed_after'] = time.time() - t
print(json.dumps(out))
)PY";
  auto o = sh("python3 -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\" " + r.url());
  ASSERT_EQ(o.status, 0) << o.out;
  auto j = json::parse(o.out.substr(o.out.find('{')));
  const auto is = [&](const char* key, const std::string& code) {
    EXPECT_EQ(j[key], json::array({code, 400})) << key << ": " << j.dump();
  };
  is("dup_ids", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
  is("bad_id", "AWS.SimpleQueueService.InvalidBatchEntryId");
  is("long_id", "AWS.SimpleQueueService.InvalidBatchEntryId");
  is("eleven", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");
  is("two_mb", "AWS.SimpleQueueService.BatchRequestTooLong");
  is("empty_batch", "AWS.SimpleQueueService.EmptyBatchRequest");
  is("delete_dup_ids", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
  is("eleven_attributes", "InvalidParameterValue");
  is("visibility_-1", "InvalidParameterValue");
  is("visibility_43201", "InvalidParameterValue");
  is("delay_901", "InvalidParameterValue");
  is("delay_-5", "InvalidParameterValue");
  is("control_char", "InvalidMessageContents");
  is("bad_queue_name", "InvalidParameterValue");
  EXPECT_EQ(j["visibility_43200"], "accepted");
  EXPECT_EQ(j["ten_attributes"], "accepted");
  EXPECT_EQ(j["delayed_at_once"], 0);
  EXPECT_EQ(j["delayed_count"], "1");
  EXPECT_EQ(j["delayed_body"], json::array({"delayed"}));
  EXPECT_GE(j["delayed_after"].get<double>(), 1.9);

  // The query protocol reads every entry, not only the first ten.
  httplib::Client c("127.0.0.1", r.server->port());
  std::string form = "Action=SendMessageBatch&QueueUrl=" + r.url() + "/000000000000/rules-q";
  for (int i = 1; i <= 11; ++i)
    form += "&SendMessageBatchRequestEntry." + std::to_string(i) + ".Id=e" + std::to_string(i) +
            "&SendMessageBatchRequestEntry." + std::to_string(i) + ".MessageBody=b";
  auto res = c.Post("/", form, "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("<Code>AWS.SimpleQueueService.TooManyEntriesInBatchRequest</Code>"),
            std::string::npos)
      << res->body;
  res = c.Post("/",
               "Action=ReceiveMessage&QueueUrl=" + r.url() + "/000000000000/rules-q&VisibilityTimeout=43201",
               "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("<Code>InvalidParameterValue</Code>"), std::string::npos) << res->body;
}

// TagQueue / ListQueueTags through the aws CLI (whichever protocol it speaks) and the query protocol's
// Tag.N.Key/Tag.N.Value form, answered as <Tag><Key/><Value/></Tag>.
TEST(SqsEndpoint, TagsThroughTheCliAndTheQueryProtocol) {
  Running r;
  std::string url = aws(r, "create-queue --queue-name tags-q")["QueueUrl"];
  aws(r, "tag-queue --queue-url " + url + " --tags facepipe:crops=mtcnn-160-0,site=door");
  EXPECT_EQ(aws(r, "list-queue-tags --queue-url " + url)["Tags"],
            (nlohmann::json{{"facepipe:crops", "mtcnn-160-0"}, {"site", "door"}}));
  httplib::Client c("127.0.0.1", r.server->port());
  auto res = c.Post("/", "Action=TagQueue&QueueUrl=" + url + "&Tag.1.Key=site&Tag.1.Value=gate",
                    "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  res = c.Post("/", "Action=ListQueueTags&QueueUrl=" + url, "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("<Tag><Key>site</Key><Value>gate</Value></Tag>"), std::string::npos) << res->body;
  EXPECT_TRUE(well_formed_xml(res->body)) << res->body;
  res = c.Post("/", "Action=TagQueue&QueueUrl=" + url, "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("Tags"), std::string::npos) << res->body;
}

}  // namespace
}  // namespace facepipe::server
