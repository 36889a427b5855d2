#include "testutil/testutil.h"
#include <sys/wait.h>
#include <cmath>
#include <cstdio>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace facepipe::testing {
namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(FACEPIPE_SOURCE_DIR); }

fs::path facepipe_binary() { return fs::path(FACEPIPE_BINARY); }

std::string facepipe_command() {
  return shell_quoted(facepipe_binary()) + " --models-dir " + shell_quoted(shared_models()) + " ";
}

std::string video_frame(const std::string& person, int n) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%03d.jpg", n);
  return (datasets() / "video_frames" / person / name).string();
}

std::string shell_quoted(const fs::path& path) { return "'" + path.string() + "'"; }

CommandResult run_command(const std::string& command, bool merge_stderr) {
  CommandResult r;
  FILE* pipe = popen((command + (merge_stderr ? " 2>&1" : "")).c_str(), "r");
  if (!pipe) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult run_with_test_aws(const std::string& command) {
  return run_command(
      "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 "
      "AWS_EC2_METADATA_DISABLED=true " +
          command,
      true);
}

fs::path shared() {
  if (const char* env = std::getenv("FACEPIPE_SHARED"); env != nullptr && *env != '\0') return fs::path(env);
  fs::path p = source_dir().parent_path() / "shared";
  if (!fs::is_directory(p)) {
    throw std::runtime_error("test data folder " + p.string() +
                             " is missing: put shared/ beside the checkout or set FACEPIPE_SHARED");
  }
  return p;
}
fs::path shared_models() { return shared() / "models"; }
fs::path golden() { return shared() / "golden"; }
fs::path datasets() { return shared() / "datasets"; }

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(read_file(file)); }

std::vector<float> read_f32(const fs::path& file) {
  std::string bytes = read_file(file);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

Irv1GoldenSet irv1_golden() {
  const auto spec = read_json(golden() / "irv1_random_embeddings.json");
  Irv1GoldenSet set{shared() / spec["weights"].get<std::string>(), {}};
  for (const auto& e : spec["embeddings"])
    set.cases.push_back({e["crop"].get<std::string>(), read_f32(golden() / e["crop"].get<std::string>()),
                         e["embedding_240"].get<std::vector<float>>(),
                         e["embedding_160_area"].get<std::vector<float>>()});
  return set;
}

}  // namespace facepipe::testing
