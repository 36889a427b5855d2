// Verifies AWS Signature Version 4 on requests to facepipe's SQS endpoint, against the SQS access key pairs
// the key store issued (auth/keys.h, `facepipe keys create --sqs`), refusing as SQS refuses:
//   403 IncompleteSignature        an Authorization header that is not a well-formed SigV4 one
//   403 InvalidClientTokenId       an access key id that is unknown, revoked or expired
//   403 SignatureDoesNotMatch      a wrong signature (wrong secret, altered request), a date outside
//                                  15 minutes of the server's clock ("Signature expired"), or a scope
//                                  whose date is not the request's
// The canonical request is rebuilt with the same code that signs facepipe's own requests (aws/sigv4.h),
// from the headers the client says it signed (Host among them), the target as sent and the body.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "auth/keys.h"

namespace facepipe::auth {

struct SignedRequest {
  std::string method;
  std::string target;                                     // path?query, as sent
  std::function<std::string(const std::string&)> header;  // by lower-case name, "" when absent
  const std::string* body = nullptr;
};

struct SigV4Outcome {
  std::optional<KeyInfo> key;  // set when the signature is valid
  std::string code;            // else the SQS error code
  std::string message;
};

// Whether the request carries a SigV4 Authorization header (then verify_sigv4 decides).
bool has_sigv4(const SignedRequest& request);

SigV4Outcome verify_sigv4(const SignedRequest& request, const KeyStore& keys,
                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace facepipe::auth
