// The MQTT sink against a real mosquitto broker on loopback: events, retained presence and per-person
// state, Home Assistant discovery and availability; a subscriber that comes later sees the retained state;
// a broker killed and restarted gets everything back after the reconnect; a broker that is absent or that
// never answers gives a clear error with bounded memory, and a bad URL says which forms are valid.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>

#include "core/error.h"
#include "events/mqtt_sink.h"
#include "events/sink.h"
#include "testutil/mosquitto_broker.h"

namespace facepipe::events {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::MosquittoBroker;
using testing::MqttSubscriber;
using namespace std::chrono_literals;

json event(const std::string& type, const std::string& track, const std::string& name,
           const std::string& camera = "door") {
  json e = {{"type", type},
            {"camera", camera},
            {"track_id", track},
            {"name", name},
            {"known", name != "Unknown"},
            {"distance", name != "Unknown" ? json(0.41) : json(nullptr)},
            {"record", name == "Mr_Bean" ? json({{"role", "actor"}}) : json(nullptr)},
            {"time", "2026-12-02T01:02:03.456Z"},
            {"first_seen", "2026-12-02T01:02:00.000Z"},
            {"box", {10, 20, 110, 140}},
            {"snapshot", {{"face", camera + "/x-face.jpg"}, {"frame", camera + "/x-frame.jpg"}}}};
  if (type == "face.left") e["duration_s"] = 12.3;
  return e;
}

json last_json(MqttSubscriber& sub, const std::string& topic) {
  auto m = sub.on(topic);
  return m.empty() ? json() : json::parse(m.back().payload, nullptr, false);
}

class MqttSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::on_path("mosquitto")) GTEST_SKIP() << "mosquitto is not installed (scripts/deps.sh)";
    dir_ = fs::temp_directory_path() / ("fp_mqtt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    broker_ = std::make_unique<MosquittoBroker>(dir_);
    ASSERT_TRUE(broker_->start()) << "mosquitto did not start; see " << (dir_ / "mosquitto.log");
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<MosquittoBroker> broker_;
};

TEST_F(MqttSinkTest, EventsPresencePeopleDiscoveryAndAvailabilityReachTheBroker) {
  MqttSubscriber sub(broker_->port(), "#");
  ASSERT_TRUE(sub.wait_subscribed());
  auto sink = std::make_unique<MqttSink>(parse_mqtt_url(broker_->url("?client_id=fp-test")));
  // Connected first, so that each state change is seen (offline, only the latest state is sent).
  for (int i = 0; i < 500 && !sink->connected(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(sink->connected());
  const std::vector<json> events = {
      event("face.entered", "door-1", "Mr_Bean"), event("face.entered", "door-2", "Unknown"),
      event("face.identified", "door-2", "Obama"), event("face.left", "door-1", "Mr_Bean")};
  for (const auto& e : events) sink->publish(e);
  ASSERT_TRUE(sub.wait_for([&](const auto& ms) {
    int n = 0;
    for (const auto& m : ms) n += m.topic == "facepipe/door/events";
    return n == 4;
  }));
  // Every event, in order, as published.
  const auto got = sub.on("facepipe/door/events");
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(json::parse(got[i].payload), events[i]) << i;
  // Presence: Mr_Bean came and left, the unknown face became Obama.
  ASSERT_TRUE(sub.wait_for([&](const auto&) {
    const json p = last_json(sub, "facepipe/door/present");
    return p.is_object() && p["names"] == json({"Obama"});
  }));
  const json present = last_json(sub, "facepipe/door/present");
  EXPECT_EQ(present["count"], 1);
  EXPECT_EQ(present["camera"], "door");
  EXPECT_EQ(present["tracks"][0]["track_id"], "door-2");
  EXPECT_EQ(present["tracks"][0]["known"], true);
  const json bean = last_json(sub, "facepipe/door/Mr_Bean");
  EXPECT_EQ(bean["present"], false);
  EXPECT_EQ(bean["event"], "face.left");
  const json bean_entered = json::parse(sub.on("facepipe/door/Mr_Bean").front().payload);
  EXPECT_EQ(bean_entered["present"], true);
  EXPECT_EQ(bean_entered["record"]["role"], "actor");
  EXPECT_EQ(bean_entered["snapshot"]["face"], "door/x-face.jpg");
  EXPECT_EQ(last_json(sub, "facepipe/door/Obama")["present"], true);
  EXPECT_EQ(last_json(sub, "facepipe/door/Unknown")["present"], false);  // it was identified
  // Home Assistant discovery: one sensor for the camera, fed by the present topic.
  const json config = last_json(sub, "homeassistant/sensor/facepipe_door/config");
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config["state_topic"], "facepipe/door/present");
  EXPECT_EQ(config["json_attributes_topic"], "facepipe/door/present");
  EXPECT_EQ(config["value_template"], "{{ value_json.count }}");
  EXPECT_EQ(config["unique_id"], "facepipe_door_faces");
  EXPECT_EQ(config["availability_topic"], "facepipe/available");
  EXPECT_EQ(config["device"]["identifiers"][0], "facepipe_door");
  ASSERT_FALSE(sub.on("facepipe/available").empty());
  EXPECT_EQ(sub.on("facepipe/available").front().payload, "online");

  // A subscriber that connects later gets the retained state, and no old events.
  MqttSubscriber late(broker_->port(), "#");
  ASSERT_TRUE(late.wait_for([&](const auto&) {
    return !late.on("facepipe/door/present").empty() &&
           !late.on("homeassistant/sensor/facepipe_door/config").empty() &&
           !late.on("facepipe/door/Obama").empty() && !late.on("facepipe/available").empty();
  }));
  EXPECT_TRUE(late.on("facepipe/door/present").back().retained);
  EXPECT_EQ(last_json(late, "facepipe/door/present")["names"], json({"Obama"}));
  EXPECT_TRUE(late.on("homeassistant/sensor/facepipe_door/config").back().retained);
  EXPECT_EQ(late.on("facepipe/available").back().payload, "online");
  EXPECT_TRUE(late.on("facepipe/door/events").empty());

  // A clean stop says offline (retained), for Home Assistant's availability.
  sink.reset();
  ASSERT_TRUE(late.wait_for([&](const auto&) {
    auto a = late.on("facepipe/available");
    return !a.empty() && a.back().payload == "offline";
  }));
}

TEST_F(MqttSinkTest, ABrokerKilledAndRestartedGetsTheStateBackAndLaterEvents) {
  MqttSink sink(parse_mqtt_url(broker_->url("/cams?reconnect_max=1&discovery=off")));
  sink.publish(event("face.entered", "door-1", "Mr_Bean"));
  ASSERT_TRUE(sink.wait_acknowledged(10s));
  broker_->stop(SIGKILL);  // no persistence: its retained messages die with it
  const auto lost = std::chrono::steady_clock::now() + 10s;
  while (sink.connected() && std::chrono::steady_clock::now() < lost) std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(sink.connected());
  sink.publish(event("face.entered", "door-2", "Obama"));  // while the broker is down: held for it
  EXPECT_GT(sink.pending(), 0u);
  EXPECT_NE(sink.last_error(), "");
  ASSERT_TRUE(broker_->start());
  const auto back = std::chrono::steady_clock::now() + 15s;
  while (!sink.connected() && std::chrono::steady_clock::now() < back) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(sink.connected()) << sink.last_error();
  ASSERT_TRUE(sink.wait_acknowledged(10s)) << "what was held was not delivered after the reconnect";
  EXPECT_EQ(sink.last_error(), "");
  // The retained presence was published again: a new subscriber sees both people.
  MqttSubscriber sub(broker_->port(), "cams/#");
  ASSERT_TRUE(sub.wait_for([&](const auto&) {
    const json p = last_json(sub, "cams/door/present");
    return p.is_object() && p["names"] == json({"Mr_Bean", "Obama"}) && !sub.on("cams/door/Obama").empty() &&
           !sub.on("cams/available").empty();
  })) << "retained presence not re-published after the broker restart";
  EXPECT_EQ(last_json(sub, "cams/door/Obama")["present"], true);
  EXPECT_EQ(sub.on("cams/available").back().payload, "online");
  // And later events arrive.
  ASSERT_TRUE(sub.wait_subscribed());
  sink.publish(event("face.left", "door-1", "Mr_Bean"));
  ASSERT_TRUE(sub.wait_for([&](const auto&) {
    auto e = sub.on("cams/door/events");
    return !e.empty() && json::parse(e.back().payload)["type"] == "face.left";
  }));
}

TEST_F(MqttSinkTest, EventsPublishedBeforeTheConnectionArriveInOrder) {
  MqttSubscriber sub(broker_->port(), "facepipe/+/events");
  ASSERT_TRUE(sub.wait_subscribed());
  auto sink = open_event_sink(broker_->url());  // publishes at once, while it is still connecting
  for (int i = 0; i < 50; ++i) sink->publish(event("face.entered", "door-" + std::to_string(i), "Obama"));
  ASSERT_TRUE(sub.wait_for([](const auto& ms) { return ms.size() >= 50; }));
  const auto got = sub.on("facepipe/door/events");
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(json::parse(got[i].payload)["track_id"], "door-" + std::to_string(i));
}

TEST_F(MqttSinkTest, HostileNamesBecomeSafeTopicLevels) {
  MqttSubscriber sub(broker_->port(), "facepipe/#");
  ASSERT_TRUE(sub.wait_subscribed());
  MqttSink sink(parse_mqtt_url(broker_->url()));
  sink.publish(event("face.entered", "t1", "x/+#\n", "a/b+c#"));
  sink.publish(event("face.entered", "t2", "present", std::string(100000, 'k')));
  sink.publish(event("face.entered", "t3", "bad\xff\xfe", "caf\xc3\xa9"));
  const std::string huge_level(128, 'k');
  ASSERT_TRUE(sub.wait_for([&](const auto&) {
    return !sub.on("facepipe/a_b_c_/x____").empty() &&
           !sub.on("facepipe/" + huge_level + "/present_").empty() &&
           !sub.on("facepipe/" + huge_level + "/present").empty() &&
           !sub.on("facepipe/caf\xc3\xa9/bad__").empty();
  })) << "topics: "
      << [&] {
           std::string t;
           for (const auto& m : sub.messages()) t += m.topic.substr(0, 80) + "\n";
           return t;
         }();
  EXPECT_EQ(last_json(sub, "facepipe/a_b_c_/x____")["name"], "x/+#\n");  // the payload keeps the real name
  EXPECT_EQ(last_json(sub, "facepipe/" + huge_level + "/present")["count"], 1)
      << last_json(sub, "facepipe/" + huge_level + "/present").dump();
  // Not an event: refused, nothing sent.
  for (const json& bad : {json("text"), json({{"type", "face.entered"}}), json({{"camera", 5}})}) {
    try {
      sink.publish(bad);
      ADD_FAILURE() << bad.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    }
  }
}

// mqtts:// to a broker with a certificate for 127.0.0.1 made by openssl here: trusted through ?ca=, and
// refused (no connection, a clear last error) against the system's CAs.
TEST(MqttSinkTls, ConnectsOverTlsWithTheGivenCaAndRefusesAnUntrustedBroker) {
  if (!testing::on_path("mosquitto") || !testing::on_path("openssl"))
    GTEST_SKIP() << "needs mosquitto and openssl";
  const fs::path dir = fs::temp_directory_path() / ("fp_mqtts_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
                         "subjectAltName=IP:127.0.0.1 -keyout " +
                         key + " -out " + cert + " >/dev/null 2>&1")
                            .c_str()),
            0);
  MosquittoBroker broker(dir, "cafile " + cert + "\ncertfile " + cert + "\nkeyfile " + key + "\n");
  ASSERT_TRUE(broker.start()) << testing::on_path("mosquitto");
  const std::string base = "mqtts://127.0.0.1:" + std::to_string(broker.port());
  {
    MqttSink sink(parse_mqtt_url(base + "?ca=" + cert));
    sink.publish(event("face.entered", "door-1", "Obama"));
    ASSERT_TRUE(sink.wait_acknowledged(10s)) << sink.last_error();
    EXPECT_TRUE(sink.connected());
  }
  MqttSink untrusted(parse_mqtt_url(base + "?reconnect_max=1"));
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (untrusted.last_error().empty() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(untrusted.connected());
  // "A TLS error occurred.", most often followed by OpenSSL's "certificate verify failed".
  EXPECT_NE(untrusted.last_error().find("TLS"), std::string::npos) << untrusted.last_error();
  EXPECT_EQ(untrusted.pending(), 0u);
  fs::remove_all(dir);
}

TEST(MqttSinkUrl, ParsesTheDocumentedFormsAndRefusesOthersNamingTheValidOnes) {
  const MqttConfig a = parse_mqtt_url("mqtt://127.0.0.1");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 1883);
  EXPECT_EQ(a.prefix, "facepipe");
  EXPECT_EQ(a.qos, 1);
  EXPECT_EQ(a.discovery_prefix, "homeassistant");
  EXPECT_FALSE(a.tls);
  const MqttConfig b = parse_mqtt_url(
      "mqtts://us%40r:p%3Ass@broker.local:8884/home/"
      "cams?client_id=door-pi&qos=2&discovery=off&max_queued=50");
  EXPECT_TRUE(b.tls);
  EXPECT_EQ(b.username, "us@r");
  EXPECT_EQ(b.password, "p:ss");
  EXPECT_EQ(b.host, "broker.local");
  EXPECT_EQ(b.port, 8884);
  EXPECT_EQ(b.prefix, "home/cams");
  EXPECT_EQ(b.client_id, "door-pi");
  EXPECT_EQ(b.qos, 2);
  EXPECT_EQ(b.discovery_prefix, "");
  EXPECT_EQ(b.max_queued, 50u);
  EXPECT_EQ(parse_mqtt_url("mqtts://h").port, 8883);
  EXPECT_EQ(parse_mqtt_url("mqtt://[::1]:1884").host, "::1");
  for (const std::string& bad : std::vector<std::string>{
           "mqtt://", "mqtt://:1883", "mqtt://h:0", "mqtt://h:99999", "mqtt://h:abc", "mqtt://h/a/+/b",
           "mqtt://h/a#", "mqtt://h//x", "mqtt://h?qos=3", "mqtt://h?colour=red", "mqtt://h?keepalive=-1",
           "mqtt://h?max_queued=0", "mqtt://@h", "mqtt://h%zz", "mqtt://h?ca=/etc/passwd", "mqtt://h o st",
           "mqtts://h?ca=/no/such/file", "mqtt://h?client_id=", "mqtt://" + std::string(5000, 'h')}) {
    try {
      parse_mqtt_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << bad;
      EXPECT_NE(std::string(e.what()).find("mqtt://[USER[:PASSWORD]@]HOST[:PORT]"), std::string::npos)
          << e.what();
    }
  }
  // A password never shows in the error.
  try {
    parse_mqtt_url("mqtt://u:hunter2@h?qos=9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(MqttSinkTopics, LevelsHaveNoWildcardsSeparatorsOrBrokenUtf8) {
  EXPECT_EQ(mqtt_topic_level("door"), "door");
  EXPECT_EQ(mqtt_topic_level("a/b+c#d"), "a_b_c_d");
  EXPECT_EQ(mqtt_topic_level(""), "_");
  EXPECT_EQ(mqtt_topic_level(std::string("nul\0x", 5)), "nul_x");
  EXPECT_EQ(mqtt_topic_level(std::string(127, 'a') + "\xc3\xa9"), std::string(127, 'a') + "_");  // cut é
  EXPECT_EQ(mqtt_topic_level("Jos\xc3\xa9"), "Jos\xc3\xa9");
}

// Waits until `f` holds (bounded).
template <typename F>
bool eventually(F f, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(MqttSinkDown, AnAbsentBrokerGivesAClearErrorAndBoundedMemory) {
  const int port = testing::free_port();  // nothing listens there
  const auto start = std::chrono::steady_clock::now();
  {
    MqttSink sink(
        parse_mqtt_url("mqtt://127.0.0.1:" + std::to_string(port) + "?max_queued=20&reconnect_max=1"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "opening waited for the broker";
    ASSERT_TRUE(eventually([&] { return !sink.last_error().empty(); }, 5s));
    EXPECT_NE(sink.last_error().find("refused"), std::string::npos) << sink.last_error();
    int refused = 0;
    std::string message;
    for (int i = 0; i < 1000; ++i) {
      try {
        sink.publish(event("face.entered", "door-" + std::to_string(i), "Mr_Bean"));
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
        message = e.what();
        ++refused;
      }
      EXPECT_LE(sink.pending(), 20u);
    }
    EXPECT_GE(refused, 1000 - 20);
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "stopping waited for the absent broker";
}

TEST(MqttSinkDown, ABrokerThatAcceptsAndNeverAnswersTimesOutAndStaysBounded) {
  // A TCP listener that accepts (the kernel does, from its backlog) and never says a word.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  const auto start = std::chrono::steady_clock::now();
  {
    MqttSink sink(parse_mqtt_url("mqtt://127.0.0.1:" + std::to_string(port) +
                                 "?max_queued=10&connect_timeout=1&reconnect_max=1"));
    ASSERT_TRUE(eventually([&] { return !sink.last_error().empty(); }, 5s));
    EXPECT_NE(sink.last_error().find("CONNACK"), std::string::npos) << sink.last_error();
    EXPECT_FALSE(sink.connected());
    int refused = 0;
    for (int i = 0; i < 100; ++i) try {
        sink.publish(event("face.entered", "t" + std::to_string(i), "Obama"));
      } catch (const Error& e) {
        ++refused;
      }
    EXPECT_GE(refused, 100 - 10);
    EXPECT_LE(sink.pending(), 10u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  ::close(fd);
}

TEST(MqttSinkDown, ABrokerThatConnectsButNeverAcknowledgesStaysBounded) {
  // Answers CONNECT with a CONNACK, then reads and ignores everything: no PUBACK ever.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<bool> stop{false};
  std::thread broker([&] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    bool acked = false;
    timeval tv{0, 100000};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!stop) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n > 0 && !acked) {
        const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00};
        ::send(c, connack, sizeof connack, 0);
        acked = true;
      }
    }
    ::close(c);
  });
  {
    MqttSink sink(
        parse_mqtt_url("mqtt://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "?max_queued=30"));
    ASSERT_TRUE(eventually([&] { return sink.connected(); }, 5s));
    std::string message;
    int refused = 0;
    for (int i = 0; i < 200; ++i) try {
        sink.publish(event("face.entered", "t" + std::to_string(i), "Obama"));
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
        message = e.what();
        ++refused;
      }
    EXPECT_LE(sink.pending(), 30u);
    EXPECT_GT(refused, 150);
    EXPECT_NE(message.find("does not acknowledge"), std::string::npos) << message;
    EXPECT_FALSE(sink.wait_acknowledged(200ms));
  }
  stop = true;
  broker.join();
  ::close(fd);
}

}  // namespace
}  // namespace facepipe::events
