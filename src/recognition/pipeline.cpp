#include "recognition/pipeline.h"

namespace facepipe::recognition {

std::vector<EmbeddedFace> embed_faces(face::Detector& detector, face::Embedder& embedder, const cv::Mat& rgb,
                                      bool largest_only) {
  std::vector<face::Detection> faces = detector.detect(rgb);
  if (largest_only && !faces.empty()) faces = {faces[static_cast<size_t>(face::largest_face(faces))]};
  if (faces.empty()) return {};
  const face::CropSpec spec = embedder.crop_spec();
  std::vector<cv::Mat> crops;
  crops.reserve(faces.size());
  for (const auto& f : faces) crops.push_back(face::extract_crop(rgb, f, spec));
  std::vector<face::Embedding> embeddings = embedder.embed(crops);
  std::vector<EmbeddedFace> out;
  out.reserve(faces.size());
  for (size_t i = 0; i < faces.size(); ++i) out.push_back({faces[i], std::move(embeddings[i])});
  return out;
}

std::vector<RecognizedFace> recognize(face::Detector& detector, face::Embedder& embedder,
                                      const gallery::Gallery& gallery, const cv::Mat& rgb, float threshold,
                                      bool largest_only) {
  std::vector<RecognizedFace> out;
  for (auto& f : embed_faces(detector, embedder, rgb, largest_only))
    out.push_back({f.detection, gallery.match(f.embedding, threshold)});
  return out;
}

FrameAnswer answer_frame(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                         const cv::Mat& rgb, float threshold, const AnswerOptions& options) {
  const std::vector<face::Detection> detections = detector.detect(rgb);
  if (detections.empty()) return decide({}, options.policy);
  const face::CropSpec spec = embedder.crop_spec();
  std::vector<cv::Mat> crops;
  crops.reserve(detections.size());
  for (const auto& d : detections) crops.push_back(face::extract_crop(rgb, d, spec));
  const std::vector<face::Embedding> embeddings = embedder.embed(crops);
  std::vector<FaceAnswer> faces;
  faces.reserve(detections.size());
  for (size_t i = 0; i < detections.size(); ++i)
    faces.push_back({detections[i], gallery.match(embeddings[i], threshold),
                     assess_quality(detections[i], rgb.cols, rgb.rows, crops[i], options.quality), false});
  return decide(std::move(faces), options.policy);
}

}  // namespace facepipe::recognition
