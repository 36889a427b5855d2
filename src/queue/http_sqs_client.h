// Kept so code written against the old plain client still compiles: there is one SQS client now,
// queue/sqs_queue.h (plain or signed, chosen in aws::ClientConfig::signing). Include that instead.
#pragma once

#include "queue/sqs_queue.h"
