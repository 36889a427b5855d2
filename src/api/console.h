// facepipe's own management API and the web console's data, transport-free (api/http.h), in facepipe's
// error shape {"error": code, "message": what to do}:
//
//   GET    /api/v1/people?page=0&size=50        people (name order; &order=added: as enrolled) with
//                                               face and embedding counts, records, face ids, and the
//                                               gallery's "embedder" and "dim" (0 while empty)
//   POST   /api/v1/people {"name", "record"?}   create a person -> 201 (409 when the name exists)
//   GET    /api/v1/people/{name}                one person
//   PATCH  /api/v1/people/{name} {"name": new}  rename (409 when `new` exists, unless ?merge=true)
//   PUT    /api/v1/people/{name}/record {...}   replace the record (a JSON object)
//   DELETE /api/v1/people/{name}                erase: embeddings, face images, record, and the person's
//                                               recent events with their snapshots and remembered faces
//   GET    /api/v1/people/{name}/faces          the person's faces
//   POST   /api/v1/people/{name}/faces          add a face (the person is created on first use) from
//                                               - an uploaded photo: multipart part "file", or JSON
//                                                 {"file": base64}; checked at once: no face, several
//                                                 faces, poor quality or already enrolled -> 422 with
//                                                 "error": no_face|several_faces|poor_quality|duplicate
//                                               - a face the console saw: JSON {"event_face": face_id}
//                                               - a snapshot: JSON {"snapshot": name, "box": [x1,y1,x2,y2]?}
//   GET    /api/v1/faces/{id}/thumbnail         a face's image as a JPEG of at most 160 px a side
//   DELETE /api/v1/faces/{id}                   delete one face
//   GET    /api/v1/events/recent?limit=N        the last N events (the live stream is the transport's:
//                                               server/console_routes.h)
//   GET    /api/v1/snapshots/{camera}/{file}       an event's snapshot JPEG (events/snapshot_store.h names)
//   GET    /api/v1/unknowns                     recent unknown faces grouped (recognition/cluster.h)
//   POST   /api/v1/unknowns/{group}/name {"subject"}  enrol the group's best faces as that person
//   GET    /api/v1/openapi.json                 the OpenAPI document of these routes (docs/openapi.json)
//
// Events: observe() turns every face of an answered frame into one "recognition" event on the hub
//   {"type": "recognition", "request_id", "camera", "name", "known", "distance", "similarity",
//    "box": [x1,y1,x2,y2], "quality": {...}, "answered", "face_id", "time", "seq",
//    "snapshot": {"face": name, "frame": name}}
// and remembers the face (embedding, thumbnail, quality) for "this is ..." and the unknown groups.
// Faces nobody matched that pass the quality gate are the unknown faces; at most `max_unknowns` of the
// most recent are kept and clustered.
//
// Authentication and cross-site checks are the transport's (auth/authorizer.h, server/console_routes.h).
#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/http.h"
#include "api/similarity.h"
#include "events/hub.h"
#include "events/snapshot_store.h"
#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "recognition/quality.h"
#include "service/recognition.h"

namespace facepipe::api {

struct ConsoleOptions {
  std::filesystem::path data_dir;  // snapshots are kept in <data_dir>/snapshots
  float threshold = 0;             // the open-set threshold the service answers with
  image::DecodeLimits limits;      // per uploaded photo
  size_t max_page_size = 200;
  size_t max_record_bytes = 64 * 1024;
  size_t max_name_bytes = 255;
  size_t remembered_faces = 1000;  // faces kept for "this is ..." (oldest forgotten first)
  size_t max_unknowns = 300;       // most recent unknown faces clustered
  size_t enroll_per_group = 5;     // best faces (quality score) enrolled when a group is named
  size_t remembered_frames = 16;   // function-URL frames held until their answer (for snapshots)
  size_t max_remembered_frame_bytes = 64 * 1024 * 1024;
  events::HubOptions hub;
  events::SnapshotLimits snapshots;
};

// Where an observed frame came from.
struct FrameSource {
  std::string request_id;  // may be empty
  std::string camera;      // empty: null in the event
  std::string image;       // the frame's file bytes (JPEG/PNG), may be empty: no frame snapshot
};

class Console {
 public:
  Console(face::Detector& detector, face::Embedder& embedder, gallery::Gallery& gallery,
          ConsoleOptions options);
  ~Console();
  const Router& router() const { return router_; }
  // Dispatches one request; never throws (facepipe::Error -> its status, others 500).
  Response handle(Request request) const;

  events::Hub& hub() { return hub_; }
  events::SnapshotStore& snapshots() { return *snapshots_; }

  // One event per face, snapshots stored, faces remembered. Thread-safe.
  void observe(const FrameSource& source, const std::vector<service::RecognizedFace>& faces);
  // The function URL's request body ({"request_id", "content": base64, ...}): its frame is held (bounded)
  // until the recognition of that request is observed, for the frame snapshot. Never throws.
  void remember_frame(const std::string& function_body);
  // For service::RecognitionHandler::on_faces: observe() with the frame remember_frame() held.
  void observe_response(const nlohmann::json& response, const std::vector<service::RecognizedFace>& faces);
  // The OpenAPI document served at /api/v1/openapi.json.
  static const std::string& openapi_document();

  struct SeenFace;  // console.cpp

 private:
  // people.cpp
  Response list_people(const Request& r) const;
  Response create_person(const Request& r) const;
  Response get_person(const Request& r) const;
  Response rename_person(const Request& r) const;
  Response set_record(const Request& r) const;
  Response delete_person(const Request& r) const;
  Response list_person_faces(const Request& r) const;
  Response add_person_face(const Request& r) const;
  Response face_thumbnail(const Request& r) const;
  Response delete_face(const Request& r) const;
  // console.cpp
  Response recent_events(const Request& r) const;
  Response snapshot(const Request& r) const;
  Response unknowns(const Request& r) const;
  Response name_unknown_group(const Request& r) const;
  Response openapi(const Request& r) const;

  nlohmann::json person_json(const gallery::Person& p) const;
  // Adds a remembered face to `person` (created on first use); the face's id in the gallery.
  std::string enroll_seen(const std::string& person, const SeenFace& face) const;
  void forget_person(const std::string& name) const;
  std::vector<std::vector<const SeenFace*>> unknown_groups_locked() const;

  face::Detector& detector_;
  face::Embedder& embedder_;
  gallery::Gallery& gallery_;
  ConsoleOptions options_;
  SimilarityCurve curve_;
  events::Hub hub_;
  std::unique_ptr<events::SnapshotStore> snapshots_;
  Router router_;

  mutable std::mutex mu_;                               // guards what follows
  mutable std::deque<std::unique_ptr<SeenFace>> seen_;  // oldest first
  mutable uint64_t next_face_ = 0;
  mutable std::deque<std::pair<std::string, std::string>> frames_;  // (request_id, image bytes)
  mutable size_t frame_bytes_ = 0;
};

// A refusal thrown inside the console's handlers: handle() answers it as
// {"error": code, "message": message, ...extra} with `status`.
struct Refusal {
  int status;
  std::string code;
  std::string message;
  nlohmann::json extra = nlohmann::json::object();
};

// A person's name as the API accepts it: 1..max bytes of UTF-8 without control characters or '/', not
// blank, not "Unknown". Error(kInvalidInput) saying which rule it breaks.
void check_person_name(const std::string& name, size_t max_bytes = 255);

}  // namespace facepipe::api
