// Face embedding contract. An Embedder says how its input crop must be cut from the frame (CropSpec),
// so the detection stage can cut it and the recognition stage can embed it without knowing the model.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "face/types.h"

namespace facepipe::face {

struct CropSpec {
  enum class Method {
    kBox,      // facenet-pytorch extract_face: box (+ margin) cut from the frame, resized to size x size
               // with PIL's bilinear filter (antialiased when shrinking)
    kAligned,  // similarity transform that puts the five landmarks on a canonical template, size x size
  };
  Method method = Method::kBox;
  int size = 240;
  float margin = 0;  // pixels, kBox only (facenet semantics: margin is in the final crop's pixels)
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  // Names the model and its preprocessing, e.g. "irv1-vggface2/box240". Galleries store it and refuse
  // to match embeddings from a different one.
  virtual std::string id() const = 0;
  virtual int dim() const = 0;
  virtual CropSpec crop_spec() const = 0;
  // One embedding per crop, as the model defines it (InceptionResnetV1: L2-normalised; face-api:
  // its raw descriptor, which is what its 0.6 distance convention refers to). Each crop is CV_8UC3 RGB of crop_spec().size squared, as made
  // by extract_crop(). Runs the crops as one batch. Thread-safe.
  virtual std::vector<Embedding> embed(const std::vector<cv::Mat>& crops) = 0;
};

// Cuts the embedder input for one face out of an RGB frame (CV_8UC3), per `spec`.
cv::Mat extract_crop(const cv::Mat& rgb, const Detection& face, const CropSpec& spec);

}  // namespace facepipe::face
