// Plain data that flows through the face pipeline: frame -> detections -> crops -> embeddings.
#pragma once

#include <array>
#include <vector>

namespace facepipe::face {

// Axis-aligned box in image pixels, facenet-pytorch convention: [x1, y1, x2, y2], floats.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return width() * height(); }
};

struct Point {
  float x = 0, y = 0;
};

// One detected face: box, face probability, and the five MTCNN landmarks in the order
// left eye, right eye, nose, left mouth corner, right mouth corner (image coordinates).
struct Detection {
  Box box;
  float prob = 0;
  std::array<Point, 5> landmarks{};
};

// A face embedding as its model defines it (face/embedder.h): 512 L2-normalised floats for
// InceptionResnetV1, 128 raw descriptor floats for the face-api net (not normalised).
using Embedding = std::vector<float>;

}  // namespace facepipe::face
