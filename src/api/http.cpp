#include "api/http.h"

#include <algorithm>
#include <cctype>

namespace facepipe::api {

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
      return 400;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kTooLarge:
      return 413;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kUnavailable:
      return 503;
    case ErrorKind::kInternal:
      return 500;
  }
  return 500;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Number of literal segments matched, or -1 when the pattern does not match.
int match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
          std::map<std::string, std::string>* params) {
  if (pattern.size() != path.size()) return -1;
  int literals = 0;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const auto& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      found[p.substr(1, p.size() - 2)] = path[i];
    } else if (p == path[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  if (params) *params = std::move(found);
  return literals;
}

}  // namespace

std::string Request::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

std::optional<std::string> Request::param(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

const UploadedFile* Request::file(const std::string& name) const {
  for (const auto& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

void Router::add(Route route) { routes_.push_back(std::move(route)); }

std::optional<Route> Router::find(Request& request, bool* method_allowed) const {
  const auto path = segments(request.path);
  int best = -1, best_any_method = -1;
  const Route* chosen = nullptr;
  std::map<std::string, std::string> chosen_params;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    const int score = match(segments(r.pattern), path, &params);
    if (score < 0) continue;
    best_any_method = std::max(best_any_method, score);
    if (r.method == request.method && score > best) {
      best = score;
      chosen = &r;
      chosen_params = std::move(params);
    }
  }
  if (method_allowed) *method_allowed = best_any_method >= 0;
  // A literal route under another method beats a parameter route under this one ("/faces/delete" GET).
  if (!chosen || best < best_any_method) return std::nullopt;
  request.path_params = std::move(chosen_params);
  return *chosen;
}

}  // namespace facepipe::api
