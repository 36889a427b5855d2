// `facepipe enroll|people|gallery --url`: the real CLI against a real `facepipe serve` on loopback (its
// people API, api/people_client.h), with an admin and a read key, photos from ../shared/datasets. The
// remote form must print what the local form prints for the same gallery, and every refusal must say
// what to do (never a crash).
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>

#include "image/codec.h"
#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A loopback port nobody listens on (bound, then released).
int dead_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

// The last JSON document of a command's output (progress lines may come before it on stderr).
json json_of(const std::string& out) {
  const auto start = out.find_first_of("[{");
  EXPECT_NE(start, std::string::npos) << out;
  return json::parse(out.substr(start == std::string::npos ? 0 : start), nullptr, false);
}

class RemoteCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new KeyedServe("remote_cli", {"admin", "read"}, 4);
    ASSERT_TRUE(server_->listening());
  }
  static void TearDownTestSuite() { delete server_; }
  static const std::string& admin_key() { return server_->key("admin"); }
  static const std::string& read_key() { return server_->key("read"); }
  static fs::path gallery() { return server_->gallery(); }
  // `facepipe ARGS` with FACEPIPE_API_KEY=key (the key stays out of the command line); stdout + stderr.
  static ShellResult cli(const std::string& args, const std::string& key) {
    return shell("FACEPIPE_API_KEY=" + key + " " + facepipe_cmd(args));
  }
  static ShellResult as_admin(const std::string& args) { return cli(args, admin_key()); }
  static std::string url() { return server_->url(); }
  static httplib::Client http() { return server_->client(); }

  static KeyedServe* server_;
};
KeyedServe* RemoteCli::server_ = nullptr;

TEST_F(RemoteCli, EnrolListSetGetAndRemoveAsTheLocalFormDoes) {
  // Trump from a folder of people (one sub-folder each) with --records, then Obama by NAME=PATH pairs: the
  // enrolment order is not the name order, and lists keep the enrolment order, as the gallery file does.
  const fs::path people = server_->dir() / "people", records = server_->dir() / "records.json";
  fs::create_directories(people / "Trump");
  for (int n : {1, 2}) fs::copy_file(frame("Trump", n), people / "Trump" / frame("Trump", n).filename());
  std::ofstream(records) << R"({"Trump": {"born": 1946}})";
  auto r =
      as_admin("enroll --url " + url() + " --folder " + people.string() + " --records " + records.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Trump"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gallery " + url() + " ("), std::string::npos) << r.out;
  r = as_admin("enroll --json --url " + url() + " Obama=" + frame("Obama", 1).string() +
               " Obama=" + frame("Obama", 2).string());
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json_of(r.out);
  EXPECT_EQ(j["gallery"], url());
  EXPECT_FALSE(j["embedder"].get<std::string>().empty()) << r.out;
  ASSERT_EQ(j["people"].size(), 1u) << r.out;
  EXPECT_EQ(j["people"][0]["name"], "Obama");
  EXPECT_EQ(j["people"][0]["enrolled"], 2) << r.out;
  // The same photo again adds nothing and says so, as locally.
  r = as_admin("enroll --json --url " + url() + " Obama=" + frame("Obama", 1).string());
  ASSERT_EQ(r.status, 0) << r.out;
  j = json_of(r.out);
  EXPECT_EQ(j["people"][0]["enrolled"], 0);
  EXPECT_EQ(j["people"][0]["duplicates"], 1);
  EXPECT_NE(j["people"][0]["skipped"][0]["reason"].get<std::string>().find("already in the gallery"),
            std::string::npos)
      << r.out;

  // A read key may list.
  r = cli("people list --json --url " + url(), read_key());
  ASSERT_EQ(r.status, 0) << r.out;
  const json remote_people = json_of(r.out);
  ASSERT_EQ(remote_people.size(), 2u) << r.out;
  EXPECT_EQ(remote_people[0]["name"], "Trump");
  EXPECT_EQ(remote_people[0]["embeddings"], 2);
  EXPECT_EQ(remote_people[0]["record"], json({{"born", 1946}}));
  EXPECT_EQ(remote_people[1]["name"], "Obama");
  EXPECT_EQ(remote_people[1]["embeddings"], 2);
  EXPECT_TRUE(remote_people[1]["record"].is_null()) << r.out;
  r = as_admin("people get --url " + url() + " Obama");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("has no record yet"), std::string::npos) << r.out;

  // people set / get, the name's case resolved by the server's spelling, as locally.
  r = as_admin("people set --url " + url() + " obama major=Law year=1991");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("set the record of Obama"), std::string::npos) << r.out;
  r = cli("people get --json --url " + url() + " OBAMA", read_key());
  ASSERT_EQ(r.status, 0) << r.out;
  j = json_of(r.out);
  EXPECT_EQ(j["major"], "Law");
  EXPECT_EQ(j["year"], 1991);
  EXPECT_EQ(j["name"], "Obama");
  r = as_admin("people get --url " + url() + " Obamma");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("did you mean 'Obama'"), std::string::npos) << r.out;
  r = as_admin("people set --url " + url() + " Nobody major=None");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("nobody named 'Nobody'"), std::string::npos) << r.out;  // the server's message
  EXPECT_NE(r.out.find("--create"), std::string::npos) << r.out;
  const fs::path csv = server_->dir() / "people.csv";
  std::ofstream(csv) << "name,major,year\nTrump,\"Economics, Wharton\",1968\n";
  r = as_admin("people import --url " + url() + " " + csv.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("imported 1 records"), std::string::npos) << r.out;
  r = cli("people get --json --url " + url() + " Trump", read_key());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json_of(r.out)["major"], "Economics, Wharton");

  // Local and remote print the same for the same gallery: the JSON of people list and gallery list.
  for (const std::string cmd : {"people list --json", "gallery list --json", "people get --json Obama"}) {
    auto local = shell(facepipe_cmd(cmd + " --gallery " + gallery().string()));
    auto remote = cli(cmd + " --url " + url(), read_key());
    ASSERT_EQ(local.status, 0) << local.out;
    ASSERT_EQ(remote.status, 0) << remote.out;
    EXPECT_EQ(json_of(local.out), json_of(remote.out))
        << cmd << "\nlocal: " << local.out << "\nremote: " << remote.out;
  }
  r = cli("gallery list --url " + url(), read_key());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 people, embedder "), std::string::npos) << r.out;

  // gallery remove: the person and their faces are gone from the server.
  r = as_admin("gallery remove --url " + url() + " trump");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("removed Trump"), std::string::npos) << r.out;
  r = cli("people list --json --url " + url(), read_key());
  ASSERT_EQ(r.status, 0) << r.out;
  j = json_of(r.out);
  ASSERT_EQ(j.size(), 1u) << r.out;
  EXPECT_EQ(j[0]["name"], "Obama");
  auto c = http();
  EXPECT_EQ(c.Get("/api/v1/people/Trump/faces", {{"x-api-key", read_key()}})->status, 404);
  auto faces = c.Get("/api/v1/recognition/faces?size=100", {{"x-api-key", read_key()}});
  ASSERT_EQ(faces->status, 200) << faces->body;
  const json all = json::parse(faces->body)["faces"];
  EXPECT_EQ(all.size(), 2u) << faces->body;
  for (const auto& f : all) EXPECT_EQ(f["subject"], "Obama") << faces->body;
  r = as_admin("gallery remove --url " + url() + " Trump");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("nobody named 'Trump'"), std::string::npos) << r.out;
}

// Every refusal exits non-zero (2 for the caller's mistake, 1 for an unreachable server) with one line
// that says what to do next.
TEST_F(RemoteCli, RefusalsSayWhatToDo) {
  const std::string photo = " Bean=" + frame("Bean", 1).string();
  // A read key may not enrol: the message names the role the call needs.
  auto r = cli("enroll --url " + url() + photo, read_key());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("the key was refused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("has role read"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("needs role admin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("facepipe keys create --role admin"), std::string::npos) << r.out;
  r = cli("people set --create --url " + url() + " Ada major=Maths", read_key());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("needs role admin"), std::string::npos) << r.out;
  // A wrong key, no key at all, --api-key on the command line.
  r = cli("people list --url " + url(), "fpk_wrong_key");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("the key was refused (401"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("facepipe keys create --role admin"), std::string::npos) << r.out;
  r = shell("env -u FACEPIPE_API_KEY " + facepipe_cmd("people list --url " + url()));
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("give one with --api-key or FACEPIPE_API_KEY"), std::string::npos) << r.out;
  r = shell("env -u FACEPIPE_API_KEY " +
            facepipe_cmd("people list --url " + url() + " --api-key " + read_key()));
  EXPECT_EQ(r.status, 0) << r.out;
  // Nothing listens: the message asks whether serve runs there.
  const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port());
  for (const std::string& cmd : std::vector<std::string>{"people list", "gallery list", "enroll" + photo}) {
    r = as_admin(cmd + " --url " + dead);
    EXPECT_EQ(r.status, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("is `facepipe serve` running at " + dead + "?"), std::string::npos) << r.out;
  }
  // Neither --gallery nor --url; both; a URL that is none.
  for (const std::string& cmd : std::vector<std::string>{"people list", "gallery list", "gallery remove Bean",
                                                         "people get Bean", "enroll" + photo}) {
    r = as_admin(cmd);
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("give --gallery FILE"), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("or --url http://HOST:PORT"), std::string::npos) << cmd << ": " << r.out;
  }
  r = as_admin("people list --gallery " + gallery().string() + " --url " + url());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("excludes"), std::string::npos) << r.out;
  r = as_admin("people list --url ftp://127.0.0.1:21");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--url takes http://HOST:PORT"), std::string::npos) << r.out;
  // What only the gallery's machine can do, and the flags the server's engine decides.
  r = as_admin("gallery import --url " + url() + " " +
               (shared() / "galleries/face_images_1000.data.pt").string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("on the machine that holds the gallery"), std::string::npos) << r.out;
  r = as_admin("enroll --per-person 1 --url " + url() + photo);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--per-person is not taken with --url"), std::string::npos) << r.out;
  // A photo without a face and a file that is no image: no usable photo of the person, nothing added.
  const fs::path blank = server_->dir() / "blank.jpg", junk = server_->dir() / "junk.jpg";
  std::ofstream(blank, std::ios::binary)
      << image::encode_jpeg(cv::Mat(480, 640, CV_8UC3, cv::Scalar(128, 128, 128)));
  std::ofstream(junk) << "not an image";
  r = as_admin("enroll --url " + url() + " Nobody=" + blank.string() + " Nobody=" + junk.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("no usable photo of 'Nobody': 1 without a face, 1 unreadable"), std::string::npos)
      << r.out;
  EXPECT_EQ(http().Get("/api/v1/people/Nobody", {{"x-api-key", read_key()}})->status, 404);
}

// https: the certificate is checked (a self-signed one is refused, naming --insecure), --insecure skips it.
TEST_F(RemoteCli, HttpsIsVerifiedUnlessInsecure) {
  const fs::path tls = server_->dir() / "tls";
  fs::create_directories(tls);
  const std::string cert = (tls / "cert.pem").string(), key = (tls / "key.pem").string();
  auto made = run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
          key + " -out " + cert + " 2>&1",
      true);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Child serve({"--models-dir", shared_models().string(), "serve", "--data-dir", (tls / "data").string(),
               "--gallery", (tls / "g.db").string(), "--port", "0", "--tls-cert", cert, "--tls-key", key},
              tls / "serve.log");
  std::string https;
  for (int i = 0; i < 600 && https.empty() && serve.alive(); ++i) {
    std::smatch m;
    const std::string log = serve.log();
    if (std::regex_search(log, m, std::regex("listening on (https://[0-9.]+:[0-9]+)")))
      https = m[1];
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(https.empty()) << serve.log();
  auto r = shell("env -u FACEPIPE_API_KEY " + facepipe_cmd("people list --url " + https));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("the TLS connection to " + https + " failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--insecure"), std::string::npos) << r.out;
  r = shell("env -u FACEPIPE_API_KEY " + facepipe_cmd("people list --insecure --url " + https));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("0 people"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace facepipe::testing
