#include "service/detection.h"

#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "service/base64.h"
#include "service/engine_pool.h"
#include "service/messages.h"

namespace facepipe::service {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string required_string(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    throw Error(
        ErrorKind::kInvalidInput,
        std::string("field '") + key + "' is missing; send {\"request_id\", \"filename\", \"content\"}");
  if (!it->is_string())
    throw Error(ErrorKind::kInvalidInput,
                std::string("field '") + key + "' must be a string, got " + it->type_name());
  auto value = it->get<std::string>();
  if (value.empty()) throw Error(ErrorKind::kInvalidInput, std::string("field '") + key + "' is empty");
  return value;
}

// Error messages go back in JSON: bytes that are not printable ASCII (a parser quoting invalid UTF-8 it
// read) become \xNN, so the answer can always be encoded.
std::string printable(const std::string& text) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

DetectionHandler::DetectionHandler(face::Detector& detector, face::CropSpec crop_spec,
                                   std::shared_ptr<queue::Queue> request_queue, Metrics* metrics,
                                   DetectionOptions options)
    : detector_(detector),
      crop_spec_(crop_spec),
      queue_(std::move(request_queue)),
      metrics_(metrics),
      options_(options) {}

bool DetectionHandler::reserve(const std::string& id) {
  std::lock_guard lock(mu_);
  if (!seen_.insert(id).second) return false;
  seen_order_.push_back(id);
  while (seen_order_.size() > options_.remembered_ids) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void DetectionHandler::release(const std::string& id) {
  std::lock_guard lock(mu_);
  seen_.erase(id);  // the order entry stays; erasing a missing id later is harmless
}

json FrameAccepted::to_json() const {
  return {{"request_id", request_id},
          {"filename", filename},
          {"faces", faces},
          {"status", "queued"},
          {"message_id", message_id}};
}

json DetectionHandler::handle(const std::string& body) {
  // The body is held (and, with a pool, counted against its byte budget) until the answer.
  std::optional<EnginePool::BytesLease> body_bytes;
  if (options_.pool) body_bytes.emplace(options_.pool->hold_bytes(static_cast<int64_t>(body.size())));
  return accept_frame(parse_frame_request(body)).to_json();
}

FrameRequest DetectionHandler::parse_frame_request(const std::string& body) const {
  json request;
  try {
    request = json::parse(body);
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInvalidInput,
                printable(std::string("request body is not valid JSON (") + e.what() +
                          "); send {\"request_id\", \"filename\", \"content\": base64 image} in UTF-8"));
  }
  if (!request.is_object())
    throw Error(ErrorKind::kInvalidInput,
                "request body must be a JSON object with request_id, filename and content");
  std::string request_id = required_string(request, "request_id");
  if (request_id.size() > options_.max_request_id)
    throw Error(ErrorKind::kInvalidInput, "field 'request_id' is longer than " +
                                              std::to_string(options_.max_request_id) + " characters");
  std::string filename = required_string(request, "filename");
  if (filename.size() > options_.max_filename)
    throw Error(ErrorKind::kInvalidInput, "field 'filename' is longer than " +
                                              std::to_string(options_.max_filename) +
                                              " bytes; send the file's name, not a path or data");
  std::string content = required_string(request, "content");
  return {std::move(request_id), std::move(filename), base64_decode(content)};
}

FrameAccepted DetectionHandler::accept_frame(const FrameRequest& frame) {
  auto start = Clock::now();
  auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  const std::string& request_id = frame.request_id;
  const std::string& filename = frame.filename;
  if (request_id.empty() || filename.empty())
    throw Error(ErrorKind::kInvalidInput, "a frame needs a request_id and a filename");
  if (request_id.size() > options_.max_request_id)
    throw Error(ErrorKind::kInvalidInput, "field 'request_id' is longer than " +
                                              std::to_string(options_.max_request_id) + " characters");
  if (filename.size() > options_.max_filename)
    throw Error(ErrorKind::kInvalidInput, "field 'filename' is longer than " +
                                              std::to_string(options_.max_filename) +
                                              " bytes; send the file's name, not a path or data");
  if (!reserve(request_id))
    throw Error(ErrorKind::kConflict,
                "request_id '" + request_id + "' was already accepted; use a new id per frame");
  try {
    auto t = Clock::now();
    const std::string& bytes = frame.image;
    std::optional<EnginePool::BytesLease> file_bytes;
    if (options_.pool) file_bytes.emplace(options_.pool->hold_bytes(static_cast<int64_t>(bytes.size())));
    // The header's declared size, checked before any pixel is allocated; it is also the frame's cost in
    // the engine's pixel budget.
    const image::ImageInfo info = image::probe(bytes);
    image::check_limits(info, options_.limits);

    FrameAccepted accepted;
    auto work = [&] {
      cv::Mat rgb = image::decode(bytes, options_.limits);
      if (metrics_) metrics_->observe(metric::kStageSeconds, "stage=\"decode\"", since(t));

      t = Clock::now();
      auto faces = detector_.detect(rgb);
      if (metrics_) metrics_->observe(metric::kStageSeconds, "stage=\"detect\"", since(t));

      t = Clock::now();
      RequestMessage m;
      m.request_id = request_id;
      m.filename = filename;
      m.width = rgb.cols;
      m.height = rgb.rows;
      m.crop_spec = crop_spec_;
      m.accepted_ms = wall_ms;
      for (auto& f : faces) m.faces.push_back({f, face::extract_crop(rgb, f, crop_spec_)});
      rgb.release();
      std::string message = encode_request(m);
      if (metrics_) metrics_->observe(metric::kStageSeconds, "stage=\"crop\"", since(t));

      t = Clock::now();
      std::string message_id = queue_->send(message);
      if (metrics_) {
        metrics_->observe(metric::kStageSeconds, "stage=\"enqueue\"", since(t));
        metrics_->observe(metric::kStageSeconds, "stage=\"detection_total\"", since(start));
        metrics_->inc(metric::kFramesAccepted);
      }
      spdlog::debug("detect: request {} ({}) {}x{}: {} face(s) queued as {}", request_id, filename, m.width,
                    m.height, faces.size(), message_id);
      accepted = {request_id, filename, message_id, faces.size()};
    };
    if (options_.pool)
      options_.pool->run(int64_t(info.width) * info.height, work);
    else
      work();
    return accepted;
  } catch (...) {
    release(request_id);  // a frame that was refused may be sent again under the same id
    if (metrics_) metrics_->inc(metric::kFramesRefused);
    throw;
  }
}

}  // namespace facepipe::service
