// Shared bits of the libFuzzer harnesses (fuzz/README.md): a scratch file in memory-backed storage for the
// readers that take a path, and the rule every harness checks — only facepipe::Error may escape a parser;
// any other exception, a crash or a sanitizer report is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

namespace facepipe::fuzz {

// The input of a harness that takes two parts (a name or path, then a body): the input and, when it has
// a newline, the text before the first one (`head`) and after it (`body`).
struct TwoParts {
  std::string input;
  std::optional<std::pair<std::string, std::string>> head_body;
};
inline TwoParts split_first_line(const uint8_t* data, size_t size) {
  TwoParts p{std::string(reinterpret_cast<const char*>(data), size), std::nullopt};
  if (const size_t nl = p.input.find('\n'); nl != std::string::npos)
    p.head_body.emplace(p.input.substr(0, nl), p.input.substr(nl + 1));
  return p;
}

// A per-process scratch directory (under /dev/shm when it exists: the readers open a path every run).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("facepipe_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// A 500 for a client's bytes is a bug too; FUZZ_ABORT_ON_500=1 turns it into a finding (off in CI, where
// the harness's job is to find crashes and sanitizer reports).
inline void check_status(int status, const std::string& body) {
  static const bool strict = std::getenv("FUZZ_ABORT_ON_500") != nullptr;
  if (strict && status >= 500) {
    std::fprintf(stderr, "status %d for client input: %s\n", status, body.c_str());
    std::abort();
  }
}

}  // namespace facepipe::fuzz
