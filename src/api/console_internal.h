// Shared by console.cpp and people.cpp only: the remembered face and request helpers.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/console.h"

namespace facepipe::api {

struct Console::SeenFace {
  std::string id;  // "f<seq>"
  uint64_t seq = 0;
  face::Embedding embedding;
  std::string jpeg;      // the face's crop (what is stored in the gallery when it is enrolled)
  std::string snapshot;  // its snapshot's name ("" when it could not be stored)
  std::string frame;     // the frame snapshot's name, may be ""
  std::string name;      // as recognised (gallery::kUnknown)
  bool known = false;
  float distance = 0;
  float quality = 0;  // Quality::score
  bool quality_ok = false;
  bool named = false;       // enrolled from its unknown group: no longer unknown
  std::string enrolled_as;  // the person it was enrolled as (erasure forgets it with them)
  std::string time;
  std::string camera;
};

Response refusal_response(const Refusal& r);
// The snapshot store's calls as the console uses them: "" / nullopt / false when there is none.
std::string save_snapshot(events::SnapshotStore& store, const std::string& camera, const std::string& track,
                          const std::string& kind, const std::string& jpeg);
std::optional<std::string> read_snapshot(const events::SnapshotStore& store, const std::string& name);
// Erasure: deletes the file now (the store's own accounting forgets it at its next eviction or restart).
bool remove_snapshot(const events::SnapshotStore& store, const std::string& name);
// A whole-number query parameter within [min, max] (400 otherwise), `fallback` when absent.
size_t count_param(const Request& r, const std::string& name, size_t fallback, size_t min, size_t max);
// The body as JSON (400 when it is not).
nlohmann::json json_body(const Request& r);

}  // namespace facepipe::api
