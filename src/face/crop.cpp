#include <algorithm>

#include "core/error.h"
#include "face/align.h"
#include "face/embedder.h"
#include "image/pil_resize.h"

namespace facepipe::face {

cv::Mat extract_crop(const cv::Mat& rgb, const Detection& face, const CropSpec& spec) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error(ErrorKind::kInvalidInput, "extract_crop needs an RGB image");
  if (spec.method == CropSpec::Method::kAligned) return align_face(rgb, face.landmarks, spec.size);
  // facenet-pytorch extract_face: the margin is given in pixels of the final crop, so it is scaled back
  // to frame pixels; the box is clipped to the frame and truncated to integers; PIL crops and resizes.
  const Box& b = face.box;
  const float mx = spec.margin * (b.x2 - b.x1) / (spec.size - spec.margin);
  const float my = spec.margin * (b.y2 - b.y1) / (spec.size - spec.margin);
  const int x1 = static_cast<int>(std::max(b.x1 - mx / 2, 0.f));
  const int y1 = static_cast<int>(std::max(b.y1 - my / 2, 0.f));
  const int x2 = static_cast<int>(std::min(b.x2 + mx / 2, static_cast<float>(rgb.cols)));
  const int y2 = static_cast<int>(std::min(b.y2 + my / 2, static_cast<float>(rgb.rows)));
  if (x2 <= x1 || y2 <= y1) throw Error(ErrorKind::kInvalidInput, "face box lies outside the image");
  return image::pil_resize_bilinear(rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1)), spec.size, spec.size);
}

}  // namespace facepipe::face
