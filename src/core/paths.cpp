#include "core/paths.h"

#include <cstdlib>
#include <vector>

#include "core/error.h"

namespace facepipe {
namespace fs = std::filesystem;

namespace {
std::vector<fs::path> candidate_model_dirs(const std::string& flag) {
  std::vector<fs::path> out;
  if (!flag.empty()) {
    out.emplace_back(flag);
    return out;  // an explicit flag is never second-guessed
  }
  if (const char* env = std::getenv("FACEPIPE_MODELS"); env != nullptr && *env != '\0') {
    out.emplace_back(env);
    return out;
  }
  out.emplace_back("../shared/models");
  out.emplace_back("shared/models");
  out.emplace_back("/usr/local/share/facepipe/models");
  out.emplace_back("/opt/facepipe/models");
  return out;
}
}  // namespace

fs::path models_dir(const std::string& flag) {
  auto candidates = candidate_model_dirs(flag);
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return fs::absolute(dir);
  }
  std::string looked;
  for (const auto& dir : candidates) looked += " " + dir.string();
  throw Error(ErrorKind::kNotFound,
              "no models directory found (looked in:" + looked +
                  "); pass --models-dir DIR or set FACEPIPE_MODELS, or run scripts/setup.sh to install them");
}

fs::path model_file(const fs::path& models, const std::string& relative) {
  fs::path file = models / relative;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw Error(ErrorKind::kNotFound, "model file " + file.string() +
                                          " is missing; check --models-dir / FACEPIPE_MODELS (see README, "
                                          "section 'Models')");
  }
  return file;
}

std::optional<fs::path> shared_dir() {
  if (const char* env = std::getenv("FACEPIPE_SHARED"); env != nullptr && *env != '\0') {
    if (fs::is_directory(env)) return fs::absolute(env);
    return std::nullopt;
  }
  for (const char* dir : {"../shared", "shared"}) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return fs::absolute(dir);
  }
  return std::nullopt;
}

}  // namespace facepipe
