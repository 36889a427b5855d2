#include "face/detector.h"

namespace facepipe::face {

int largest_face(const std::vector<Detection>& faces) {
  int best = -1;
  float best_area = -1;
  for (int i = 0; i < static_cast<int>(faces.size()); ++i) {
    float area = faces[i].box.area();
    if (area > best_area) {  // strict: the first of equal areas wins, as torch.argsort keeps order
      best_area = area;
      best = i;
    }
  }
  return best;
}

}  // namespace facepipe::face
