// Helpers for tests that run the real `facepipe` binary: child processes that are always killed, a
// serve instance on a free loopback port with its own data directory, and shell commands with output.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace facepipe::testing {

inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / ("fp_service_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A child process running `facepipe args...`, stdout+stderr to `log`. Killed (SIGKILL) when destroyed.
class Child {
 public:
  Child(std::vector<std::string> args, std::filesystem::path log) : log_(std::move(log)) {
    args.insert(args.begin(), FACEPIPE_BIN);
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = fopen(log_.c_str(), "w");
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() { kill_now(); }
  Child(const Child&) = delete;
  pid_t pid() const { return pid_; }
  // Still running (not exited or killed)?
  bool alive() {
    int status = 0;
    return pid_ > 0 && waitpid(pid_, &status, WNOHANG) == 0;
  }
  void kill_now(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Waits (bounded) for "listening on http://..." in the log; returns the URL or "" on timeout.
  std::string wait_listening(std::chrono::seconds limit = std::chrono::seconds(60)) {
    auto end = std::chrono::steady_clock::now() + limit;
    std::regex re("listening on (http://[0-9.]+:[0-9]+)");
    while (std::chrono::steady_clock::now() < end) {
      std::smatch m;
      auto text = log();
      if (std::regex_search(text, m, re)) return m[1];
      int status = 0;
      if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

// A process's resident set (VmRSS) or its peak (VmHWM) in bytes from /proc; 0 when it is gone.
inline size_t proc_memory(pid_t pid, const std::string& field = "VmRSS") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

struct ShellResult {
  int status = -1;
  std::string out;
};

// Runs a shell command with dummy AWS credentials; stdout and stderr captured together.
inline ShellResult shell(const std::string& command) {
  const CommandResult r = run_with_test_aws(command);
  return {r.exit_code, r.output};
}

// How many times `what` occurs in `text`.
inline int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

inline std::string facepipe_cmd(const std::string& args) { return std::string(FACEPIPE_BIN) + " " + args; }

// `facepipe keys create` in `data_dir`; returns the printed API key (the test fails when the command does).
inline std::string create_api_key(const std::filesystem::path& data_dir, const std::string& name,
                                  const std::string& role) {
  auto r = shell(facepipe_cmd("keys create --data-dir " + data_dir.string() + " --name " + name + " --role " +
                              role + " --json 2>/dev/null"));
  EXPECT_EQ(r.status, 0) << r.out;
  return nlohmann::json::parse(r.out).at("key").get<std::string>();
}

// A gallery with the first 3 frames of each person of datasets/video_frames (built once per test binary).
inline std::filesystem::path video_gallery() {
  static std::filesystem::path path = [] {
    auto dir = temp_dir("gallery");
    auto db = dir / "video3.db";
    auto r = shell(facepipe_cmd("enroll --gallery " + db.string() + " --folder " +
                                (datasets() / "video_frames").string() + " --per-person 3"));
    EXPECT_EQ(r.status, 0) << r.out;
    return db;
  }();
  return path;
}

// ../shared/datasets/video_frames/PERSON/frame_NNN.jpg, the bundled frames the API tests enrol and post.
inline std::filesystem::path frame(const std::string& person, int n) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%03d.jpg", n);
  return datasets() / "video_frames" / person / name;
}

// `facepipe serve` on a free loopback port over a fresh data directory (gallery.db in it) that holds one
// API key per role asked for: the server the API tests share, started once per suite.
class KeyedServe {
 public:
  KeyedServe(const std::string& tag, const std::vector<std::string>& roles, int http_threads = 8)
      : dir_(temp_dir(tag)) {
    for (const auto& role : roles) keys_[role] = create_api_key(dir_, role + "-key", role);
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"--models-dir", shared_models().string(), "serve", "--data-dir",
                                 dir_.string(), "--gallery", gallery().string(), "--port", "0",
                                 "--http-threads", std::to_string(http_threads)},
        dir_ / "serve.log");
    url_ = child_->wait_listening();
    EXPECT_FALSE(url_.empty()) << child_->log();
  }
  bool listening() const { return !url_.empty(); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path gallery() const { return dir_ / "gallery.db"; }
  const std::string& url() const { return url_; }
  int port() const { return std::stoi(url_.substr(url_.rfind(':') + 1)); }
  const std::string& key(const std::string& role) const { return keys_.at(role); }
  std::string log() const { return child_->log(); }
  httplib::Client client() const {
    httplib::Client c(url_);
    c.set_read_timeout(60, 0);
    return c;
  }

 private:
  std::filesystem::path dir_;
  std::map<std::string, std::string> keys_;
  std::unique_ptr<Child> child_;
  std::string url_;
};

}  // namespace facepipe::testing
