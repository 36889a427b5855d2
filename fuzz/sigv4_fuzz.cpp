// SigV4 on arbitrary requests, both ways. Input lines: method, URL, then "Name: value" headers until an
// empty line, then the body.
//  - The signer's request parsing (URL split into host, path and query; query parameters sorted and
//    re-encoded; header names lower-cased, values trimmed), as facepipe's own SQS/S3 client uses it.
//  - The verifier serve runs on every signed SQS request (auth/sigv4_verify.h): the request as given,
//    Authorization header and all, must be refused or accepted without anything but a clean outcome;
//    and the same request signed by the signer with an access key the store issued must be ACCEPTED
//    (a request the aws CLI could send must not be refused by our own canonicalisation).
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <map>
#include <sstream>
#include <string>

#include "auth/keys.h"
#include "auth/sigv4_verify.h"
#include "aws/sigv4.h"
#include "core/error.h"
#include "fuzz_util.h"

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether an HTTP server would pass this header on (the transport's parser refuses the rest): the name a
// token (RFC 9110's tchar), the value without control characters but tab.
bool http_field(const std::string& name, const std::string& value) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("!#$%&'*+-.^_`|~").find(c) == std::string::npos)
      return false;
  for (char c : value)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

// The Host header and target ("path?query") an HTTP server would see for `url`, if it is a plain
// scheme://host[:port][/...] URL of printable characters.
bool split_url(const std::string& url, std::string& host, std::string& target) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || scheme == 0) return false;
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  const size_t slash = url.find('/', scheme + 3);
  host = url.substr(scheme + 3, slash == std::string::npos ? std::string::npos : slash - scheme - 3);
  target = slash == std::string::npos ? "/" : url.substr(slash);
  return !host.empty() && host.find_first_of("?#@") == std::string::npos && target.find('#') == std::string::npos;
}

facepipe::auth::SigV4Outcome verify(const facepipe::aws::HttpRequest& request, const std::string& host,
                                    const std::string& target, const facepipe::auth::KeyStore& keys) {
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) headers[lower(name)] = value;
  if (!headers.count("host")) headers["host"] = host;
  const facepipe::auth::SignedRequest signed_request{
      request.method, target,
      [&headers](const std::string& name) {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
      },
      &request.body};
  return facepipe::auth::verify_sigv4(signed_request, keys);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto keys = facepipe::auth::KeyStore::open(facepipe::fuzz::scratch_dir() / "keys.db");
  static const facepipe::auth::NewAccessKey issued =
      keys->create_access_key("fuzz", facepipe::auth::Role::kAdmin, 30);
  static const facepipe::aws::Credentials credentials{issued.access_key_id, issued.secret_access_key, ""};

  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  facepipe::aws::HttpRequest request;
  std::getline(in, request.method);
  std::getline(in, request.url);
  for (std::string line; std::getline(in, line) && !line.empty();) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || !http_field(line.substr(0, colon), line.substr(colon + 1))) continue;
    request.headers[line.substr(0, colon)] = line.substr(colon + 1);
  }
  request.body.assign(std::istreambuf_iterator<char>(in), {});

  std::string host, target;
  const bool plain_url = split_url(request.url, host, target);
  try {
    if (plain_url) {  // the request as a client sent it: any outcome, but a clean one
      const auto outcome = verify(request, host, target, *keys);
      if (!outcome.key && outcome.code.empty()) {
        std::fprintf(stderr, "verify_sigv4 refused without an SQS error code: %s\n", outcome.message.c_str());
        std::abort();
      }
    }
    std::string signed_headers;
    (void)facepipe::aws::canonical_request(request, "sqs", &signed_headers);
    (void)facepipe::aws::uri_encode(request.url, true);
    facepipe::aws::HttpRequest ours = request;
    for (auto it = ours.headers.begin(); it != ours.headers.end();) {  // the signer sets these itself
      const std::string name = lower(it->first);
      it = name == "authorization" || name == "x-amz-date" || name == "x-amz-security-token" ||
                   name == "x-amz-content-sha256" || name == "host"
               ? ours.headers.erase(it)
               : std::next(it);
    }
    facepipe::aws::sign(ours, credentials, "us-east-1", "sqs");
    if (plain_url) {
      const auto outcome = verify(ours, host, target, *keys);
      if (!outcome.key) {
        std::fprintf(stderr, "a request signed with an issued key was refused: %s %s\n",
                     outcome.code.c_str(), outcome.message.c_str());
        std::abort();
      }
    }
  } catch (const facepipe::Error&) {
  }
  return 0;
}
