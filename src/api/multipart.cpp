#include "api/multipart.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/error.h"

namespace facepipe::api {
namespace {

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorKind::kInvalidInput,
              "malformed multipart/form-data body: " + what + "; send the image as a part named 'file'");
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `key` in "type; a=1; b=\"x y\"" (case-insensitive key), or nullopt.
std::optional<std::string> header_param(std::string_view value, std::string_view key) {
  size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = trim(value.substr(pos + 1));
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string name = lower(trim(rest.substr(0, eq)));
    rest = trim(rest.substr(eq + 1));
    std::string out;
    size_t end = 0;
    if (!rest.empty() && rest.front() == '"') {
      size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        out += rest[i];
      }
      if (i >= rest.size()) malformed("an unterminated quoted parameter");
      end = i + 1;
    } else {
      end = std::min(rest.find(';'), rest.size());
      out = std::string(trim(rest.substr(0, end)));
    }
    if (name == key) return out;
    const size_t next = rest.find(';', end);
    if (next == std::string_view::npos) return std::nullopt;
    value = rest.substr(next);
    pos = 0;
  }
  return std::nullopt;
}

}  // namespace

std::string multipart_boundary(std::string_view content_type) {
  if (lower(trim(content_type.substr(0, content_type.find(';')))) != "multipart/form-data")
    malformed("the Content-Type is not multipart/form-data");
  auto b = header_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) malformed("the Content-Type needs a boundary of 1..70 characters");
  return *b;
}

std::vector<UploadedFile> parse_multipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty() || boundary.size() > 70) malformed("the boundary must have 1..70 characters");
  const std::string open = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + open;
  // The first boundary (a preamble before it is allowed and ignored).
  size_t pos = 0;
  if (body.substr(0, open.size()) == open) {
    pos = open.size();
  } else {
    pos = body.find(delimiter);
    if (pos == std::string_view::npos) malformed("no opening boundary");
    pos += delimiter.size();
  }
  std::vector<UploadedFile> parts;
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing boundary; an epilogue is ignored
    // Transport padding after a boundary, then its CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") malformed("a boundary not followed by CRLF");
    pos += 2;
    if (parts.size() == kMaxParts) malformed("more than " + std::to_string(kMaxParts) + " parts");
    const size_t header_end = body.find("\r\n\r\n", pos);
    if (header_end == std::string_view::npos || header_end - pos > kMaxPartHeaderBytes)
      malformed("a part's headers are unterminated or longer than " + std::to_string(kMaxPartHeaderBytes) +
                " bytes");
    UploadedFile part;
    bool has_disposition = false;
    std::string_view headers = body.substr(pos, header_end - pos);
    while (!headers.empty()) {
      const size_t eol = std::min(headers.find("\r\n"), headers.size());
      const std::string_view line = headers.substr(0, eol);
      headers.remove_prefix(std::min(eol + 2, headers.size()));
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) malformed("a part header without ':'");
      const std::string name = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-disposition") {
        if (lower(trim(value.substr(0, value.find(';')))) != "form-data")
          malformed("a part whose Content-Disposition is not form-data");
        auto field = header_param(value, "name");
        if (!field || field->empty()) malformed("a part without a field name");
        part.name = *field;
        part.filename = header_param(value, "filename").value_or("");
        has_disposition = true;
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    if (!has_disposition) malformed("a part without Content-Disposition");
    const size_t content_begin = header_end + 4;
    const size_t next = body.find(delimiter, content_begin);
    if (next == std::string_view::npos) malformed("no closing boundary");
    part.content = std::string(body.substr(content_begin, next - content_begin));
    parts.push_back(std::move(part));
    pos = next + delimiter.size();
  }
}

}  // namespace facepipe::api
