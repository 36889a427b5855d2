#include "service/metrics.h"

#include <fmt/format.h>

namespace facepipe::service {
namespace {

const std::vector<double>& bounds() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.15,  0.25,   0.5,   1,    2.5,   5,    10};
  return b;
}

std::string braces(const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}

}  // namespace

void Metrics::inc(const std::string& name, const std::string& labels, double by) {
  std::lock_guard lock(mu_);
  counters_[name][labels] += by;
}

void Metrics::observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard lock(mu_);
  auto& h = histograms_[name][labels];
  if (h.buckets.empty()) h.buckets.assign(bounds().size(), 0);
  for (size_t i = 0; i < bounds().size(); ++i)
    if (seconds <= bounds()[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::add_collector(std::function<void(std::string& out)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

double Metrics::counter(const std::string& name) const {
  std::lock_guard lock(mu_);
  double total = 0;
  auto it = counters_.find(name);
  if (it != counters_.end())
    for (auto& [labels, v] : it->second) total += v;
  return total;
}

std::string Metrics::render() const {
  std::vector<std::function<void(std::string&)>> collectors;
  std::string out;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, series] : counters_) {
      out += "# TYPE " + name + " counter\n";
      for (auto& [labels, v] : series) out += fmt::format("{}{} {}\n", name, braces(labels), v);
    }
    for (auto& [name, series] : histograms_) {
      out += "# TYPE " + name + " histogram\n";
      for (auto& [labels, h] : series) {
        for (size_t i = 0; i < bounds().size(); ++i)
          out += fmt::format("{}_bucket{} {}\n", name, braces(labels, fmt::format("le=\"{}\"", bounds()[i])),
                             h.buckets[i]);
        out += fmt::format("{}_bucket{} {}\n", name, braces(labels, "le=\"+Inf\""), h.count);
        out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces(labels), h.sum, name, braces(labels),
                           h.count);
      }
    }
    collectors = collectors_;
  }
  // Collectors may query the queue store: run them outside the lock.
  for (auto& c : collectors) c(out);
  return out;
}

}  // namespace facepipe::service
