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

}  // namespace facepipe::recognition
