// SigV4: the request parsing the signer does (URL split into host, path and query; query parameters
// sorted and re-encoded; header names lower-cased, values trimmed) on arbitrary requests. Input lines:
// method, URL, then "Name: value" headers until an empty line, then the body.
#include <sstream>
#include <string>

#include "aws/sigv4.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  facepipe::aws::HttpRequest request;
  std::getline(in, request.method);
  std::getline(in, request.url);
  for (std::string line; std::getline(in, line) && !line.empty();) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    request.headers[line.substr(0, colon)] = line.substr(colon + 1);
  }
  request.body.assign(std::istreambuf_iterator<char>(in), {});
  static const facepipe::aws::Credentials credentials{"AKIDEXAMPLE",
                                                      "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  try {
    std::string signed_headers;
    (void)facepipe::aws::canonical_request(request, "sqs", &signed_headers);
    (void)facepipe::aws::uri_encode(request.url, true);
    facepipe::aws::sign(request, credentials, "us-east-1", "sqs");
  } catch (const facepipe::Error&) {
  }
  return 0;
}
