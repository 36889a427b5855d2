#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "auth/authorizer.h"
#include "auth/keys.h"
#include "auth/sigv4_verify.h"
#include "aws/sigv4.h"
#include "core/error.h"
#include "testutil/testutil.h"

namespace facepipe::auth {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("facepipe_auth_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

AccessRequest request(const std::string& method, const std::string& path,
                      std::map<std::string, std::string> headers = {},
                      std::map<std::string, std::string> params = {}) {
  auto h = std::make_shared<std::map<std::string, std::string>>(std::move(headers));
  auto p = std::make_shared<std::map<std::string, std::string>>(std::move(params));
  return {method, path,
          [h](const std::string& n) {
            auto it = h->find(n);
            return it == h->end() ? std::string() : it->second;
          },
          [p](const std::string& n) {
            auto it = p->find(n);
            return it == p->end() ? std::string() : it->second;
          }};
}

TEST(KeyStore, KeysAreShownOnceStoredHashedVerifiedAndRevoked) {
  const auto dir = fresh_dir("store");
  std::string key, id;
  {
    auto store = KeyStore::open(key_store_path(dir));
    EXPECT_FALSE(store->has_active_keys());
    auto k = store->create("double-take", Role::kRecognize);
    key = k.key;
    id = k.info.id;
    EXPECT_EQ(key.size(), 4 + 16 + 1 + 64);
    EXPECT_EQ(key.rfind("fpk_" + id + "_", 0), 0u);
    EXPECT_NE(store->create("other", Role::kRecognize).key, key);
  }
  // The file holds neither the key nor its secret half.
  const std::string file = facepipe::testing::read_file(key_store_path(dir));
  EXPECT_EQ(file.find(key.substr(21)), std::string::npos);
  auto store = KeyStore::open(key_store_path(dir));
  auto info = store->verify(key);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "double-take");
  EXPECT_EQ(info->role, Role::kRecognize);
  std::string wrong = key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_FALSE(store->verify(wrong));
  EXPECT_FALSE(store->verify(""));
  EXPECT_FALSE(store->verify("fpk_" + id + "_short"));
  EXPECT_FALSE(store->verify(std::string(10000, 'a')));
  EXPECT_EQ(store->list().size(), 2u);
  EXPECT_TRUE(store->revoke(id));
  EXPECT_FALSE(store->revoke(id));
  EXPECT_FALSE(store->verify(key));
  EXPECT_TRUE(store->list()[0].revoked || store->list()[1].revoked);
  EXPECT_THROW(store->create("", Role::kRead), Error);
  EXPECT_THROW(parse_role("root"), Error);
}

TEST(Authorizer, RolesRoutesAndRefusals) {
  const auto dir = fresh_dir("authz");
  auto store = KeyStore::open(key_store_path(dir));
  const Authorizer open(store.get(), Anonymous::kNone);
  EXPECT_FALSE(open.check(request("DELETE", "/api/v1/recognition/subjects")));  // no key yet: open (loopback)
  const auto admin = store->create("a", Role::kAdmin).key;
  const auto rec = store->create("r", Role::kRecognize).key;
  const auto read = store->create("o", Role::kRead).key;
  const Authorizer authz(store.get(), Anonymous::kNone);

  auto none = authz.check(request("POST", "/api/v1/recognition/recognize"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->body["code"], 20);
  EXPECT_TRUE(none->body.contains("message"));
  auto bad =
      authz.check(request("POST", "/", {{"x-api-key", "fpk_0000000000000000_" + std::string(64, '0')}}));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(bad->body["error"], "unauthorized");  // facepipe's shape outside /api/v1/

  struct Case {
    std::string method, path;
    std::map<std::string, std::string> params, headers;
    Role needed;
  };
  const std::vector<Case> cases = {
      {"POST", "/api/v1/recognition/recognize", {}, {}, Role::kRecognize},
      {"POST", "/api/v1/detection/detect", {}, {}, Role::kRecognize},
      {"POST", "/api/v1/verification/verify", {}, {}, Role::kRecognize},
      {"POST", "/api/v1/recognition/embeddings/recognize", {}, {}, Role::kRecognize},
      {"POST", "/api/v1/recognition/faces/x/verify", {}, {}, Role::kRecognize},
      {"GET", "/api/v1/recognition/faces", {}, {}, Role::kRead},
      {"GET", "/api/v1/recognition/faces/x/img", {}, {}, Role::kRead},
      {"GET", "/api/v1/recognition/subjects", {}, {}, Role::kRead},
      {"POST", "/api/v1/recognition/faces", {}, {}, Role::kAdmin},
      {"DELETE", "/api/v1/recognition/faces", {}, {}, Role::kAdmin},
      {"POST", "/api/v1/recognition/faces/delete", {}, {}, Role::kAdmin},
      {"PUT", "/api/v1/recognition/subjects/x", {}, {}, Role::kAdmin},
      {"POST", "/", {}, {}, Role::kRecognize},
      {"POST", "/clips", {}, {}, Role::kRecognize},
      {"GET", "/metrics", {}, {}, Role::kRead},
      {"POST", "/", {}, {{"x-amz-target", "AmazonSQS.ReceiveMessage"}}, Role::kRead},
      {"POST", "/", {}, {{"x-amz-target", "AmazonSQS.SendMessage"}}, Role::kRecognize},
      {"POST", "/", {}, {{"x-amz-target", "AmazonSQS.PurgeQueue"}}, Role::kAdmin},
      {"GET", "/", {{"Action", "DeleteQueue"}}, {}, Role::kAdmin},
  };
  const std::map<Role, std::string> keys = {
      {Role::kAdmin, admin}, {Role::kRecognize, rec}, {Role::kRead, read}};
  for (const auto& c : cases) {
    for (const auto& [role, key] : keys) {
      auto headers = c.headers;
      headers["x-api-key"] = key;
      auto refusal = authz.check(request(c.method, c.path, headers, c.params));
      if (allows(role, c.needed)) {
        EXPECT_FALSE(refusal) << c.method << " " << c.path << " as " << role_name(role);
      } else {
        ASSERT_TRUE(refusal) << c.method << " " << c.path << " as " << role_name(role);
        EXPECT_EQ(refusal->status, 403) << c.path;
      }
    }
    auto headers = c.headers;
    // Without a key: 401, but SQS calls get SQS's 403 MissingAuthenticationToken.
    const auto refusal = authz.check(request(c.method, c.path, headers, c.params));
    const bool sqs = headers.count("x-amz-target") || c.params.count("Action");
    EXPECT_EQ(refusal->status, sqs ? 403 : 401) << c.path;
    EXPECT_EQ(refusal->sqs_code, sqs ? "MissingAuthenticationToken" : "") << c.path;
  }
  EXPECT_FALSE(authz.check(request("GET", "/healthz")));
  EXPECT_FALSE(authz.check(request("POST", "/", {{"authorization", "Bearer " + rec}})));

  // --allow-anonymous function-url: POST / open, the rest still needs keys.
  const Authorizer fn(store.get(), Anonymous::kFunctionUrl);
  EXPECT_FALSE(fn.check(request("POST", "/")));
  EXPECT_TRUE(fn.check(request("POST", "/", {{"x-amz-target", "AmazonSQS.SendMessage"}})));
  EXPECT_TRUE(fn.check(request("GET", "/api/v1/recognition/subjects")));
  const Authorizer all(store.get(), Anonymous::kAll);
  EXPECT_FALSE(all.check(request("DELETE", "/api/v1/recognition/subjects")));
  // Revoking takes effect at once.
  store->revoke(read);
  EXPECT_EQ(authz.check(request("GET", "/metrics", {{"x-api-key", read}}))->status, 401);
}

TEST(ListenPolicy, BeyondLoopbackNeedsKeysOrAnExplicitAnonymous) {
  const auto dir = fresh_dir("policy");
  auto store = KeyStore::open(key_store_path(dir));
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.1.2.3"));
  EXPECT_TRUE(is_loopback("localhost"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("192.168.1.5"));
  EXPECT_NO_THROW(check_listen_policy("127.0.0.1", store.get(), std::nullopt));
  try {
    check_listen_policy("0.0.0.0", store.get(), std::nullopt);
    FAIL() << "served open on 0.0.0.0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("facepipe keys create"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--allow-anonymous"), std::string::npos);
  }
  const Authorizer no_keys_fn(store.get(), Anonymous::kFunctionUrl);
  EXPECT_EQ(no_keys_fn.check(request("GET", "/metrics"))->status, 401);  // only POST / is anonymous
  EXPECT_NO_THROW(check_listen_policy("0.0.0.0", store.get(), Anonymous::kFunctionUrl));
  store->create("a", Role::kAdmin);
  EXPECT_NO_THROW(check_listen_policy("0.0.0.0", store.get(), std::nullopt));
}

// A request signed as facepipe's own SQS client signs it, verified against the store's date keys; each
// tampering an attacker might try is refused with SQS's code.
TEST(SigV4, VerifiesIssuedPairsAndRefusesTampering) {
  auto dir = fresh_dir("sigv4");
  auto store = KeyStore::open(key_store_path(dir));
  const auto pair = store->create_access_key("worker", Role::kRecognize, 2);
  EXPECT_TRUE(store->has_active_keys());
  aws::HttpRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:8080/";
  req.headers = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "AmazonSQS.SendMessage"}};
  req.body = R"({"QueueUrl":"http://127.0.0.1:8080/000000000000/q","MessageBody":"hi"})";
  aws::sign(req, {pair.access_key_id, pair.secret_access_key, ""}, "us-east-1", "sqs");
  auto verify = [&](const aws::HttpRequest& r, const std::string& body) {
    std::map<std::string, std::string> lower;
    for (const auto& [k, v] : r.headers) {
      std::string n = k;
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      lower[n] = v;
    }
    lower["host"] = "127.0.0.1:8080";
    const SignedRequest s{r.method, "/",
                          [lower](const std::string& n) {
                            auto it = lower.find(n);
                            return it == lower.end() ? std::string() : it->second;
                          },
                          &body};
    return verify_sigv4(s, *store);
  };
  auto ok = verify(req, req.body);
  ASSERT_TRUE(ok.key) << ok.code << ": " << ok.message;
  EXPECT_EQ(ok.key->name, "worker");
  EXPECT_EQ(ok.key->role, Role::kRecognize);
  EXPECT_EQ(verify(req, req.body + " ").code, "SignatureDoesNotMatch");  // the body was altered
  auto other_target = req;
  other_target.headers["X-Amz-Target"] = "AmazonSQS.PurgeQueue";  // the action was altered
  EXPECT_EQ(verify(other_target, req.body).code, "SignatureDoesNotMatch");
  auto scope = req;  // the credential's date is not the request's
  auto& auth = scope.headers["Authorization"];
  const auto at = auth.find("/20");
  auth.replace(at + 1, 8, "19990101");
  EXPECT_EQ(verify(scope, req.body).code, "SignatureDoesNotMatch");
  auto broken = req;
  broken.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=x";
  EXPECT_EQ(verify(broken, req.body).code, "IncompleteSignature");
  auto unknown = req;
  unknown.headers["Authorization"].replace(unknown.headers["Authorization"].find("AKFP"), 20,
                                           "AKFP0123456789ABCDEF");
  EXPECT_EQ(verify(unknown, req.body).code, "InvalidClientTokenId");
  // An API key's id is no access key, and nothing of the secret is stored.
  EXPECT_FALSE(store->verify(pair.access_key_id));
  EXPECT_TRUE(store->revoke(pair.access_key_id));
  EXPECT_EQ(verify(req, req.body).code, "InvalidClientTokenId");
  EXPECT_FALSE(store->has_active_keys());
}

}  // namespace
}  // namespace facepipe::auth
