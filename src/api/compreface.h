// The CompreFace recognition API (exadel-inc/CompreFace, docs/Rest-API-description.md), served over
// facepipe's detector, embedder and gallery so that CompreFace clients (its SDKs, Double Take, Home
// Assistant integrations) work unchanged:
//
//   POST   /api/v1/recognition/recognize            faces in an image, each with its nearest subjects
//   POST   /api/v1/recognition/faces?subject=S      add a face (the subject is created on first use) -> 201
//   GET    /api/v1/recognition/faces                list faces (page, size, subject)
//   DELETE /api/v1/recognition/faces[?subject=S]    delete a subject's faces (all faces without subject)
//   DELETE /api/v1/recognition/faces/{image_id}     delete one face
//   POST   /api/v1/recognition/faces/delete         delete faces by id (JSON array of ids)
//   GET    /api/v1/recognition/faces/{image_id}/img the stored image (empty body when there is none)
//   POST   /api/v1/recognition/faces/{image_id}/verify   similarity of an image's faces to a stored face
//   POST|GET|DELETE /api/v1/recognition/subjects, PUT|DELETE /api/v1/recognition/subjects/{subject}
//   POST   /api/v1/recognition/embeddings/recognize {"embeddings": [[...]]} against the gallery
//   POST   /api/v1/detection/detect                 faces only
//   POST   /api/v1/verification/verify              source_image's face against target_image's faces
//
// Images come as multipart parts ("file", or "source_image"/"target_image") or as JSON with the same names
// holding base64. Query: limit (0 = all, biggest faces first), prediction_count (>= 1), det_prob_threshold
// (0..1), face_plugins (comma-separated; "calculator" adds each face's embedding, unknown names are ignored:
// Double Take sends "undefined"), status (true adds execution_time and plugins_versions), detect_faces
// (false: the whole image is the face).
//
// Errors are CompreFace's {"message", "code"}: an image without a face is 400 with code 28, "No face is
// found in the given image". Similarity is CompreFace's curve (api/similarity.h) of the distance to each
// subject's nearest face, rounded to 5 decimals, best first. Each recognised face also carries facepipe's
// own open-set verdict, {"facepipe": {"name": person or "Unknown", "distance": d}}, with the threshold the
// service runs with; CompreFace clients ignore it and read a low similarity as unknown.
//
// Authentication is not done here: the transport's auth hook refuses callers before a route runs
// (auth/authorizer.h names the role each route needs).
#pragma once

#include "api/http.h"
#include "api/similarity.h"
#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "image/decode.h"
#include "service/recognition.h"

namespace facepipe::api {

struct CompreFaceOptions {
  float threshold = 0;          // facepipe's open-set threshold (the "facepipe" field), <= 0: nearest
  image::DecodeLimits limits;   // per uploaded image
  size_t max_page_size = 1000;  // GET /faces size
  size_t max_embeddings = 100;  // per /embeddings/recognize request
  size_t max_prediction_count = 100;
  // Called after each /recognize with the image and its faces (the web console's events); may be empty.
  std::function<void(const std::string& image, const std::vector<service::RecognizedFace>& faces)> on_recognize;
};

class CompreFaceApi {
 public:
  CompreFaceApi(face::Detector& detector, face::Embedder& embedder, gallery::Gallery& gallery,
                CompreFaceOptions options = {});
  // Every route above, for the transport's route table.
  const Router& router() const { return router_; }
  // Dispatches one request (404 / 405 in CompreFace's error shape for unknown paths or methods).
  // Never throws: a facepipe::Error becomes its status, anything else a 500.
  Response handle(Request request) const;

  struct Face;   // one detected face (compreface.cpp)
  struct Query;  // the validated query parameters (compreface.cpp)

 private:
  std::vector<Face> find_faces(const std::string& image, const Query& q, bool embed) const;
  Response recognize(const Request& r) const;
  Response detect(const Request& r) const;
  Response verify_images(const Request& r) const;
  Response add_face(const Request& r) const;
  Response list_faces(const Request& r) const;
  Response delete_faces(const Request& r) const;
  Response delete_face(const Request& r) const;
  Response delete_face_list(const Request& r) const;
  Response face_image(const Request& r) const;
  Response verify_face(const Request& r) const;
  Response add_subject(const Request& r) const;
  Response list_subjects(const Request& r) const;
  Response rename_subject(const Request& r) const;
  Response delete_subject(const Request& r) const;
  Response delete_subjects(const Request& r) const;
  Response recognize_embeddings(const Request& r) const;
  nlohmann::json face_json(const Face& f, const Query& q) const;
  nlohmann::json plugins_versions() const;

  face::Detector& detector_;
  face::Embedder& embedder_;
  gallery::Gallery& gallery_;
  CompreFaceOptions options_;
  SimilarityCurve curve_;
  Router router_;
};

// CompreFace's error codes (java/common/.../handler/CommonExceptionCode.java) that facepipe answers with.
namespace code {
inline constexpr int kUndefined = 0;
inline constexpr int kApiKeyNotFound = 10;  // also: unknown API key
inline constexpr int kImageNotFound = 11;
inline constexpr int kMissingHeader = 20;
inline constexpr int kBadImage = 21;
inline constexpr int kConstraintViolation = 26;
inline constexpr int kNoFaces = 28;
inline constexpr int kTooManyFaces = 31;
inline constexpr int kMissingParameter = 33;
inline constexpr int kMissingPart = 34;
inline constexpr int kIncorrectArgument = 36;
inline constexpr int kWrongEmbeddingCount = 37;
inline constexpr int kSubjectNotFound = 42;
inline constexpr int kSubjectExists = 43;
inline constexpr int kEmbeddingNotFound = 44;
}  // namespace code

// {"message", "code"} with `status`.
Response compreface_error(int status, int code, const std::string& message);

}  // namespace facepipe::api
