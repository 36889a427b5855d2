#include "service/uploader.h"

#include <cstdio>

#include <httplib.h>

#include "aws/client.h"

namespace facepipe::service {

Uploader::Uploader(const std::string& base, int in_flight, const std::string& s3_bucket) {
  for (int i = 0; i < in_flight; ++i)
    threads_.emplace_back(
        [this, base, s3_bucket] { s3_bucket.empty() ? http_sender(base) : s3_sender(s3_bucket); });
}

void Uploader::submit(std::string path, std::string body, std::string content_type, std::string label,
                      size_t max_queued) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return jobs_.size() < max_queued; });
  jobs_.push_back({std::move(path), std::move(body), std::move(content_type), std::move(label)});
  cv_.notify_all();
}

void Uploader::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

// The next job, or false once finish() was called and nothing is left.
bool Uploader::next(Job& job) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_ || !jobs_.empty(); });
  if (jobs_.empty()) return false;
  job = std::move(jobs_.front());
  jobs_.pop_front();
  cv_.notify_all();
  return true;
}

void Uploader::report_failure(const Job& job, const std::string& why) {
  ++failed_;
  std::fprintf(stderr, "\ncamera: %s -> %s\n", job.label.c_str(), why.c_str());
}

void Uploader::http_sender(const std::string& base) {
  httplib::Client client(base);
  client.set_connection_timeout(5);
  client.set_read_timeout(60);
  client.set_keep_alive(true);
  for (Job job; next(job);) {
    auto res = client.Post(job.path, job.body, job.content_type);
    if (res && res->status / 100 == 2)
      ++ok_;
    else
      report_failure(job,
                     res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error()));
  }
}

void Uploader::s3_sender(const std::string& bucket) {
  try {
    const aws::S3Client s3;  // credentials, region and AWS_ENDPOINT_URL from the environment
    for (Job job; next(job);) {
      try {
        s3.put_object(bucket, job.path, job.body, job.content_type);
        ++ok_;
      } catch (const std::exception& e) {
        report_failure(job, "s3://" + bucket + "/" + job.path + ": " + e.what());
      }
    }
  } catch (const std::exception& e) {  // no credentials: every upload fails with the reason
    for (Job job; next(job);) report_failure(job, e.what());
  }
}

}  // namespace facepipe::service
