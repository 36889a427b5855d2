#include "server/http_types.h"

#include <strings.h>

#include <algorithm>
#include <cctype>

namespace facepipe::server {

std::string Request::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

bool Request::has_header(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& kv) { return strcasecmp(kv.first.c_str(), name.c_str()) == 0; });
}

std::string Request::param(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

std::string Request::media_type() const {
  std::string type = header("Content-Type");
  type = type.substr(0, type.find(';'));
  auto first = type.find_first_not_of(" \t");
  auto last = type.find_last_not_of(" \t");
  type = first == std::string::npos ? "" : type.substr(first, last - first + 1);
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type;
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::error(int status, const std::string& code, const std::string& message) {
  return json(status, {{"error", code}, {"message", message}});
}

std::string url_decode(const std::string& s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::multimap<std::string, std::string> parse_form(const std::string& text) {
  std::multimap<std::string, std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('&', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      const std::string pair = text.substr(start, end - start);
      const size_t eq = pair.find('=');
      if (eq == std::string::npos)
        out.emplace(url_decode(pair, true), "");
      else
        out.emplace(url_decode(pair.substr(0, eq), true), url_decode(pair.substr(eq + 1), true));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace facepipe::server
