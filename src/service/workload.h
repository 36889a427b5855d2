// The workload generator (the course's client, in C++): sends frames to a face-detection function URL,
// polls the response queue for each request id, and checks the answer against the expected name.
//
// Each of `concurrency` senders takes the next frame, waits for its slot (request i starts no earlier than
// start + i * interval), POSTs {"request_id", "filename", "content"}, then waits for its response; a
// request is complete when the response queue answers its id, failed on a non-200, a send error or no
// answer within `timeout`. Latency is POST -> response received. Responses for ids this run did not send
// are left on the queue untouched.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace facepipe::service {

struct WorkloadItem {
  std::filesystem::path image;
  std::string expected;  // expected name; empty = not checked
};

// Frames and labels from either a labels CSV (`Image,Results`, course format; the image column may omit
// the extension) next to / for `images_dir`, or, when `labels_csv` is empty, a folder per person
// (`<dir>/<Person>/*.jpg`, identity = folder name). Error(kNotFound / kInvalidInput) with the reason.
std::vector<WorkloadItem> load_workload(const std::filesystem::path& images_dir,
                                        const std::string& labels_csv);

struct WorkloadOptions {
  std::string url;        // function URL
  std::string queue_url;  // response queue URL
  int requests = 0;       // 0 = every frame once; more cycles through the frames
  std::chrono::milliseconds interval{0};
  int concurrency = 1;
  std::chrono::seconds timeout{60};
  std::string run_id;  // request-id prefix; empty = random
  std::function<void(int done, int total)> progress;
};

struct WorkloadReport {
  int requests = 0, completed = 0, failed = 0, correct = 0, wrong = 0;
  double duration_s = 0, throughput = 0;
  double avg_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
  std::vector<std::string> errors;      // first few failures, for the log
  std::vector<std::string> mismatches;  // first few wrong answers: "<id> <file>: expected X, got Y"
  nlohmann::json to_json() const;
  std::string to_text() const;
};

WorkloadReport run_workload(const std::vector<WorkloadItem>& items, const WorkloadOptions& options);

// Why the run does not pass ("3 of 5 answers wrong, 1 request failed or unanswered"), or "" when every
// request was answered and every answer was right.
std::string workload_failure(const WorkloadReport& report);

}  // namespace facepipe::service
