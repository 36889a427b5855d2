// The people routes of api/console.h.
#include <algorithm>
#include <cmath>
#include <set>

#include <opencv2/imgproc.hpp>

#include "api/console_internal.h"
#include "core/error.h"
#include "image/codec.h"
#include "service/base64.h"

namespace facepipe::api {

using nlohmann::json;

void check_person_name(const std::string& name, size_t max_bytes) {
  if (name.empty() || name.find_first_not_of(" \t") == std::string::npos)
    throw Refusal{400, "invalid_name", "the name is empty; give the person's name"};
  if (name.size() > max_bytes)
    throw Refusal{400, "invalid_name", "the name is longer than " + std::to_string(max_bytes) + " bytes"};
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '/')
      throw Refusal{400, "invalid_name", "a name may not hold control characters or '/'"};
  if (name == gallery::kUnknown)
    throw Refusal{
        400, "invalid_name",
        std::string("'") + gallery::kUnknown + "' is what facepipe calls nobody; choose another name"};
}

size_t count_param(const Request& r, const std::string& name, size_t fallback, size_t min, size_t max) {
  const auto v = r.param(name);
  if (!v || v->empty()) return fallback;
  size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v->size() || n < static_cast<long long>(min) || n > static_cast<long long>(max))
    throw Refusal{
        400, "invalid_input",
        name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max)};
  return static_cast<size_t>(n);
}

json json_body(const Request& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) throw Refusal{400, "invalid_json", "the body is not valid JSON"};
  return j;
}

namespace {

bool has_person(const gallery::Gallery& g, const std::string& name) {
  for (const auto& p : g.people())
    if (p.name == name) return true;
  return false;
}

void require_person(const gallery::Gallery& g, const std::string& name) {
  if (!has_person(g, name))
    throw Refusal{404, "person_not_found",
                  "nobody named '" + name + "' is enrolled (GET /api/v1/people lists them)"};
}

float iou(const face::Box& a, const face::Box& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1),
              h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  return inter / (a.area() + b.area() - inter);
}

// The face with a quarter of its size around it, at most 200 px a side: what the console shows.
std::string face_thumbnail_jpeg(const cv::Mat& rgb, const face::Box& box) {
  const float mx = box.width() * 0.25f, my = box.height() * 0.25f;
  const int x1 = std::clamp(static_cast<int>(box.x1 - mx), 0, rgb.cols - 1);
  const int y1 = std::clamp(static_cast<int>(box.y1 - my), 0, rgb.rows - 1);
  const int x2 = std::clamp(static_cast<int>(std::ceil(box.x2 + mx)), x1 + 1, rgb.cols);
  const int y2 = std::clamp(static_cast<int>(std::ceil(box.y2 + my)), y1 + 1, rgb.rows);
  cv::Mat face = rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1));
  const double scale = 200.0 / std::max(face.cols, face.rows);
  cv::Mat out;
  if (scale < 1)
    cv::resize(face, out, cv::Size(), scale, scale, cv::INTER_AREA);
  else
    out = face.clone();
  return image::encode_jpeg(out, 90);
}

}  // namespace

json Console::person_json(const gallery::Person& p) const {
  size_t total = 0;
  json ids = json::array();
  for (const auto& f : gallery_.faces(p.name, 0, 8, &total))
    ids.push_back({{"id", f.id}, {"has_image", f.has_image}});
  return {{"name", p.name},
          {"faces", total},
          {"embeddings", p.embeddings},
          {"record", p.record.is_null() ? json::object() : p.record},
          {"face_ids", ids}};
}

Response Console::list_people(const Request& r) const {
  const size_t page = count_param(r, "page", 0, 0, 1'000'000'000);
  const size_t size = count_param(r, "size", 50, 1, options_.max_page_size);
  const std::string order = r.param("order").value_or("name");
  if (order != "name" && order != "added")
    throw Refusal{400, "invalid_input", "order is name (the default) or added (the order they were enrolled)"};
  auto people = gallery_.people();  // in the order they were added
  if (order == "name")
    std::sort(people.begin(), people.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  json list = json::array();
  for (size_t i = page * size; i < people.size() && i < (page + 1) * size; ++i) {
    try {
      list.push_back(person_json(people[i]));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;  // removed meanwhile
    }
  }
  return Response::of({{"people", list},
                       {"page", page},
                       {"size", size},
                       {"total", people.size()},
                       {"embedder", gallery_.embedder_id()},
                       {"dim", gallery_.dim()}});
}

Response Console::create_person(const Request& r) const {
  const json body = json_body(r);
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
    throw Refusal{400, "invalid_input", "the JSON body needs \"name\": the person's name"};
  const std::string name = body["name"].get<std::string>();
  check_person_name(name, options_.max_name_bytes);
  json record = body.value("record", json::object());
  if (!record.is_object()) throw Refusal{400, "invalid_record", "\"record\" must be a JSON object"};
  if (record.dump().size() > options_.max_record_bytes)
    throw Refusal{413, "too_large",
                  "the record is over " + std::to_string(options_.max_record_bytes) + " bytes"};
  if (!gallery_.add_person(name)) throw Refusal{409, "person_exists", "'" + name + "' exists already"};
  if (!record.empty()) gallery_.set_record(name, record);
  for (const auto& p : gallery_.people())
    if (p.name == name) return Response::of(person_json(p), 201);
  throw Refusal{409, "conflict", "'" + name + "' was removed meanwhile"};
}

Response Console::get_person(const Request& r) const {
  const std::string& name = r.path_params.at("name");
  for (const auto& p : gallery_.people())
    if (p.name == name) return Response::of(person_json(p));
  require_person(gallery_, name);
  return {};
}

Response Console::rename_person(const Request& r) const {
  const std::string& from = r.path_params.at("name");
  const json body = json_body(r);
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
    throw Refusal{400, "invalid_input", "the JSON body needs \"name\": the new name"};
  const std::string to = body["name"].get<std::string>();
  check_person_name(to, options_.max_name_bytes);
  require_person(gallery_, from);
  if (to != from && has_person(gallery_, to) && r.param("merge").value_or("") != "true")
    throw Refusal{409, "person_exists", "'" + to + "' exists already; add ?merge=true to merge the two"};
  if (to != from) gallery_.rename(from, to);
  for (const auto& p : gallery_.people())
    if (p.name == to) return Response::of(person_json(p));
  throw Refusal{409, "conflict", "'" + to + "' was removed meanwhile"};
}

Response Console::set_record(const Request& r) const {
  const std::string& name = r.path_params.at("name");
  if (r.body.size() > options_.max_record_bytes)
    throw Refusal{413, "too_large",
                  "the record is over " + std::to_string(options_.max_record_bytes) + " bytes"};
  const json record = json_body(r);
  if (!record.is_object())
    throw Refusal{400, "invalid_record", "the record must be a JSON object, e.g. {\"major\": \"Physics\"}"};
  require_person(gallery_, name);
  gallery_.set_record(name, record);
  return get_person(r);
}

void Console::forget_person(const std::string& name) const {
  std::set<std::string> face_ids;
  std::vector<std::string> snapshots;
  {
    std::lock_guard lock(mu_);
    for (auto it = seen_.begin(); it != seen_.end();) {
      if ((*it)->name == name || (*it)->enrolled_as == name) {
        face_ids.insert((*it)->id);
        snapshots.push_back((*it)->snapshot);
        snapshots.push_back((*it)->frame);
        it = seen_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto erased = const_cast<events::Hub&>(hub_).erase_recent([&](const json& e) {
    return e.value("name", "") == name || face_ids.count(e.value("face_id", "")) > 0;
  });
  for (const auto& e : erased)
    if (e.contains("snapshot") && e["snapshot"].is_object())
      for (const auto& [kind, file] : e["snapshot"].items())
        if (file.is_string()) snapshots.push_back(file.get<std::string>());
  for (const auto& s : snapshots)
    if (!s.empty()) remove_snapshot(*snapshots_, s);
}

Response Console::delete_person(const Request& r) const {
  const std::string& name = r.path_params.at("name");
  require_person(gallery_, name);
  size_t faces = 0;
  gallery_.faces(name, 0, 1, &faces);
  gallery_.remove(name);  // embeddings, face images and record (the gallery deletes securely)
  forget_person(name);    // the events, snapshots and remembered faces that show them
  return Response::of({{"person", name}, {"erased", {{"faces", faces}, {"record", true}, {"events", true}}}});
}

Response Console::list_person_faces(const Request& r) const {
  const std::string& name = r.path_params.at("name");
  require_person(gallery_, name);
  const size_t page = count_param(r, "page", 0, 0, 1'000'000'000);
  const size_t size = count_param(r, "size", 100, 1, options_.max_page_size);
  size_t total = 0;
  json list = json::array();
  for (const auto& f : gallery_.faces(name, page * size, size, &total))
    list.push_back({{"id", f.id}, {"has_image", f.has_image}});
  return Response::of({{"person", name}, {"faces", list}, {"page", page}, {"size", size}, {"total", total}});
}

std::string Console::enroll_seen(const std::string& person, const SeenFace& face) const {
  if (auto same = gallery::find_same_photo(gallery_, face.embedding))
    throw Refusal{422, "duplicate", "this face is already enrolled as '" + *same + "'"};
  const std::string id = gallery_.add_face(person, face.embedding, face.jpeg);
  std::lock_guard lock(mu_);
  for (auto& f : seen_)
    if (f->id == face.id) f->enrolled_as = person;
  return id;
}

Response Console::add_person_face(const Request& r) const {
  const std::string& name = r.path_params.at("name");
  check_person_name(name, options_.max_name_bytes);
  std::string photo;
  std::optional<face::Box> near;
  if (const UploadedFile* f = r.file("file")) {
    photo = f->content;
  } else {
    const json body = json_body(r);
    if (!body.is_object())
      throw Refusal{400, "invalid_input",
                    "send the photo as multipart part \"file\", or JSON {\"file\": base64}, "
                    "{\"event_face\": id} or {\"snapshot\": name}"};
    if (body.contains("event_face")) {
      if (!body["event_face"].is_string()) throw Refusal{400, "invalid_input", "\"event_face\" is a face id"};
      const std::string id = body["event_face"].get<std::string>();
      std::optional<SeenFace> seen;
      {
        std::lock_guard lock(mu_);
        for (const auto& f : seen_)
          if (f->id == id) seen = *f;
      }
      if (!seen)
        throw Refusal{404, "face_not_found",
                      "no recent face '" + id + "' (the console remembers the last " +
                          std::to_string(options_.remembered_faces) + " faces)"};
      const std::string face_id = enroll_seen(name, *seen);
      return Response::of({{"face_id", face_id}, {"person", name}, {"from", "event_face"}}, 201);
    }
    if (body.contains("snapshot")) {
      if (!body["snapshot"].is_string())
        throw Refusal{400, "invalid_input", "\"snapshot\" is a snapshot name"};
      auto bytes = read_snapshot(*snapshots_, body["snapshot"].get<std::string>());
      if (!bytes) throw Refusal{404, "snapshot_not_found", "no such snapshot (they are kept a bounded time)"};
      photo = std::move(*bytes);
      if (body.contains("box")) {
        const json& b = body["box"];
        if (!b.is_array() || b.size() != 4 || !std::all_of(b.begin(), b.end(), [](const json& v) {
              return v.is_number() && std::isfinite(v.get<double>());
            }))
          throw Refusal{400, "invalid_input", "\"box\" is [x1, y1, x2, y2]"};
        near = face::Box{b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
      }
    } else if (body.contains("file") && body["file"].is_string()) {
      std::string text = body["file"].get<std::string>();
      if (text.rfind("data:", 0) == 0 && text.find(',') != std::string::npos)
        text = text.substr(text.find(',') + 1);
      try {
        photo = service::base64_decode(text);
      } catch (const Error&) {
        throw Refusal{400, "bad_image", "\"file\" is not valid base64"};
      }
    } else {
      throw Refusal{400, "invalid_input",
                    "send the photo as multipart part \"file\", or JSON {\"file\": base64}, "
                    "{\"event_face\": id} or {\"snapshot\": name}"};
    }
  }
  if (photo.empty()) throw Refusal{400, "bad_image", "the photo is empty"};

  cv::Mat rgb;
  try {
    rgb = image::decode(photo, options_.limits);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kTooLarge) throw Refusal{413, "too_large", e.what()};
    throw Refusal{400, "bad_image", std::string(e.what()) + " (send a JPEG or PNG photo)"};
  }
  auto found = detector_.detect(rgb);
  if (near) {
    float best = 0.3f;  // the snapshot's face must be the one the event boxed, not a bystander
    std::optional<face::Detection> chosen;
    for (const auto& d : found)
      if (const float o = iou(d.box, *near); o >= best) {
        best = o;
        chosen = d;
      }
    found.clear();
    if (chosen) found.push_back(*chosen);
  }
  if (found.empty())
    throw Refusal{422, "no_face", "no face found in this photo; use a clear, frontal photo of the person"};
  std::stable_sort(found.begin(), found.end(), [](const face::Detection& a, const face::Detection& b) {
    return a.box.area() > b.box.area();
  });
  const face::CropSpec spec = embedder_.crop_spec();
  struct Candidate {
    face::Detection d;
    cv::Mat crop;
    recognition::Quality q;
  };
  std::vector<Candidate> usable;
  std::optional<recognition::Quality> largest;
  for (const auto& d : found) {
    cv::Mat crop = face::extract_crop(rgb, d, spec);
    auto q = recognition::assess_quality(d, rgb.cols, rgb.rows, crop, recognition::QualityBounds());
    if (!largest) largest = q;
    if (q.ok()) usable.push_back({d, std::move(crop), q});
  }
  if (usable.size() > 1)
    throw Refusal{422,
                  "several_faces",
                  std::to_string(usable.size()) + " faces in this photo; crop it to the one person",
                  {{"faces", usable.size()}}};
  if (usable.empty())
    throw Refusal{
        422,
        "poor_quality",
        "the face fails the quality gate (" + largest->failed + "); give a sharper, frontal, well-lit photo",
        {{"quality", largest->to_json()}}};
  const auto embedding = embedder_.embed({usable[0].crop}).at(0);
  if (auto same = gallery::find_same_photo(gallery_, embedding))
    throw Refusal{422, "duplicate", "this photo is already enrolled as '" + *same + "'"};
  const std::string id = gallery_.add_face(name, embedding, face_thumbnail_jpeg(rgb, usable[0].d.box));
  return Response::of({{"face_id", id},
                       {"person", name},
                       {"quality", usable[0].q.to_json()},
                       {"faces_in_photo", found.size()}},
                      201);
}

Response Console::face_thumbnail(const Request& r) const {
  const std::string& id = r.path_params.at("id");
  const auto bytes = gallery_.face_image(id);
  if (!bytes) throw Refusal{404, "face_not_found", "no face '" + id + "' with an image"};
  cv::Mat rgb;
  try {
    rgb = image::decode(*bytes, options_.limits);
  } catch (const Error&) {
    throw Refusal{404, "face_not_found", "face '" + id + "' has no readable image"};
  }
  const double scale = 160.0 / std::max(rgb.cols, rgb.rows);
  if (scale < 1) {
    cv::Mat small;
    cv::resize(rgb, small, cv::Size(), scale, scale, cv::INTER_AREA);
    rgb = small;
  }
  Response res;
  res.bytes = image::encode_jpeg(rgb, 85);
  res.content_type = "image/jpeg";
  res.headers["Cache-Control"] = "private, max-age=3600";
  return res;
}

Response Console::delete_face(const Request& r) const {
  const std::string& id = r.path_params.at("id");
  const auto removed = gallery_.remove_face(id);
  if (!removed) throw Refusal{404, "face_not_found", "no face '" + id + "'"};
  return Response::of({{"face_id", removed->id}, {"person", removed->person}});
}

}  // namespace facepipe::api
