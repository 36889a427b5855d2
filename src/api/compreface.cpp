#include "api/compreface.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "face/distance.h"
#include "image/decode.h"
#include "service/base64.h"

namespace facepipe::api {

using nlohmann::json;

namespace {

// A refusal in CompreFace's terms, thrown inside handlers and answered by handle().
struct ApiError {
  int status;
  int code;
  std::string message;
};

[[noreturn]] void fail(int status, int code, const std::string& message) {
  throw ApiError{status, code, message};
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::round(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
}

bool is_json(const Request& r) { return r.header("content-type").rfind("application/json", 0) == 0; }

json parse_json_body(const Request& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) fail(400, code::kIncorrectArgument, "the body is not valid JSON");
  return j;
}

// The image named `field`: a multipart part, or base64 in a JSON body (a "data:...;base64," prefix is
// accepted, as browsers make them).
std::string image_field(const Request& r, const std::string& field) {
  if (const UploadedFile* f = r.file(field)) {
    if (f->content.empty()) fail(400, code::kBadImage, "the '" + field + "' part is empty");
    return f->content;
  }
  if (is_json(r)) {
    const json j = parse_json_body(r);
    if (!j.is_object() || !j.contains(field) || !j[field].is_string())
      fail(400, code::kMissingPart, "the JSON body needs \"" + field + "\": the image as a base64 string");
    std::string text = j[field].get<std::string>();
    if (text.rfind("data:", 0) == 0) {
      const auto comma = text.find(',');
      if (comma != std::string::npos) text = text.substr(comma + 1);
    }
    try {
      std::string bytes = service::base64_decode(text);
      if (bytes.empty()) fail(400, code::kBadImage, "\"" + field + "\" is empty");
      return bytes;
    } catch (const Error&) {
      fail(400, code::kBadImage, "\"" + field + "\" is not valid base64");
    }
  }
  fail(400, code::kMissingPart,
       "Required request part '" + field + "' is not present: send the image as multipart/form-data part '" +
           field + "' or as JSON {\"" + field + "\": base64}");
}

}  // namespace

// Query parameters shared by the image endpoints, validated.
struct CompreFaceApi::Query {
  size_t limit = 0;
  size_t prediction_count = 1;
  std::optional<double> det_prob_threshold;
  bool status = false;
  bool detect_faces = true;
  bool calculator = false;  // face_plugins contains "calculator": add embeddings
};

struct CompreFaceApi::Face {
  face::Detection detection;
  face::Embedding embedding;
  cv::Mat crop;  // the embedder's input, when embedded
  int width = 0, height = 0;  // of the image, to clamp boxes
  double detector_ms = 0, calculator_ms = 0;
};

namespace {

size_t parse_count(const Request& r, const std::string& name, size_t fallback, size_t min, size_t max) {
  const auto v = r.param(name);
  if (!v || v->empty()) return fallback;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v->size() || n < static_cast<long long>(min) || n > static_cast<long long>(max))
    fail(400, code::kIncorrectArgument,
         name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
             ", not '" + *v + "'");
  return static_cast<size_t>(n);
}

bool parse_bool(const Request& r, const std::string& name, bool fallback) {
  const auto v = r.param(name);
  if (!v || v->empty()) return fallback;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  fail(400, code::kIncorrectArgument, name + " must be true or false, not '" + *v + "'");
}

}  // namespace

CompreFaceApi::CompreFaceApi(face::Detector& detector, face::Embedder& embedder, gallery::Gallery& gallery,
                             CompreFaceOptions options)
    : detector_(detector),
      embedder_(embedder),
      gallery_(gallery),
      options_(std::move(options)),
      curve_(similarity_curve(gallery.embedder_id(), options_.threshold)) {
  auto bind = [this](Response (CompreFaceApi::*fn)(const Request&) const) {
    return [this, fn](const Request& r) { return (this->*fn)(r); };
  };
  const std::string rec = "/api/v1/recognition";
  router_.add({"POST", rec + "/recognize", bind(&CompreFaceApi::recognize)});
  router_.add({"POST", rec + "/faces", bind(&CompreFaceApi::add_face)});
  router_.add({"GET", rec + "/faces", bind(&CompreFaceApi::list_faces)});
  router_.add({"DELETE", rec + "/faces", bind(&CompreFaceApi::delete_faces)});
  router_.add({"POST", rec + "/faces/delete", bind(&CompreFaceApi::delete_face_list)});
  router_.add({"DELETE", rec + "/faces/{image_id}", bind(&CompreFaceApi::delete_face)});
  router_.add({"GET", rec + "/faces/{image_id}/img", bind(&CompreFaceApi::face_image)});
  router_.add({"POST", rec + "/faces/{image_id}/verify", bind(&CompreFaceApi::verify_face)});
  router_.add({"POST", rec + "/subjects", bind(&CompreFaceApi::add_subject)});
  router_.add({"GET", rec + "/subjects", bind(&CompreFaceApi::list_subjects)});
  router_.add({"DELETE", rec + "/subjects", bind(&CompreFaceApi::delete_subjects)});
  router_.add({"PUT", rec + "/subjects/{subject}", bind(&CompreFaceApi::rename_subject)});
  router_.add({"DELETE", rec + "/subjects/{subject}", bind(&CompreFaceApi::delete_subject)});
  router_.add({"POST", rec + "/embeddings/recognize", bind(&CompreFaceApi::recognize_embeddings)});
  router_.add({"POST", "/api/v1/detection/detect", bind(&CompreFaceApi::detect)});
  router_.add({"POST", "/api/v1/verification/verify", bind(&CompreFaceApi::verify_images)});
}

Response compreface_error(int status, int code, const std::string& message) {
  return Response::of({{"message", message}, {"code", code}}, status);
}

Response CompreFaceApi::handle(Request request) const {
  try {
    bool method_allowed = false;
    auto route = router_.find(request, &method_allowed);
    if (!route) {
      if (method_allowed)
        return compreface_error(405, code::kUndefined,
                                "method " + request.method + " is not supported on " + request.path);
      return compreface_error(404, code::kUndefined, "no such path '" + request.path + "'");
    }
    return route->handler(request);
  } catch (const ApiError& e) {
    return compreface_error(e.status, e.code, e.message);
  } catch (const Error& e) {
    int c = code::kIncorrectArgument;
    if (e.kind() == ErrorKind::kNotFound) c = code::kSubjectNotFound;
    if (e.kind() == ErrorKind::kUnavailable || e.kind() == ErrorKind::kInternal) c = 41;
    return compreface_error(http_status(e.kind()), c, e.what());
  } catch (const std::exception& e) {
    spdlog::error("api {} {}: unexpected failure: {}", request.method, request.path, e.what());
    return compreface_error(500, code::kUndefined, std::string("unexpected failure: ") + e.what());
  }
}

std::vector<CompreFaceApi::Face> CompreFaceApi::find_faces(const std::string& bytes, const Query& q,
                                                           bool embed) const {
  cv::Mat rgb;
  try {
    rgb = image::decode(bytes, options_.limits);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kTooLarge) fail(413, code::kBadImage, e.what());
    fail(400, code::kBadImage, std::string(e.what()) + " (send a JPEG or PNG image)");
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<face::Detection> found;
  if (q.detect_faces) {
    found = detector_.detect(rgb);
  } else {
    // The whole image is the face: landmarks where a frontal face's would be, for aligned crops.
    face::Detection d;
    const float w = static_cast<float>(rgb.cols), h = static_cast<float>(rgb.rows);
    d.box = {0, 0, w, h};
    d.prob = 1;
    d.landmarks = {{{0.34f * w, 0.40f * h},
                    {0.66f * w, 0.40f * h},
                    {0.50f * w, 0.58f * h},
                    {0.37f * w, 0.76f * h},
                    {0.63f * w, 0.76f * h}}};
    found.push_back(d);
  }
  const double detector_ms = ms_since(t0);
  if (q.det_prob_threshold)
    found.erase(std::remove_if(found.begin(), found.end(),
                               [&](const face::Detection& d) { return d.prob < *q.det_prob_threshold; }),
                found.end());
  if (found.empty()) fail(400, code::kNoFaces, "No face is found in the given image");
  std::stable_sort(found.begin(), found.end(), [](const face::Detection& a, const face::Detection& b) {
    return a.box.area() > b.box.area();
  });
  if (q.limit > 0 && found.size() > q.limit) found.resize(q.limit);
  std::vector<Face> out;
  for (const auto& d : found) out.push_back({d, {}, {}, rgb.cols, rgb.rows, detector_ms, 0});
  if (embed) {
    const auto t1 = std::chrono::steady_clock::now();
    const face::CropSpec spec = embedder_.crop_spec();
    std::vector<cv::Mat> crops;
    for (const auto& f : out) crops.push_back(face::extract_crop(rgb, f.detection, spec));
    auto embeddings = embedder_.embed(crops);
    const double calculator_ms = ms_since(t1);
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].embedding = std::move(embeddings[i]);
      out[i].crop = crops[i];
      out[i].calculator_ms = calculator_ms;
    }
  }
  return out;
}

json CompreFaceApi::face_json(const Face& f, const Query& q) const {
  const auto& b = f.detection.box;
  auto clamp = [](float v, int hi) { return std::clamp(static_cast<int>(std::lround(v)), 0, hi); };
  json j;
  j["box"] = {{"probability", round5(f.detection.prob)},
              {"x_min", clamp(b.x1, f.width)},
              {"y_min", clamp(b.y1, f.height)},
              {"x_max", clamp(b.x2, f.width)},
              {"y_max", clamp(b.y2, f.height)}};
  json landmarks = json::array();
  if (q.detect_faces)
    for (const auto& p : f.detection.landmarks)
      landmarks.push_back({static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y))});
  j["landmarks"] = landmarks;
  if (q.calculator && !f.embedding.empty()) j["embedding"] = f.embedding;
  if (q.status) {
    j["execution_time"] = {{"detector", f.detector_ms}};
    if (!f.embedding.empty()) j["execution_time"]["calculator"] = f.calculator_ms;
  }
  return j;
}

json CompreFaceApi::plugins_versions() const {
  return {{"detector", "facepipe.MTCNN"}, {"calculator", "facepipe." + embedder_.id()}};
}

namespace {

CompreFaceApi::Query read_query(const Request& r, size_t max_predictions) {
  CompreFaceApi::Query q;
  q.limit = parse_count(r, "limit", 0, 0, 1000);
  q.prediction_count = parse_count(r, "prediction_count", 1, 1, max_predictions);
  if (auto v = r.param("det_prob_threshold"); v && !v->empty()) {
    size_t used = 0;
    double t = -1;
    try {
      t = std::stod(*v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v->size() || !(t >= 0 && t <= 1))
      fail(400, code::kIncorrectArgument,
           "det_prob_threshold must be a number from 0 to 1, not '" + *v + "'");
    q.det_prob_threshold = t;
  }
  q.status = parse_bool(r, "status", false);
  q.detect_faces = parse_bool(r, "detect_faces", true);
  if (auto v = r.param("face_plugins")) {
    std::stringstream ss(*v);
    std::string name;
    while (std::getline(ss, name, ','))
      if (name == "calculator") q.calculator = true;  // others (age, gender, mask, "undefined") are ignored
  }
  return q;
}

}  // namespace

Response CompreFaceApi::recognize(const Request& r) const {
  const Query q = read_query(r, options_.max_prediction_count);
  const std::string image = image_field(r, "file");
  const auto faces = find_faces(image, q, true);
  json result = json::array();
  std::vector<service::RecognizedFace> observed;
  for (const auto& f : faces) {
    json j = face_json(f, q);
    json subjects = json::array();
    const auto t = std::chrono::steady_clock::now();
    const auto nearest = gallery_.nearest_people(f.embedding, q.prediction_count);
    for (const auto& p : nearest)
      subjects.push_back({{"subject", p.name}, {"similarity", round5(curve_(p.distance))}});
    j["subjects"] = subjects;
    if (!nearest.empty()) {
      const bool known = options_.threshold <= 0 || nearest[0].distance <= options_.threshold;
      j["facepipe"] = {{"name", known ? nearest[0].name : gallery::kUnknown},
                       {"distance", round5(nearest[0].distance)}};
      if (options_.on_recognize)
        observed.push_back({f.detection, f.crop, f.embedding,
                            gallery::Match{known ? nearest[0].name : gallery::kUnknown, nearest[0].distance,
                                           nearest[0].name},
                            recognition::assess_quality(f.detection, f.width, f.height, f.crop,
                                                        recognition::QualityBounds()),
                            observed.empty()});
    } else {
      j["facepipe"] = {{"name", gallery::kUnknown}, {"distance", nullptr}};
    }
    if (q.status) j["execution_time"]["matcher"] = ms_since(t);
    result.push_back(std::move(j));
  }
  if (options_.on_recognize && !observed.empty()) options_.on_recognize(image, observed);
  json body = {{"result", result}};
  if (q.status) body["plugins_versions"] = plugins_versions();
  return Response::of(body);
}

Response CompreFaceApi::detect(const Request& r) const {
  const Query q = read_query(r, options_.max_prediction_count);
  const auto faces = find_faces(image_field(r, "file"), q, q.calculator);
  json result = json::array();
  for (const auto& f : faces) result.push_back(face_json(f, q));
  json body = {{"result", result}};
  if (q.status) body["plugins_versions"] = plugins_versions();
  return Response::of(body);
}

namespace {

float distance(const face::Embedding& a, const face::Embedding& b) {
  if (a.size() != b.size()) fail(400, code::kIncorrectArgument, "embeddings of different sizes");
  return face::l2_distance(a, b);
}

}  // namespace

Response CompreFaceApi::verify_images(const Request& r) const {
  Query q = read_query(r, options_.max_prediction_count);
  const std::string source_bytes = image_field(r, "source_image");
  const std::string target_bytes = image_field(r, "target_image");
  Query source_q = q;
  source_q.limit = 1;  // the source image's largest face is the one verified
  const auto source = find_faces(source_bytes, source_q, true);
  const auto targets = find_faces(target_bytes, q, true);
  json matches = json::array();
  for (const auto& t : targets) {
    json j = face_json(t, q);
    j["similarity"] = round5(curve_(distance(source[0].embedding, t.embedding)));
    matches.push_back(std::move(j));
  }
  std::stable_sort(matches.begin(), matches.end(), [](const json& a, const json& b) {
    return a["similarity"].get<double>() > b["similarity"].get<double>();
  });
  json item = {{"source_image_face", face_json(source[0], q)}, {"face_matches", matches}};
  if (q.status) item["plugins_versions"] = plugins_versions();
  return Response::of({{"result", json::array({item})}});
}

namespace {

std::string required_subject(const Request& r) {
  const auto s = r.param("subject");
  if (!s) fail(400, code::kMissingParameter, "Required request parameter 'subject' is not present");
  if (s->empty() || s->find_first_not_of(" \t") == std::string::npos)
    fail(400, code::kConstraintViolation, "Subject name is empty");
  if (s->size() > 255) fail(400, code::kConstraintViolation, "Subject name is longer than 255 characters");
  if (*s == gallery::kUnknown)
    fail(400, code::kConstraintViolation,
         "'" + std::string(gallery::kUnknown) +
             "' is what facepipe calls nobody; choose another subject name");
  return *s;
}

}  // namespace

Response CompreFaceApi::add_face(const Request& r) const {
  const std::string subject = required_subject(r);
  Query q = read_query(r, options_.max_prediction_count);
  q.limit = 0;
  const std::string bytes = image_field(r, "file");
  const auto faces = find_faces(bytes, q, true);
  if (faces.size() > 1)
    fail(400, code::kTooManyFaces,
         "the image has " + std::to_string(faces.size()) +
             " faces; an example of a subject must show one face (crop it, or raise det_prob_threshold)");
  const std::string id = gallery_.add_face(subject, faces[0].embedding, bytes);
  return Response::of({{"image_id", id}, {"subject", subject}}, 201);
}

Response CompreFaceApi::list_faces(const Request& r) const {
  const size_t page = parse_count(r, "page", 0, 0, 1'000'000'000);
  const size_t size = parse_count(r, "size", 20, 1, options_.max_page_size);
  const std::string subject = r.param("subject").value_or("");
  size_t total = 0;
  std::vector<gallery::FaceEntry> faces;
  try {
    faces = gallery_.faces(subject, page * size, size, &total);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound) throw;  // an unknown subject has no faces
  }
  json list = json::array();
  for (const auto& f : faces) list.push_back({{"image_id", f.id}, {"subject", f.person}});
  return Response::of({{"faces", list},
                       {"page_number", page},
                       {"page_size", size},
                       {"total_pages", (total + size - 1) / size},
                       {"total_elements", total}});
}

Response CompreFaceApi::delete_faces(const Request& r) const {
  const auto subject = r.param("subject");
  if (subject && subject->empty()) fail(400, code::kConstraintViolation, "Subject name is empty");
  return Response::of({{"deleted", gallery_.remove_faces(subject.value_or(""))}});
}

Response CompreFaceApi::delete_face(const Request& r) const {
  const std::string& id = r.path_params.at("image_id");
  const auto removed = gallery_.remove_face(id);
  if (!removed) fail(404, code::kEmbeddingNotFound, "Embedding " + id + " not found");
  return Response::of({{"image_id", removed->id}, {"subject", removed->person}});
}

Response CompreFaceApi::delete_face_list(const Request& r) const {
  const json ids = parse_json_body(r);
  if (!ids.is_array()) fail(400, code::kIncorrectArgument, "the body must be a JSON array of image ids");
  if (ids.size() > 10000) fail(400, code::kIncorrectArgument, "at most 10000 ids per request");
  json out = json::array();
  for (const auto& id : ids) {
    if (!id.is_string()) fail(400, code::kIncorrectArgument, "image ids are strings");
    if (auto removed = gallery_.remove_face(id.get<std::string>()))
      out.push_back({{"image_id", removed->id}, {"subject", removed->person}});
  }
  return Response::of(out);
}

Response CompreFaceApi::face_image(const Request& r) const {
  Response res;
  res.headers["Cache-Control"] = "private, max-age=3600";
  const auto bytes = gallery_.face_image(r.path_params.at("image_id"));
  // CompreFace answers an unknown id with an empty body, not an error.
  res.content_type = "application/octet-stream";
  if (!bytes) return res;
  res.bytes = *bytes;
  try {
    res.content_type =
        image::probe(*bytes).format == image::ImageInfo::Format::kPng ? "image/png" : "image/jpeg";
  } catch (const Error&) {
  }
  return res;
}

Response CompreFaceApi::verify_face(const Request& r) const {
  const std::string& id = r.path_params.at("image_id");
  const auto stored = gallery_.face_embedding(id);
  if (!stored) fail(404, code::kEmbeddingNotFound, "Embedding " + id + " not found");
  const Query q = read_query(r, options_.max_prediction_count);
  const auto faces = find_faces(image_field(r, "file"), q, true);
  json result = json::array();
  for (const auto& f : faces) {
    json j = face_json(f, q);
    j["similarity"] = round5(curve_(distance(*stored, f.embedding)));
    result.push_back(std::move(j));
  }
  std::stable_sort(result.begin(), result.end(), [](const json& a, const json& b) {
    return a["similarity"].get<double>() > b["similarity"].get<double>();
  });
  json body = {{"result", result}};
  if (q.status) body["plugins_versions"] = plugins_versions();
  return Response::of(body);
}

namespace {

std::string subject_from_body(const Request& r) {
  const json j = parse_json_body(r);
  if (!j.is_object() || !j.contains("subject") || !j["subject"].is_string())
    fail(400, code::kMissingParameter, "the JSON body needs \"subject\": a name");
  const std::string s = j["subject"].get<std::string>();
  if (s.empty() || s.find_first_not_of(" \t") == std::string::npos)
    fail(400, code::kConstraintViolation, "Subject name is empty");
  if (s.size() > 255) fail(400, code::kConstraintViolation, "Subject name is longer than 255 characters");
  if (s == gallery::kUnknown)
    fail(400, code::kConstraintViolation,
         "'" + std::string(gallery::kUnknown) +
             "' is what facepipe calls nobody; choose another subject name");
  return s;
}

bool has_person(const gallery::Gallery& g, const std::string& name) {
  for (const auto& p : g.people())
    if (p.name == name) return true;
  return false;
}

}  // namespace

Response CompreFaceApi::add_subject(const Request& r) const {
  const std::string s = subject_from_body(r);
  if (!gallery_.add_person(s)) fail(400, code::kSubjectExists, "Subject '" + s + "' already exists");
  return Response::of({{"subject", s}}, 201);
}

Response CompreFaceApi::list_subjects(const Request&) const {
  json names = json::array();
  for (const auto& p : gallery_.people()) names.push_back(p.name);
  return Response::of({{"subjects", names}});
}

Response CompreFaceApi::rename_subject(const Request& r) const {
  const std::string& from = r.path_params.at("subject");
  const std::string to = subject_from_body(r);
  if (!has_person(gallery_, from)) fail(404, code::kSubjectNotFound, "Subject '" + from + "' not found");
  gallery_.rename(from, to);
  return Response::of({{"updated", true}});
}

Response CompreFaceApi::delete_subject(const Request& r) const {
  const std::string& s = r.path_params.at("subject");
  try {
    gallery_.remove(s);  // the person, their embeddings, face images and record
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kNotFound) fail(404, code::kSubjectNotFound, "Subject '" + s + "' not found");
    throw;
  }
  return Response::of({{"subject", s}});
}

Response CompreFaceApi::delete_subjects(const Request&) const {
  size_t n = 0;
  for (const auto& p : gallery_.people()) {
    try {
      gallery_.remove(p.name);
      ++n;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;  // removed meanwhile by another request
    }
  }
  return Response::of({{"deleted", n}});
}

Response CompreFaceApi::recognize_embeddings(const Request& r) const {
  const size_t k = parse_count(r, "prediction_count", 1, 1, options_.max_prediction_count);
  const json j = parse_json_body(r);
  if (!j.is_object() || !j.contains("embeddings") || !j["embeddings"].is_array())
    fail(400, code::kMissingParameter, "the JSON body needs \"embeddings\": an array of embeddings");
  const auto& list = j["embeddings"];
  if (list.empty() || list.size() > options_.max_embeddings)
    fail(400, code::kWrongEmbeddingCount,
         "send 1 to " + std::to_string(options_.max_embeddings) + " embeddings per request");
  const int dim = gallery_.dim();
  json result = json::array();
  for (const auto& e : list) {
    if (!e.is_array() || e.empty())
      fail(400, code::kIncorrectArgument, "each embedding is an array of numbers");
    face::Embedding v;
    for (const auto& x : e) {
      if (!x.is_number()) fail(400, code::kIncorrectArgument, "each embedding is an array of numbers");
      const double d = x.get<double>();
      if (!std::isfinite(d)) fail(400, code::kIncorrectArgument, "embeddings must be finite");
      v.push_back(static_cast<float>(d));
    }
    if (dim != 0 && static_cast<int>(v.size()) != dim)
      fail(400, code::kIncorrectArgument,
           "embedding of " + std::to_string(v.size()) + " values; this gallery's embeddings have " +
               std::to_string(dim) + " (" + gallery_.embedder_id() + ")");
    json similarities = json::array();
    for (const auto& p : gallery_.nearest_people(v, k))
      similarities.push_back({{"subject", p.name}, {"similarity", round5(curve_(p.distance))}});
    result.push_back({{"embedding", e}, {"similarities", similarities}});
  }
  return Response::of({{"result", result}});
}

}  // namespace facepipe::api
