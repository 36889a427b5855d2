// What a request queue's crops are cut for, said once by the detector and checked by each recognizer, so a
// detector and a recognizer whose galleries name different embedders fail at start-up instead of as client
// timeouts. The promise is a tag of the request queue (SQS TagQueue), "facepipe:crops" = "box-240-0"
// (method-size-margin), written by every process that detects onto the queue and read by every process
// that recognizes from it. The tag is the newest detector's: a detector restarted with another embedder
// rewrites it.
#pragma once

#include <optional>
#include <string>

#include "face/embedder.h"
#include "queue/queue.h"

namespace facepipe::service {

inline constexpr char kCropTag[] = "facepipe:crops";

// "box-240-0", "aligned-112-0": the crop's method, size and margin (pixels, rounded).
std::string describe_crops(const face::CropSpec& spec);

// Tags `requests` with `spec`. An endpoint that refuses tags (an IAM role without sqs:TagQueue, an old
// SQS-compatible server) is logged as a warning and skipped: the recognizer then cannot check at start-up,
// and mismatched messages still go to the dead-letter queue at once (service/recognition.h).
void announce_crops(queue::Queue& requests, const face::CropSpec& spec);

// The crops the queue's detector announced, or nullopt when none did (or the endpoint cannot say).
std::optional<std::string> announced_crops(queue::Queue& requests);

// Error(kConflict) saying what to change when the queue's detector announced crops other than `spec`;
// returns quietly when they match or nothing was announced.
void check_crops(queue::Queue& requests, const face::CropSpec& spec, const std::string& embedder_id);

}  // namespace facepipe::service
