#include "api/similarity.h"

#include <cmath>

namespace facepipe::api {
namespace {

// CompreFace, embedding-calculator/src/services/facescan/plugins/facenet/facenet.py: the coefficients it
// ships for the FaceNet model 20180402-114759 (InceptionResnetV1 trained on VGGFace2).
constexpr double kFacenetC0 = 1.1817961;
constexpr double kFacenetC1 = 5.291995557;

// For an embedder calibrated at distance threshold t (facepipe's open-set threshold, see
// recognition/thresholds.cpp): c0 = t, so similarity 0.5 falls exactly where facepipe starts saying
// Unknown, and c1 = kFacenetC0 * kFacenetC1 / t, which keeps CompreFace's curve shape in units of the
// threshold (similarity at d = k * t is the same as FaceNet's at d = k * kFacenetC0). For the face-api
// descriptor (t = 0.5) that gives c1 = 12.5: its largest same-person distance on the bundled frames, 0.38,
// scores 0.95 and its nearest stranger, 0.59, scores 0.095, so Double Take's default 60 % match and 40 %
// unknown cut-offs fall where facepipe's own threshold does.
SimilarityCurve around_threshold(double t) { return {t, kFacenetC0 * kFacenetC1 / t}; }

}  // namespace

double SimilarityCurve::operator()(double distance) const {
  return (std::tanh((c0 - distance) * c1) + 1) / 2;
}

SimilarityCurve similarity_curve(const std::string& embedder_id, float threshold) {
  if (embedder_id.rfind("irv1-vggface2/", 0) == 0) return {kFacenetC0, kFacenetC1};
  if (embedder_id.rfind("faceapi-resnet34/", 0) == 0)
    return around_threshold(threshold > 0 ? threshold : 0.5);
  if (threshold > 0) return around_threshold(threshold);
  return {kFacenetC0, kFacenetC1};
}

double round5(double v) { return std::round(v * 100000.0) / 100000.0; }

}  // namespace facepipe::api
