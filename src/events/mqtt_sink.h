// Events to an MQTT broker (libmosquitto), for Home Assistant, Node-RED and anything else on the bus.
//
// URL:  mqtt://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX][?OPTION=VALUE&...]       (port 1883)
//       mqtts://... the same over TLS                                          (port 8883)
//   PREFIX     the first topic level(s), default "facepipe"
//   options    client_id (default facepipe-<host>-<pid>), qos (0|1|2, default 1), keepalive (s, 30),
//              discovery (Home Assistant's discovery prefix, default "homeassistant"; "off" for none),
//              max_queued (unacknowledged messages held for the broker, 1000), reconnect_max (s, 30),
//              connect_timeout (s, 10); for mqtts: ca (a CA file, default the system's), insecure (1: do
//              not check the broker's name; tests only)
//   PASSWORD may instead come from $FACEPIPE_MQTT_PASSWORD, so that it is not on the command line.
//
// Topics (camera and person names with '/', '+', '#' or control characters have those replaced by '_'):
//   PREFIX/<camera>/events    every event's JSON, as given                                   (not retained)
//   PREFIX/<camera>/present   {"camera", "count", "names": [...], "tracks": [{track_id, name, known,
//                             since, distance}], "time"} from face.entered/identified/left     (retained)
//   PREFIX/<camera>/<name>    {"camera", "name", "present", "tracks", "event", "time", "track_id",
//                             "distance", "known", "record", "snapshot"} per person            (retained)
//                             (a person named "events", "present" or "available" gets a trailing '_')
//   PREFIX/available          "online" while connected, "offline" on a clean stop and as the broker's
//                             last will when the connection dies                              (retained)
//   <discovery>/sensor/facepipe_<camera>/config   Home Assistant MQTT discovery: a sensor per camera whose
//                             state is the number of faces present, with the present JSON as
//                             attributes and PREFIX/available as availability                 (retained)
// A camera is announced (discovery, present) at its first event. Every time the connection comes (back),
// the availability, the discovery configs and the retained state are published again, so a broker
// restarted without persistence is whole again after the reconnect.
//
// Delivery: publish queues the messages in libmosquitto and returns; they go out (QoS 1 by default) as soon
// as the broker is connected, and are sent again after a reconnect until acknowledged. Reconnects back off
// exponentially from 1 s to reconnect_max. At most max_queued messages wait unacknowledged: beyond that
// publish throws Error(kUnavailable) naming the broker and the connection's last error, and the event is
// not queued (memory stays bounded when the broker is down or never acknowledges).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "events/fanout.h"  // redact_url
#include "events/sink.h"

namespace facepipe::events {

struct MqttConfig {
  bool tls = false;
  std::string host;
  int port = 1883;
  std::string username, password;
  std::string prefix = "facepipe";
  std::string client_id;
  int qos = 1;
  int keepalive_s = 30;
  std::string discovery_prefix = "homeassistant";  // "" = no discovery
  size_t max_queued = 1000;
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_file;
  bool insecure = false;
};

// Error(kInvalidInput) naming the valid form for anything that is not a well-formed mqtt(s) URL.
MqttConfig parse_mqtt_url(const std::string& url);

// A topic level made from a camera or person name (see the top of this file); never empty.
std::string mqtt_topic_level(const std::string& name);

class MqttSink : public EventSink {
 public:
  // Starts connecting in the background and returns at once; a broker that is down is retried.
  explicit MqttSink(MqttConfig config);
  // Publishes "offline", waits up to 2 s for acknowledgements, disconnects. (publish never blocks, so the
  // sink is not Interruptible: a FanOut's stop leaves its last events their 2 s.)
  ~MqttSink() override;

  // Error(kInvalidInput) for an event that is not a JSON object with a string "camera";
  // Error(kUnavailable) when max_queued messages already wait (see the top of this file).
  void publish(const nlohmann::json& event) override;

  bool connected() const;
  size_t pending() const;  // messages not yet acknowledged by the broker
  // Waits until every message is acknowledged; false on timeout.
  bool wait_acknowledged(std::chrono::milliseconds timeout);
  std::string last_error() const;  // "" while none

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace facepipe::events
