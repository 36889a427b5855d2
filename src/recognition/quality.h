// The quality gate: is a detection plausibly a real, usable face? A face answers for its frame (and is
// enrolled) only when it passes; one that fails is still listed, with the reason.
//
// Every measure comes from what both the one-process pipeline and the service's recognition stage hold:
// the detection (box, probability, five landmarks), the frame's size and the embedder's crop, so the
// gate gives the same verdict wherever a frame is answered. Each bound is a flag; how each default was
// calibrated on the bundled data is written next to it in quality.cpp.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "face/types.h"

namespace facepipe::recognition {

struct QualityBounds {
  float min_prob;         // detection probability floor for answering (MTCNN's own stage thresholds stay)
  float min_size;         // pixels: the box's shorter side
  float min_in_frame;     // fraction of the box's area inside the frame
  float min_eye_ratio;    // eye distance / box width, lower bound
  float max_eye_ratio;    // and upper bound
  float min_sharpness;    // variance of the Laplacian of the crop (grey, 128x128)
  float max_yaw;          // degrees, estimated from the five landmarks
  float max_roll;         // degrees, the eyes' line against the horizontal
  bool geometry;          // require eyes above the nose above the mouth
  QualityBounds();        // the calibrated defaults (quality.cpp)
  static QualityBounds off();  // every bound disabled: everything passes
};

struct Quality {
  float prob = 0;
  float size = 0;
  float in_frame = 0;
  bool geometry = false;  // eyes above the nose, nose above the mouth (in the face's own upright frame)
  float eye_ratio = 0;
  float sharpness = 0;
  float yaw = 0, roll = 0;  // degrees; yaw > 0: the nose points to the image's right
  float score = 0;          // in [0, 1], higher is better: ranks enrolment photos
  std::string failed;       // empty when the face passes; else the first failing measure and its bound
  bool ok() const { return failed.empty(); }
  nlohmann::json to_json() const;
};

// Pose and geometry from the five landmarks alone (roll, yaw, eye ratio, geometry).
void landmark_measures(const face::Detection& d, Quality& q);
// Variance of the Laplacian of `crop` (CV_8UC3 RGB) as grey, resized to 128x128 so that crops of every
// embedder's size compare; a flat or blurred crop gives a small value.
float sharpness(const cv::Mat& crop);

// All measures of one face, checked against `bounds`. `crop` is the embedder's crop of the face.
Quality assess_quality(const face::Detection& d, int frame_width, int frame_height, const cv::Mat& crop,
                       const QualityBounds& bounds);

}  // namespace facepipe::recognition
