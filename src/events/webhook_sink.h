// Events as HTTP POSTs of their JSON to a receiver (Home Assistant webhooks, Node-RED, n8n, a script).
//
// URL:  webhook+http://[USER:PASSWORD@]HOST[:PORT]/PATH[?QUERY][#OPTION=VALUE&...]
//       webhook+https://... the same over TLS (the system's CAs)
// The "webhook+" prefix tells a receiver apart from an SQS queue URL (plain http(s)://, the queue sink).
// Everything before '#' is the receiver's URL, sent as is; the fragment (never sent) holds the options:
//   retries (attempts after the first, 0..20, default 5), timeout (s per attempt, 1..300, default 10),
//   backoff_ms (the first pause, 10..60000, default 500), backoff_max (s, the pause's cap, 1..3600, 30).
// Each POST has Content-Type: application/json, X-Facepipe-Event: <type>, and Idempotency-Key (the same
// on every retry of one event, so a receiver can drop duplicates). With $FACEPIPE_WEBHOOK_SECRET set,
// X-Facepipe-Signature: sha256=<hex HMAC-SHA256 of the body with that secret>.
//
// publish returns when the receiver answered 2xx. Connection errors, timeouts, 408, 425, 429 and 5xx are
// retried after capped exponential pauses (Retry-After is honoured up to the cap); then publish throws
// Error(kUnavailable). Any other answer (3xx are not followed, 4xx) throws Error(kInvalidInput) at once:
// retrying would not help. publish is synchronous and one at a time: wrap the sink in a FanOut (as `watch`
// does) so that a slow receiver never holds up a camera; FanOut's destructor interrupts a delivery.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "events/fanout.h"
#include "events/sink.h"

namespace facepipe::events {

struct WebhookConfig {
  std::string url;  // the receiver's, without "webhook+" and the fragment
  int retries = 5;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds backoff_max{30000};
  std::string secret;  // from $FACEPIPE_WEBHOOK_SECRET
};

// Error(kInvalidInput) naming the valid form for anything else.
WebhookConfig parse_webhook_url(const std::string& url);

class WebhookSink : public EventSink, public Interruptible {
 public:
  explicit WebhookSink(WebhookConfig config);
  ~WebhookSink() override;
  void publish(const nlohmann::json& event) override;
  void interrupt() override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace facepipe::events
