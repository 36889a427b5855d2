// A real mosquitto broker (Debian's `mosquitto`) on a free loopback port, and a libmosquitto subscriber
// that records what it receives, for the MQTT sink's tests. The broker can be stopped and started again on
// the same port (a broker restart, without persistence: retained messages are gone after it).
#pragma once

#include <mosquitto.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testutil/moto_server.h"  // free_port, on_path

namespace facepipe::testing {

class MosquittoBroker {
 public:
  // `listener_extra`: lines for the listener (e.g. TLS: cafile, certfile, keyfile).
  explicit MosquittoBroker(const std::filesystem::path& dir, const std::string& listener_extra = "")
      : dir_(dir), port_(free_port()) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                           << listener_extra << "allow_anonymous true\npersistence false\n"
                                           << "log_dest file " << (dir_ / "mosquitto.log").string() << "\n"
                                           << "log_type all\n"
                                           // As root it would switch to the user "mosquitto", who cannot
                                           // write into this test's folder.
                                           << "user " << ::getpwuid(::geteuid())->pw_name << "\n";
  }
  ~MosquittoBroker() { stop(); }

  // Starts the broker; false when it did not accept connections within 10 s.
  bool start() {
    pid_ = fork();
    if (pid_ == 0) {
      execlp("mosquitto", "mosquitto", "-c", (dir_ / "mosquitto.conf").c_str(), nullptr);
      _exit(127);
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      if (accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  void stop(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url(const std::string& tail = "") const {
    return "mqtt://127.0.0.1:" + std::to_string(port_) + tail;
  }

 private:
  bool accepts() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = -1;
};

// Subscribes to `filter` and keeps every message (topic, payload, retained flag).
class MqttSubscriber {
 public:
  struct Message {
    std::string topic, payload;
    bool retained = false;
  };

  MqttSubscriber(int port, const std::string& filter) : filter_(filter) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* self, int rc) {
      if (rc == 0) mosquitto_subscribe(m, nullptr, static_cast<MqttSubscriber*>(self)->filter_.c_str(), 1);
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
      auto* s = static_cast<MqttSubscriber*>(self);
      std::lock_guard lock(s->mu_);
      s->subscribed_ = true;
      s->cv_.notify_all();
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message* m) {
      auto* s = static_cast<MqttSubscriber*>(self);
      std::lock_guard lock(s->mu_);
      s->messages_.push_back(
          {m->topic, std::string(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen)),
           m->retain});
      s->cv_.notify_all();
    });
    mosquitto_connect(mosq_, "127.0.0.1", port, 30);
    mosquitto_loop_start(mosq_);
  }
  ~MqttSubscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    mosquitto_destroy(mosq_);
  }
  bool wait_subscribed(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return subscribed_; });
  }
  // Waits until `done(messages)` holds (checked on each new message, without the lock held, so that it may
  // call messages() and on()); false on timeout.
  bool wait_for(const std::function<bool(const std::vector<Message>&)>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      size_t seen = 0;
      {
        std::lock_guard lock(mu_);
        seen = messages_.size();
      }
      if (done(messages())) return true;
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, end, [&] { return messages_.size() != seen; })) return false;
    }
  }
  std::vector<Message> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // The messages on one topic, oldest first.
  std::vector<Message> on(const std::string& topic) {
    std::vector<Message> out;
    for (auto& m : messages())
      if (m.topic == topic) out.push_back(m);
    return out;
  }

 private:
  std::string filter_;
  mosquitto* mosq_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool subscribed_ = false;
  std::vector<Message> messages_;
};

}  // namespace facepipe::testing
