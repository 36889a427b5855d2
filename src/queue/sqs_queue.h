// The queue contract (queue/queue.h) over Amazon SQS or any SQS-compatible endpoint (facepipe serve, moto):
// the one SQS client. It speaks the JSON protocol through aws::JsonClient, which holds keep-alive
// connections (one per thread and host) and signs requests with SigV4 or not, as its config says
// (aws::Signing::kAuto: signed when AWS credentials are in the environment, plain otherwise, which is what
// serve's own endpoint needs). Workers, the workload, the camera and the Lambda functions all use it.
//
// Errors: QueueDoesNotExist -> Error(kNotFound) naming the queue; QueueNameExists -> kConflict; the
// caller's mistakes (other 4xx, refused batch entries with SenderFault) -> kInvalidInput; network failures,
// throttling, refused credentials and 5xx (after aws::JsonClient's retries) -> kUnavailable.
#pragma once

#include <memory>
#include <string>

#include "aws/client.h"
#include "queue/queue.h"

namespace facepipe::queue {

// `endpoint_url`: e.g. "https://sqs.us-east-1.amazonaws.com", "http://127.0.0.1:8080" (serve) or moto's
// "http://127.0.0.1:5000". A queue URL (".../<account>/<name>") is accepted too: its path is dropped. The
// region comes from `config`, else from an sqs.<region>.amazonaws.com host, else the environment.
// Error(kInvalidInput) for an https:// endpoint without credentials when signing is kAuto.
std::unique_ptr<QueueService> make_sqs_queue_service(const std::string& endpoint_url,
                                                     aws::ClientConfig config = {});

// One queue by its URL, without a GetQueueUrl call (a Lambda function's role may only send to it).
std::shared_ptr<Queue> open_sqs_queue_url(const std::string& queue_url, aws::ClientConfig config = {});

// Deprecated spellings kept for callers outside src/queue; they are the same client.
inline std::unique_ptr<QueueService> make_http_sqs_client(const std::string& endpoint) {
  return make_sqs_queue_service(endpoint);
}

}  // namespace facepipe::queue
