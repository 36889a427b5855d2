// The three Lambda functions of the deployment, one container image, selected by the image CMD /
// `_HANDLER`. Each wraps a transport-free handler of the service (service/*.h) in its event format:
//   face-detection     Function URL events (payload 2.0: body, isBase64Encoded) -> {statusCode, headers,
//   body};
//                      frames go to the request queue. A direct invocation with the frame JSON as the event
//                      answers the result JSON itself.
//   face-recognition   SQS events from the request queue (Records[].body) -> {"batchItemFailures": [...]}
//                      so only failed messages come back; answers go to the response queue.
//   video-recognition  S3 ObjectCreated events -> GetObject -> clip recognition -> the response queue, with
//                      each person's record from DynamoDB (or the gallery when no table is configured).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lambda/runtime.h"
#include "recognition/answer_policy.h"

namespace facepipe::lambda {

// Everything a function reads from its environment (set by the CloudFormation template).
struct FunctionConfig {
  std::string models_dir;          // FACEPIPE_MODELS (empty: the usual resolution)
  std::string gallery;             // FACEPIPE_GALLERY, default /opt/facepipe/gallery.db
  std::string request_queue_url;   // FACEPIPE_REQUEST_QUEUE_URL
  std::string response_queue_url;  // FACEPIPE_RESPONSE_QUEUE_URL
  std::string people_table;        // FACEPIPE_PEOPLE_TABLE (DynamoDB, string hash key "name"); empty: gallery
  std::string frame_policy = "fps:2";  // FACEPIPE_FRAME_POLICY
  std::string embedder = "auto";       // FACEPIPE_EMBEDDER, when the gallery names none
  std::string precision = "fp32";      // FACEPIPE_PRECISION: the embedder's (fp32|bf16|int8, as --precision)
  std::string detector_precision = "fp32";  // FACEPIPE_DETECTOR_PRECISION: MTCNN's (as --detector-precision)
  std::optional<float> threshold;      // FACEPIPE_THRESHOLD
  recognition::AnswerOptions answer;   // FACEPIPE_ANSWER (known|largest), FACEPIPE_MIN_FACE_PROB
  static FunctionConfig from_environment();
};

const std::vector<std::string>& function_names();  // face-detection, face-recognition, video-recognition

// Loads the function's models, gallery and clients (the cold start) and returns its handler. Throws
// Error(kInvalidInput) for an unknown name or a missing setting (naming the variable to set).
Handler make_function(const std::string& name, const FunctionConfig& config);

// S3 event object keys are URL-encoded with '+' for spaces.
std::string decode_s3_key(const std::string& key);

}  // namespace facepipe::lambda
