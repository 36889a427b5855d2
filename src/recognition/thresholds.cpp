#include "recognition/thresholds.h"

namespace facepipe::recognition {

float default_threshold(const std::string& embedder_id) {
  // face-api descriptor: CALIBRATION PENDING
  if (embedder_id.rfind("faceapi-", 0) == 0) return 0.6f;
  return 0;
}

}  // namespace facepipe::recognition
