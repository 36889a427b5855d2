// The device side's sender (`facepipe camera`): a small fixed pool of threads so several uploads are in
// flight at once, as the report's camera did. Uploads go to the service over HTTP (the job's target is
// the URL path, e.g. "/" or "/clips?request_id=..."), or, given an S3 bucket, straight into it as objects
// (the target is the object key): that is how the device reaches the Lambda variant.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace facepipe::service {

class Uploader {
 public:
  // `base` is the HTTP origin (http://host:port) when `s3_bucket` is empty. S3 credentials, region and
  // AWS_ENDPOINT_URL come from the environment; without credentials every upload fails with the reason.
  Uploader(const std::string& base, int in_flight, const std::string& s3_bucket = "");
  // Queues one upload, blocking while `max_queued` are already waiting (the camera keeps its pace bounded).
  void submit(std::string target, std::string body, std::string content_type, std::string label,
              size_t max_queued);
  // Sends what is queued, then stops the senders. Also run on destruction, so an error while reading the
  // sources (a corrupt recording) ends the command with its message instead of std::terminate.
  void finish();
  ~Uploader() { finish(); }
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;
  int ok() const { return ok_; }
  int failed() const { return failed_; }  // each failure is printed to stderr with its reason

 private:
  struct Job {
    std::string path, body, content_type, label;
  };
  bool next(Job& job);
  void report_failure(const Job& job, const std::string& why);
  void http_sender(const std::string& base);
  void s3_sender(const std::string& bucket);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool done_ = false;
  std::atomic<int> ok_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

}  // namespace facepipe::service
