#include "api/people_client.h"

#include <curl/curl.h>

#include <cctype>
#include <mutex>

#include "core/error.h"
#include "core/suggest.h"

namespace facepipe::api {

using nlohmann::json;

namespace {

std::once_flag curl_once;

// A people API answer bigger than this is no answer of ours (the largest is a page of 200 people).
constexpr size_t kMaxAnswerBytes = 64 * 1024 * 1024;

size_t keep(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > kMaxAnswerBytes) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  body->append(data, size * n);
  return size * n;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

RemotePerson person_of(const json& j) {
  RemotePerson p;
  p.name = j.value("name", "");
  p.embeddings = j.value("embeddings", j.value("faces", 0));
  p.faces = j.value("faces", size_t{0});
  if (j.contains("record") && j["record"].is_object() && !j["record"].empty()) p.record = j["record"];
  return p;
}

}  // namespace

struct PeopleClient::Impl {
  PeopleClientOptions options;
  CURL* curl = nullptr;

  struct Reply {
    long status = 0;
    json body;            // discarded when the answer is not JSON
    std::string message;  // the body's "message", else a short form of the body
  };

  std::string escape(const std::string& segment) const {
    char* e = curl_easy_escape(curl, segment.data(), static_cast<int>(segment.size()));
    if (!e) throw Error(ErrorKind::kInternal, "cannot percent-encode '" + segment + "'");
    std::string out(e);
    curl_free(e);
    return out;
  }

  // One call. `json_body` (when not null) is sent as JSON; `photo` (when `filename` is not empty) as the
  // multipart part "file". Network failures throw; every HTTP answer is returned.
  Reply send(const std::string& method, const std::string& path, const json* json_body = nullptr,
             const std::string* photo = nullptr, const std::string& filename = "") const {
    const std::string target = options.url + path;
    char error[CURL_ERROR_SIZE] = "";
    std::string answer, payload;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &keep);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "facepipe-cli");
    if (options.insecure) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before an upload
    if (!options.api_key.empty())
      headers = curl_slist_append(headers, ("x-api-key: " + options.api_key).c_str());
    curl_mime* mime = nullptr;
    if (photo) {
      mime = curl_mime_init(curl);
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, "file");
      curl_mime_data(part, photo->data(), photo->size());
      curl_mime_filename(part, filename.c_str());
      const std::string ext = lower(filename.substr(filename.find_last_of('.') + 1));
      curl_mime_type(part, ext == "png" ? "image/png" : "image/jpeg");
      curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    } else if (json_body) {
      payload = json_body->dump();
      headers = curl_slist_append(headers, "Content-Type: application/json");
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    }
    if (method != "GET" && method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    const CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_mime_free(mime);
    if (code != CURLE_OK) fail(code, *error ? error : curl_easy_strerror(code), method + " " + path);
    Reply r;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = json::parse(answer, nullptr, false);
    if (r.body.is_object() && r.body.contains("message") && r.body["message"].is_string())
      r.message = r.body["message"].get<std::string>();
    else
      r.message = answer.substr(0, 200);
    return r;
  }

  [[noreturn]] void fail(CURLcode code, const std::string& what, const std::string& call) const {
    const std::string& url = options.url;
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        throw Error(ErrorKind::kUnavailable, "cannot connect to " + url + " (" + what +
                                                 "): is `facepipe serve` running at " + url + "?");
      case CURLE_OPERATION_TIMEDOUT:
        throw Error(ErrorKind::kUnavailable, url + " did not answer " + call + " within " +
                                                 std::to_string(options.timeout_ms / 1000) + " s (" + what +
                                                 "): is `facepipe serve` running there and not overloaded?");
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CONNECT_ERROR:
        throw Error(ErrorKind::kUnavailable,
                    "the TLS connection to " + url + " failed (" + what +
                        "): give serve a certificate this machine trusts (its name must match the URL's "
                        "host), or add --insecure for a test server with a self-signed one");
      case CURLE_UNSUPPORTED_PROTOCOL:
        throw Error(ErrorKind::kInvalidInput, url + ": " + what + " (--url takes http:// or https://)");
      default:
        throw Error(ErrorKind::kUnavailable, call + " at " + url + " failed: " + what);
    }
  }

  // The reply when it is the people API's JSON with a status in `ok`; otherwise the error that says what
  // to do.
  const Reply& expect(const Reply& r, std::initializer_list<long> ok, const std::string& call) const {
    for (long s : ok)
      if (r.status == s && r.body.is_object()) return r;
    const std::string said = r.message.empty() ? "" : ": " + r.message;
    if (r.status == 401 || r.status == 403)
      throw Error(ErrorKind::kInvalidInput,
                  std::string("the key was refused (") + std::to_string(r.status) + said + "): " +
                      (options.api_key.empty() ? "give one with --api-key or FACEPIPE_API_KEY; " : "") +
                      "make one with `facepipe keys create --role admin` on the server (a read key may "
                      "list and get only)");
    if (r.status == 404) {
      // The person's own 404 says so; any other is a server without the people API.
      if (r.body.is_object() && r.body.value("error", "") == "person_not_found")
        throw Error(ErrorKind::kNotFound, r.message);
      throw Error(ErrorKind::kNotFound, call + " at " + options.url + " answered 404" + said +
                                            ": is it `facepipe serve` with --gallery (its people API)?");
    }
    if (r.status == 409) throw Error(ErrorKind::kConflict, r.message);
    if (r.status == 413) throw Error(ErrorKind::kTooLarge, r.message);
    if (r.status >= 400 && r.status < 500)
      throw Error(ErrorKind::kInvalidInput, call + " refused (" + std::to_string(r.status) + said + ")");
    if (!r.body.is_object() && r.status < 300)
      throw Error(ErrorKind::kUnavailable, options.url + " answered " + call +
                                               " with no JSON: is it `facepipe serve` (its people API)?");
    throw Error(ErrorKind::kUnavailable, call + " at " + options.url + " failed (" +
                                             std::to_string(r.status) + said +
                                             "); retry, or "
                                             "read serve's log");
  }
};

PeopleClient::PeopleClient(PeopleClientOptions options) : impl_(std::make_unique<Impl>()) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string url = options.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
  const size_t host_at = http ? 7 : 8;
  if ((!http && !https) || url.size() <= host_at || url[host_at] == '/' || url[host_at] == ':' ||
      url.find_first_of("?# \t\r\n") != std::string::npos)
    throw Error(ErrorKind::kInvalidInput,
                "--url takes http://HOST:PORT or https://HOST:PORT (the address of `facepipe serve`), not '" +
                    options.url + "'");
  for (unsigned char c : options.api_key)
    if (c < 0x21 || c == 0x7f)
      throw Error(ErrorKind::kInvalidInput,
                  "the API key holds a space or a control character: give the key exactly as `facepipe keys "
                  "create` printed it");
  options.url = url;
  impl_->options = std::move(options);
  impl_->curl = curl_easy_init();
  if (!impl_->curl) throw Error(ErrorKind::kInternal, "cannot create a libcurl handle");
}

PeopleClient::~PeopleClient() {
  if (impl_ && impl_->curl) curl_easy_cleanup(impl_->curl);
}

const std::string& PeopleClient::url() const { return impl_->options.url; }

RemoteGallery PeopleClient::gallery() const {
  RemoteGallery g;
  constexpr size_t kPage = 200;  // the server's largest page
  for (size_t page = 0;; ++page) {
    const auto r = impl_->send(
        "GET", "/api/v1/people?order=added&size=" + std::to_string(kPage) + "&page=" + std::to_string(page));
    const json& j = impl_->expect(r, {200}, "GET /api/v1/people").body;
    g.embedder = j.value("embedder", "");
    g.dim = j.value("dim", 0);
    const json people = j.value("people", json::array());
    for (const auto& p : people) g.people.push_back(person_of(p));
    if (people.size() < kPage || (page + 1) * kPage >= j.value("total", size_t{0})) break;
  }
  return g;
}

std::optional<RemotePerson> PeopleClient::person(const std::string& name) const {
  const auto r = impl_->send("GET", "/api/v1/people/" + impl_->escape(name));
  if (r.status == 404 && r.body.is_object() && r.body.value("error", "") == "person_not_found")
    return std::nullopt;
  return person_of(impl_->expect(r, {200}, "GET /api/v1/people/{name}").body);
}

std::string PeopleClient::resolve(const std::string& name) const {
  const auto r = impl_->send("GET", "/api/v1/people/" + impl_->escape(name));
  if (r.status == 200 && r.body.is_object()) return r.body.value("name", name);
  if (!(r.status == 404 && r.body.is_object() && r.body.value("error", "") == "person_not_found"))
    impl_->expect(r, {200}, "GET /api/v1/people/{name}");
  std::vector<std::string> names, same;
  for (const auto& p : gallery().people) {
    names.push_back(p.name);
    if (lower(p.name) == lower(name)) same.push_back(p.name);
  }
  if (same.size() == 1) return same[0];
  throw Error(ErrorKind::kNotFound, r.message + did_you_mean(name, names));
}

RemotePerson PeopleClient::create_person(const std::string& name, const json& record) const {
  json body = {{"name", name}};
  if (record.is_object() && !record.empty()) body["record"] = record;
  const auto r = impl_->send("POST", "/api/v1/people", &body);
  return person_of(impl_->expect(r, {201}, "POST /api/v1/people").body);
}

RemotePerson PeopleClient::set_record(const std::string& name, const json& record) const {
  const auto r = impl_->send("PUT", "/api/v1/people/" + impl_->escape(name) + "/record", &record);
  return person_of(impl_->expect(r, {200}, "PUT /api/v1/people/{name}/record").body);
}

size_t PeopleClient::remove_person(const std::string& name) const {
  const auto r = impl_->send("DELETE", "/api/v1/people/" + impl_->escape(name));
  const json& j = impl_->expect(r, {200}, "DELETE /api/v1/people/{name}").body;
  return j.contains("erased") ? j["erased"].value("faces", size_t{0}) : 0;
}

UploadOutcome PeopleClient::add_face(const std::string& name, const std::string& photo,
                                     const std::string& filename) const {
  const auto r = impl_->send("POST", "/api/v1/people/" + impl_->escape(name) + "/faces", nullptr, &photo,
                             filename.empty() ? "photo.jpg" : filename);
  UploadOutcome out;
  out.message = r.message;
  const std::string error = r.body.is_object() ? r.body.value("error", "") : "";
  if ((r.status == 422 || r.status == 400 || r.status == 413) &&
      (error == "no_face" || error == "several_faces" || error == "poor_quality" || error == "duplicate" ||
       error == "bad_image" || error == "too_large")) {
    out.refusal = error;
    return out;
  }
  const json& j = impl_->expect(r, {201}, "POST /api/v1/people/{name}/faces").body;
  out.added = true;
  out.face_id = j.value("face_id", "");
  return out;
}

}  // namespace facepipe::api
