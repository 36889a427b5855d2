#include "stream/camera_metrics.h"

#include <fmt/format.h>

namespace facepipe::stream {

std::string camera_metrics(const nlohmann::json& status) {
  std::string out;
  if (!status.is_object() || !status.contains("cameras")) return out;
  auto line = [&](const char* name, const std::string& labels, double value) {
    out += fmt::format("{}{{{}}} {}\n", name, labels, value);
  };
  for (const auto& c : status["cameras"]) {
    // Camera names are [A-Za-z0-9_-] (parse_camera_spec): nothing to escape in a label value.
    const std::string cam = fmt::format("camera=\"{}\"", c["name"].get<std::string>());
    const auto& s = c["source"];
    const std::string state = s["state"];
    line("facepipe_camera_up", cam, state == "streaming" ? 1 : 0);
    for (const char* st : {"connecting", "streaming", "retrying", "ended", "stopped"})
      line("facepipe_camera_state", cam + fmt::format(",state=\"{}\"", st), state == st ? 1 : 0);
    line("facepipe_camera_fps_in", cam, s["fps_in"].get<double>());
    line("facepipe_camera_fps_out", cam, s["fps_out"].get<double>());
    line("facepipe_camera_analysis_fps", cam, c["analysis_fps"].get<double>());
    line("facepipe_camera_frames_decoded_total", cam, s["frames_decoded"].get<double>());
    line("facepipe_camera_frames_analysed_total", cam, c["frames_analysed"].get<double>());
    line("facepipe_camera_frames_dropped_total", cam, c["frames_dropped"].get<double>());
    line("facepipe_camera_connects_total", cam, s["connects"].get<double>());
    line("facepipe_camera_failures_total", cam, s["failures"].get<double>());
    line("facepipe_camera_tracks_active", cam, c["tracks_active"].get<double>());
    line("facepipe_camera_tracks_total", cam, c["tracks_started"].get<double>());
    line("facepipe_camera_embeddings_total", cam, c["embeddings"].get<double>());
    line("facepipe_camera_faces_seen_total", cam, c["faces_seen"].get<double>());
    line("facepipe_camera_events_total", cam, c["events"].get<double>());
    line("facepipe_camera_event_delay_ms", cam, c["delay_ms"]["mean"].get<double>());
  }
  return out;
}

}  // namespace facepipe::stream
