#include "app/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

namespace facepipe::app {

namespace {

void stop_on(std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, on_signal = std::move(on_signal)] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {}: shutting down", sig);
    on_signal(sig);
  }).detach();
}

}  // namespace

void stop_on_signal(std::function<void()> on_signal) {
  stop_on([on_signal = std::move(on_signal)](int) { on_signal(); });
}

// Shared with the signal thread, which may run after the SignalStop is gone.
struct SignalStop::State {
  std::mutex mu;
  bool signalled = false;
  bool attached = false;  // ever
  std::function<void()> stop;
};

SignalStop::SignalStop() : state_(std::make_shared<State>()) {
  stop_on([state = state_](int sig) {
    std::lock_guard lock(state->mu);
    state->signalled = true;
    if (state->stop) {
      state->stop();
    } else if (!state->attached) {
      // Still starting (loading models, waiting for a queue endpoint that is not up): nothing to stop
      // cleanly yet, so end as the signal's default action would.
      spdlog::info("signal {} during start-up: exiting", sig);
      std::_Exit(128 + sig);
    }
  });
}

void SignalStop::attach(std::function<void()> stop) {
  std::lock_guard lock(state_->mu);
  state_->stop = std::move(stop);
  state_->attached = true;
  if (state_->signalled) state_->stop();
}

void SignalStop::detach() {
  std::lock_guard lock(state_->mu);
  state_->stop = nullptr;
}

bool SignalStop::signalled() const {
  std::lock_guard lock(state_->mu);
  return state_->signalled;
}

}  // namespace facepipe::app
