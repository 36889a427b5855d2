// A client of facepipe's people API (api/console.h, docs/openapi.json) on a remote `facepipe serve`, over
// libcurl: what `facepipe enroll|people|gallery --url` use instead of opening a gallery file. Photos are
// uploaded and the server detects and embeds them, so the client needs no models.
//
// Every failure is a facepipe::Error whose message says what to do next:
//   - no connection (refused, no such host): kUnavailable, "is `facepipe serve` running at URL?";
//   - no answer within the timeout: kUnavailable; a TLS certificate not accepted: kUnavailable, naming
//     --insecure for test servers;
//   - 401 / 403: kInvalidInput, "the key was refused" with the server's reason (which names the role a
//     call needs) and how to make a key on the server;
//   - 404: kNotFound with the server's message; 409: kConflict; other 4xx: kInvalidInput; 5xx or an
//     answer that is not the people API's JSON: kUnavailable.
// TLS certificates and host names are verified unless `insecure`. Not thread-safe: one client per thread
// (it keeps its connection open between calls).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace facepipe::api {

struct PeopleClientOptions {
  std::string url;        // http://host:port or https://host:port; a path prefix (a reverse proxy's) is kept
  std::string api_key;    // sent as x-api-key; empty: none (a serve on loopback without keys is open)
  bool insecure = false;  // https without verifying the certificate: test servers only
  long connect_timeout_ms = 5000;  // to establish the connection
  long timeout_ms = 120000;        // a whole call (an upload is detected and embedded before the answer)
};

struct RemotePerson {
  std::string name;
  int embeddings = 0;
  size_t faces = 0;
  nlohmann::json record;  // null when the person has none (the API shows that as {})
};

struct RemoteGallery {
  std::string embedder;  // the embedder that made the gallery ("" while it is empty and new)
  int dim = 0;           // 0 while empty
  std::vector<RemotePerson> people;
};

// What the server made of one uploaded photo: added, or refused for a reason of the photo's own.
struct UploadOutcome {
  bool added = false;
  std::string face_id;  // when added
  // when refused: "no_face", "several_faces", "poor_quality", "duplicate" (422) or "bad_image",
  // "too_large" (the photo could not be read)
  std::string refusal;
  std::string message;  // the server's
};

class PeopleClient {
 public:
  // Error(kInvalidInput) when the URL is not http(s)://host[:port][/path] or the key holds a control
  // character.
  explicit PeopleClient(PeopleClientOptions options);
  ~PeopleClient();
  PeopleClient(const PeopleClient&) = delete;
  PeopleClient& operator=(const PeopleClient&) = delete;

  // The URL as given, without a trailing slash.
  const std::string& url() const;

  // Every person, in the order they were added (all pages), with the gallery's embedder and dimension.
  RemoteGallery gallery() const;
  // One person by exact name; nullopt when the server knows nobody by that name.
  std::optional<RemotePerson> person(const std::string& name) const;
  // The server's spelling of `name`: the exact name, else the one person whose name differs only in case.
  // Error(kNotFound) with the server's message and the closest name otherwise.
  std::string resolve(const std::string& name) const;
  // Creates a person without faces, with `record` (an object; empty or null: none). Error(kConflict) when
  // the name exists.
  RemotePerson create_person(const std::string& name, const nlohmann::json& record) const;
  // Replaces an existing person's record (a JSON object). Error(kNotFound) when there is no such person.
  RemotePerson set_record(const std::string& name, const nlohmann::json& record) const;
  // Erases a person: embeddings, face images, record, events and snapshots. Returns the faces erased.
  size_t remove_person(const std::string& name) const;
  // Uploads a photo as the person's new face (the person is created on first use). Refusals of the photo
  // itself are outcomes, not errors; a refused key, a lost connection etc. throw.
  UploadOutcome add_face(const std::string& name, const std::string& photo,
                         const std::string& filename) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace facepipe::api
