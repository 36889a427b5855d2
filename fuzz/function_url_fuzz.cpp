// The function URL's JSON handler (service::DetectionHandler::handle, what POST / runs) on arbitrary
// bodies, with an in-memory queue. The detector finds nothing: the harness is about parsing, validation,
// base64 and decoding, not about the network weights (which a sanitizer build would run 100x slower).
#include <string>

#include "core/error.h"
#include "face/detector.h"
#include "fuzz_util.h"
#include "server/error_status.h"
#include "queue/queue.h"
#include "service/detection.h"

namespace {
class NoFaces : public facepipe::face::Detector {
 public:
  std::vector<facepipe::face::Detection> detect(const cv::Mat&) override { return {}; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static NoFaces detector;
  static auto queues = facepipe::queue::open_queue_service("memory:");
  static auto requests = queues->create("fuzz-req-queue", {});
  static facepipe::service::DetectionHandler* handler = [] {
    facepipe::service::DetectionOptions options;
    options.limits.max_pixels = 4'000'000;
    return new facepipe::service::DetectionHandler(detector, facepipe::face::CropSpec{}, requests, nullptr,
                                                   options);
  }();
  try {
    const auto answer = handler->handle(std::string(reinterpret_cast<const char*>(data), size));
    (void)answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const facepipe::Error& e) {
    // The message goes back to the client in JSON: it must be encodable as such.
    (void)nlohmann::json{{"message", e.what()}}.dump();
    facepipe::fuzz::check_status(facepipe::server::http_status(e), e.what());
  }
  return 0;
}
