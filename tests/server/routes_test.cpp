// The transport's seams, on a real server on loopback: the route table (404 / 405), the authentication
// hook, the static mount (types, caching, traversal), Expect: 100-continue, the Error → status mapping,
// and HTTPS with a self-signed certificate made here.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "queue/queue.h"
#include "server/error_status.h"
#include "server/http_server.h"
#include "testutil/testutil.h"

namespace facepipe::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Running {
  service::Metrics metrics;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  explicit Running(ServerOptions o = {}, std::function<void(HttpServer&)> setup = {}) {
    o.port = 0;
    o.threads = 2;
    o.long_threads = 2;
    server = std::make_unique<HttpServer>(o, nullptr, metrics);
    server->set_function([](const std::string& body, bool) { return json{{"echo", body}}; });
    if (setup) setup(*server);
    server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Running() {
    server->stop();
    thread.join();
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", server->port()); }
};

fs::path temp_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("fp_routes_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(Routes, UnknownPathIs404AndWrongMethodIs405) {
  Running r;
  auto c = r.client();
  auto res = c.Get("/nowhere");
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["error"], "not_found");
  res = c.Get("/");
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  EXPECT_EQ(c.Post("/healthz", "{}", "application/json")->status, 405);
}

TEST(Routes, AuthHookSeesTheRequestBeforeTheRoute) {
  std::atomic<int> handled{0};
  Running r({}, [&](HttpServer& s) {
    s.add_post_route("/count", [&](const std::string&, const std::map<std::string, std::string>&) {
      ++handled;
      return json{{"ok", true}};
    });
    s.set_auth([](const Request& req, const Route& route) -> std::optional<Response> {
      if (route.name == "healthz") return std::nullopt;
      if (req.header("x-api-key").empty()) return Response::error(401, "unauthorized", "send x-api-key");
      if (req.header("x-api-key") != "good" || req.body.find("deny") != std::string::npos ||
          req.param("q") == "no")
        return Response::error(403, "forbidden", "not allowed");
      return std::nullopt;
    });
  });
  auto c = r.client();
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  auto res = c.Post("/count", "{}", "application/json");
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(json::parse(res->body)["error"], "unauthorized");
  EXPECT_EQ(c.Post("/count", {{"x-api-key", "bad"}}, "{}", "application/json")->status, 403);
  EXPECT_EQ(c.Post("/count", {{"x-api-key", "good"}}, "{\"deny\":1}", "application/json")->status, 403);
  EXPECT_EQ(c.Post("/count?q=no", {{"x-api-key", "good"}}, "{}", "application/json")->status, 403);
  EXPECT_EQ(handled, 0);  // no refused request reached the handler
  EXPECT_EQ(c.Post("/count", {{"x-api-key", "good"}}, "{}", "application/json")->status, 200);
  EXPECT_EQ(handled, 1);
}

TEST(Routes, ErrorKindsMapToStatuses) {
  EXPECT_EQ(http_status(ErrorKind::kInvalidInput), 400);
  EXPECT_EQ(http_status(ErrorKind::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::kTooLarge), 413);
  EXPECT_EQ(http_status(ErrorKind::kConflict), 409);
  EXPECT_EQ(http_status(ErrorKind::kUnavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::kInternal), 500);
  // Through a route: the handler's Error becomes its status with {"error","message"}.
  Running r({}, [](HttpServer& s) {
    s.add_post_route("/busy", [](const std::string&, const std::map<std::string, std::string>&) -> json {
      throw Error(ErrorKind::kUnavailable, "engine busy");
    });
  });
  auto res = r.client().Post("/busy", "{}", "application/json");
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(res->body)["message"], "engine busy");
}

TEST(Routes, StaticMountServesFilesSafely) {
  const fs::path dir = temp_dir("static");
  fs::create_directories(dir / "web" / "css");
  write(dir / "web" / "index.html", "<h1>console</h1>");
  write(dir / "web" / "app.js", "console.log(1)");
  write(dir / "web" / "css" / "site.css", "body{}");
  write(dir / "secret.txt", "do not serve");
  fs::create_symlink(dir / "secret.txt", dir / "web" / "link.txt");
  Running r({}, [&](HttpServer& s) { s.mount_static("/web/", (dir / "web").string()); });
  auto c = r.client();
  auto res = c.Get("/web/");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "<h1>console</h1>");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  res = c.Get("/web/app.js");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
  const std::string etag = res->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(c.Get("/web/app.js", {{"If-None-Match", etag}})->status, 304);
  EXPECT_EQ(c.Get("/web/css/site.css")->get_header_value("Content-Type"), "text/css; charset=utf-8");
  auto head = c.Head("/web/app.js");
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), "14");
  for (const char* bad : {"/web/../secret.txt", "/web/%2e%2e/secret.txt", "/web/css/..%2f..%2fsecret.txt",
                          "/web/link.txt", "/web//etc/passwd", "/web/%2fetc%2fpasswd", "/web/missing.js",
                          "/web/css", "/web/app.js%00.png", "/web/..%5csecret.txt"}) {
    // Raw socket: httplib's client would normalise some of these paths.
    httplib::Client raw("127.0.0.1", r.server->port());
    auto got = raw.Get(bad);
    ASSERT_TRUE(got) << bad;
    EXPECT_EQ(got->status, 404) << bad;
    EXPECT_EQ(got->body.find("do not serve"), std::string::npos) << bad;
  }
  fs::remove_all(dir);
}

TEST(Routes, ExpectContinueIsAnswered) {
  Running r;
  httplib::Client c("127.0.0.1", r.server->port());
  // curl sends Expect: 100-continue for bodies over 1 KB and waits a second for the 100 otherwise.
  auto o = facepipe::testing::run_command(
      "head -c 4000 /dev/zero | tr '\\0' a | sed 's/.*/\"&\"/' | curl -s -m 5 -w ' %{time_total}' -H "
      "'Content-Type: application/json' --data-binary @- http://127.0.0.1:" +
      std::to_string(r.server->port()) + "/");
  ASSERT_EQ(o.exit_code, 0) << o.output;
  const auto space = o.output.rfind(' ');
  EXPECT_NE(o.output.find("\"echo\""), std::string::npos) << o.output;
  EXPECT_LT(std::stod(o.output.substr(space + 1)), 0.9) << o.output;
}

TEST(Routes, HttpsWithASelfSignedCertificate) {
  const fs::path dir = temp_dir("tls");
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  auto made = facepipe::testing::run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
          key + " -out " + cert + " 2>&1",
      true);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ServerOptions o;
  o.tls_cert = cert;
  o.tls_key = key;
  Running r(o);
  EXPECT_EQ(r.server->base_url().rfind("https://", 0), 0u);
  const std::string url = "https://127.0.0.1:" + std::to_string(r.server->port());
  // Verified against the certificate (no -k): the chain and the address check out.
  auto got = facepipe::testing::run_command("curl -s -m 5 --cacert " + cert +
                                            " -H 'Content-Type: application/json' "
                                            "-d '{\"a\":1}' " +
                                            url + "/");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(json::parse(got.output)["echo"], "{\"a\":1}");
  // Plain HTTP to the TLS port fails; the server keeps serving HTTPS.
  auto plain = facepipe::testing::run_command(
      "curl -s -m 3 http://127.0.0.1:" + std::to_string(r.server->port()) + "/healthz");
  EXPECT_NE(plain.exit_code, 0);
  got = facepipe::testing::run_command("curl -s -m 5 --cacert " + cert + " " + url + "/healthz");
  EXPECT_EQ(got.output, "{\"status\":\"ok\"}");
  // A bad key file is a clear error at bind().
  ServerOptions bad;
  bad.port = 0;
  bad.tls_cert = cert;
  bad.tls_key = cert;
  service::Metrics metrics;
  HttpServer s(bad, nullptr, metrics);
  EXPECT_THROW(s.bind(), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace facepipe::server
