#include "recognition/quality.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace facepipe::recognition {
namespace {

constexpr float kDegrees = 180.0f / static_cast<float>(M_PI);

}  // namespace

// Calibration (2026-12-01): MTCNN (0.6/0.7/0.7) over every bundled image with the gate off,
//   facepipe recognize --json --no-quality-gate --gallery G video_frames/*/*.jpg misc/*.jpg > a.json
//   facepipe recognize --json --no-quality-gate --gallery G face_images_1000/*.jpg > b.json
//   scripts/quality-calibration.py a.json b.json
// which prints each measure's range per group: the 63 faces of the enrolled people (video_frames, the
// largest face of each frame), 1000 small faces (face_images_1000, 64x64 images), the 7 of misc/, and
// the 9 other boxes of video_frames (a blurred face in the background of the Obama clip). Each bound sits
// outside every real face's range with room to spare, so no real face is lost; what it does catch is
// written beside it. videos/Bean.mp4 frame 37's false detection (the suit) is tests/recognition/answer_test.
QualityBounds::QualityBounds()
    // CompreFace's floor for this model family. Real faces: 0.995-1.0; the background boxes 0.71-0.92.
    : min_prob(0.85f),
      // The course's own 64x64 images hold faces of 18.4-25 px (shorter side): they must stay answerable.
      min_size(16.0f),
      // Half the box outside the frame leaves too little face to recognise; every bundled face is inside.
      min_in_frame(0.5f),
      // Eye distance / box width: 0.41-0.51 for every bundled face (0.42-0.44 for the background ones).
      // A head turned by 50 degrees still gives about 0.3.
      min_eye_ratio(0.25f),
      max_eye_ratio(0.7f),
      // Variance of the Laplacian (grey, 128x128): video_frames 49-466, misc 126-292, face_images_1000
      // (small images blown up) 8.4-22; the blurred background faces of the Obama clip 2.3-2.4.
      min_sharpness(5.0f),
      // Pose: the largest |yaw| of a bundled face is 37 degrees (face_images_1000; video_frames 18), the
      // largest |roll| 11.5 degrees. Farther turned faces match their own person poorly.
      max_yaw(50.0f),
      max_roll(30.0f),
      // Every bundled face has its landmarks in a face's order.
      geometry(true) {}

QualityBounds QualityBounds::off() {
  QualityBounds b;
  b.min_prob = 0;
  b.min_size = 0;
  b.min_in_frame = 0;
  b.min_eye_ratio = 0;
  b.max_eye_ratio = 1e9f;
  b.min_sharpness = 0;
  b.max_yaw = 1e9f;
  b.max_roll = 1e9f;
  b.geometry = false;
  return b;
}

nlohmann::json Quality::to_json() const {
  nlohmann::json j = {{"ok", ok()},
                      {"score", score},
                      {"size", size},
                      {"in_frame", in_frame},
                      {"geometry", geometry},
                      {"eye_ratio", eye_ratio},
                      {"sharpness", sharpness},
                      {"yaw", yaw},
                      {"roll", roll}};
  if (!ok()) j["failed"] = failed;
  return j;
}

void landmark_measures(const face::Detection& d, Quality& q) {
  const auto& lm = d.landmarks;  // left eye, right eye, nose, left mouth, right mouth
  const float ex = lm[1].x - lm[0].x, ey = lm[1].y - lm[0].y;
  const float eye_distance = std::hypot(ex, ey);
  q.roll = std::atan2(ey, ex) * kDegrees;
  q.eye_ratio = d.box.width() > 0 ? eye_distance / d.box.width() : 0;
  // Into the face's own upright frame: origin at the eyes' midpoint, x along the eyes.
  const float cx = (lm[0].x + lm[1].x) / 2, cy = (lm[0].y + lm[1].y) / 2;
  const float c = eye_distance > 0 ? ex / eye_distance : 1, s = eye_distance > 0 ? ey / eye_distance : 0;
  auto upright = [&](const face::Point& p) {
    const float dx = p.x - cx, dy = p.y - cy;
    return face::Point{c * dx + s * dy, -s * dx + c * dy};
  };
  const face::Point nose = upright(lm[2]), mouth_l = upright(lm[3]), mouth_r = upright(lm[4]);
  // Eyes lie on y = 0 in this frame: the nose must be below them, both mouth corners below the nose.
  q.geometry = eye_distance > 0 && nose.y > 0 && mouth_l.y > nose.y && mouth_r.y > nose.y;
  // Yaw: a head turned by angle a moves the nose tip sideways by about sin(a) times half the eye distance
  // (the nose tip stands about that far in front of the eyes' plane), so a = asin(offset / half distance).
  const float half = eye_distance / 2;
  const float offset = half > 0 ? std::clamp(nose.x / half, -1.0f, 1.0f) : 1.0f;
  q.yaw = std::asin(offset) * kDegrees;
}

float sharpness(const cv::Mat& crop) {
  if (crop.empty()) return 0;
  cv::Mat grey, sized, laplacian;
  if (crop.channels() == 3)
    cv::cvtColor(crop, grey, cv::COLOR_RGB2GRAY);
  else
    grey = crop;
  if (grey.rows != 128 || grey.cols != 128)
    cv::resize(grey, sized, cv::Size(128, 128), 0, 0, grey.rows > 128 ? cv::INTER_AREA : cv::INTER_LINEAR);
  else
    sized = grey;
  cv::Laplacian(sized, laplacian, CV_32F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(laplacian, mean, stddev);
  return static_cast<float>(stddev[0] * stddev[0]);
}

Quality assess_quality(const face::Detection& d, int frame_width, int frame_height, const cv::Mat& crop,
                       const QualityBounds& b) {
  Quality q;
  q.prob = d.prob;
  q.size = std::min(d.box.width(), d.box.height());
  const float ix = std::max(0.0f, std::min(d.box.x2, float(frame_width)) - std::max(d.box.x1, 0.0f));
  const float iy = std::max(0.0f, std::min(d.box.y2, float(frame_height)) - std::max(d.box.y1, 0.0f));
  q.in_frame = d.box.area() > 0 ? std::min(1.0f, ix * iy / d.box.area()) : 0;
  landmark_measures(d, q);
  q.sharpness = sharpness(crop);

  if (q.prob < b.min_prob)
    q.failed = fmt::format("detection probability {:.3f} < {:.2f}", q.prob, b.min_prob);
  else if (q.size < b.min_size)
    q.failed = fmt::format("face {:.0f} px < {:.0f} px", q.size, b.min_size);
  else if (q.in_frame < b.min_in_frame)
    q.failed = fmt::format("only {:.0f}% of the box inside the frame (< {:.0f}%)", 100 * q.in_frame,
                           100 * b.min_in_frame);
  else if (!q.geometry && b.geometry)
    q.failed = "landmarks not in a face's order (eyes above nose above mouth)";
  else if (q.eye_ratio < b.min_eye_ratio || q.eye_ratio > b.max_eye_ratio)
    q.failed = fmt::format("eye distance {:.2f} of the box width, outside {:.2f}-{:.2f}", q.eye_ratio,
                           b.min_eye_ratio, b.max_eye_ratio);
  else if (std::abs(q.roll) > b.max_roll)
    q.failed = fmt::format("roll {:.0f} degrees > {:.0f}", std::abs(q.roll), b.max_roll);
  else if (std::abs(q.yaw) > b.max_yaw)
    q.failed = fmt::format("yaw {:.0f} degrees > {:.0f}", std::abs(q.yaw), b.max_yaw);
  else if (q.sharpness < b.min_sharpness)
    q.failed = fmt::format("sharpness {:.1f} < {:.1f} (blurred or flat)", q.sharpness, b.min_sharpness);

  // Ranking score: probability, frontality and sharpness (saturating at 100, a crisp face) together.
  const float frontal = std::cos(std::min(90.0f, std::abs(q.yaw)) / kDegrees) *
                        std::cos(std::min(90.0f, std::abs(q.roll)) / kDegrees);
  q.score = q.prob * frontal * std::min(1.0f, q.sharpness / 100.0f) * std::min(1.0f, q.size / 80.0f);
  return q;
}

}  // namespace facepipe::recognition
