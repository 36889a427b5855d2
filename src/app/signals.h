// Ending a long-running front end (serve, workers) on SIGINT/SIGTERM.
#pragma once

#include <functional>
#include <memory>

namespace facepipe::app {

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts afterwards (call it before
// starting any), and runs `on_signal` once, on a dedicated thread, when one arrives: it may take locks and
// stop servers, which a signal handler may not.
void stop_on_signal(std::function<void()> on_signal);

// The stop block of every long-running command: constructed before any thread starts (stop_on_signal),
// it stops whatever `attach` names when a signal comes, and never one detached or destroyed since (the
// signal thread outlives this). A signal before the first attach (start-up: loading models, waiting for a
// queue endpoint) ends the process at once with 128 + the signal's number, as its default action would.
class SignalStop {
 public:
  SignalStop();
  ~SignalStop() { detach(); }
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

  void attach(std::function<void()> stop);
  void detach();
  bool signalled() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace facepipe::app
