// One frame through the engine in a single process: detect -> crop -> embed (-> match). The service
// splits the same steps across a queue (detection stage cuts the crops, recognition stage embeds);
// the command line, enrolment and evaluation use this direct path.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "face/types.h"
#include "gallery/gallery.h"
#include "recognition/answer_policy.h"

namespace facepipe::recognition {

struct EmbeddedFace {
  face::Detection detection;
  face::Embedding embedding;
};

// Every face of `rgb` (CV_8UC3 RGB) in the detector's order, or only the largest one (facenet-pytorch
// `selection='largest'`, what the course pipeline recognises) when `largest_only`. No face -> empty.
// All crops of the frame go through the embedder as one batch.
std::vector<EmbeddedFace> embed_faces(face::Detector& detector, face::Embedder& embedder, const cv::Mat& rgb,
                                      bool largest_only);

struct RecognizedFace {
  face::Detection detection;
  gallery::Match match;
};

// embed_faces() followed by gallery matching with `threshold` (<= 0: always the nearest person).
std::vector<RecognizedFace> recognize(face::Detector& detector, face::Embedder& embedder,
                                      const gallery::Gallery& gallery, const cv::Mat& rgb, float threshold,
                                      bool largest_only);

// Every face of the frame recognised, its quality assessed, and the frame answered by `options.policy`
// (answer_policy.h). The detector's output is used unchanged.
FrameAnswer answer_frame(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                         const cv::Mat& rgb, float threshold, const AnswerOptions& options);

}  // namespace facepipe::recognition
