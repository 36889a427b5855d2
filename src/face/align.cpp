#include "face/align.h"

#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace facepipe::face {
namespace {

// Where the five MTCNN landmarks sit in a 150x150 chip as dlib frames it for its ResNet face
// descriptor (get_face_chip_details with padding 0.25): dlib's mean face shape, eye centres taken as
// the mean of the six points around each eye, chip coordinate = (v + 0.25) / 1.5 * size.
constexpr std::array<Point, 5> kTemplate150 = {{{47.54f, 46.60f},     // left eye (image left)
                                                 {100.48f, 46.60f},   // right eye
                                                 {74.01f, 76.56f},    // nose tip
                                                 {50.41f, 103.02f},   // left mouth corner
                                                 {97.61f, 103.02f}}};  // right mouth corner

}  // namespace

cv::Mat align_face(const cv::Mat& rgb, const std::array<Point, 5>& landmarks, int size) {
  if (rgb.empty() || rgb.type() != CV_8UC3 || size <= 0)
    throw Error(ErrorKind::kInvalidInput, "align_face needs an RGB image and a positive size");
  // Least-squares similarity (x' = a x - b y + tx, y' = b x + a y + ty) from landmarks to the template,
  // in closed form on centred points. Hand-written: OpenCV's estimator lives in calib3d, a module
  // facepipe does not otherwise need, for what is a dozen lines here.
  const float s = static_cast<float>(size) / 150.f;
  double mx = 0, my = 0, tx = 0, ty = 0;
  for (int i = 0; i < 5; ++i) {
    mx += landmarks[i].x / 5.0;
    my += landmarks[i].y / 5.0;
    tx += kTemplate150[i].x * s / 5.0;
    ty += kTemplate150[i].y * s / 5.0;
  }
  double num_a = 0, num_b = 0, den = 0;
  for (int i = 0; i < 5; ++i) {
    const double x = landmarks[i].x - mx, y = landmarks[i].y - my;
    const double u = kTemplate150[i].x * s - tx, v = kTemplate150[i].y * s - ty;
    num_a += x * u + y * v;
    num_b += x * v - y * u;
    den += x * x + y * y;
  }
  if (den < 1e-6) throw Error(ErrorKind::kInvalidInput, "degenerate landmarks (all in one point)");
  const double a = num_a / den, b = num_b / den;
  const cv::Matx23d m(a, -b, tx - (a * mx - b * my), b, a, ty - (b * mx + a * my));
  cv::Mat out;
  cv::warpAffine(rgb, out, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

}  // namespace facepipe::face
