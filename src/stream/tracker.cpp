#include "stream/tracker.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace facepipe::stream {

float iou(const face::Box& a, const face::Box& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0;
}

const char* to_string(TrackEvent::Type type) {
  switch (type) {
    case TrackEvent::Type::kEntered:
      return "face.entered";
    case TrackEvent::Type::kIdentified:
      return "face.identified";
    default:
      return "face.left";
  }
}

namespace {
float distance(const face::Embedding& a, const face::Embedding& b) {
  if (a.size() != b.size() || a.empty()) return 1e9f;
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}
}  // namespace

Tracker::Tracker(std::string camera, TrackerOptions options)
    : camera_(std::move(camera)), options_(options) {}

face::Box Tracker::predicted(const Track& track, double t) const {
  // Constant velocity on the box centre (SORT uses a Kalman filter; at a few analysed frames a second a
  // damped velocity estimate predicts as well and needs no OpenCV video module).
  const float dt = static_cast<float>(std::min(t - track.info.last_seen, options_.max_age));
  face::Box b = track.info.box;
  b.x1 += track.vx * dt;
  b.x2 += track.vx * dt;
  b.y1 += track.vy * dt;
  b.y2 += track.vy * dt;
  return b;
}

bool Tracker::wants_embedding(const Track& track, const Observation& o, double t) const {
  if (!o.quality.ok()) return false;  // a face that cannot answer does not vote either
  if (track.info.embeddings == 0) return true;
  if (o.quality.score > track.best_embedded_quality + options_.improve_margin) return true;
  return t - track.last_embed >= options_.embed_interval;
}

void Tracker::vote(Track& track, const Observation& o, const EmbeddedMatch& m, double t) {
  ++track.info.embeddings;
  ++embeddings_;
  track.last_embed = t;
  if (o.quality.score > track.best_embedded_quality) {
    track.best_embedded_quality = o.quality.score;
    track.reference = m.embedding;
  }
  // A floor on the weight: a face that passed the gate counts, even if its score is low.
  const float weight = std::max(o.quality.score, 0.05f);
  const std::string& name = m.match.name;
  track.votes[name] += weight;
  ++track.vote_count[name];
  auto [it, inserted] = track.best_distance.try_emplace(name, m.match.distance);
  if (!inserted) it->second = std::min(it->second, m.match.distance);
  float total = 0, best = -1;
  std::string winner;
  for (const auto& [n, w] : track.votes) {
    total += w;
    if (w > best) {
      best = w;
      winner = n;
    }
  }
  track.info.name = winner;
  track.info.known = winner != gallery::kUnknown;
  track.info.distance = track.best_distance[winner];
  track.info.certain =
      track.vote_count[winner] >= options_.certain_votes && best >= options_.certain_share * total;
}

void Tracker::see(Track& track, const Observation& o, double t, int index, FrameUpdate& update) {
  const face::Box& b = o.detection.box;
  const double dt = t - track.info.last_seen;
  if (track.info.frames_seen > 0 && dt > 1e-3) {
    const float cx = (b.x1 + b.x2) / 2 - (track.info.box.x1 + track.info.box.x2) / 2;
    const float cy = (b.y1 + b.y2) / 2 - (track.info.box.y1 + track.info.box.y2) / 2;
    track.vx = 0.5f * track.vx + 0.5f * cx / static_cast<float>(dt);
    track.vy = 0.5f * track.vy + 0.5f * cy / static_cast<float>(dt);
  }
  track.info.box = b;
  track.info.last_seen = t;
  track.info.quality = o.quality.score;
  ++track.info.frames_seen;
  ++sightings_;
  if (o.quality.ok()) {
    ++track.info.good_frames;
    if (o.quality.score > track.info.best_quality || track.info.good_frames == 1) {
      track.info.best_quality = o.quality.score;
      update.new_best.push_back(index);
    }
  }
  update.track_of[static_cast<size_t>(index)] = track.info.id;
}

void Tracker::events_for(Track& track, std::vector<TrackEvent>& out) {
  if (!track.entered) {
    if (track.info.good_frames >= options_.min_hits && track.info.embeddings > 0) {
      track.entered = true;
      track.announced = track.info.name;
      track.announced_certain = track.info.certain;
      out.push_back({TrackEvent::Type::kEntered, track.info});
    }
    return;
  }
  if (track.info.name != track.announced || (track.info.certain && !track.announced_certain)) {
    track.announced = track.info.name;
    track.announced_certain = track.info.certain;
    out.push_back({TrackEvent::Type::kIdentified, track.info});
  }
}

FrameUpdate Tracker::update(double t, const std::vector<Observation>& faces, const EmbedFn& embed) {
  FrameUpdate update;
  update.track_of.assign(faces.size(), "");
  // 1. Box overlap, greedily from the largest IoU (the few faces of a frame make Hungarian assignment
  // unnecessary: with overlaps above min_iou, greedy and optimal agree in practice).
  std::vector<std::tuple<float, size_t, size_t>> pairs;  // iou, track, face
  for (size_t ti = 0; ti < tracks_.size(); ++ti) {
    const face::Box p = predicted(tracks_[ti], t);
    for (size_t fi = 0; fi < faces.size(); ++fi) {
      const float o =
          std::max(iou(p, faces[fi].detection.box), iou(tracks_[ti].info.box, faces[fi].detection.box));
      if (o >= options_.min_iou) pairs.emplace_back(o, ti, fi);
    }
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  std::vector<int> track_for_face(faces.size(), -1);
  std::vector<bool> track_taken(tracks_.size(), false);
  for (const auto& [o, ti, fi] : pairs) {
    if (track_taken[ti] || track_for_face[fi] >= 0) continue;
    track_taken[ti] = true;
    track_for_face[fi] = static_cast<int>(ti);
  }
  // 2. One embedding batch: matched faces the schedule asks for, and every unmatched face that passes the
  // gate (it starts a track or re-attaches to one).
  std::vector<int> to_embed;
  for (size_t fi = 0; fi < faces.size(); ++fi) {
    if (track_for_face[fi] >= 0) {
      if (wants_embedding(tracks_[static_cast<size_t>(track_for_face[fi])], faces[fi], t))
        to_embed.push_back(static_cast<int>(fi));
    } else if (faces[fi].quality.ok()) {
      to_embed.push_back(static_cast<int>(fi));
    }
  }
  std::vector<EmbeddedMatch> matches;
  if (!to_embed.empty()) matches = embed(to_embed);
  std::map<size_t, const EmbeddedMatch*> match_of;
  for (size_t i = 0; i < to_embed.size() && i < matches.size(); ++i)
    match_of[static_cast<size_t>(to_embed[i])] = &matches[i];
  // 3. Unmatched faces with an embedding: the nearest track that lost its face, when close enough.
  for (size_t fi = 0; fi < faces.size(); ++fi) {
    if (track_for_face[fi] >= 0 || !match_of.count(fi)) continue;
    int best = -1;
    float best_d = options_.reid_distance;
    for (size_t ti = 0; ti < tracks_.size(); ++ti) {
      if (track_taken[ti] || tracks_[ti].reference.empty()) continue;
      const float d = distance(tracks_[ti].reference, match_of[fi]->embedding);
      if (d < best_d) {
        best_d = d;
        best = static_cast<int>(ti);
      }
    }
    if (best >= 0) {
      track_taken[static_cast<size_t>(best)] = true;
      track_for_face[fi] = best;
    }
  }
  // 4. Update matched tracks, start new ones (a track that starts on a face failing the gate stays silent
  // until a good face arrives).
  for (size_t fi = 0; fi < faces.size(); ++fi) {
    if (track_for_face[fi] < 0) {
      Track track;
      track.info.id = camera_ + "-" + std::to_string(next_id_++);
      track.info.first_seen = t;
      track.info.last_seen = t;
      tracks_.push_back(std::move(track));
      track_for_face[fi] = static_cast<int>(tracks_.size() - 1);
    }
    Track& track = tracks_[static_cast<size_t>(track_for_face[fi])];
    see(track, faces[fi], t, static_cast<int>(fi), update);
    if (auto it = match_of.find(fi); it != match_of.end()) vote(track, faces[fi], *it->second, t);
  }
  for (auto& track : tracks_)
    if (track.info.last_seen == t) events_for(track, update.events);
  auto left = expire(t);
  update.events.insert(update.events.end(), left.begin(), left.end());
  return update;
}

std::vector<TrackEvent> Tracker::expire(double t) {
  std::vector<TrackEvent> out;
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    if (t - it->info.last_seen > options_.max_age) {
      if (it->entered) out.push_back({TrackEvent::Type::kLeft, it->info});
      it = tracks_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool Tracker::is_live(const std::string& track_id) const {
  for (const auto& t : tracks_)
    if (t.info.id == track_id) return true;
  return false;
}

std::vector<TrackEvent> Tracker::finish() {
  std::vector<TrackEvent> out;
  for (const auto& track : tracks_)
    if (track.entered) out.push_back({TrackEvent::Type::kLeft, track.info});
  tracks_.clear();
  return out;
}

}  // namespace facepipe::stream
