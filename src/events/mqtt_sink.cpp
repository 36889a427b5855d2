#include "events/mqtt_sink.h"

#include <mosquitto.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "events/snapshot_store.h"

namespace facepipe::events {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLevelBytes = 128;
constexpr size_t kMaxCameras = 1000;          // distinct cameras whose state is kept
constexpr size_t kMaxTracksPerCamera = 256;   // present tracks per camera (a lost face.left cannot grow it)
constexpr size_t kMaxPeoplePerCamera = 1000;  // person states kept per camera for re-publishing

const char* const kUrlForms =
    "mqtt://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX][?client_id=ID&qos=0|1|2&keepalive=S&discovery=PREFIX|off"
    "&max_queued=N&reconnect_max=S&connect_timeout=S] or mqtts://... (&ca=FILE&insecure=1)";

[[noreturn]] void bad_url(const std::string& url, const std::string& why) {
  throw Error(ErrorKind::kInvalidInput,
              "bad MQTT URL '" + redact_url(url) + "': " + why + "; use " + kUrlForms);
}

std::string percent_decode(const std::string& url, const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      bad_url(url, "a '%' is not followed by two hex digits");
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

int parse_int(const std::string& url, const std::string& key, const std::string& value, int lo, int hi) {
  int v = 0;
  size_t used = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < lo || v > hi)
    bad_url(url, fmt::format("{}={} is not a number from {} to {}", key, value, lo, hi));
  return v;
}

// A topic filter's wildcards and level separator, the NUL and control characters cannot be in a level.
bool valid_prefix(const std::string& p) {
  if (p.empty() || p.size() > 256 || p.front() == '/' || p.back() == '/' || p.find("//") != std::string::npos)
    return false;
  for (unsigned char c : p)
    if (c == '+' || c == '#' || c < 0x20 || c == 0x7f) return false;
  return mosquitto_validate_utf8(p.c_str(), static_cast<int>(p.size())) == MOSQ_ERR_SUCCESS;
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::once_flag lib_once;

// Names from a camera are not always valid UTF-8: replace such bytes rather than refuse the event.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

MqttConfig parse_mqtt_url(const std::string& url) {
  MqttConfig c;
  std::string rest;
  if (url.rfind("mqtt://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("mqtts://", 0) == 0) {
    rest = url.substr(8);
    c.tls = true;
    c.port = 8883;
  } else {
    bad_url(url, "it does not start with mqtt:// or mqtts://");
  }
  if (url.size() > 4096) bad_url(url, "it is longer than 4096 characters");
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string::npos) bad_url(url, "'#' is not allowed (a topic wildcard)");
  std::string authority = rest, path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    c.username = percent_decode(url, userinfo.substr(0, colon));
    if (colon != std::string::npos) c.password = percent_decode(url, userinfo.substr(colon + 1));
    if (c.username.empty()) bad_url(url, "the user name before '@' is empty");
  }
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) bad_url(url, "an IPv6 address lacks its ']'");
    c.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url(url, "expected ':PORT' after the IPv6 address");
      c.port = parse_int(url, "port", after.substr(1), 1, 65535);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    c.host = authority.substr(0, colon);
    c.port = parse_int(url, "port", authority.substr(colon + 1), 1, 65535);
  } else {
    c.host = authority;
  }
  if (c.host.empty()) bad_url(url, "it names no broker host");
  for (unsigned char ch : c.host)
    if (!(std::isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == ':'))
      bad_url(url, "the host has a character that no host name has");
  if (!path.empty()) {
    c.prefix = percent_decode(url, path);
    if (!valid_prefix(c.prefix))
      bad_url(url, "the topic prefix must be non-empty UTF-8 levels without '+', '#' or empty levels");
  }
  char host[64] = "host";
  ::gethostname(host, sizeof host - 1);
  c.client_id = fmt::format("facepipe-{}-{}", host, ::getpid()).substr(0, 64);
  size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key = pair.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : percent_decode(url, pair.substr(eq + 1));
    if (key == "client_id") {
      if (value.empty() || value.size() > 128) bad_url(url, "client_id must have 1 to 128 characters");
      c.client_id = value;
    } else if (key == "qos") {
      c.qos = parse_int(url, key, value, 0, 2);
    } else if (key == "keepalive") {
      c.keepalive_s = parse_int(url, key, value, 5, 65535);
    } else if (key == "discovery") {
      c.discovery_prefix = value == "off" ? "" : value;
      if (!c.discovery_prefix.empty() && !valid_prefix(c.discovery_prefix))
        bad_url(url, "discovery must be a topic prefix (e.g. homeassistant) or off");
    } else if (key == "max_queued") {
      c.max_queued = static_cast<size_t>(parse_int(url, key, value, 1, 1000000));
    } else if (key == "reconnect_max") {
      c.reconnect_max = std::chrono::seconds(parse_int(url, key, value, 1, 3600));
    } else if (key == "connect_timeout") {
      c.connect_timeout = std::chrono::seconds(parse_int(url, key, value, 1, 600));
    } else if (key == "ca" && c.tls) {
      if (value.empty() || ::access(value.c_str(), R_OK) != 0)
        bad_url(url, "ca=" + value + " is not a readable file");
      c.ca_file = value;
    } else if (key == "insecure" && c.tls) {
      c.insecure = parse_int(url, key, value, 0, 1) == 1;
    } else {
      bad_url(url, "unknown option '" + key + "'");
    }
  }
  if (c.reconnect_max < c.reconnect_min) c.reconnect_min = c.reconnect_max;
  if (c.password.empty() && !c.username.empty())
    if (const char* p = std::getenv("FACEPIPE_MQTT_PASSWORD")) c.password = p;
  return c;
}

std::string mqtt_topic_level(const std::string& name) {
  std::string out;
  for (unsigned char c : name.substr(0, kMaxLevelBytes))
    out += (c == '/' || c == '+' || c == '#' || c < 0x20 || c == 0x7f) ? '_' : static_cast<char>(c);
  // A cut in the middle of a UTF-8 character, or bytes that are not UTF-8: keep only ASCII.
  if (mosquitto_validate_utf8(out.c_str(), static_cast<int>(out.size())) != MOSQ_ERR_SUCCESS)
    for (char& c : out)
      if (static_cast<unsigned char>(c) >= 0x80) c = '_';
  return out.empty() ? "_" : out;
}

// Everything the sink knows, shared by the caller's thread (publish) and the network thread.
struct MqttSink::State {
  MqttConfig config;
  std::string available_topic;
  mosquitto* mosq = nullptr;

  // Connection, owned by the network thread; read by others through the atomics and mu.
  std::atomic<bool> connected{false};
  std::atomic<bool> stopping{false};
  std::thread thread;

  mutable std::mutex mu;  // everything below
  std::condition_variable changed;
  std::set<int> unacked;                                 // mids published at QoS > 0 and not yet acknowledged
  std::deque<std::pair<std::string, std::string>> held;  // events (topic, payload) published while offline
  std::string last_error;
  uint64_t failures = 0;
  bool announced_error = false;

  struct Track {
    std::string name;
    bool known = false;
    std::string since;
    std::optional<double> distance;
  };
  struct Camera {
    std::string level;                    // the camera's topic level
    std::string raw;                      // as in the events
    std::map<std::string, Track> tracks;  // by track_id
    std::map<std::string, json> people;   // person topic level → last retained state
    uint64_t order = 0;                   // tracks in arrival order, for bounded eviction
    std::map<std::string, uint64_t> arrival;
  };
  std::map<std::string, Camera> cameras;  // by topic level

  // Publishes one message; caller holds mu. Returns false when libmosquitto refused it outright.
  bool send_locked(const std::string& topic, const std::string& payload, bool retain) {
    int mid = 0;
    const int rc = mosquitto_publish(mosq, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                     payload.data(), config.qos, retain);
    // MOSQ_ERR_NO_CONN at QoS > 0: libmosquitto has queued it and sends it after the (re)connect.
    if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && config.qos > 0)) {
      if (config.qos > 0) unacked.insert(mid);
      return true;
    }
    if (rc != MOSQ_ERR_NO_CONN)
      spdlog::warn("mqtt: could not publish to {}: {}", topic, mosquitto_strerror(rc));
    return false;
  }

  std::string camera_topic(const Camera& cam, const std::string& leaf) const {
    return config.prefix + "/" + cam.level + "/" + leaf;
  }

  json present_json(const Camera& cam) const {
    json tracks = json::array();
    std::set<std::string> names;
    for (const auto& [id, t] : cam.tracks) {
      tracks.push_back({{"track_id", id},
                        {"name", t.name},
                        {"known", t.known},
                        {"since", t.since},
                        {"distance", t.distance ? json(*t.distance) : json(nullptr)}});
      names.insert(t.name);
    }
    return {{"camera", cam.raw},
            {"count", cam.tracks.size()},
            {"names", json(std::vector<std::string>(names.begin(), names.end()))},
            {"tracks", tracks},
            {"time", iso_now()}};
  }

  json discovery_json(const Camera& cam) const {
    const std::string id = SnapshotStore::safe_component(cam.raw);
    const std::string present = camera_topic(cam, "present");
    return {{"name", "Faces"},
            {"unique_id", "facepipe_" + id + "_faces"},
            {"object_id", "facepipe_" + id + "_faces"},
            {"state_topic", present},
            {"value_template", "{{ value_json.count }}"},
            {"json_attributes_topic", present},
            {"unit_of_measurement", "faces"},
            {"state_class", "measurement"},
            {"icon", "mdi:face-recognition"},
            {"availability_topic", available_topic},
            {"payload_available", "online"},
            {"payload_not_available", "offline"},
            {"device",
             {{"identifiers", json::array({"facepipe_" + id})},
              {"name", "facepipe " + cam.raw},
              {"manufacturer", "facepipe"},
              {"model", "facepipe camera"}}}};
  }

  std::string discovery_topic(const Camera& cam) const {
    return config.discovery_prefix + "/sensor/facepipe_" + SnapshotStore::safe_component(cam.raw) + "/config";
  }

  // The retained view of one camera: discovery, present list, each person's state.
  void send_camera_locked(const Camera& cam) {
    if (!config.discovery_prefix.empty()) send_locked(discovery_topic(cam), dump(discovery_json(cam)), true);
    for (const auto& [level, state] : cam.people) send_locked(camera_topic(cam, level), dump(state), true);
    send_locked(camera_topic(cam, "present"), dump(present_json(cam)), true);  // last: the others are there
  }

  void on_connected() {
    std::lock_guard lock(mu);
    if (announced_error)
      spdlog::info("mqtt: connected to {}:{} again after {} failed attempts", config.host, config.port,
                   failures);
    else
      spdlog::info("mqtt: connected to {}:{}", config.host, config.port);
    announced_error = false;
    failures = 0;
    last_error.clear();
    send_locked(available_topic, "online", true);
    for (const auto& [topic, payload] : held) send_locked(topic, payload, false);  // in their order
    held.clear();
    for (const auto& [level, cam] : cameras) send_camera_locked(cam);
    connected = true;  // under mu: publish sees the held events go out before its own
  }

  void on_acknowledged(int mid) {
    std::lock_guard lock(mu);
    unacked.erase(mid);
    changed.notify_all();
  }

  // Records a failed connection and says so in the log (the first time, when the reason changes, and at
  // powers of two after that: a broker down for hours does not flood it).
  void failed(const std::string& why) {
    std::lock_guard lock(mu);
    ++failures;
    if (!announced_error || why != last_error || (failures & (failures - 1)) == 0)
      spdlog::warn("mqtt: {}:{}: {} (attempt {}; retrying with backoff up to {} s)", config.host, config.port,
                   why, failures, config.reconnect_max.count() / 1000);
    announced_error = true;
    last_error = why;
  }

  // Sleeps until `until` or stop.
  void pause(Clock::time_point until) {
    std::unique_lock lock(mu);
    changed.wait_until(lock, until, [&] { return stopping.load(); });
  }

  // The network thread: connect, run the loop, reconnect with capped exponential backoff. Written by hand
  // rather than with mosquitto_loop_start so that a refused or silent broker gets a clear, bounded error.
  void run() {
    auto backoff = config.reconnect_min;
    bool ever_connected = false, first = true;
    while (!stopping) {
      const int rc = first
                         ? mosquitto_connect_async(mosq, config.host.c_str(), config.port, config.keepalive_s)
                         : mosquitto_reconnect_async(mosq);
      first = false;
      if (rc != MOSQ_ERR_SUCCESS) {
        failed(rc == MOSQ_ERR_ERRNO ? std::string("cannot connect: ") + std::strerror(errno)
                                    : std::string("cannot connect: ") + mosquitto_strerror(rc));
      } else {
        const auto started = Clock::now();
        bool timed_out = false;
        int loop_rc = MOSQ_ERR_SUCCESS;
        while (!stopping) {
          loop_rc = mosquitto_loop(mosq, 100, 1);
          if (loop_rc != MOSQ_ERR_SUCCESS) break;
          if (!connected && Clock::now() - started > config.connect_timeout) {
            timed_out = true;
            break;
          }
        }
        if (stopping) break;
        if (connected) ever_connected = true;
        bool was_connected = false;
        {
          std::lock_guard lock(mu);
          was_connected = connected.exchange(false);
        }
        if (timed_out) {
          mosquitto_disconnect(mosq);
          failed(
              fmt::format("the broker sent no CONNACK within {} s", config.connect_timeout.count() / 1000));
        } else {
          std::string why = loop_rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(loop_rc);
          {
            std::lock_guard lock(mu);
            if (!refused.empty()) why = refused;
            if (loop_rc == MOSQ_ERR_TLS && !library_error.empty())
              why += " " + library_error;  // OpenSSL's reason
            library_error.clear();
            refused.clear();
          }
          failed(was_connected ? "connection lost: " + why : "cannot connect: " + why);
        }
        if (was_connected) backoff = config.reconnect_min;  // a working broker that dropped: retry soon
      }
      pause(Clock::now() + backoff);
      backoff = std::min(backoff * 2, config.reconnect_max);
    }
    (void)ever_connected;
  }

  std::string refused;  // the broker's CONNACK refusal, under mu
  std::string
      library_error;  // libmosquitto's last error log line (OpenSSL's reason for a TLS error), under mu
};

namespace {

void on_connect(mosquitto*, void* obj, int rc) {
  auto* s = static_cast<MqttSink::State*>(obj);
  if (rc == 0) {
    s->on_connected();
  } else {
    std::lock_guard lock(s->mu);
    s->refused = std::string("the broker refused the connection: ") + mosquitto_connack_string(rc);
  }
}

void on_publish(mosquitto*, void* obj, int mid) { static_cast<MqttSink::State*>(obj)->on_acknowledged(mid); }

void on_log(mosquitto*, void* obj, int level, const char* text) {
  if (!(level & MOSQ_LOG_ERR) || !text) return;
  auto* s = static_cast<MqttSink::State*>(obj);
  std::lock_guard lock(s->mu);
  s->library_error = std::string(text).substr(0, 300);
}

}  // namespace

MqttSink::MqttSink(MqttConfig config) : state_(std::make_unique<State>()) {
  std::call_once(lib_once, [] { mosquitto_lib_init(); });
  State& s = *state_;
  s.config = std::move(config);
  s.available_topic = s.config.prefix + "/available";
  s.mosq = mosquitto_new(s.config.client_id.c_str(), true, &s);
  if (!s.mosq) throw Error(ErrorKind::kInternal, "mqtt: cannot create a client (out of memory?)");
  mosquitto_threaded_set(s.mosq, true);
  mosquitto_int_option(s.mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(s.mosq, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_max_inflight_messages_set(s.mosq, 100);
  mosquitto_connect_callback_set(s.mosq, on_connect);
  mosquitto_publish_callback_set(s.mosq, on_publish);
  mosquitto_log_callback_set(s.mosq, on_log);
  mosquitto_will_set(s.mosq, s.available_topic.c_str(), 7, "offline", 1, true);
  if (!s.config.username.empty())
    mosquitto_username_pw_set(s.mosq, s.config.username.c_str(),
                              s.config.password.empty() ? nullptr : s.config.password.c_str());
  if (s.config.tls) {
    const char* capath = s.config.ca_file.empty() ? "/etc/ssl/certs" : nullptr;
    const int rc = mosquitto_tls_set(s.mosq, s.config.ca_file.empty() ? nullptr : s.config.ca_file.c_str(),
                                     capath, nullptr, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy(s.mosq);
      throw Error(ErrorKind::kInvalidInput, std::string("mqtts: cannot use the CA certificates: ") +
                                                mosquitto_strerror(rc) + "; give ?ca=FILE");
    }
    if (s.config.insecure) mosquitto_tls_insecure_set(s.mosq, true);
  }
  s.thread = std::thread([&s] { s.run(); });
}

MqttSink::~MqttSink() {
  State& s = *state_;
  if (s.connected && !s.stopping) {
    {
      std::lock_guard lock(s.mu);
      s.send_locked(s.available_topic, "offline", true);
    }
    wait_acknowledged(std::chrono::seconds(2));
  }
  {
    std::lock_guard lock(s.mu);
    s.stopping = true;
    s.changed.notify_all();
  }
  s.thread.join();
  mosquitto_disconnect(s.mosq);
  mosquitto_loop(s.mosq, 50, 1);  // lets the DISCONNECT go out (the broker then keeps the will unsent)
  mosquitto_destroy(s.mosq);
}

bool MqttSink::connected() const { return state_->connected; }

size_t MqttSink::pending() const {
  std::lock_guard lock(state_->mu);
  return state_->unacked.size() + state_->held.size();
}

std::string MqttSink::last_error() const {
  std::lock_guard lock(state_->mu);
  return state_->last_error;
}

bool MqttSink::wait_acknowledged(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  return state_->changed.wait_for(lock, timeout,
                                  [&] { return state_->unacked.empty() && state_->held.empty(); });
}

void MqttSink::publish(const json& event) {
  if (!event.is_object() || !event.contains("camera") || !event["camera"].is_string())
    throw Error(ErrorKind::kInvalidInput, "an MQTT event must be a JSON object with a string \"camera\"");
  State& s = *state_;
  if (s.stopping) throw Error(ErrorKind::kUnavailable, "mqtt: the sink is stopping");
  const std::string raw = event["camera"].get<std::string>();
  const std::string level = mqtt_topic_level(raw);
  const std::string type = event.value("type", "");
  const std::string track_id =
      event.contains("track_id") && event["track_id"].is_string() ? event["track_id"].get<std::string>() : "";
  std::lock_guard lock(s.mu);
  // Up to 1 event + 2 people + present + discovery messages.
  const bool room = s.unacked.size() + s.held.size() + 5 <= s.config.max_queued;
  const bool online = s.connected;  // changes only under mu
  auto it = s.cameras.find(level);
  const bool new_camera = it == s.cameras.end();
  if (new_camera) {
    if (s.cameras.size() >= kMaxCameras)
      throw Error(ErrorKind::kInvalidInput, fmt::format("mqtt: more than {} cameras", kMaxCameras));
    it = s.cameras.emplace(level, State::Camera{level, raw.substr(0, 256), {}, {}, 0, {}}).first;
  }
  State::Camera& cam = it->second;
  // While offline the events wait in order in `held`; the retained state needs no queue, since every
  // (re)connect publishes it whole.
  if (room && online)
    s.send_locked(s.camera_topic(cam, "events"), dump(event), false);
  else if (room)
    s.held.emplace_back(s.camera_topic(cam, "events"), dump(event));
  const bool send_state = room && online;

  // Presence from entered / identified / left.
  std::set<std::string> touched;  // person names whose state changed
  const bool presence =
      !track_id.empty() && (type == "face.entered" || type == "face.identified" || type == "face.left");
  if (presence) {
    const std::string name =
        event.contains("name") && event["name"].is_string() ? event["name"].get<std::string>() : "Unknown";
    auto t = cam.tracks.find(track_id);
    if (type == "face.left") {
      if (t != cam.tracks.end()) {
        touched.insert(t->second.name);
        cam.tracks.erase(t);
        cam.arrival.erase(track_id);
      }
      touched.insert(name);
    } else {
      if (t == cam.tracks.end()) {
        if (cam.tracks.size() >= kMaxTracksPerCamera) {  // never more: evict the track seen first
          auto oldest = std::min_element(cam.arrival.begin(), cam.arrival.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
          touched.insert(cam.tracks[oldest->first].name);
          cam.tracks.erase(oldest->first);
          cam.arrival.erase(oldest);
        }
        t = cam.tracks.emplace(track_id, State::Track{}).first;
        t->second.since = event.contains("first_seen") && event["first_seen"].is_string()
                              ? event["first_seen"].get<std::string>()
                              : event.value("time", iso_now());
        cam.arrival[track_id] = ++cam.order;
      } else if (t->second.name != name) {
        touched.insert(t->second.name);  // identified as someone else: the old name may have left
      }
      t->second.name = name.substr(0, 256);
      t->second.known = event.value("known", false);
      t->second.distance = event.contains("distance") && event["distance"].is_number()
                               ? std::optional<double>(event["distance"].get<double>())
                               : std::nullopt;
      touched.insert(t->second.name);
    }
    for (const std::string& person : touched) {
      std::string person_level = mqtt_topic_level(person);
      if (person_level == "events" || person_level == "present" || person_level == "available")
        person_level += "_";
      int tracks = 0;
      for (const auto& [id, tr] : cam.tracks) tracks += tr.name == person;
      json state = {{"camera", raw},       {"name", person}, {"present", tracks > 0},
                    {"tracks", tracks},    {"event", type},  {"time", event.value("time", iso_now())},
                    {"track_id", track_id}};
      if (person == name)
        for (const char* key : {"distance", "known", "record", "snapshot"})
          if (event.contains(key)) state[key] = event[key];
      // Absent people are kept too, so that a reconnect also corrects a retained "present": true of someone
      // who left while the broker was away; bounded by forgetting an absent one.
      cam.people[person_level] = state;
      if (cam.people.size() > kMaxPeoplePerCamera)
        for (auto p = cam.people.begin(); p != cam.people.end(); ++p)
          if (!p->second.value("present", false) && p->first != person_level) {
            cam.people.erase(p);
            break;
          }
      if (send_state) s.send_locked(s.camera_topic(cam, person_level), dump(state), true);
    }
  }
  if (send_state && new_camera && !s.config.discovery_prefix.empty())
    s.send_locked(s.discovery_topic(cam), dump(s.discovery_json(cam)), true);
  if (send_state && (new_camera || presence))
    s.send_locked(s.camera_topic(cam, "present"), dump(s.present_json(cam)), true);
  if (!room)
    throw Error(ErrorKind::kUnavailable,
                fmt::format("mqtt: {} messages wait for the broker {}:{} ({}); this event is dropped (the "
                            "presence it changed is published on the next connect); check that the broker "
                            "runs and that the URL is right",
                            s.unacked.size() + s.held.size(), s.config.host, s.config.port,
                            online ? "connected, but it does not acknowledge"
                                   : (s.last_error.empty() ? "connecting" : s.last_error)));
}

}  // namespace facepipe::events
