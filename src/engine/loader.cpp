#include "engine/loader.h"

#include "core/error.h"
#include "core/paths.h"
#include "engine/model_files.h"
#include "engine/mtcnn.h"
#include "models/faceapi_resnet.h"
#include "models/inception_resnet_v1.h"

namespace facepipe::engine {
namespace {

constexpr const char* kVggFace2 = model_files::irv1_vggface2;
constexpr const char* kRandom = model_files::irv1_random;
constexpr const char* kFaceApi = model_files::faceapi_manifest;

}  // namespace

EmbedderKind parse_embedder_kind(const std::string& name) {
  if (name == "auto") return EmbedderKind::kAuto;
  if (name == "irv1") return EmbedderKind::kIrv1;
  if (name == "irv1-random") return EmbedderKind::kIrv1Random;
  if (name == "faceapi") return EmbedderKind::kFaceApi;
  throw Error(ErrorKind::kInvalidInput,
              "unknown embedder '" + name + "'; choose auto, irv1, faceapi or irv1-random");
}

std::string to_string(EmbedderKind kind) {
  switch (kind) {
    case EmbedderKind::kAuto:
      return "auto";
    case EmbedderKind::kIrv1:
      return "irv1";
    case EmbedderKind::kIrv1Random:
      return "irv1-random";
    case EmbedderKind::kFaceApi:
      return "faceapi";
  }
  return "auto";
}

EngineOptions options_for_embedder_id(const std::string& embedder_id, EngineOptions base) {
  if (embedder_id.rfind("faceapi-", 0) == 0) {
    base.embedder = EmbedderKind::kFaceApi;
  } else if (embedder_id.rfind("irv1-", 0) == 0) {
    base.embedder =
        embedder_id.rfind("irv1-random", 0) == 0 ? EmbedderKind::kIrv1Random : EmbedderKind::kIrv1;
    base.irv1_crop_size = embedder_id.find("area160") != std::string::npos ? 160 : 240;
  } else {
    throw Error(ErrorKind::kInvalidInput, "no known embedder produces '" + embedder_id +
                                              "' (known: faceapi-resnet34/..., irv1-.../box240[-area160])");
  }
  return base;
}

std::unique_ptr<face::Detector> make_detector(const EngineOptions& options) {
  const auto models = models_dir(options.models_dir);
  if (options.detector_precision == nn::Precision::kInt8)
    throw Error(ErrorKind::kInvalidInput,
                "--detector-precision int8 is not offered: MTCNN's PReLU activations are signed, which "
                "the unsigned int8 activations used here cannot hold; use --detector-precision bf16 (the "
                "fast choice) or fp32");
  nn::require_supported(options.detector_precision, "--detector-precision");
  MtcnnOptions mtcnn;
  mtcnn.precision = options.detector_precision;
  return std::make_unique<Mtcnn>(models / "mtcnn", mtcnn);
}

namespace {

EmbedderKind resolve(EmbedderKind kind, const std::filesystem::path& models) {
  if (kind != EmbedderKind::kAuto) return kind;
  return std::filesystem::exists(models / kVggFace2) ? EmbedderKind::kIrv1 : EmbedderKind::kFaceApi;
}

}  // namespace

uint64_t embedder_weights_bytes(const EngineOptions& options) {
  const auto models = models_dir(options.models_dir);
  switch (resolve(options.embedder, models)) {
    case EmbedderKind::kIrv1:
      return std::filesystem::file_size(model_file(models, kVggFace2));
    case EmbedderKind::kIrv1Random:
      return std::filesystem::file_size(model_file(models, kRandom));
    case EmbedderKind::kFaceApi:
    case EmbedderKind::kAuto:
      break;
  }
  return models::FaceApiResNet::weights_bytes(model_file(models, kFaceApi));
}

std::unique_ptr<face::Embedder> make_embedder(const EngineOptions& options) {
  const auto models = models_dir(options.models_dir);
  const EmbedderKind kind = resolve(options.embedder, models);
  nn::require_supported(options.precision, "--precision");
  switch (kind) {
    case EmbedderKind::kIrv1:
      return models::InceptionResnetV1::load(model_file(models, kVggFace2), options.irv1_crop_size,
                                             options.precision);
    case EmbedderKind::kIrv1Random:
      return models::InceptionResnetV1::load(model_file(models, kRandom), options.irv1_crop_size,
                                             options.precision);
    case EmbedderKind::kFaceApi:
    case EmbedderKind::kAuto:
      break;
  }
  return models::FaceApiResNet::load(model_file(models, kFaceApi), options.precision);
}

}  // namespace facepipe::engine
