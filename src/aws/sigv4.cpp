#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "core/error.h"

namespace facepipe::aws {
namespace {

std::string hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  std::string out;
  bool space = false;
  for (char c : s.substr(b, e - b + 1)) {  // sequential spaces collapse to one
    if (c == ' ') {
      if (!space) out += c;
      space = true;
    } else {
      out += c;
      space = false;
    }
  }
  return out;
}

struct UrlParts {
  std::string host, path, query;
};

UrlParts parse_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos)
    throw Error(ErrorKind::kInvalidInput, "'" + url + "' is not an http(s) URL");
  const auto host_start = scheme + 3;
  const auto path_start = url.find_first_of("/?", host_start);
  UrlParts p;
  p.host =
      url.substr(host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  std::string rest = path_start == std::string::npos ? "/" : url.substr(path_start);
  const auto q = rest.find('?');
  p.path = q == std::string::npos ? rest : rest.substr(0, q);
  if (p.path.empty()) p.path = "/";
  p.query = q == std::string::npos ? "" : rest.substr(q + 1);
  return p;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    // Only a '%' with two hex digits is an escape; any other '%' is kept as a literal (std::stoi threw on
    // "%zz" and took "%4z" or "%-1" as numbers: found by fuzz/sigv4_fuzz.cpp).
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Credentials Credentials::from_environment() {
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  if (!id || !secret || !*id || !*secret)
    throw Error(
        ErrorKind::kUnavailable,
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them itself)");
  const char* token = std::getenv("AWS_SESSION_TOKEN");
  return {id, secret, token ? token : ""};
}

std::string region_from_environment() {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (const char* v = std::getenv(name); v && *v) return v;
  return "us-east-1";
}

std::string sha256_hex(const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return hex(out, len);
}

std::string uri_encode(const std::string& text, bool keep_slash) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string canonical_request(const HttpRequest& request, const std::string& service,
                              std::string* signed_headers) {
  const UrlParts url = parse_url(request.url);
  // Path: each segment URI-encoded (S3 keys are encoded once; other services normalise the same way
  // for the plain paths facepipe uses).
  std::string path = uri_encode(url_decode(url.path), true);
  // Query: every parameter encoded, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= url.query.size() && !url.query.empty()) {
    const auto amp = url.query.find('&', start);
    const std::string kv =
        url.query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!kv.empty()) {
      const auto eq = kv.find('=');
      params.emplace_back(uri_encode(url_decode(kv.substr(0, eq)), false),
                          eq == std::string::npos ? "" : uri_encode(url_decode(kv.substr(eq + 1)), false));
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string query;
  for (const auto& [k, v] : params) query.append(query.empty() ? "" : "&").append(k).append("=").append(v);
  // Headers: lower-case names, trimmed values, sorted; host always signed.
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : request.headers) headers[lower(k)] = trim(v);
  headers["host"] = url.host;
  std::string canonical_headers, names;
  for (const auto& [k, v] : headers) {
    canonical_headers.append(k).append(":").append(v).append("\n");
    names.append(names.empty() ? "" : ";").append(k);
  }
  if (signed_headers) *signed_headers = names;
  const auto payload = request.headers.find("X-Amz-Content-Sha256");
  const std::string payload_hash =
      payload != request.headers.end() ? payload->second : sha256_hex(request.body);
  (void)service;
  return request.method + "\n" + path + "\n" + query + "\n" + canonical_headers + "\n" + names + "\n" +
         payload_hash;
}

std::string date_key(const std::string& secret_access_key, const std::string& yyyymmdd) {
  return hmac("AWS4" + secret_access_key, yyyymmdd);
}

std::string signing_key(const std::string& date_key, const std::string& region, const std::string& service) {
  return hmac(hmac(hmac(date_key, region), service), "aws4_request");
}

std::string signature_hex(const std::string& signing_key, const std::string& amz_date,
                          const std::string& scope, const std::string& canonical_request) {
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + sha256_hex(canonical_request);
  const std::string signature = hmac(signing_key, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
}

void sign(HttpRequest& request, const Credentials& credentials, const std::string& region,
          const std::string& service, std::chrono::system_clock::time_point when) {
  const std::string stamp = amz_date(when);
  const std::string date = stamp.substr(0, 8);
  request.headers["X-Amz-Date"] = stamp;
  if (!credentials.session_token.empty()) request.headers["X-Amz-Security-Token"] = credentials.session_token;
  if (service == "s3") request.headers["X-Amz-Content-Sha256"] = sha256_hex(request.body);
  std::string signed_headers;
  const std::string canonical = canonical_request(request, service, &signed_headers);
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  const std::string key = signing_key(date_key(credentials.secret_access_key, date), region, service);
  request.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" +
                                     scope + ", SignedHeaders=" + signed_headers +
                                     ", Signature=" + signature_hex(key, stamp, scope, canonical);
}

}  // namespace facepipe::aws
