// Default open-set thresholds: the Euclidean distance beyond which a face is nobody in the gallery.
// They depend on the embedder (its embedding space), so they are looked up by embedder id. How each was
// calibrated is written next to its value in thresholds.cpp.
#pragma once

#include <string>

namespace facepipe::recognition {

// Threshold for galleries made by `embedder_id` ("faceapi-resnet34/aligned150", "irv1-vggface2/box240", ...).
// Unknown embedders get 0, i.e. always-nearest (the seed's behaviour), because no threshold can be
// justified for a model nobody calibrated.
float default_threshold(const std::string& embedder_id);

}  // namespace facepipe::recognition
