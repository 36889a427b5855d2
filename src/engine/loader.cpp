#include "engine/loader.h"

#include "core/error.h"
#include "core/paths.h"
#include "engine/mtcnn.h"
#include "models/faceapi_resnet.h"
#include "models/inception_resnet_v1.h"

namespace facepipe::face {
namespace {

constexpr const char* kVggFace2 = "inception_resnet_v1/20180402-114759-vggface2.pt";
constexpr const char* kRandom = "inception_resnet_v1/random-seed0-legacy.pt";
constexpr const char* kFaceApi = "faceapi/face_recognition_model-weights_manifest.json";

}  // namespace

EngineOptions options_for_embedder_id(const std::string& embedder_id, EngineOptions base) {
  if (embedder_id.rfind("faceapi-", 0) == 0) {
    base.embedder = "faceapi";
  } else if (embedder_id.rfind("irv1-", 0) == 0) {
    base.embedder = embedder_id.rfind("irv1-random", 0) == 0 ? "irv1-random" : "irv1";
    base.irv1_crop_size = embedder_id.find("area160") != std::string::npos ? 160 : 240;
  } else {
    throw Error(ErrorKind::kInvalidInput, "no known embedder produces '" + embedder_id +
                                              "' (known: faceapi-resnet34/..., irv1-.../box240[-area160])");
  }
  return base;
}

std::unique_ptr<Detector> make_detector(const EngineOptions& options) {
  const auto models = models_dir(options.models_dir);
  return std::make_unique<Mtcnn>(models / "mtcnn");
}

std::unique_ptr<Embedder> make_embedder(const EngineOptions& options) {
  const auto models = models_dir(options.models_dir);
  std::string kind = options.embedder;
  if (kind == "auto") kind = std::filesystem::exists(models / kVggFace2) ? "irv1" : "faceapi";
  if (kind == "irv1") return models::InceptionResnetV1::load(model_file(models, kVggFace2), options.irv1_crop_size);
  if (kind == "irv1-random") return models::InceptionResnetV1::load(model_file(models, kRandom), options.irv1_crop_size);
  if (kind == "faceapi") return models::FaceApiResNet::load(model_file(models, kFaceApi));
  throw Error(ErrorKind::kInvalidInput, "unknown embedder '" + kind + "'; choose auto, irv1, faceapi or irv1-random");
}

}  // namespace facepipe::face
