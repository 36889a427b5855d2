#include "service/workload.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "queue/http_sqs_client.h"
#include "queue/queue.h"
#include "service/base64.h"

namespace facepipe::service {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

bool is_image(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::min<double>(v.size() - 1, std::ceil(q * v.size()) - 1));
  return v[i];
}

}  // namespace

std::vector<WorkloadItem> load_workload(const fs::path& dir, const std::string& labels_csv) {
  if (!fs::is_directory(dir))
    throw Error(ErrorKind::kNotFound, "images folder '" + dir.string() + "' does not exist");
  std::vector<WorkloadItem> items;
  if (!labels_csv.empty()) {
    std::ifstream in(labels_csv);
    if (!in) throw Error(ErrorKind::kNotFound, "cannot read labels '" + labels_csv + "'");
    std::string line;
    std::getline(in, line);  // header: Image,Results
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto comma = line.find(',');
      if (comma == std::string::npos)
        throw Error(ErrorKind::kInvalidInput,
                    "labels '" + labels_csv + "': line '" + line + "' is not Image,Name");
      fs::path image = dir / line.substr(0, comma);
      if (!fs::exists(image))
        for (const char* ext : {".jpg", ".jpeg", ".png"})
          if (fs::exists(dir / (line.substr(0, comma) + ext))) image = dir / (line.substr(0, comma) + ext);
      if (!fs::exists(image))
        throw Error(ErrorKind::kNotFound, "labels name '" + image.string() + "', which is missing");
      items.push_back({image, line.substr(comma + 1)});
    }
  } else {
    std::vector<fs::path> people;
    for (auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) people.push_back(e.path());
    std::sort(people.begin(), people.end());
    for (auto& person : people) {
      std::vector<fs::path> images;
      for (auto& e : fs::directory_iterator(person))
        if (e.is_regular_file() && is_image(e.path())) images.push_back(e.path());
      std::sort(images.begin(), images.end());
      for (auto& i : images) items.push_back({i, person.filename().string()});
    }
  }
  if (items.empty())
    throw Error(ErrorKind::kNotFound,
                "no frames under '" + dir.string() +
                    "': give --labels CSV or a folder per person with .jpg/.png inside");
  return items;
}

WorkloadReport run_workload(const std::vector<WorkloadItem>& items, const WorkloadOptions& o) {
  if (items.empty()) throw Error(ErrorKind::kInvalidInput, "the workload has no frames");
  if (o.concurrency < 1) throw Error(ErrorKind::kInvalidInput, "--concurrency must be at least 1");
  auto responses = queue::open_queue_url(o.queue_url);

  std::string run_id = o.run_id;
  if (run_id.empty()) run_id = fmt::format("wl{:08x}", std::random_device{}());
  const int total = o.requests > 0 ? o.requests : static_cast<int>(items.size());

  struct Pending {
    bool done = false;
    std::string result;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Pending> pending;
  std::atomic<bool> stop{false};
  std::vector<std::string> errors, mismatches;

  // One poller drains the response queue and wakes the sender waiting for each id.
  std::thread poller([&] {
    while (!stop.load()) {
      std::vector<queue::Message> got;
      try {
        got = responses->receive({.max_messages = 10, .wait = std::chrono::seconds(1)});
      } catch (const std::exception& e) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      for (auto& m : got) {
        json r = json::parse(m.body, nullptr, false);
        std::string id = r.is_object() && r.contains("request_id") && r["request_id"].is_string()
                             ? r["request_id"].get<std::string>()
                             : "";
        bool ours = false;
        {
          std::lock_guard lock(mu);
          auto it = pending.find(id);
          if (it != pending.end()) {
            ours = true;
            if (!it->second.done) {
              it->second.done = true;
              it->second.result = r.value("result", "");
            }
          }
        }
        if (ours) {
          cv.notify_all();
          try {
            responses->remove(m.receipt_handle);
          } catch (const std::exception&) {
          }
        }
      }
    }
  });

  std::atomic<int> next{0}, done_count{0}, completed{0}, failed{0}, correct{0}, wrong{0};
  std::vector<double> latencies;
  auto start = Clock::now();
  auto fail = [&](const std::string& why) {
    failed++;
    std::lock_guard lock(mu);
    if (errors.size() < 10) errors.push_back(why);
  };
  std::vector<std::thread> senders;
  senders.reserve(static_cast<size_t>(o.concurrency));
  for (int c = 0; c < o.concurrency; ++c) {
    senders.emplace_back([&] {
      std::string path = "/";
      auto scheme = o.url.find("://");
      auto slash = o.url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
      if (slash != std::string::npos) path = o.url.substr(slash);
      httplib::Client client(o.url.substr(0, slash));  // httplib wants scheme://host:port only
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_connection_timeout(5);
      client.set_read_timeout(60);
      client.set_write_timeout(60);
      while (true) {
        int i = next.fetch_add(1);
        if (i >= total) return;
        std::this_thread::sleep_until(start + o.interval * i);
        const auto& item = items[i % items.size()];
        std::string id = fmt::format("{}-{:06d}", run_id, i);
        {
          std::lock_guard lock(mu);
          pending[id] = {};
        }
        auto sent = Clock::now();
        try {
          json body = {{"request_id", id},
                       {"filename", item.image.filename().string()},
                       {"content", base64_encode(read_file(item.image, "frame"))}};
          auto res = client.Post(path, body.dump(), "application/json");
          if (!res) {
            fail(id + ": POST failed: " + httplib::to_string(res.error()));
          } else if (res->status != 200) {
            fail(id + ": HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200));
          } else {
            std::unique_lock lock(mu);
            bool answered = cv.wait_until(lock, sent + o.timeout, [&] { return pending[id].done; });
            if (answered) {
              double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
              latencies.push_back(ms);
              std::string result = pending[id].result;
              lock.unlock();
              completed++;
              if (item.expected.empty() || result == item.expected) {
                correct++;
              } else {
                wrong++;
                std::lock_guard<std::mutex> guard(mu);
                if (mismatches.size() < 20)
                  mismatches.push_back(fmt::format("{} {}: expected {}, got {}", id,
                                                   item.image.filename().string(), item.expected, result));
              }
            } else {
              lock.unlock();
              fail(id + ": no response within " + std::to_string(o.timeout.count()) + " s");
            }
          }
        } catch (const std::exception& e) {
          fail(id + ": " + e.what());
        }
        int d = ++done_count;
        if (o.progress) o.progress(d, total);
      }
    });
  }
  for (auto& t : senders) t.join();
  stop = true;
  poller.join();

  WorkloadReport r;
  r.requests = total;
  r.completed = completed;
  r.failed = failed;
  r.correct = correct;
  r.wrong = wrong;
  r.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  r.throughput = r.duration_s > 0 ? r.completed / r.duration_s : 0;
  if (!latencies.empty()) {
    double sum = 0;
    for (double l : latencies) sum += l;
    r.avg_ms = sum / latencies.size();
    r.p50_ms = percentile(latencies, 0.50);
    r.p95_ms = percentile(latencies, 0.95);
    r.p99_ms = percentile(latencies, 0.99);
    r.max_ms = *std::max_element(latencies.begin(), latencies.end());
  }
  r.errors = errors;
  r.mismatches = mismatches;
  return r;
}

json WorkloadReport::to_json() const {
  return {
      {"requests", requests},
      {"completed", completed},
      {"failed", failed},
      {"correct", correct},
      {"wrong", wrong},
      {"duration_s", duration_s},
      {"throughput_rps", throughput},
      {"latency_ms", {{"avg", avg_ms}, {"p50", p50_ms}, {"p95", p95_ms}, {"p99", p99_ms}, {"max", max_ms}}},
      {"errors", errors},
      {"mismatches", mismatches}};
}

std::string WorkloadReport::to_text() const {
  std::string s = fmt::format(
      "Total number of requests: {}\n"
      "Total number of requests completed successfully: {}\n"
      "Total number of failed requests: {}\n"
      "Total number of correct predictions : {}\n"
      "Total number of wrong predictions: {}\n"
      "Total test duration: {:.3f} (seconds)\n"
      "Throughput: {:.2f} requests/s\n"
      "Latency (ms): avg {:.1f}  p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}\n",
      requests, completed, failed, correct, wrong, duration_s, throughput, avg_ms, p50_ms, p95_ms, p99_ms,
      max_ms);
  for (auto& e : errors) s += "  failure: " + e + "\n";
  for (auto& m : mismatches) s += "  wrong: " + m + "\n";
  return s;
}

}  // namespace facepipe::service
