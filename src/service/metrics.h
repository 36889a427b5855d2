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
