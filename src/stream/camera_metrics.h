// The cameras of a Watcher in the Prometheus text format, for serve's GET /metrics (appended by a
// collector at scrape time, see service::Metrics::add_collector). One label, camera="NAME":
//   facepipe_camera_up                      1 while streaming, else 0
//   facepipe_camera_state{state=...}        1 for the current state
//   (connecting|streaming|retrying|ended|stopped) facepipe_camera_fps_in / _fps_out       decoded / offered
//   frames per second facepipe_camera_analysis_fps            analysed frames per second
//   facepipe_camera_frames_decoded_total, _frames_analysed_total, _frames_dropped_total
//   facepipe_camera_connects_total, _failures_total
//   facepipe_camera_tracks_active, _tracks_total, _embeddings_total, _faces_seen_total, _events_total
//   facepipe_camera_event_delay_ms          mean frame -> event delay
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace facepipe::stream {

// `status` is Watcher::status().
std::string camera_metrics(const nlohmann::json& status);

}  // namespace facepipe::stream
