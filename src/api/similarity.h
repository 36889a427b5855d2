// Distance -> similarity as CompreFace reports it: similarity = (tanh((c0 - d) * c1) + 1) / 2, with d the
// Euclidean distance between embeddings. 0.5 falls at d = c0; c1 sets how fast it moves from 1 to 0.
#pragma once

#include <string>

namespace facepipe::api {

struct SimilarityCurve {
  double c0 = 0, c1 = 0;
  double operator()(double distance) const;
};

// The curve for galleries made by `embedder_id`:
// - InceptionResnetV1/VGGFace2 ("irv1-..."): CompreFace's published constants for FaceNet 20180402-114759
//   (the same weights), on its L2-normalised embeddings;
// - the face-api descriptor ("faceapi-..."): derived, see similarity.cpp;
// - anything else: the face-api derivation around `threshold` when > 0, else CompreFace's FaceNet curve.
SimilarityCurve similarity_curve(const std::string& embedder_id, float threshold);

// Rounded to 5 decimals, as CompreFace answers.
double round5(double v);

}  // namespace facepipe::api
