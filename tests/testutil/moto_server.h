// moto_server (the moto package's stand-in for AWS) on a free loopback port, for the AWS clients' and the
// Lambda functions' tests. moto is not a Debian package: tests GTEST_SKIP when `moto_server` is not on the
// PATH (pip install 'moto[server]' provides it).
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <httplib.h>

namespace facepipe::testing {

inline bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Sets the dummy credentials and region moto accepts, in this process (children inherit them).
inline void use_test_aws_credentials() {
  ::setenv("AWS_ACCESS_KEY_ID", "testing", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
  ::setenv("AWS_SESSION_TOKEN", "testing-token", 1);
  ::setenv("AWS_REGION", "us-east-1", 1);
  ::setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

class MotoServer {
 public:
  // Starts moto_server and waits (up to 30 s) until it answers. ok() is false when it could not start.
  explicit MotoServer(const std::filesystem::path& log) {
    port_ = free_port();
    pid_ = fork();
    if (pid_ == 0) {
      // Dies with the test process, even one that crashes or is killed by ctest's timeout.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      FILE* f = fopen(log.c_str(), "w");
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
      const std::string port = std::to_string(port_);
      execlp("moto_server", "moto_server", "-H", "127.0.0.1", "-p", port.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    httplib::Client probe("127.0.0.1", port_);
    probe.set_connection_timeout(1);
    for (int i = 0; i < 300; ++i) {
      if (auto res = probe.Get("/moto-api/"); res) {
        ok_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~MotoServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  MotoServer(const MotoServer&) = delete;
  bool ok() const { return ok_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace facepipe::testing
