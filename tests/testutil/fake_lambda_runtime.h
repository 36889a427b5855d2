// A stand-in for the AWS Lambda Runtime API (the service side of runtimes-api.html), for tests and the
// cold-start benchmark: it queues invocations, hands them to `facepipe lambda` on GET .../next with the
// Lambda-Runtime-* headers, and collects the function's response or error.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace facepipe::testing {

class FakeLambdaRuntime {
 public:
  struct Outcome {
    bool ok = false;
    std::string body;        // the response, or the error JSON
    std::string error_type;  // Lambda-Runtime-Function-Error-Type of an error
  };

  FakeLambdaRuntime() {
    const std::string base = "/2018-06-01/runtime";
    server_.Get(base + "/invocation/next", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mu_);
      if (!first_next_) first_next_ = std::chrono::steady_clock::now();
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) {
        res.status = 503;
        return;
      }
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      res.set_header("Lambda-Runtime-Aws-Request-Id", p.id);
      res.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(p.deadline_ms));
      res.set_header("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:123456789012:function:test");
      res.set_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000");
      res.set_content(p.event, "application/json");
      in_flight_.emplace(p.id, std::move(p.promise));
    });
    server_.Post(R"(/2018-06-01/runtime/invocation/([^/]+)/(response|error))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   std::lock_guard lock(mu_);
                   auto it = in_flight_.find(req.matches[1]);
                   if (it == in_flight_.end()) {
                     res.status = 400;
                     res.set_content(R"({"errorType":"InvalidRequestID"})", "application/json");
                     return;
                   }
                   Outcome o;
                   o.ok = req.matches[2] == "response";
                   o.body = req.body;
                   o.error_type = req.get_header_value("Lambda-Runtime-Function-Error-Type");
                   it->second.set_value(o);
                   in_flight_.erase(it);
                   res.status = 202;
                 });
    server_.Post(base + "/init/error", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      init_error_ = req.body;
      res.status = 202;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeLambdaRuntime() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }

  // What AWS_LAMBDA_RUNTIME_API holds: host:port.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Queues an invocation; `deadline_ms` = ms since the epoch (0: now + 60 s).
  std::future<Outcome> invoke(const std::string& event, int64_t deadline_ms = 0) {
    if (deadline_ms == 0) deadline_ms = epoch_ms() + 60000;
    Pending p{"req-" + std::to_string(++counter_), event, deadline_ms, {}};
    auto f = p.promise.get_future();
    {
      std::lock_guard lock(mu_);
      pending_.push_back(std::move(p));
    }
    cv_.notify_all();
    return f;
  }

  // Waits up to `limit` for the answer; nullopt on timeout.
  std::optional<Outcome> invoke_and_wait(const std::string& event,
                                         std::chrono::seconds limit = std::chrono::seconds(120),
                                         int64_t deadline_ms = 0) {
    auto f = invoke(event, deadline_ms);
    if (f.wait_for(limit) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

  std::optional<std::string> init_error() {
    std::lock_guard lock(mu_);
    return init_error_;
  }
  // When the function first asked for work (its init is done).
  std::optional<std::chrono::steady_clock::time_point> first_next() {
    std::lock_guard lock(mu_);
    return first_next_;
  }

  static int64_t epoch_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  struct Pending {
    std::string id, event;
    int64_t deadline_ms;
    std::promise<Outcome> promise;
  };
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Pending> pending_;
  std::map<std::string, std::promise<Outcome>> in_flight_;
  std::optional<std::string> init_error_;
  std::optional<std::chrono::steady_clock::time_point> first_next_;
  std::atomic<int> counter_{0};
};

}  // namespace facepipe::testing
