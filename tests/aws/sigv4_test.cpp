#include "aws/sigv4.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace facepipe::aws {
namespace {

std::chrono::system_clock::time_point at_20150830T123600Z() {
  std::tm tm{};
  tm.tm_year = 2015 - 1900;
  tm.tm_mon = 7;
  tm.tm_mday = 30;
  tm.tm_hour = 12;
  tm.tm_min = 36;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

const Credentials kExample{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

// AWS's worked example in the SigV4 documentation (IAM ListUsers, 2015-08-30T12:36:00Z).
TEST(SigV4, ReproducesAwsDocumentedExample) {
  HttpRequest r;
  r.method = "GET";
  r.url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08";
  r.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8";
  sign(r, kExample, "us-east-1", "iam", at_20150830T123600Z());
  EXPECT_EQ(r.headers["X-Amz-Date"], "20150830T123600Z");
  EXPECT_EQ(r.headers["Authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(SigV4, EncodesLikeTheSpecification) {
  EXPECT_EQ(uri_encode("a b/c~d*e", false), "a%20b%2Fc~d%2Ae");
  EXPECT_EQ(uri_encode("photos/2026 clip.mp4", true), "photos/2026%20clip.mp4");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// A '%' not followed by two hex digits is a literal '%' (re-encoded as %25), never an exception: serve
// rebuilds the canonical request of every signed SQS call from the client's target (found by the sigv4
// fuzzer: std::stoi threw std::invalid_argument on "%\xb20").
TEST(SigV4, MalformedPercentEscapesAreLiterals) {
  HttpRequest r;
  r.method = "GET";
  r.url = "http://127.0.0.1:9324/q?a=%zz&b=%4z&c=%-1&d=%41&e=%";
  std::string signed_headers;
  std::string canonical;
  ASSERT_NO_THROW(canonical = canonical_request(r, "sqs", &signed_headers));
  EXPECT_NE(canonical.find("a=%25zz&b=%254z&c=%25-1&d=A&e=%25"), std::string::npos) << canonical;
  EXPECT_NO_THROW(sign(r, kExample, "us-east-1", "sqs"));
}

// The same requests signed by botocore (the signer of the aws CLI and boto3), when it is installed.
TEST(SigV4, AgreesWithBotocore) {
  const auto probe = facepipe::testing::run_command("python3 -c 'import botocore' 2>&1");
  if (probe.exit_code != 0)
    GTEST_SKIP() << "botocore not installed (Debian: python3-botocore); scripts/deps.sh installs it";
  struct Case {
    std::string service, method, url, body;
    std::map<std::string, std::string> headers;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"sqs",
       "POST",
       "https://sqs.us-east-1.amazonaws.com/",
       R"({"QueueName":"abc-req-queue"})",
       {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "AmazonSQS.GetQueueUrl"}},
       ""},
      {"dynamodb",
       "POST",
       "http://127.0.0.1:5000/",
       R"({"TableName":"people","Key":{"name":{"S":"Obama"}}})",
       {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "DynamoDB_20120810.GetItem"}},
       "FQoGZXIvYXdzEXAMPLETOKEN"},
      {"sqs",
       "GET",
       "https://sqs.eu-west-1.amazonaws.com/123456789012/q?Action=ReceiveMessage&MaxNumberOfMessages=10",
       "",
       {},
       ""},
  };
  for (const auto& c : cases) {
    HttpRequest r{c.method, c.url, c.headers, c.body};
    const Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c.token};
    const std::string region = c.url.find("eu-west-1") != std::string::npos ? "eu-west-1" : "us-east-1";
    sign(r, creds, region, c.service, at_20150830T123600Z());
    nlohmann::json spec = {{"service", c.service}, {"method", c.method}, {"url", c.url},    {"body", c.body},
                           {"headers", c.headers}, {"token", c.token},   {"region", region}};
    const std::string script = R"PY(
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
s = json.loads(sys.argv[1])
req = AWSRequest(method=s['method'], url=s['url'], data=s['body'].encode(), headers=s['headers'])
req.context['timestamp'] = '20150830T123600Z'
auth = SigV4Auth(Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', s['token'] or None), s['service'], s['region'])
auth._modify_request_before_signing(req)
cr = auth.canonical_request(req)
sig = auth.signature(auth.string_to_sign(req, cr), req)
print(json.dumps({'signature': sig, 'signed_headers': auth.signed_headers(auth.headers_to_sign(req))}))
)PY";
    std::string quoted = spec.dump();
    std::string escaped;
    for (char ch : quoted) escaped += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    const auto out = facepipe::testing::run_command("python3 -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\" '" +
                                                    escaped + "'");
    ASSERT_EQ(out.exit_code, 0) << out.output;
    const auto want = nlohmann::json::parse(out.output);
    const std::string auth = r.headers["Authorization"];
    EXPECT_NE(auth.find("Signature=" + want["signature"].get<std::string>()), std::string::npos)
        << c.url << "\nours: " << auth << "\nbotocore: " << out.output;
    EXPECT_NE(auth.find("SignedHeaders=" + want["signed_headers"].get<std::string>() + ","),
              std::string::npos)
        << auth;
  }
}

}  // namespace
}  // namespace facepipe::aws
