// The queue contract (queue/queue.h) over Amazon SQS or any SQS-compatible endpoint speaking the JSON
// protocol, with SigV4-signed requests (aws/client.h). This is how `worker --queue-endpoint
// https://sqs.<region>.amazonaws.com` and the Lambda functions reach their queues.
#pragma once

#include <memory>
#include <string>

#include "aws/client.h"
#include "queue/queue.h"

namespace facepipe::queue {

// `endpoint_url`: e.g. "https://sqs.us-east-1.amazonaws.com" or a stand-in's "http://127.0.0.1:5000".
// A queue URL (".../<account>/<name>") is accepted too: its path is dropped. Credentials and region come
// from `config` or the environment.
std::unique_ptr<QueueService> make_sqs_queue_service(const std::string& endpoint_url,
                                                     aws::ClientConfig config = {});

// One queue by its URL, without a GetQueueUrl call (a Lambda function's role may only send to it).
std::shared_ptr<Queue> open_sqs_queue_url(const std::string& queue_url, aws::ClientConfig config = {});

}  // namespace facepipe::queue
