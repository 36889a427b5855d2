#include "auth/sigv4_verify.h"

#include <openssl/crypto.h>

#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

#include "aws/sigv4.h"

namespace facepipe::auth {
namespace {

constexpr char kScheme[] = "AWS4-HMAC-SHA256";
constexpr auto kMaxSkew = std::chrono::minutes(15);

SigV4Outcome refuse(const std::string& code, const std::string& message) {
  return {std::nullopt, code, message};
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// "Credential=AKID/20261202/us-east-1/sqs/aws4_request, SignedHeaders=a;b, Signature=hex" -> fields.
std::map<std::string, std::string> authorization_fields(const std::string& header) {
  std::map<std::string, std::string> out;
  std::stringstream rest(header.substr(sizeof(kScheme) - 1));
  std::string part;
  while (std::getline(rest, part, ',')) {
    part = trim(part);
    const auto eq = part.find('=');
    if (eq != std::string::npos) out[part.substr(0, eq)] = part.substr(eq + 1);
  }
  return out;
}

// YYYYMMDDTHHMMSSZ -> time point; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_amz_date(const std::string& s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

bool has_sigv4(const SignedRequest& r) { return r.header("authorization").rfind(kScheme, 0) == 0; }

SigV4Outcome verify_sigv4(const SignedRequest& r, const KeyStore& keys,
                          std::chrono::system_clock::time_point now) {
  const std::string authorization = r.header("authorization");
  if (authorization.rfind(kScheme, 0) != 0)
    return refuse("MissingAuthenticationToken", "Request is missing Authentication Token");
  auto fields = authorization_fields(authorization);
  const std::string credential = fields["Credential"], signed_names = fields["SignedHeaders"],
                    signature = fields["Signature"];
  // Credential = access key id / date / region / service / aws4_request
  std::vector<std::string> scope_parts;
  std::stringstream cs(credential);
  for (std::string p; std::getline(cs, p, '/');) scope_parts.push_back(p);
  if (credential.empty() || signed_names.empty() || signature.empty() || scope_parts.size() != 5 ||
      scope_parts[4] != "aws4_request")
    return refuse("IncompleteSignature",
                  "Authorization header requires 'Credential' (ACCESS_KEY/DATE/REGION/SERVICE/aws4_request), "
                  "'SignedHeaders' and 'Signature' parameters.");
  const std::string& access_key_id = scope_parts[0];
  const std::string stamp = r.header("x-amz-date");
  const auto when = parse_amz_date(stamp);
  if (!when)
    return refuse("IncompleteSignature", "Authorization header requires existence of an X-Amz-Date header.");
  if (*when < now - kMaxSkew || *when > now + kMaxSkew)
    return refuse("SignatureDoesNotMatch", "Signature expired: " + stamp + " is now earlier than " +
                                               aws::amz_date(now - kMaxSkew) + " (" + aws::amz_date(now) +
                                               " - 15 min.)");
  if (scope_parts[1] != stamp.substr(0, 8))
    return refuse("SignatureDoesNotMatch", "Credential should be scoped to a valid date: " + scope_parts[1] +
                                               " is not " + stamp.substr(0, 8));
  const auto key = keys.date_key(access_key_id, scope_parts[1]);
  if (!key) return refuse("InvalidClientTokenId", "The security token included in the request is invalid.");

  // The canonical request from what the client signed: its headers by name, Host among them.
  aws::HttpRequest canonical;
  canonical.method = r.method;
  const std::string host = r.header("host");
  canonical.url = "http://" + host + (r.target.empty() ? "/" : r.target);
  canonical.body = r.body ? *r.body : std::string();
  std::stringstream names(signed_names);
  bool host_signed = false;
  for (std::string name; std::getline(names, name, ';');) {
    if (name == "host") {
      host_signed = true;
      continue;  // canonical_request takes it from the URL
    }
    canonical.headers[name] = r.header(name);
  }
  std::string rebuilt_names;
  const std::string text = aws::canonical_request(canonical, scope_parts[3], &rebuilt_names);
  const std::string expected = aws::signature_hex(
      aws::signing_key(key->date_key, scope_parts[2], scope_parts[3]), stamp,
      scope_parts[1] + "/" + scope_parts[2] + "/" + scope_parts[3] + "/aws4_request", text);
  if (!host_signed || host.empty() || rebuilt_names != signed_names || expected.size() != signature.size() ||
      CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0)
    return refuse("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided. Check your "
                  "AWS Secret Access Key and signing method. Consult the service documentation for details.");
  return {key->info, "", ""};
}

}  // namespace facepipe::auth
