// Process metrics in the Prometheus text format: counters and latency histograms with labels.
//
// Written by hand (a few dozen lines) because Debian 12 packages no Prometheus C++ client. Thread-safe;
// every stage (HTTP, detection, recognition, queues) records into the one registry `serve` exposes at
// GET /metrics.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace facepipe::service {

// Every metric name the service records, declared once (the label sets are written at the call sites).
namespace metric {
inline constexpr const char* kStageSeconds =
    "facepipe_stage_seconds";  // histogram, stage="decode|detect|..."
inline constexpr const char* kEndToEndSeconds = "facepipe_end_to_end_seconds";  // accepted -> answered
inline constexpr const char* kFramesAccepted = "facepipe_frames_accepted_total";
inline constexpr const char* kFramesRefused = "facepipe_frames_refused_total";
inline constexpr const char* kMessagesFailed = "facepipe_messages_failed_total";
inline constexpr const char* kResponses = "facepipe_responses_total";
inline constexpr const char* kBatches = "facepipe_batches_total";
inline constexpr const char* kQueueMessages = "facepipe_queue_messages";  // gauge, queue=, state=
inline constexpr const char* kHttpRequests = "facepipe_http_requests_total";
inline constexpr const char* kHttpRequestSeconds = "facepipe_http_request_seconds";
inline constexpr const char* kSqsRequests = "facepipe_sqs_requests_total";
inline constexpr const char* kHttpRefused = "facepipe_http_refused_total";  // reason= (limits, 413/429/503)
inline constexpr const char* kHttpConnections = "facepipe_http_connections";              // gauge
inline constexpr const char* kHttpBodyBytesInFlight = "facepipe_http_body_bytes_in_flight";  // gauge
// The engine pool (service/engine_pool.h), gauges unless named _total.
inline constexpr const char* kEnginePixelsInFlight = "facepipe_engine_pixels_in_flight";
inline constexpr const char* kEnginePixelBudget = "facepipe_engine_pixel_budget";
inline constexpr const char* kEngineBytesInFlight = "facepipe_engine_bytes_in_flight";
inline constexpr const char* kEngineByteBudget = "facepipe_engine_byte_budget";
inline constexpr const char* kEnginePeakPixels = "facepipe_engine_peak_pixels";
inline constexpr const char* kEnginePeakBytes = "facepipe_engine_peak_bytes";
inline constexpr const char* kEngineJobs = "facepipe_engine_jobs";              // state="queued|running"
inline constexpr const char* kEngineRefused = "facepipe_engine_refused_total";  // the pool's 503s
}  // namespace metric

// For collectors: "# TYPE name type\n", then one "name{labels} value\n" line per sample.
inline void append_metric_type(std::string& out, const std::string& name, const char* type) {
  out += "# TYPE " + name + " " + type + "\n";
}
inline void append_metric_sample(std::string& out, const std::string& name, const std::string& labels,
                                 const std::string& value) {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
}

class Metrics {
 public:
  // `labels` is the Prometheus label set without braces, e.g. `stage="detect"`; "" for none.
  void inc(const std::string& name, const std::string& labels = "", double by = 1);
  // One observation in seconds into a latency histogram (buckets 1 ms .. 10 s).
  void observe(const std::string& name, const std::string& labels, double seconds);
  // Gauges computed at scrape time (queue depths): the callback appends `name{labels} value` lines.
  void add_collector(std::function<void(std::string& out)> collector);
  std::string render() const;
  // Sum of a counter over all label sets (tests, logs).
  double counter(const std::string& name) const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

}  // namespace facepipe::service
