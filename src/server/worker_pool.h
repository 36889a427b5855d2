// A fixed set of threads running submitted jobs in order, with a bounded queue: submit() refuses work
// rather than queueing without limit. The server runs route handlers on these, never on its I/O threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace facepipe::server {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // False when `max_queued` jobs already wait, or after shutdown().
  bool submit(std::function<void()> job);
  // Lets running jobs finish, drops queued ones, joins the threads. Idempotent.
  void shutdown();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace facepipe::server
