// `facepipe serve` with API keys, driven by real clients: CompreFace's JavaScript SDK and Double Take's
// requests (tools/compreface-sdk-test, installed by scripts/compreface-sdk.sh), and every endpoint without
// a key, with a wrong key and with a key of too low a role.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>

#include "aws/sigv4.h"
#include "image/codec.h"
#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path sdk_dir() { return source_dir() / "tools/compreface-sdk-test"; }

class Served : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new KeyedServe("api_clients", {"admin", "recognize", "read"}, 8);
    ASSERT_TRUE(server_->listening());
  }
  static void TearDownTestSuite() { delete server_; }
  static int port() { return server_->port(); }
  static httplib::Client client() { return server_->client(); }
  static std::string key(const std::string& role) { return server_->key(role); }
  static void reset_gallery() {
    auto r = client().Delete("/api/v1/recognition/subjects", {{"x-api-key", key("admin")}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }

  static KeyedServe* server_;
};
KeyedServe* Served::server_ = nullptr;

TEST_F(Served, CompreFaceJavaScriptSdkEnrolsRecognisesAndDeletes) {
  ASSERT_TRUE(fs::exists(sdk_dir() / "node_modules/@exadel/compreface-js-sdk"))
      << "run scripts/compreface-sdk.sh first (CI and setup.sh do)";
  reset_gallery();
  auto r = run_command("node " + (sdk_dir() / "sdk-test.mjs").string() + " http://127.0.0.1 " +
                       std::to_string(port()) + " " + key("admin") + " " +
                       (datasets() / "video_frames").string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output << server_->log();
  const json report = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(report["added"], 12);
  ASSERT_EQ(report["recognised"].size(), 4u);
  for (const auto& [person, similarity] : report["recognised"].items())
    EXPECT_GT(similarity.get<double>(), 0.6) << person;
  EXPECT_EQ(report["subjects"], json({"Bean", "Freeman", "Obama", "Trump"}));
  EXPECT_EQ(report["deleted"]["subject"], "Bean");
  // The SDK with a read-only key may list but not add.
  auto denied = run_command("node " + (sdk_dir() / "sdk-test.mjs").string() + " http://127.0.0.1 " +
                            std::to_string(port()) + " " + key("read") + " " +
                            (datasets() / "video_frames").string() + " 2>&1");
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.output.find("HTTP 403"), std::string::npos) << denied.output;
}

TEST_F(Served, DoubleTakeRequestsReadBackAsDoubleTakeReadsThem) {
  ASSERT_TRUE(fs::exists(sdk_dir() / "node_modules/form-data")) << "run scripts/compreface-sdk.sh first";
  reset_gallery();
  cv::Mat grey(360, 480, CV_8UC3, cv::Scalar(90, 120, 150));
  const fs::path no_face = server_->dir() / "no_face.jpg";
  std::ofstream(no_face, std::ios::binary) << image::encode_jpeg(grey);
  auto r = run_command("node " + (sdk_dir() / "double-take-replay.mjs").string() + " " + server_->url() +
                       " " + key("admin") + " " + (datasets() / "video_frames").string() + " " +
                       no_face.string() + " " + (datasets() / "misc/kate_siegel.jpg").string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output << server_->log();
  const json report = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(report["trained"], 12);
  EXPECT_EQ(report["results"]["Obama"]["name"], "obama");
  EXPECT_TRUE(report["results"]["Obama"]["match"]);
  EXPECT_EQ(report["no_face"], json::array());
  EXPECT_EQ(report["stranger"]["name"], "unknown");
  EXPECT_EQ(report["untrained"]["deleted"], 3);
}

struct Endpoint {
  std::string method, path, needs;  // needs: "admin", "recognize", "read"
  httplib::Headers extra;
};

httplib::Result send(httplib::Client& c, const Endpoint& e, httplib::Headers headers) {
  for (const auto& h : e.extra) headers.insert(h);
  const std::string body = e.extra.count("X-Amz-Target") ? "{}" : "{\"subject\":\"x\"}";
  if (e.method == "GET") return c.Get(e.path.c_str(), headers);
  if (e.method == "DELETE") return c.Delete(e.path.c_str(), headers);
  if (e.method == "PUT") return c.Put(e.path.c_str(), headers, body, "application/json");
  return c.Post(e.path.c_str(), headers, body, "application/json");
}

TEST_F(Served, EveryEndpointRefusesNoKeyAWrongKeyAndTooLowARole) {
  const std::string rec = "/api/v1/recognition";
  const std::vector<Endpoint> endpoints = {
      {"POST", rec + "/recognize", "recognize", {}},
      {"POST", rec + "/faces?subject=x", "admin", {}},
      {"GET", rec + "/faces", "read", {}},
      {"DELETE", rec + "/faces?subject=x", "admin", {}},
      {"POST", rec + "/faces/delete", "admin", {}},
      {"DELETE", rec + "/faces/00000000-0000-4000-8000-000000000000", "admin", {}},
      {"GET", rec + "/faces/00000000-0000-4000-8000-000000000000/img", "read", {}},
      {"POST", rec + "/faces/00000000-0000-4000-8000-000000000000/verify", "recognize", {}},
      {"POST", rec + "/subjects", "admin", {}},
      {"GET", rec + "/subjects", "read", {}},
      {"PUT", rec + "/subjects/x", "admin", {}},
      {"DELETE", rec + "/subjects/x", "admin", {}},
      {"DELETE", rec + "/subjects", "admin", {}},
      {"POST", rec + "/embeddings/recognize", "recognize", {}},
      {"POST", "/api/v1/detection/detect", "recognize", {}},
      {"POST", "/api/v1/verification/verify", "recognize", {}},
      {"POST", "/", "recognize", {}},
      {"POST", "/clips", "recognize", {}},
      {"GET", "/metrics", "read", {}},
      {"POST", "/", "read", {{"X-Amz-Target", "AmazonSQS.ListQueues"}}},
      {"POST", "/", "recognize", {{"X-Amz-Target", "AmazonSQS.SendMessage"}}},
      {"POST", "/", "admin", {{"X-Amz-Target", "AmazonSQS.PurgeQueue"}}},
  };
  const std::map<std::string, int> rank = {{"read", 0}, {"recognize", 1}, {"admin", 2}};
  std::string wrong = key("admin");
  wrong[wrong.size() - 1] = wrong.back() == 'a' ? 'b' : 'a';
  auto c = client();
  for (const auto& e : endpoints) {
    const std::string what = e.method + " " + e.path;
    // SQS calls are refused as SQS refuses them: 403 with SQS's error code.
    const bool sqs = e.extra.count("X-Amz-Target") > 0;
    auto none = send(c, e, {});
    ASSERT_TRUE(none) << what;
    EXPECT_EQ(none->status, sqs ? 403 : 401) << what << " " << none->body;
    const json body = json::parse(none->body);
    EXPECT_TRUE(body.contains("message")) << what;
    if (e.path.rfind("/api/v1/", 0) == 0) EXPECT_EQ(body["code"], 20) << what;
    if (sqs) EXPECT_EQ(body["__type"], "com.amazonaws.sqs#MissingAuthenticationToken") << what;
    auto bad = send(c, e, {{"x-api-key", wrong}});
    EXPECT_EQ(bad->status, sqs ? 403 : 401) << what;
    if (sqs) EXPECT_EQ(json::parse(bad->body)["__type"], "com.amazonaws.sqs#InvalidClientTokenId") << what;
    for (const auto& [role, r] : rank) {
      auto res = send(c, e, {{"x-api-key", key(role)}});
      ASSERT_TRUE(res) << what;
      if (r < rank.at(e.needs))
        EXPECT_EQ(res->status, 403) << what << " as " << role << ": " << res->body;
      else
        EXPECT_TRUE(res->status != 401 && res->status != 403) << what << " as " << role << ": " << res->body;
    }
  }
  auto health = c.Get("/healthz");
  EXPECT_EQ(health->status, 200);
  // Revoking a key with the CLI refuses it at once.
  const std::string doomed = create_api_key(server_->dir(), "doomed", "read");
  EXPECT_EQ(c.Get("/metrics", {{"x-api-key", doomed}})->status, 200);
  auto listed = shell(facepipe_cmd("keys list --json --data-dir " + server_->dir().string()));
  ASSERT_EQ(listed.status, 0) << listed.out;
  EXPECT_EQ(listed.out.find(doomed.substr(21)), std::string::npos);  // never the secret
  const std::string id = doomed.substr(4, 16);
  EXPECT_NE(listed.out.find(id), std::string::npos);
  EXPECT_EQ(shell(facepipe_cmd("keys revoke --data-dir " + server_->dir().string() + " " + id)).status, 0);
  EXPECT_EQ(c.Get("/metrics", {{"x-api-key", doomed}})->status, 401);
}

// SQS access key pairs (`keys create --sqs`) for SigV4: the aws CLI, boto3 and facepipe's own SQS client work
// with an issued pair; a wrong secret, an unknown or revoked id, a too-low role and a signature older than
// 15 minutes are refused as SQS refuses them.
TEST_F(Served, SqsChecksSigV4AgainstIssuedAccessKeys) {
  auto pair = [](const std::string& name, const std::string& role) {
    auto r = shell(facepipe_cmd("keys create --sqs --data-dir " + server_->dir().string() + " --name " +
                                name + " --role " + role + " --json 2>/dev/null"));
    EXPECT_EQ(r.status, 0) << r.out;
    return json::parse(r.out);
  };
  const json admin = pair("sqs-admin", "admin"), reader = pair("sqs-reader", "read");
  EXPECT_EQ(admin["access_key_id"].get<std::string>().rfind("AKFP", 0), 0u);
  EXPECT_EQ(admin["secret_access_key"].get<std::string>().size(), 40u);
  auto as = [](const std::string& id, const std::string& secret) {
    return "env AWS_ACCESS_KEY_ID='" + id + "' AWS_SECRET_ACCESS_KEY='" + secret +
           "' AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 AWS_SESSION_TOKEN= ";
  };
  const std::string id = admin["access_key_id"], secret = admin["secret_access_key"];
  const std::string aws = " aws --endpoint-url " + server_->url() + " --output json sqs ";
  auto ok = shell(as(id, secret) + aws + "create-queue --queue-name sigv4-q 2>&1");
  ASSERT_EQ(ok.status, 0) << ok.out;
  const std::string queue_url = json::parse(ok.out)["QueueUrl"];
  EXPECT_EQ(shell(as(id, secret) + aws + "send-message --queue-url " + queue_url + " --message-body hi 2>&1")
                .status,
            0);
  std::string wrong_secret = secret;
  wrong_secret[0] = wrong_secret[0] == 'A' ? 'B' : 'A';
  auto bad = shell(as(id, wrong_secret) + aws + "list-queues 2>&1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("SignatureDoesNotMatch"), std::string::npos) << bad.out;
  bad = shell(as("AKFP0000000000000000", secret) + aws + "list-queues 2>&1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("InvalidClientTokenId"), std::string::npos) << bad.out;
  // A read pair may receive but not send.
  const std::string rid = reader["access_key_id"], rsecret = reader["secret_access_key"];
  auto got = shell(as(rid, rsecret) + aws + "receive-message --queue-url " + queue_url + " 2>&1");
  ASSERT_EQ(got.status, 0) << got.out;
  EXPECT_EQ(json::parse(got.out)["Messages"][0]["Body"], "hi");
  bad = shell(as(rid, rsecret) + aws + "send-message --queue-url " + queue_url + " --message-body no 2>&1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("AccessDenied"), std::string::npos) << bad.out;
  // boto3, and facepipe's own SQS client (which signs whenever AWS credentials are in its environment).
  const std::string py = R"(import boto3, sys
sqs = boto3.client('sqs', endpoint_url=sys.argv[1])
sqs.send_message(QueueUrl=sys.argv[2], MessageBody='{"request_id": "b1", "result": "obama"}')
print('sent'))";
  std::ofstream(server_->dir() / "sigv4_boto3.py") << py;
  auto b = shell(as(id, secret) + " python3 " + (server_->dir() / "sigv4_boto3.py").string() + " " +
                 server_->url() + " " + queue_url + " 2>&1");
  EXPECT_EQ(b.status, 0) << b.out;
  auto fp = shell(as(id, secret) + facepipe_cmd("results --queue-url " + queue_url +
                                                " --expect 1 --idle-seconds 10 --json 2>&1"));
  EXPECT_EQ(fp.status, 0) << fp.out;
  EXPECT_NE(fp.out.find("obama"), std::string::npos) << fp.out;
  // A signature from 16 minutes ago is refused.
  aws::HttpRequest old;
  old.method = "POST";
  old.url = server_->url() + "/";
  old.headers = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "AmazonSQS.ListQueues"}};
  old.body = "{}";
  aws::sign(old, {id, secret, ""}, "eu-west-1", "sqs",
            std::chrono::system_clock::now() - std::chrono::minutes(16));
  httplib::Headers headers;
  for (const auto& [k, v] : old.headers)
    if (k != "Content-Type") headers.emplace(k, v);
  auto res = client().Post("/", headers, old.body, "application/x-amz-json-1.0");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403) << res->body;
  EXPECT_EQ(json::parse(res->body)["__type"], "com.amazonaws.sqs#SignatureDoesNotMatch") << res->body;
  EXPECT_NE(res->body.find("Signature expired"), std::string::npos) << res->body;
  // The same request signed now passes; a revoked pair is refused at once.
  old.headers.erase("Authorization");
  aws::sign(old, {id, secret, ""}, "eu-west-1", "sqs");
  headers.clear();
  for (const auto& [k, v] : old.headers)
    if (k != "Content-Type") headers.emplace(k, v);
  res = client().Post("/", headers, old.body, "application/x-amz-json-1.0");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  ASSERT_EQ(shell(facepipe_cmd("keys revoke --data-dir " + server_->dir().string() + " " + id)).status, 0);
  bad = shell(as(id, secret) + aws + "list-queues 2>&1");
  EXPECT_NE(bad.out.find("InvalidClientTokenId"), std::string::npos) << bad.out;
  // The store never holds the secret.
  const std::string store = read_file(server_->dir() / "keys.db");
  EXPECT_EQ(store.find(secret), std::string::npos);
}

TEST(ServePolicy, RefusesToListenBeyondLoopbackWithoutKeys) {
  const auto dir = temp_dir("api_policy");
  auto r = shell(facepipe_cmd("serve --queues-only --host 0.0.0.0 --port 0 --data-dir " + dir.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("facepipe keys create"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--allow-anonymous"), std::string::npos) << r.out;
  EXPECT_NE(
      shell(facepipe_cmd("serve --queues-only --allow-anonymous nobody --data-dir " + dir.string())).status,
      0);
  EXPECT_NE(shell(facepipe_cmd("keys create --data-dir " + dir.string() + " --name x --role root")).status,
            0);
}

}  // namespace
}  // namespace facepipe::testing
