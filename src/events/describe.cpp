#include "events/describe.h"

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace facepipe::events {
namespace {

using json = nlohmann::json;

// Plain text when it is printable and short, else its JSON form (quoted, escaped), cut at 200 characters.
std::string safe_text(const std::string& s) {
  bool plain = !s.empty() && s.size() <= 200;
  for (unsigned char c : s) plain = plain && c >= 0x20 && c != 0x7f && c != ' ';
  if (plain) return s;
  std::string quoted = json(s).dump(-1, ' ', true, json::error_handler_t::replace);
  return quoted.size() > 200 ? quoted.substr(0, 197) + "..." : quoted;
}

std::string text_of(const json& event, const char* key, const char* fallback = "?") {
  if (!event.contains(key)) return fallback;
  const json& v = event[key];
  return safe_text(v.is_string() ? v.get<std::string>()
                                 : v.dump(-1, ' ', true, json::error_handler_t::replace));
}

}  // namespace

bool is_camera_event(const json& event) {
  return event.is_object() && event.contains("type") && event["type"].is_string() &&
         event["type"].get<std::string>().rfind("face.", 0) == 0 && event.contains("camera");
}

std::string describe_event(const json& e) {
  std::string line =
      fmt::format("{:<16} {}  {}", text_of(e, "type"), text_of(e, "camera"), text_of(e, "name"));
  std::string detail;
  if (e.contains("known") && e["known"].is_boolean()) detail = e["known"].get<bool>() ? "known" : "not known";
  if (e.contains("distance") && e["distance"].is_number())
    detail += fmt::format("{}distance {:.2f}", detail.empty() ? "" : ", ", e["distance"].get<double>());
  if (!detail.empty()) line += " (" + detail + ")";
  if (e.contains("track_id")) line += "  track " + text_of(e, "track_id");
  if (e.contains("duration_s") && e["duration_s"].is_number())
    line += fmt::format("  after {:.1f} s", e["duration_s"].get<double>());
  if (e.contains("time")) line += "  at " + text_of(e, "time");
  if (e.contains("record") && !e["record"].is_null())
    line += "  record " + e["record"].dump(-1, ' ', true, json::error_handler_t::replace).substr(0, 400);
  if (e.contains("snapshot") && e["snapshot"].is_object() && e["snapshot"].contains("face"))
    line += "  snapshot " + text_of(e["snapshot"], "face");
  return line;
}

std::optional<int64_t> parse_utc_ms(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, n = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19)
    return std::nullopt;
  int ms = 0;
  size_t at = 19;
  if (at < iso.size() && iso[at] == '.') {
    int digits = 0;
    for (++at; at < iso.size() && iso[at] >= '0' && iso[at] <= '9'; ++at, ++digits)
      if (digits < 3) ms = ms * 10 + (iso[at] - '0');
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (at + 1 != iso.size() || iso[at] != 'Z') return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace facepipe::events
