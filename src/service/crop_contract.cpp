#include "service/crop_contract.h"

#include <cmath>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::service {

std::string describe_crops(const face::CropSpec& spec) {
  const char* method = spec.method == face::CropSpec::Method::kAligned ? "aligned" : "box";
  return std::string(method) + "-" + std::to_string(spec.size) + "-" +
         std::to_string(static_cast<long>(std::lround(spec.margin)));
}

void announce_crops(queue::Queue& requests, const face::CropSpec& spec) {
  try {
    requests.tag({{kCropTag, describe_crops(spec)}});
  } catch (const std::exception& e) {
    spdlog::warn(
        "cannot tag queue '{}' with its crops ({}): recognizers will not be able to check their "
        "embedder at start-up",
        requests.name(), e.what());
  }
}

std::optional<std::string> announced_crops(queue::Queue& requests) {
  try {
    const auto tags = requests.tags();
    if (auto it = tags.find(kCropTag); it != tags.end()) return it->second;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kNotFound) throw;  // no queue at all: the caller's error to report
    spdlog::warn("cannot read the tags of queue '{}' ({}): the embedder check is skipped", requests.name(),
                 e.what());
  }
  return std::nullopt;
}

void check_crops(queue::Queue& requests, const face::CropSpec& spec, const std::string& embedder_id) {
  const auto announced = announced_crops(requests);
  const std::string mine = describe_crops(spec);
  if (!announced || *announced == mine) return;
  throw Error(ErrorKind::kConflict,
              "the detector of queue '" + requests.name() + "' cuts crops " + *announced + ", but this " +
                  "recognizer's embedder " + embedder_id + " needs " + mine +
                  ": give both the same gallery (or --embedder), or restart the detector with this one");
}

}  // namespace facepipe::service
