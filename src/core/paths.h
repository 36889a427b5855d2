// Where facepipe finds its models and data.
//
// One models directory holds every weight file, laid out as in ../shared/models:
//   mtcnn/{pnet,rnet,onet}.pt
//   inception_resnet_v1/20180402-114759-vggface2.pt   (real VGGFace2 weights, when the user has them)
//   inception_resnet_v1/random-seed0-legacy.pt        (random weights, parity tests only)
//   faceapi/face_recognition_model-weights_manifest.json + .bin
// It is chosen by, in order: an explicit --models-dir flag, $FACEPIPE_MODELS, ../shared/models or
// ./shared/models relative to the working directory, then the install prefix's share/facepipe/models.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace facepipe {

// Resolves the models directory. `flag` is the --models-dir value (empty when not given).
// Throws Error(kNotFound) naming every place it looked and how to set it, when none exists.
std::filesystem::path models_dir(const std::string& flag = "");

// A file inside the models directory; throws Error(kNotFound) with a hint when it is missing.
std::filesystem::path model_file(const std::filesystem::path& models, const std::string& relative);

// The shared data directory (../shared by default, $FACEPIPE_SHARED to override), if present.
std::optional<std::filesystem::path> shared_dir();

}  // namespace facepipe
