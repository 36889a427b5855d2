#include "api/console.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "api/console_internal.h"
#include "core/error.h"
#include "image/codec.h"
#include "recognition/cluster.h"
#include "service/base64.h"

namespace facepipe::api {

using nlohmann::json;

Console::Console(face::Detector& detector, face::Embedder& embedder, gallery::Gallery& gallery,
                 ConsoleOptions options)
    : detector_(detector),
      embedder_(embedder),
      gallery_(gallery),
      options_(std::move(options)),
      curve_(similarity_curve(gallery.embedder_id(), options_.threshold)),
      hub_(options_.hub),
      snapshots_(
          std::make_unique<events::SnapshotStore>(options_.data_dir / "snapshots", options_.snapshots)) {
  auto bind = [this](Response (Console::*fn)(const Request&) const) {
    return [this, fn](const Request& r) { return (this->*fn)(r); };
  };
  const std::string v1 = "/api/v1";
  router_.add({"GET", v1 + "/people", bind(&Console::list_people)});
  router_.add({"POST", v1 + "/people", bind(&Console::create_person)});
  router_.add({"GET", v1 + "/people/{name}", bind(&Console::get_person)});
  router_.add({"PATCH", v1 + "/people/{name}", bind(&Console::rename_person)});
  router_.add({"DELETE", v1 + "/people/{name}", bind(&Console::delete_person)});
  router_.add({"PUT", v1 + "/people/{name}/record", bind(&Console::set_record)});
  router_.add({"GET", v1 + "/people/{name}/faces", bind(&Console::list_person_faces)});
  router_.add({"POST", v1 + "/people/{name}/faces", bind(&Console::add_person_face)});
  router_.add({"GET", v1 + "/faces/{id}/thumbnail", bind(&Console::face_thumbnail)});
  router_.add({"DELETE", v1 + "/faces/{id}", bind(&Console::delete_face)});
  router_.add({"GET", v1 + "/events/recent", bind(&Console::recent_events)});
  router_.add({"GET", v1 + "/snapshots/{camera}/{file}", bind(&Console::snapshot)});
  router_.add({"GET", v1 + "/unknowns", bind(&Console::unknowns)});
  router_.add({"POST", v1 + "/unknowns/{group}/name", bind(&Console::name_unknown_group)});
  router_.add({"GET", v1 + "/openapi.json", bind(&Console::openapi)});
}

Console::~Console() = default;

Response refusal_response(const Refusal& r) {
  json body = r.extra.is_object() ? r.extra : json::object();
  body["error"] = r.code;
  body["message"] = r.message;
  return Response::of(body, r.status);
}

Response Console::handle(Request request) const {
  try {
    bool method_allowed = false;
    auto route = router_.find(request, &method_allowed);
    if (!route) {
      if (method_allowed)
        return refusal_response(
            {405, "method_not_allowed",
             request.method + " is not served on " + request.path + " (see GET /api/v1/openapi.json)"});
      return refusal_response(
          {404, "not_found", "no such path '" + request.path + "' (see GET /api/v1/openapi.json)"});
    }
    return route->handler(request);
  } catch (const Refusal& r) {
    return refusal_response(r);
  } catch (const Error& e) {
    static const std::map<ErrorKind, std::pair<int, const char*>> kinds = {
        {ErrorKind::kInvalidInput, {400, "invalid_input"}}, {ErrorKind::kNotFound, {404, "not_found"}},
        {ErrorKind::kTooLarge, {413, "too_large"}},         {ErrorKind::kConflict, {409, "conflict"}},
        {ErrorKind::kUnavailable, {503, "unavailable"}},    {ErrorKind::kInternal, {500, "internal"}}};
    const auto& [status, code] = kinds.at(e.kind());
    return refusal_response({status, code, e.what()});
  } catch (const std::exception& e) {
    spdlog::error("console {} {}: unexpected failure: {}", request.method, request.path, e.what());
    return refusal_response({500, "internal", std::string("unexpected failure: ") + e.what()});
  }
}

// ---- events ----

std::string save_snapshot(events::SnapshotStore& store, const std::string& camera, const std::string& track,
                          const std::string& kind, const std::string& jpeg) {
  return store.save(camera.empty() ? "upload" : camera, track.empty() ? "api" : track, kind,
                    {reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size()});
}

std::optional<std::string> read_snapshot(const events::SnapshotStore& store, const std::string& name) {
  const auto file = store.resolve(name);
  if (!file) return std::nullopt;
  std::ifstream in(*file, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool remove_snapshot(const events::SnapshotStore& store, const std::string& name) {
  const auto file = store.resolve(name);
  if (!file) return false;
  std::error_code ec;
  return std::filesystem::remove(*file, ec);
}

namespace {

std::string frame_jpeg(const std::string& image) {
  if (image.empty()) return "";
  try {
    if (image::probe(image).format == image::ImageInfo::Format::kJpeg) return image;
    return image::encode_jpeg(image::decode(image), 85);
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

void Console::remember_frame(const std::string& function_body) {
  try {
    const json j = json::parse(function_body, nullptr, false);
    if (!j.is_object() || !j.contains("request_id") || !j["request_id"].is_string() ||
        !j.contains("content") || !j["content"].is_string())
      return;
    std::string bytes = service::base64_decode(j["content"].get<std::string>());
    if (bytes.size() > options_.max_remembered_frame_bytes / 2) return;
    std::lock_guard lock(mu_);
    frame_bytes_ += bytes.size();
    frames_.emplace_back(j["request_id"].get<std::string>(), std::move(bytes));
    while (!frames_.empty() && (frames_.size() > options_.remembered_frames ||
                                frame_bytes_ > options_.max_remembered_frame_bytes)) {
      frame_bytes_ -= frames_.front().second.size();
      frames_.pop_front();
    }
  } catch (const std::exception&) {  // not ours to refuse: detection answers the client
  }
}

void Console::observe_response(const json& response, const std::vector<service::RecognizedFace>& faces) {
  FrameSource source;
  source.request_id = response.value("request_id", "");
  {
    std::lock_guard lock(mu_);
    for (auto it = frames_.begin(); it != frames_.end(); ++it)
      if (it->first == source.request_id) {
        source.image = std::move(it->second);
        frame_bytes_ -= source.image.size();
        frames_.erase(it);
        break;
      }
  }
  observe(source, faces);
}

void Console::observe(const FrameSource& source, const std::vector<service::RecognizedFace>& faces) {
  if (faces.empty()) return;
  std::string frame_name;
  try {
    if (const std::string jpeg = frame_jpeg(source.image); !jpeg.empty())
      frame_name = save_snapshot(*snapshots_, source.camera, source.request_id, "frame", jpeg);
  } catch (const std::exception& e) {
    spdlog::warn("console: cannot keep the frame snapshot: {}", e.what());
  }
  for (const auto& f : faces) {
    // A detection that fails the quality gate and gave no answer (a blurred bystander, a false
    // detection) is no event: it would bury the faces that matter.
    if (!f.quality.ok() && !f.answered) continue;
    auto seen = std::make_unique<SeenFace>();
    seen->embedding = f.embedding;
    seen->name = f.match.known() ? f.match.name : gallery::kUnknown;
    seen->known = f.match.known();
    seen->distance = f.match.distance;
    seen->quality = f.quality.score;
    seen->quality_ok = f.quality.ok();
    seen->time = events::iso_time_now();
    seen->frame = frame_name;
    seen->camera = source.camera;
    try {
      seen->jpeg = image::encode_jpeg(f.crop, 90);
      seen->snapshot = save_snapshot(*snapshots_, source.camera, source.request_id, "face", seen->jpeg);
    } catch (const std::exception& e) {
      spdlog::warn("console: cannot keep the face snapshot: {}", e.what());
    }
    {
      std::lock_guard lock(mu_);
      seen->id = "f" + std::to_string(++next_face_);
      seen->seq = next_face_;
    }
    json event = {{"type", "recognition"},
                  {"request_id", source.request_id},
                  {"camera", source.camera.empty() ? json(nullptr) : json(source.camera)},
                  {"name", seen->name},
                  {"known", seen->known},
                  {"nearest", f.match.nearest},
                  {"distance", round5(f.match.distance)},
                  {"similarity", round5(curve_(f.match.distance))},
                  {"box", {f.detection.box.x1, f.detection.box.y1, f.detection.box.x2, f.detection.box.y2}},
                  {"quality", f.quality.to_json()},
                  {"answered", f.answered},
                  {"face_id", seen->id},
                  {"time", seen->time},
                  {"snapshot", {{"face", seen->snapshot}, {"frame", frame_name}}}};
    {
      std::lock_guard lock(mu_);
      seen_.push_back(std::move(seen));
      while (seen_.size() > options_.remembered_faces) seen_.pop_front();
    }
    hub_.publish(std::move(event));
  }
}

Response Console::recent_events(const Request& r) const {
  const size_t limit = count_param(r, "limit", 100, 1, 1000);
  json list = json::array();
  for (auto& e : const_cast<events::Hub&>(hub_).recent(limit)) list.push_back(std::move(e));
  return Response::of({{"events", list}});
}

Response Console::snapshot(const Request& r) const {
  const std::string name = r.path_params.at("camera") + "/" + r.path_params.at("file");
  auto bytes = read_snapshot(*snapshots_, name);
  if (!bytes)
    throw Refusal{404, "not_found", "no snapshot '" + name + "' (snapshots are kept a bounded time)"};
  Response res;
  res.bytes = std::move(*bytes);
  res.content_type = "image/jpeg";
  res.headers["Cache-Control"] = "private, max-age=86400";
  return res;
}

// ---- unknown faces ----

std::vector<std::vector<const Console::SeenFace*>> Console::unknown_groups_locked() const {
  std::vector<const SeenFace*> unknown;
  for (auto it = seen_.rbegin(); it != seen_.rend() && unknown.size() < options_.max_unknowns; ++it)
    if (!(*it)->known && (*it)->quality_ok && !(*it)->named && !(*it)->embedding.empty())
      unknown.push_back(it->get());
  std::reverse(unknown.begin(), unknown.end());  // oldest first: a group's id is its oldest face's
  std::vector<face::Embedding> embeddings;
  for (const auto* f : unknown) embeddings.push_back(f->embedding);
  std::vector<std::vector<const SeenFace*>> groups;
  for (const auto& g :
       recognition::cluster_faces(embeddings, recognition::cluster_threshold(options_.threshold))) {
    std::vector<const SeenFace*> members;
    for (size_t i : g) members.push_back(unknown[i]);
    groups.push_back(std::move(members));
  }
  return groups;
}

Response Console::unknowns(const Request&) const {
  std::lock_guard lock(mu_);
  auto groups = unknown_groups_locked();
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.size() > b.size(); });
  json out = json::array();
  size_t total = 0;
  for (const auto& g : groups) {
    total += g.size();
    std::vector<const SeenFace*> best = g;
    std::stable_sort(best.begin(), best.end(),
                     [](const SeenFace* a, const SeenFace* b) { return a->quality > b->quality; });
    json faces = json::array();
    for (size_t i = 0; i < best.size() && i < 12; ++i)
      faces.push_back({{"face_id", best[i]->id},
                       {"quality", round5(best[i]->quality)},
                       {"time", best[i]->time},
                       {"camera", best[i]->camera.empty() ? json(nullptr) : json(best[i]->camera)},
                       {"snapshot", {{"face", best[i]->snapshot}, {"frame", best[i]->frame}}}});
    out.push_back({{"id", "g" + std::to_string(g.front()->seq)},
                   {"size", g.size()},
                   {"first_seen", g.front()->time},
                   {"last_seen", g.back()->time},
                   {"faces", faces}});
  }
  return Response::of({{"groups", out},
                       {"faces", total},
                       {"threshold", round5(recognition::cluster_threshold(options_.threshold))}});
}

Response Console::name_unknown_group(const Request& r) const {
  const json body = json_body(r);
  if (!body.is_object() || !body.contains("subject") || !body["subject"].is_string())
    throw Refusal{400, "invalid_input", "the JSON body needs \"subject\": the person's name"};
  const std::string subject = body["subject"].get<std::string>();
  check_person_name(subject, options_.max_name_bytes);
  const std::string group = r.path_params.at("group");
  std::vector<SeenFace> chosen;
  std::vector<std::string> members;
  {
    std::lock_guard lock(mu_);
    for (const auto& g : unknown_groups_locked()) {
      if ("g" + std::to_string(g.front()->seq) != group) continue;
      std::vector<const SeenFace*> best = g;
      std::stable_sort(best.begin(), best.end(),
                       [](const SeenFace* a, const SeenFace* b) { return a->quality > b->quality; });
      for (size_t i = 0; i < best.size() && chosen.size() < options_.enroll_per_group; ++i)
        chosen.push_back(*best[i]);
      for (const auto* f : g) members.push_back(f->id);
    }
  }
  if (members.empty())
    throw Refusal{404, "not_found",
                  "no unknown group '" + group + "' now (groups change as faces arrive); reload the groups"};
  json added = json::array();
  for (const auto& f : chosen) added.push_back(enroll_seen(subject, f));
  {
    std::lock_guard lock(mu_);
    const std::set<std::string> ids(members.begin(), members.end());
    for (auto& f : seen_)
      if (ids.count(f->id)) f->named = true;
  }
  return Response::of({{"person", subject}, {"group", group}, {"faces", members.size()}, {"enrolled", added}},
                      201);
}

// ---- OpenAPI ----

Response Console::openapi(const Request&) const {
  Response res;
  res.bytes = openapi_document();
  res.content_type = "application/json";
  return res;
}

}  // namespace facepipe::api
