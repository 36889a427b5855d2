#include "server/static_mount.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>

#include "core/error.h"

namespace facepipe::server {
namespace fs = std::filesystem;
namespace {

// The decoded path below the prefix, or "" when it is not a plain relative path.
std::string safe_relative(const std::string& encoded) {
  const std::string rel = url_decode(encoded, false);
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) return "";
  if (rel.empty()) return "index.html";
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string segment = rel.substr(start, end - start);
    if (segment.empty()) {
      if (end == rel.size() && start > 0) return rel + "index.html";  // "dir/" → dir/index.html
      return "";
    }
    if (segment == "." || segment == "..") return "";
    start = end + 1;
  }
  return rel;
}

std::string http_date(time_t t) {
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

std::string content_type_for(const fs::path& file) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".woff2", "font/woff2"},
      {".mp4", "video/mp4"},
  };
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = types.find(ext);
  return it == types.end() ? "application/octet-stream" : it->second;
}

void add_static_mount(RouteTable& routes, const std::string& prefix, const fs::path& directory,
                      StaticMountOptions options) {
  std::error_code ec;
  const fs::path root = fs::canonical(directory, ec);
  if (ec || !fs::is_directory(root))
    throw Error(ErrorKind::kNotFound, "cannot serve '" + directory.string() + "': not a directory");
  auto not_found = [](const Request& req) {
    return Response::error(404, "not_found", "no such file '" + req.path + "'");
  };
  Route route;
  route.name = "static";
  route.method = "GET";
  route.path = prefix + "*";
  route.handler = [=](const Request& req) {
    const std::string rel = safe_relative(req.path.substr(prefix.size()));
    if (rel.empty()) return not_found(req);
    std::error_code e;
    const fs::path file = fs::canonical(root / rel, e);
    if (e) return not_found(req);
    // Inside the root after symlinks are resolved: compare whole path components.
    auto [r, f] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
    if (r != root.end()) return not_found(req);
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) > options.max_file_bytes)
      return not_found(req);
    char etag[64];
    std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                  static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                      static_cast<unsigned long long>(st.st_mtim.tv_nsec));
    Response res;
    res.content_type = content_type_for(file);
    res.headers = {{"ETag", etag},
                   {"Last-Modified", http_date(st.st_mtim.tv_sec)},
                   {"Cache-Control", "no-cache"},
                   {"X-Content-Type-Options", "nosniff"}};
    if (req.header("If-None-Match") == etag) {
      res.status = 304;
      return res;
    }
    std::ifstream in(file, std::ios::binary);
    res.body.assign(std::istreambuf_iterator<char>(in), {});
    if (!in.good() && !in.eof()) return Response::error(500, "internal", "cannot read '" + rel + "'");
    return res;
  };
  routes.add(std::move(route));
}

}  // namespace facepipe::server
