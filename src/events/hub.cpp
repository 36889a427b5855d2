#include "events/hub.h"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace facepipe::events {

using nlohmann::json;

std::vector<json> Subscription::next(std::chrono::milliseconds timeout, size_t max) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  std::vector<json> out;
  if (closed_) return out;
  while (!queue_.empty() && out.size() < max) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

void Subscription::set_notify(std::function<void()> notify) {
  std::lock_guard lock(mu_);
  notify_ = std::move(notify);
}

uint64_t Subscription::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void Subscription::close() {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

bool Subscription::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool Subscription::push(const json& event) {
  bool kept_all = true;
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    if (closed_) return true;
    if (queue_.size() >= std::max<size_t>(1, capacity_)) {
      queue_.pop_front();
      ++dropped_;
      kept_all = false;
    }
    queue_.push_back(event);
    notify = notify_;
  }
  cv_.notify_one();
  if (notify) notify();
  return kept_all;
}

Hub::Hub(HubOptions options) : options_(options) {}

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

void Hub::publish(json event) {
  if (!event.is_object()) event = json{{"type", "message"}, {"data", std::move(event)}};
  std::vector<std::shared_ptr<Subscription>> targets;
  std::vector<std::function<void(const json&)>> listeners;
  {
    std::lock_guard lock(mu_);
    event["seq"] = ++seq_;
    if (!event.contains("time")) event["time"] = iso_time_now();
    recent_.push_back(event);
    while (recent_.size() > options_.recent) recent_.pop_front();
    auto& subs = subscribers_;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const std::weak_ptr<Subscription>& w) {
                                auto s = w.lock();
                                if (!s || s->closed()) return true;
                                targets.push_back(std::move(s));
                                return false;
                              }),
               subs.end());
    listeners = listeners_;
  }
  uint64_t dropped = 0;
  for (auto& s : targets)
    if (!s->push(event)) ++dropped;
  if (dropped) {
    std::lock_guard lock(mu_);
    dropped_ += dropped;
  }
  for (auto& l : listeners) l(event);
}

std::shared_ptr<Subscription> Hub::subscribe() {
  std::lock_guard lock(mu_);
  auto& subs = subscribers_;
  subs.erase(std::remove_if(subs.begin(), subs.end(),
                            [](const std::weak_ptr<Subscription>& w) {
                              auto s = w.lock();
                              return !s || s->closed();
                            }),
             subs.end());
  if (subs.size() >= options_.max_subscribers) return nullptr;
  std::shared_ptr<Subscription> s(new Subscription(options_.queue_capacity));
  subs.push_back(s);
  return s;
}

std::vector<json> Hub::recent(size_t n) const {
  std::lock_guard lock(mu_);
  const size_t from = recent_.size() > n ? recent_.size() - n : 0;
  return {recent_.begin() + static_cast<std::ptrdiff_t>(from), recent_.end()};
}

void Hub::add_listener(std::function<void(const json&)> listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

std::vector<json> Hub::erase_recent(const std::function<bool(const json&)>& matches) {
  std::lock_guard lock(mu_);
  std::vector<json> erased;
  std::deque<json> kept;
  for (auto& e : recent_) {
    if (matches(e))
      erased.push_back(std::move(e));
    else
      kept.push_back(std::move(e));
  }
  recent_ = std::move(kept);
  return erased;
}

size_t Hub::subscribers() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& w : subscribers_)
    if (auto s = w.lock(); s && !s->closed()) ++n;
  return n;
}

uint64_t Hub::published() const {
  std::lock_guard lock(mu_);
  return seq_;
}

uint64_t Hub::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace facepipe::events
