// Bounded latency between a camera's decoder and its analysis: the decoder offers every frame it keeps
// (at --fps) and the analysis takes the latest one when it is free. A frame that is still waiting when
// the next arrives is dropped, never queued, so memory stays at one frame and the delay at one analysis.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include <opencv2/core.hpp>

namespace facepipe::stream {

struct SampledFrame {
  double t = 0;                                   // the source's frame time, seconds
  std::chrono::system_clock::time_point wall;     // when it was decoded (event times)
  std::chrono::steady_clock::time_point arrived;  // likewise, for delays
  cv::Mat rgb;
};

class LatestFrame {
 public:
  // Replaces any frame still waiting (counted as dropped).
  void offer(SampledFrame frame) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_) ++dropped_;
    pending_ = std::move(frame);
    ++offered_;
    cv_.notify_one();
  }
  // The waiting frame, or nullopt after `wait` without one (or once closed and empty).
  std::optional<SampledFrame> take(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return pending_.has_value() || closed_; });
    std::optional<SampledFrame> out = std::move(pending_);
    pending_.reset();
    return out;
  }
  // No more frames will come (the source ended or stopped).
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_ && !pending_;
  }
  int64_t dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }
  int64_t offered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return offered_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<SampledFrame> pending_;
  bool closed_ = false;
  int64_t dropped_ = 0, offered_ = 0;
};

}  // namespace facepipe::stream
