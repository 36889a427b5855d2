// Helpers of the stream tests: the RTSP server of tests/stream/rtsp_server.py as a child process (killed,
// stopped, continued, restarted on its port), any child process with its output in a file, and the
// event lines `watch --json` prints.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace facepipe::testing {

inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A child process (argv[0] a path), stdout to `out`, stderr to `err`. SIGKILLed when destroyed.
class Process {
 public:
  Process(std::vector<std::string> args, std::filesystem::path out, std::filesystem::path err)
      : out_(std::move(out)), err_(std::move(err)) {
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      FILE* o = fopen(out_.c_str(), "w");
      FILE* e = fopen(err_.c_str(), "w");
      dup2(fileno(o), 1);
      dup2(fileno(e), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Process() { kill_now(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Sends `sig` and waits up to `limit` for the exit; returns the exit status (-1 when it had to be killed).
  int stop(int sig = SIGTERM, std::chrono::seconds limit = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, sig);
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill_now();
    return -1;
  }
  bool alive() {
    int status = 0;
    if (pid_ <= 0) return false;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

inline int occurrences_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Polls `done` every 100 ms for up to `limit`.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// The JSON objects of a `watch --json` output, one a line; other lines are skipped.
inline std::vector<nlohmann::json> event_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("type")) out.push_back(std::move(j));
  }
  return out;
}

// The bundled clips a camera sees one after another, with empty gaps around each.
inline std::string clips(const std::vector<std::string>& people) {
  std::string list;
  for (const auto& p : people)
    list += (list.empty() ? "" : ",") + (datasets() / "videos" / (p + ".mp4")).string();
  return list;
}

// GStreamer's RTSP server (tests/stream/rtsp_server.py) serving `people`'s clips in order on `mounts`.
class RtspServer {
 public:
  // `slow` > 1 plays the clips in slow motion, so each person stays long enough for a busy machine to
  // analyse several frames of them.
  RtspServer(std::filesystem::path dir, std::vector<std::string> people, std::vector<std::string> mounts,
             double slow = 1, std::string size = "1280x720", int loops = 1, int port = 0)
      : dir_(std::move(dir)),
        people_(std::move(people)),
        mounts_(std::move(mounts)),
        size_(std::move(size)),
        loops_(loops),
        slow_(slow) {
    start(port);
  }
  // Starts it (again), on `port` (0: any). Fails the test when it does not come up.
  void start(int port = 0) {
    std::vector<std::string> args = {
        "/usr/bin/python3", (source_dir() / "tests/stream/rtsp_server.py").string(),
        "--port",           std::to_string(port),
        "--clips",          clips(people_),
        "--size",           size_,
        "--loops",          std::to_string(loops_),
        "--slow",           std::to_string(slow_),
        "--render",         render_path().string()};
    for (const auto& m : mounts_) {
      args.push_back("--mount");
      args.push_back(m);
    }
    ++starts_;
    process_ = std::make_unique<Process>(args, dir_ / ("rtsp" + std::to_string(starts_) + ".out"),
                                         dir_ / ("rtsp" + std::to_string(starts_) + ".err"));
    std::smatch m;
    const std::regex ready("READY (rtsp://127\\.0\\.0\\.1:([0-9]+)/\\S+)");
    std::string text;
    const bool up = eventually(
        [&] {
          text = process_->out();
          return std::regex_search(text, m, ready) || !process_->alive();
        },
        std::chrono::seconds(120));
    ASSERT_TRUE(up && std::regex_search(text, m, ready)) << "RTSP server did not start:\n" << process_->err();
    port_ = std::stoi(m[2]);
  }
  std::string url(const std::string& mount) const {
    return "rtsp://127.0.0.1:" + std::to_string(port_) + "/" + mount;
  }
  int port() const { return port_; }
  Process& process() { return *process_; }
  void kill() { process_->kill_now(); }
  void restart() { start(port_); }

 private:
  std::filesystem::path render_path() const {
    std::string key =
        size_ + "_" + std::to_string(loops_) + (slow_ != 1 ? "_slow" + std::to_string(slow_) : "");
    for (const auto& p : people_) key += "_" + p;
    return std::filesystem::temp_directory_path() / ("fp_stream_render_" + key + ".mp4");
  }
  std::filesystem::path dir_;
  std::vector<std::string> people_, mounts_;
  std::string size_;
  int loops_;
  double slow_;
  int port_ = 0, starts_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace facepipe::testing
