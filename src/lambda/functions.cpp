#include "lambda/functions.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "aws/client.h"
#include "core/error.h"
#include "queue/queue.h"
#include "service/base64.h"
#include "service/clip_recognition.h"
#include "service/detection.h"
#include "service/recognition.h"
#include "service/stage_engine.h"
#include "server/error_status.h"

namespace facepipe::lambda {
namespace {

using nlohmann::json;

std::string env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const std::string& required(const std::string& value, const char* variable, const std::string& function) {
  if (value.empty())
    throw Error(ErrorKind::kInvalidInput, std::string(variable) + " is not set: the " + function +
                                              " function needs it (deploy/aws/template.yaml sets it)");
  return value;
}

json http_answer(int status, const json& body) {
  return {{"statusCode", status}, {"headers", {{"Content-Type", "application/json"}}}, {"body", body.dump()}};
}

// The function's engine, from the image's read-only gallery (which names the embedder).
std::shared_ptr<service::StageEngine> load_engine(const FunctionConfig& c, bool need_detector,
                                                  bool need_gallery, const std::string& gallery) {
  return std::make_shared<service::StageEngine>(
      service::load_stage_engine({.models_dir = c.models_dir,
                                  .precision = nn::parse_precision(c.precision),
                                  .detector_precision = nn::parse_precision(c.detector_precision),
                                  .gallery_path = gallery,
                                  .embedder = engine::parse_embedder_kind(c.embedder),
                                  .threshold = c.threshold,
                                  .need_detector = need_detector,
                                  .need_gallery = need_gallery,
                                  .read_only_gallery = true}));
}

Handler face_detection(const FunctionConfig& c) {
  auto requests =
      queue::open_queue_url(required(c.request_queue_url, "FACEPIPE_REQUEST_QUEUE_URL", "face-detection"));
  // The gallery (when the image has one) names the embedder whose crops recognition expects.
  auto engine = load_engine(c, true, false, std::filesystem::exists(c.gallery) ? c.gallery : "");
  auto handler =
      std::make_shared<service::DetectionHandler>(*engine->detector, engine->embedder->crop_spec(), requests);
  return [engine, handler](const json& event, const Invocation&) -> json {
    if (!event.contains("body") && !event.contains("requestContext"))
      return handler->handle(event.dump());  // direct
    const std::string method = event.value("/requestContext/http/method"_json_pointer, std::string("POST"));
    if (method != "POST")
      return http_answer(405,
                         {{"error", "method_not_allowed"}, {"message", "POST the frame JSON to this URL"}});
    std::string body = event.value("body", std::string());
    try {
      if (event.value("isBase64Encoded", false)) body = service::base64_decode(body);
      return http_answer(200, handler->handle(body));
    } catch (const Error& e) {
      if (server::http_status(e) >= 500) throw;  // the queue failed: let Lambda report it
      return http_answer(server::http_status(e), {{"error", e.code()}, {"message", e.what()}});
    }
  };
}

Handler face_recognition(const FunctionConfig& c) {
  auto responses = queue::open_queue_url(
      required(c.response_queue_url, "FACEPIPE_RESPONSE_QUEUE_URL", "face-recognition"));
  auto engine = load_engine(c, false, true, c.gallery);
  auto handler = std::make_shared<service::RecognitionHandler>(*engine->embedder, *engine->gallery,
                                                               engine->threshold, responses, nullptr, c.answer);
  return [engine, handler](const json& event, const Invocation&) -> json {
    if (!event.contains("Records") || !event["Records"].is_array())
      throw Error(ErrorKind::kInvalidInput, "face-recognition expects an SQS event ({\"Records\": [...]})");
    std::vector<std::string> bodies, ids;
    for (const auto& record : event["Records"]) {
      bodies.push_back(record.value("body", std::string()));
      ids.push_back(record.value("messageId", std::string()));
    }
    json failures = json::array();
    for (size_t i : handler->handle_batch(bodies)) failures.push_back({{"itemIdentifier", ids[i]}});
    return {{"batchItemFailures", failures}};
  };
}

Handler video_recognition(const FunctionConfig& c) {
  auto responses = queue::open_queue_url(
      required(c.response_queue_url, "FACEPIPE_RESPONSE_QUEUE_URL", "video-recognition"));
  auto engine = load_engine(c, true, true, c.gallery);
  auto clips = std::make_shared<service::ClipHandler>(*engine->detector, *engine->embedder, *engine->gallery,
                                                      engine->threshold, responses.get(),
                                                      video::FramePolicy::parse(c.frame_policy),
                                                      video::ClipLimits{}, c.answer);
  auto s3 = std::make_shared<aws::S3Client>();
  if (!c.people_table.empty()) {
    auto dynamodb = std::make_shared<aws::DynamoDbClient>();
    clips->record_lookup = [dynamodb, table = c.people_table](const std::string& name) {
      return dynamodb->get_item(table, {{"name", name}});
    };
  }
  return [engine, clips, s3, responses](const json& event, const Invocation&) -> json {
    if (!event.contains("Records") || !event["Records"].is_array())
      throw Error(ErrorKind::kInvalidInput, "video-recognition expects an S3 event ({\"Records\": [...]})");
    json results = json::array();
    for (const auto& record : event["Records"]) {
      const std::string bucket = record.value("/s3/bucket/name"_json_pointer, std::string());
      const std::string key = decode_s3_key(record.value("/s3/object/key"_json_pointer, std::string()));
      if (bucket.empty() || key.empty())
        throw Error(ErrorKind::kInvalidInput, "an S3 event record without s3.bucket.name / s3.object.key");
      // The device names each upload after its request id: "<id>.mp4" (any folder prefix is dropped).
      std::string request_id = key.substr(key.rfind('/') + 1);
      if (const auto dot = request_id.rfind('.'); dot != std::string::npos && dot > 0) request_id.resize(dot);
      const std::string bytes = s3->get_object(bucket, key);  // S3 failures throw: Lambda retries the event
      try {
        const json message = clips->handle(bytes, request_id, key);
        results.push_back({{"key", key}, {"result", message.value("result", "")}});
      } catch (const Error& e) {
        if (server::http_status(e) >= 500) throw;
        // An unusable clip: ClipHandler already put its error result on the queue; retrying cannot help.
        results.push_back({{"key", key}, {"result", service::kClipError}, {"error", e.code()}});
      }
    }
    return {{"results", results}};
  };
}

}  // namespace

FunctionConfig FunctionConfig::from_environment() {
  FunctionConfig c;
  c.models_dir = env("FACEPIPE_MODELS");
  c.gallery = env("FACEPIPE_GALLERY", "/opt/facepipe/gallery.db");
  c.request_queue_url = env("FACEPIPE_REQUEST_QUEUE_URL");
  c.response_queue_url = env("FACEPIPE_RESPONSE_QUEUE_URL");
  c.people_table = env("FACEPIPE_PEOPLE_TABLE");
  c.frame_policy = env("FACEPIPE_FRAME_POLICY", c.frame_policy);
  c.embedder = env("FACEPIPE_EMBEDDER", c.embedder);
  c.precision = env("FACEPIPE_PRECISION", c.precision);
  c.detector_precision = env("FACEPIPE_DETECTOR_PRECISION", c.detector_precision);
  if (const std::string t = env("FACEPIPE_THRESHOLD"); !t.empty()) {
    try {
      c.threshold = std::stof(t);
    } catch (const std::exception&) {
      throw Error(ErrorKind::kInvalidInput, "FACEPIPE_THRESHOLD='" + t + "' is not a number");
    }
  }
  if (const std::string a = env("FACEPIPE_ANSWER"); !a.empty()) c.answer.policy = recognition::parse_answer_policy(a);
  if (const std::string p = env("FACEPIPE_MIN_FACE_PROB"); !p.empty()) {
    try {
      c.answer.quality.min_prob = std::stof(p);
    } catch (const std::exception&) {
      throw Error(ErrorKind::kInvalidInput, "FACEPIPE_MIN_FACE_PROB='" + p + "' is not a number");
    }
  }
  return c;
}

const std::vector<std::string>& function_names() {
  static const std::vector<std::string> names = {"face-detection", "face-recognition", "video-recognition"};
  return names;
}

Handler make_function(const std::string& name, const FunctionConfig& config) {
  if (name == "face-detection") return face_detection(config);
  if (name == "face-recognition") return face_recognition(config);
  if (name == "video-recognition") return video_recognition(config);
  throw Error(ErrorKind::kInvalidInput,
              "unknown function '" + name + "': use face-detection, face-recognition or video-recognition");
}

std::string decode_s3_key(const std::string& key) {
  std::string out;
  out.reserve(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '+') {
      out += ' ';
    } else if (key[i] == '%' && i + 2 < key.size() && std::isxdigit(static_cast<unsigned char>(key[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(key[i + 2]))) {
      out += static_cast<char>(std::stoi(key.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += key[i];
    }
  }
  return out;
}

}  // namespace facepipe::lambda
