// facepipe's people API and the console's data (api/console.h) through `facepipe serve`, with real
// photos from ../shared/datasets: per-photo checks, roles, cross-site refusals, limits, erasure, the
// live event stream, snapshots, and the grouping of unknown faces.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "image/codec.h"
#include "image/decode.h"
#include "service/base64.h"
#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A name as one percent-encoded path segment (what encodeURIComponent makes).
std::string path_of(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

class People : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new KeyedServe("people_api", {"admin", "read"}, 8);
    ASSERT_TRUE(server_->listening());
  }
  static void TearDownTestSuite() { delete server_; }
  static const std::string& admin_key() { return server_->key("admin"); }
  static const std::string& read_key() { return server_->key("read"); }
  static httplib::Client client() { return server_->client(); }
  static httplib::Headers as(const std::string& key) { return {{"x-api-key", key}}; }
  static httplib::Result upload(const std::string& person, const std::string& bytes,
                                const std::string& key = admin_key()) {
    httplib::MultipartFormDataItems items = {{"file", bytes, "photo.jpg", "image/jpeg"}};
    return client().Post("/api/v1/people/" + path_of(person) + "/faces", as(key), items);
  }
  static json post_frame(const fs::path& file, const std::string& id) {
    json body = {{"request_id", id},
                 {"filename", file.filename().string()},
                 {"content", service::base64_encode(read_file(file))}};
    auto r = client().Post("/?wait=1", as(admin_key()), body.dump(), "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
  static void remove_everyone() {
    const json list = json::parse(client().Get("/api/v1/people?size=200", as(admin_key()))->body);
    for (const auto& p : list["people"])
      client().Delete("/api/v1/people/" + path_of(p["name"].get<std::string>()), as(admin_key()));
  }

  static KeyedServe* server_;
};
KeyedServe* People::server_ = nullptr;

TEST_F(People, EachPhotoIsCheckedAtOnceAndTheGoodOnesEnrolled) {
  remove_everyone();
  for (int n : {1, 2, 3}) {
    auto r = upload("Trump", read_file(frame("Trump", n)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["person"], "Trump");
    EXPECT_TRUE(j["quality"]["ok"].get<bool>());
  }
  auto again = upload("Trump", read_file(frame("Trump", 1)));
  EXPECT_EQ(again->status, 422);
  EXPECT_EQ(json::parse(again->body)["error"], "duplicate") << again->body;

  auto group = upload("Trump", read_file(datasets() / "misc/multiface.jpg"));
  EXPECT_EQ(group->status, 422);
  EXPECT_EQ(json::parse(group->body)["error"], "several_faces") << group->body;

  const cv::Mat grey(480, 640, CV_8UC3, cv::Scalar(128, 128, 128));
  auto blank = upload("Trump", image::encode_jpeg(grey));
  EXPECT_EQ(blank->status, 422);
  EXPECT_EQ(json::parse(blank->body)["error"], "no_face") << blank->body;

  // A face the detector still finds but that fails the quality gate: the frame shrunk until the face is
  // smaller than the gate's minimum size and blurred.
  cv::Mat small;
  cv::resize(image::load_rgb(frame("Trump", 4)), small, cv::Size(), 0.06, 0.06, cv::INTER_AREA);
  auto tiny = upload("Trump", image::encode_jpeg(small));
  ASSERT_EQ(tiny->status, 422) << tiny->body;
  const std::string tiny_error = json::parse(tiny->body)["error"];
  EXPECT_TRUE(tiny_error == "poor_quality" || tiny_error == "no_face") << tiny->body;

  auto junk = upload("Trump", "not an image at all");
  EXPECT_EQ(junk->status, 400);
  EXPECT_EQ(json::parse(junk->body)["error"], "bad_image");

  auto person = client().Get("/api/v1/people/Trump", as(read_key()));
  ASSERT_EQ(person->status, 200) << person->body;
  const json p = json::parse(person->body);
  EXPECT_EQ(p["faces"], 3);
  ASSERT_EQ(p["face_ids"].size(), 3u);
  auto thumb = client().Get("/api/v1/faces/" + p["face_ids"][0]["id"].get<std::string>() + "/thumbnail",
                            as(read_key()));
  ASSERT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");
  const auto info = image::probe(thumb->body);
  EXPECT_LE(std::max(info.width, info.height), 160);
  EXPECT_GT(std::min(info.width, info.height), 40);
}

TEST_F(People, CreateRenameRecordAndErrorsAreJson) {
  remove_everyone();
  auto c = client();
  auto created = c.Post("/api/v1/people", as(admin_key()),
                        json{{"name", "Ada"}, {"record", {{"major", "Maths"}}}}.dump(), "application/json");
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(json::parse(created->body)["record"]["major"], "Maths");
  EXPECT_EQ(c.Post("/api/v1/people", as(admin_key()), R"({"name":"Ada"})", "application/json")->status, 409);
  for (const char* bad : {R"({"name":""})", R"({"name":"Unknown"})", R"({"name":"a/b"})", R"({"nom":"x"})",
                          R"({"name":"x","record":[1]})", "{not json"}) {
    auto r = c.Post("/api/v1/people", as(admin_key()), bad, "application/json");
    EXPECT_EQ(r->status, 400) << bad << " -> " << r->body;
    const json j = json::parse(r->body);
    EXPECT_TRUE(j.contains("error") && j.contains("message")) << r->body;
  }
  auto record = c.Put("/api/v1/people/Ada/record", as(admin_key()), R"({"year": 3, "major": "Physics"})",
                      "application/json");
  ASSERT_EQ(record->status, 200) << record->body;
  EXPECT_EQ(json::parse(record->body)["record"], json({{"year", 3}, {"major", "Physics"}}));
  EXPECT_EQ(c.Put("/api/v1/people/Ada/record", as(admin_key()), "[1,2]", "application/json")->status, 400);
  EXPECT_EQ(c.Put("/api/v1/people/Ada/record", as(admin_key()), R"({"x":")" + std::string(70000, 'a') + "\"}",
                  "application/json")
                ->status,
            413);
  auto renamed =
      c.Patch("/api/v1/people/Ada", as(admin_key()), R"({"name":"Ada Lovelace"})", "application/json");
  ASSERT_EQ(renamed->status, 200) << renamed->body;
  EXPECT_EQ(json::parse(renamed->body)["record"]["major"], "Physics");
  EXPECT_EQ(c.Get("/api/v1/people/Ada", as(admin_key()))->status, 404);
  EXPECT_EQ(c.Get("/api/v1/people/" + path_of("Ada Lovelace"), as(admin_key()))->status, 200);
  EXPECT_EQ(c.Get("/api/v1/people?size=0", as(admin_key()))->status, 400);
  EXPECT_EQ(c.Get("/api/v1/people?page=x", as(admin_key()))->status, 400);
  EXPECT_EQ(c.Delete("/api/v1/faces/no-such-face", as(admin_key()))->status, 404);
  EXPECT_EQ(c.Get("/api/v1/people/Nobody/faces", as(admin_key()))->status, 404);

  const std::string xss = "<img src=x onerror=alert(1)>";
  ASSERT_EQ(c.Post("/api/v1/people", as(admin_key()), json{{"name", xss}}.dump(), "application/json")->status,
            201);
  auto back = c.Get("/api/v1/people/" + path_of(xss), as(admin_key()));
  ASSERT_EQ(back->status, 200) << back->body;
  EXPECT_EQ(json::parse(back->body)["name"], xss);
}

// What `facepipe people list --url` and `gallery list --url` read: the order people were enrolled in (as the
// gallery file lists them), each one's embeddings, and the gallery's embedder and dimension.
TEST_F(People, ListsInNameOrEnrolmentOrderWithEmbeddingsAndTheEmbedder) {
  remove_everyone();
  auto c = client();
  for (const char* name : {"Zed", "Amy"})
    ASSERT_EQ(
        c.Post("/api/v1/people", as(admin_key()), json{{"name", name}}.dump(), "application/json")->status,
        201);
  ASSERT_EQ(upload("Zed", read_file(frame("Obama", 1)))->status, 201);
  ASSERT_EQ(upload("Zed", read_file(frame("Obama", 2)))->status, 201);
  auto names = [&](const std::string& query) {
    auto r = c.Get("/api/v1/people" + query, as(read_key()));
    EXPECT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    std::vector<std::string> out;
    for (const auto& p : j["people"]) out.push_back(p["name"]);
    return std::make_pair(out, j);
  };
  auto [by_name, listed] = names("");
  EXPECT_EQ(by_name, (std::vector<std::string>{"Amy", "Zed"}));
  EXPECT_EQ(names("?order=added").first, (std::vector<std::string>{"Zed", "Amy"}));
  EXPECT_EQ(names("?order=added&size=1&page=1").first, (std::vector<std::string>{"Amy"}));
  EXPECT_EQ(c.Get("/api/v1/people?order=age", as(read_key()))->status, 400);
  EXPECT_EQ(listed["people"][1]["embeddings"], 2);
  EXPECT_EQ(listed["people"][1]["faces"], 2);
  EXPECT_EQ(listed["people"][0]["embeddings"], 0);
  EXPECT_GT(listed["dim"].get<int>(), 0) << listed.dump();
  EXPECT_FALSE(listed["embedder"].get<std::string>().empty()) << listed.dump();
  EXPECT_EQ(json::parse(c.Get("/api/v1/people/Zed", as(read_key()))->body)["embeddings"], 2);
}

TEST_F(People, KeysRolesAndCrossSiteRequests) {
  auto c = client();
  EXPECT_EQ(c.Get("/api/v1/people")->status, 401);
  EXPECT_EQ(c.Get("/api/v1/people", as("fp_wrong"))->status, 401);
  EXPECT_EQ(c.Get("/api/v1/people", as(read_key()))->status, 200);
  EXPECT_EQ(c.Get("/api/v1/unknowns", as(read_key()))->status, 200);
  EXPECT_EQ(c.Get("/api/v1/events/recent", as(read_key()))->status, 200);
  auto refused = c.Post("/api/v1/people", as(read_key()), R"({"name":"Eve"})", "application/json");
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(c.Delete("/api/v1/people/Eve", as(read_key()))->status, 403);
  EXPECT_EQ(
      c.Post("/api/v1/unknowns/g1/name", as(read_key()), R"({"subject":"Eve"})", "application/json")->status,
      403);
  // The console's files are public; they hold no data.
  auto page = c.Get("/ui/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(c.Get("/ui")->status, 301);

  // A page of another site cannot change anything, even with a key it somehow holds.
  httplib::Headers foreign = {{"x-api-key", admin_key()}, {"Origin", "http://evil.example"}};
  auto cross = c.Post("/api/v1/people", foreign, R"({"name":"Mallory"})", "application/json");
  EXPECT_EQ(cross->status, 403);
  EXPECT_EQ(json::parse(cross->body)["error"], "cross_site");
  httplib::Headers fetch_meta = {{"x-api-key", admin_key()}, {"Sec-Fetch-Site", "cross-site"}};
  EXPECT_EQ(c.Post("/api/v1/people", fetch_meta, R"({"name":"Mallory"})", "application/json")->status, 403);
  const std::string host = server_->url().substr(std::string("http://").size());
  httplib::Headers own = {{"x-api-key", admin_key()}, {"Origin", server_->url()}, {"Host", host}};
  auto same = c.Post("/api/v1/people", own, R"({"name":"Same Origin"})", "application/json");
  EXPECT_EQ(same->status, 201) << same->body;
  const std::string port = server_->url().substr(server_->url().rfind(':'));
  httplib::Headers by_name = {
      {"x-api-key", admin_key()}, {"Origin", "http://localhost" + port}, {"Host", "localhost" + port}};
  EXPECT_EQ(c.Post("/api/v1/people", by_name, R"({"name":"By Name"})", "application/json")->status, 201);
  // DNS rebinding: a foreign name pointed at 127.0.0.1; its Origin and Host agree, and are still refused.
  httplib::Headers rebound = {
      {"x-api-key", admin_key()}, {"Origin", "http://evil.example" + port}, {"Host", "evil.example" + port}};
  EXPECT_EQ(c.Post("/api/v1/people", rebound, R"({"name":"Rebound"})", "application/json")->status, 403);
}

TEST_F(People, UploadsAreSizeLimited) {
  std::string huge(7 * 1024 * 1024, 'x');
  auto r = upload("Big", huge);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(People, SnapshotNamesCannotLeaveTheStore) {
  auto c = client();
  for (const char* bad : {"/api/v1/snapshots/..%2F..%2Fkeys.db",
                          "/api/v1/snapshots/20261202/..%2F..%2Fkeys.db", "/api/v1/snapshots/../keys.db",
                          "/api/v1/snapshots/20261202/000001-face.png", "/api/v1/snapshots/%2Fetc/passwd"}) {
    auto r = c.Get(bad, as(read_key()));
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 404) << bad << " -> " << r->body;
  }
}

TEST_F(People, RecognitionsStreamLiveAndErasureRemovesEventsAndSnapshots) {
  remove_everyone();
  for (int n : {1, 2, 3}) ASSERT_EQ(upload("Obama", read_file(frame("Obama", n)))->status, 201);
  std::atomic<bool> got{false};
  std::string streamed;
  std::thread reader([&] {
    httplib::Client c(server_->url());
    c.set_read_timeout(30, 0);
    c.Get("/api/v1/events", as(read_key()), [&](const char* data, size_t n) {
      streamed.append(data, n);
      if (streamed.find("\"name\":\"Obama\"") != std::string::npos) {
        got = true;
        return false;
      }
      return true;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const json answer = post_frame(frame("Obama", 12), "people-test-live");
  EXPECT_EQ(answer["result"], "Obama");
  reader.join();
  ASSERT_TRUE(got) << streamed;
  EXPECT_NE(streamed.find("retry: 2000"), std::string::npos);

  auto recent = json::parse(client().Get("/api/v1/events/recent?limit=50", as(read_key()))->body)["events"];
  std::vector<std::string> snapshots;
  for (const auto& e : recent)
    if (e["name"] == "Obama") {
      EXPECT_EQ(e["type"], "recognition");
      EXPECT_EQ(e["request_id"], "people-test-live");
      EXPECT_TRUE(e["known"].get<bool>());
      EXPECT_GT(e["similarity"].get<double>(), 0.5);
      EXPECT_EQ(e["box"].size(), 4u);
      for (const char* kind : {"face", "frame"}) snapshots.push_back(e["snapshot"][kind]);
    }
  ASSERT_EQ(snapshots.size(), 2u);
  for (const auto& s : snapshots) {
    auto r = client().Get("/api/v1/snapshots/" + s, as(read_key()));
    ASSERT_EQ(r->status, 200) << s;
    EXPECT_NO_THROW(image::probe(r->body));
    EXPECT_TRUE(fs::exists(server_->dir() / "snapshots" / s));
  }
  auto faces = json::parse(client().Get("/api/v1/people/Obama/faces", as(read_key()))->body)["faces"];
  ASSERT_EQ(faces.size(), 3u);

  auto erased = client().Delete("/api/v1/people/Obama", as(admin_key()));
  ASSERT_EQ(erased->status, 200) << erased->body;
  EXPECT_EQ(json::parse(erased->body)["erased"]["faces"], 3);
  EXPECT_EQ(client().Get("/api/v1/people/Obama", as(read_key()))->status, 404);
  for (const auto& f : faces)
    EXPECT_EQ(
        client().Get("/api/v1/faces/" + f["id"].get<std::string>() + "/thumbnail", as(read_key()))->status,
        404);
  for (const auto& s : snapshots) {
    EXPECT_EQ(client().Get("/api/v1/snapshots/" + s, as(read_key()))->status, 404) << s;
    EXPECT_FALSE(fs::exists(server_->dir() / "snapshots" / s)) << s;
  }
  recent = json::parse(client().Get("/api/v1/events/recent?limit=1000", as(read_key()))->body)["events"];
  for (const auto& e : recent) EXPECT_NE(e["name"], "Obama");
  // The gallery itself no longer holds their images (secure_delete leaves no readable copy).
  std::ifstream db(server_->dir() / "gallery.db", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(db)), {});
  EXPECT_EQ(bytes.find("Obama"), std::string::npos);
}

TEST_F(People, UnknownFacesOfTwoStrangersFormTwoGroupsAndNamingOneEnrolsIt) {
  remove_everyone();
  ASSERT_EQ(upload("Obama", read_file(frame("Obama", 1)))->status, 201);  // someone, so matching runs
  std::map<std::string, std::string> person_of_request;
  for (const std::string person : {"Bean", "Trump"})
    for (int n : {2, 5, 8, 11}) {
      const std::string id = "cluster-" + person + "-" + std::to_string(n);
      person_of_request[id] = person;
      EXPECT_EQ(post_frame(frame(person, n), id)["result"], "Unknown");
    }
  std::map<std::string, std::string> person_of_face;
  const json events = json::parse(client().Get("/api/v1/events/recent?limit=1000", as(read_key()))->body);
  for (const auto& e : events["events"])
    if (person_of_request.count(e["request_id"]))
      person_of_face[e["face_id"]] = person_of_request[e["request_id"]];
  const json unknowns = json::parse(client().Get("/api/v1/unknowns", as(read_key()))->body);
  std::vector<json> groups;  // the groups of these strangers (earlier tests' unknown faces may linger)
  for (const auto& g : unknowns["groups"])
    if (person_of_face.count(g["faces"][0]["face_id"])) groups.push_back(g);
  ASSERT_EQ(groups.size(), 2u) << unknowns.dump(1);
  std::set<std::string> people;
  std::string bean_group;
  for (const auto& g : groups) {
    EXPECT_EQ(g["size"], 4) << unknowns.dump();
    std::set<std::string> in_group;
    for (const auto& f : g["faces"]) in_group.insert(person_of_face[f["face_id"]]);
    ASSERT_EQ(in_group.size(), 1u) << g.dump();
    people.insert(*in_group.begin());
    if (*in_group.begin() == "Bean") bean_group = g["id"];
  }
  EXPECT_EQ(people, (std::set<std::string>{"Bean", "Trump"}));

  auto named = client().Post("/api/v1/unknowns/" + bean_group + "/name", as(admin_key()),
                             R"({"subject":"Mr Bean"})", "application/json");
  ASSERT_EQ(named->status, 201) << named->body;
  EXPECT_EQ(json::parse(named->body)["enrolled"].size(), 4u);
  EXPECT_EQ(post_frame(frame("Bean", 14), "cluster-after")["result"], "Mr Bean");
  EXPECT_EQ(client()
                .Post("/api/v1/unknowns/" + bean_group + "/name", as(admin_key()), R"({"subject":"Mr Bean"})",
                      "application/json")
                ->status,
            404);
  EXPECT_EQ(client()
                .Post("/api/v1/unknowns/g1/name", as(admin_key()), R"({"subject":""})", "application/json")
                ->status,
            400);
}

TEST_F(People, CompreFaceRecognitionsAreEventsToo) {
  remove_everyone();
  ASSERT_EQ(upload("Freeman", read_file(frame("Freeman", 1)))->status, 201);
  httplib::MultipartFormDataItems items = {{"file", read_file(frame("Freeman", 5)), "f.jpg", "image/jpeg"}};
  auto r = client().Post("/api/v1/recognition/recognize", as(admin_key()), items);
  ASSERT_EQ(r->status, 200) << r->body;
  bool seen = false;
  const json events = json::parse(client().Get("/api/v1/events/recent?limit=20", as(read_key()))->body);
  for (const auto& e : events["events"])
    if (e["name"] == "Freeman" && e["request_id"] == "") seen = e["snapshot"]["frame"] != "";
  EXPECT_TRUE(seen);
}

TEST_F(People, TheOpenApiDocumentDescribesEveryRoute) {
  auto r = client().Get("/api/v1/openapi.json", as(read_key()));
  ASSERT_EQ(r->status, 200);
  const json doc = json::parse(r->body);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  const json& paths = doc["paths"];
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/api/v1/people", "get"},
      {"/api/v1/people", "post"},
      {"/api/v1/people/{name}", "get"},
      {"/api/v1/people/{name}", "patch"},
      {"/api/v1/people/{name}", "delete"},
      {"/api/v1/people/{name}/record", "put"},
      {"/api/v1/people/{name}/faces", "get"},
      {"/api/v1/people/{name}/faces", "post"},
      {"/api/v1/faces/{id}/thumbnail", "get"},
      {"/api/v1/faces/{id}", "delete"},
      {"/api/v1/events", "get"},
      {"/api/v1/events/recent", "get"},
      {"/api/v1/snapshots/{camera}/{file}", "get"},
      {"/api/v1/unknowns", "get"},
      {"/api/v1/unknowns/{group}/name", "post"},
      {"/api/v1/openapi.json", "get"}};
  for (const auto& [path, method] : routes)
    EXPECT_TRUE(paths.contains(path) && paths[path].contains(method)) << method << " " << path;
  EXPECT_EQ(read_json(source_dir() / "docs/openapi.json"), doc);
}

}  // namespace
}  // namespace facepipe::testing
