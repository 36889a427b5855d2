// AWS Signature Version 4 request signing. Hand-written on OpenSSL (SHA-256, HMAC) because no AWS SDK
// for C++ is packaged for Debian; it is checked against AWS's published example and against botocore's
// signer on the same requests (tests/aws/sigv4_test.cpp).
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace facepipe::aws {

struct Credentials {
  std::string access_key_id, secret_access_key, session_token;  // token: temporary credentials (Lambda)
  // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Error(kUnavailable) when unset.
  static Credentials from_environment();
};

// The region from AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
std::string region_from_environment();

struct HttpRequest {
  std::string method = "GET";
  std::string url;                             // scheme://host[:port]/path[?query]
  std::map<std::string, std::string> headers;  // names as given; signing uses lower case
  std::string body;
};

// Adds X-Amz-Date, X-Amz-Security-Token (when the credentials have one), X-Amz-Content-Sha256 (S3) and
// Authorization to `request`, signed for `service` in `region` at `when`.
void sign(HttpRequest& request, const Credentials& credentials, const std::string& region,
          const std::string& service,
          std::chrono::system_clock::time_point when = std::chrono::system_clock::now());

// The SigV4 key derivation, split where a verifier can stop: date_key = HMAC("AWS4" + secret, YYYYMMDD) (a
// one-way function of the secret, valid for that day only), then HMAC chains over region, service and
// "aws4_request". A verifier that stores only date keys never holds the secret (auth/keys.h).
std::string date_key(const std::string& secret_access_key, const std::string& yyyymmdd);
std::string signing_key(const std::string& date_key, const std::string& region, const std::string& service);
// The signature of a canonical request (hex), as `sign` computes it: `amz_date` is X-Amz-Date
// (YYYYMMDDTHHMMSSZ), `scope` is "YYYYMMDD/region/service/aws4_request".
std::string signature_hex(const std::string& signing_key, const std::string& amz_date,
                          const std::string& scope, const std::string& canonical_request);

// X-Amz-Date's form of `when`: YYYYMMDDTHHMMSSZ (UTC).
std::string amz_date(std::chrono::system_clock::time_point when);

// Building blocks, exposed for the tests.
std::string sha256_hex(const std::string& data);
std::string canonical_request(const HttpRequest& request, const std::string& service,
                              std::string* signed_headers);
std::string uri_encode(const std::string& text, bool keep_slash);

}  // namespace facepipe::aws
