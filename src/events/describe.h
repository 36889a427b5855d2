// One readable line for a camera event (face.entered / face.identified / face.left, events/sink.h's JSON),
// for `facepipe results` and logs:
//   face.entered     door  Mr_Bean (known, distance 0.41)  track door-17  at 2026-12-02T01:02:03.456Z
//                    record {"role":"actor"}  snapshot door/1796...-door-17-face.jpg
//   face.left        door  Mr_Bean  track door-17  after 12.3 s  ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace facepipe::events {

// An object whose "type" starts with "face." and that names a camera.
bool is_camera_event(const nlohmann::json& event);

// The line above (without a newline); names and records are printed as JSON strings when they hold
// control characters, so an event cannot forge terminal output.
std::string describe_event(const nlohmann::json& event);

// "2026-12-02T01:02:03.456Z" (UTC, milliseconds optional) → ms since the epoch; nullopt otherwise.
std::optional<int64_t> parse_utc_ms(const std::string& iso);

}  // namespace facepipe::events
