// Faces followed across the analysed frames of one camera, in the style of SORT (Bewley et al. 2016):
// each frame's detections are associated with the live tracks by box overlap (IoU against each track's
// box moved by its velocity), greedily from the best overlap; a face that overlaps no track is compared
// by embedding with the tracks that just lost their face (a fast move, a brief occlusion) before it
// starts a track of its own. Each track has an id ("<camera>-<n>").
//
// Embeddings are the expensive part, so a track is not embedded at every frame: it is embedded when it
// starts (its first face that passes the quality gate), when its face quality improves clearly over the
// best embedded so far, and otherwise at most once every `embed_interval` seconds. Its identity is a
// vote over its embeddings' matches, each weighted by the face's quality score (recognition/quality.h);
// only faces that pass the gate (recognition/answer_policy.h's `known` rule) are embedded and vote.
//
// Events: entered once a track has `min_hits` good sightings and an identity; identified when the
// identity changes or becomes certain; left after `max_age` seconds unseen. Tracks that never pass the
// gate (false detections, posters seen edge-on) make no event at all.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "face/types.h"
#include "gallery/gallery.h"
#include "recognition/quality.h"

namespace facepipe::stream {

struct TrackerOptions {
  double max_age = 1.5;         // seconds unseen before a track leaves
  int min_hits = 2;             // good sightings (passing the gate) before face.entered
  float min_iou = 0.2f;         // box overlap that continues a track
  float reid_distance = 0.45f;  // embedding distance that re-attaches a face to a track that lost it
  float improve_margin = 0.1f;  // quality-score gain that earns an extra embedding
  double embed_interval = 1.0;  // seconds between a track's embeddings otherwise
  int certain_votes = 2;        // embeddings agreeing before an identity is certain...
  float certain_share = 0.6f;   // ...holding at least this share of the track's vote weight
};

// One face of an analysed frame.
struct Observation {
  face::Detection detection;
  recognition::Quality quality;
};

// What the tracker computed for an embedding: the gallery's match of it.
struct EmbeddedMatch {
  face::Embedding embedding;
  gallery::Match match;
};

// A track as events report it.
struct TrackInfo {
  std::string id;
  std::string name = gallery::kUnknown;  // the vote's winner
  float distance = 0;                    // the winner's best distance among the track's embeddings
  bool known = false;
  bool certain = false;
  double first_seen = 0, last_seen = 0;  // frame times (seconds)
  face::Box box;                         // latest box
  float quality = 0;                     // latest quality score
  float best_quality = 0;                // best quality score seen (its face is the best snapshot)
  int embeddings = 0;                    // embeddings computed for this track
  int frames_seen = 0;                   // analysed frames in which it had a face
  int good_frames = 0;                   // of those, with a face passing the gate
};

struct TrackEvent {
  enum class Type { kEntered, kIdentified, kLeft };
  Type type;
  TrackInfo track;
};
const char* to_string(TrackEvent::Type type);  // "face.entered", "face.identified", "face.left"

struct FrameUpdate {
  std::vector<TrackEvent> events;  // in the order they happened
  // For each observation of the frame: the id of the track it joined ("" when none).
  std::vector<std::string> track_of;
  // Observations that became their track's best face so far (the snapshot to keep), by index.
  std::vector<int> new_best;
};

class Tracker {
 public:
  // Computes the matches of the observations at `indices` (one batch through the embedder).
  using EmbedFn = std::function<std::vector<EmbeddedMatch>(const std::vector<int>& indices)>;

  Tracker(std::string camera, TrackerOptions options = {});

  // One analysed frame at time `t` (seconds, non-decreasing): associate, embed what the schedule asks
  // for, vote, then let tracks unseen for max_age leave.
  FrameUpdate update(double t, const std::vector<Observation>& faces, const EmbedFn& embed);
  // Time passing without frames (a stalled or ended stream): tracks unseen for max_age leave.
  std::vector<TrackEvent> expire(double t);
  // Every track leaves now (shutdown).
  std::vector<TrackEvent> finish();

  size_t active() const { return tracks_.size(); }
  bool is_live(const std::string& track_id) const;
  int64_t started() const { return next_id_ - 1; }
  int64_t embeddings() const { return embeddings_; }  // computed, over all tracks
  int64_t sightings() const { return sightings_; }    // faces associated, over all tracks

 private:
  struct Track {
    TrackInfo info;
    float vx = 0, vy = 0;  // box centre velocity, pixels per second
    double last_embed = -1e9;
    float best_embedded_quality = -1;
    face::Embedding reference;              // the best-quality embedding: re-identification after a lost face
    std::map<std::string, float> votes;     // name -> summed quality weight
    std::map<std::string, int> vote_count;  // name -> embeddings voting for it
    std::map<std::string, float> best_distance;
    bool entered = false;
    std::string announced;  // the name the last event carried
    bool announced_certain = false;
  };
  face::Box predicted(const Track& track, double t) const;
  bool wants_embedding(const Track& track, const Observation& o, double t) const;
  void vote(Track& track, const Observation& o, const EmbeddedMatch& m, double t);
  void events_for(Track& track, std::vector<TrackEvent>& out);
  void see(Track& track, const Observation& o, double t, int index, FrameUpdate& update);

  std::string camera_;
  TrackerOptions options_;
  std::vector<Track> tracks_;
  int64_t next_id_ = 1;
  int64_t embeddings_ = 0, sightings_ = 0;
};

// Intersection over union of two boxes (0 when disjoint or degenerate).
float iou(const face::Box& a, const face::Box& b);

}  // namespace facepipe::stream
