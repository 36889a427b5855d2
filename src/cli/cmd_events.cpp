// facepipe events send --sink URL [--sink URL ...]: publishes a sample face.entered and face.left (or the
// JSON events of a file, one a line) to event sinks, to check a broker, Home Assistant or a webhook
// receiver without a camera. Exits 1 naming each sink that did not take every event.
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "events/fanout.h"
#include "events/mqtt_sink.h"
#include "events/sink.h"

namespace facepipe::cli {
namespace {

using json = nlohmann::json;

std::string iso_utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::vector<json> sample_events(const std::string& camera, const std::string& name) {
  const auto now = std::chrono::system_clock::now();
  json entered = {{"type", "face.entered"},
                  {"camera", camera},
                  {"track_id", camera + "-test"},
                  {"name", name},
                  {"known", name != "Unknown"},
                  {"distance", name != "Unknown" ? json(0.4) : json(nullptr)},
                  {"record", nullptr},
                  {"time", iso_utc(now)},
                  {"first_seen", iso_utc(now)},
                  {"test", true},
                  {"snapshot", nullptr}};
  json left = entered;
  left["type"] = "face.left";
  left["time"] = iso_utc(now + std::chrono::seconds(1));
  left["duration_s"] = 1.0;
  return {entered, left};
}

}  // namespace

void register_events_commands(CLI::App& app, GlobalOptions&) {
  auto* events = app.add_subcommand("events", "event sinks (MQTT, webhooks, queues, files): try them");
  events->require_subcommand(1);
  struct Args {
    std::vector<std::string> sinks;
    std::string camera = "test", name = "Mr_Bean", file;
    int timeout_s = 10;
    bool leave = true;
  };
  auto a = std::make_shared<Args>();
  auto* send = events->add_subcommand(
      "send",
      "publish a sample face.entered and face.left (or --file's events) to each --sink, and wait for them");
  send->add_option(
          "--sink", a->sinks,
          "where to (repeatable): mqtt://HOST[:PORT][/PREFIX], webhook+http(s)://HOST/PATH, an SQS queue "
          "URL, file:PATH, stdout:")
      ->required();
  send->add_option("--camera", a->camera, "the sample's camera")->capture_default_str();
  send->add_option("--name", a->name, "the sample's person")->capture_default_str();
  send->add_flag("!--stay", a->leave, "send face.entered only (the person stays present)");
  send->add_option("--file", a->file, "JSON events to send instead, one object a line");
  send->add_option("--timeout", a->timeout_s, "seconds to wait for each sink")->capture_default_str();
  send->callback([a] {
    std::vector<json> to_send;
    if (a->file.empty()) {
      to_send = sample_events(a->camera, a->name);
      if (!a->leave) to_send.pop_back();
    } else {
      std::ifstream in(a->file);
      if (!in) throw Error(ErrorKind::kNotFound, "cannot read '" + a->file + "'");
      int n = 0;
      for (std::string line; std::getline(in, line);) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        json e = json::parse(line, nullptr, false);
        if (!e.is_object())
          throw Error(ErrorKind::kInvalidInput, fmt::format("{} line {}: not a JSON object", a->file, n));
        to_send.push_back(std::move(e));
      }
    }
    int failed_sinks = 0;
    for (const std::string& url : a->sinks) {
      auto sink = events::open_event_sink(url);  // Error(kInvalidInput) names the valid forms
      const std::string shown = events::redact_url(url);
      std::string error;
      size_t sent = 0;
      for (const json& e : to_send) try {
          sink->publish(e);
          ++sent;
        } catch (const std::exception& ex) {
          error = ex.what();
        }
      // MQTT's publish only queues: wait for the broker's acknowledgements.
      if (auto* mqtt = dynamic_cast<events::MqttSink*>(sink.get()))
        if (!mqtt->wait_acknowledged(std::chrono::seconds(a->timeout_s)))
          error = "not acknowledged within " + std::to_string(a->timeout_s) +
                  " s: " + (mqtt->last_error().empty() ? "the broker does not answer" : mqtt->last_error());
      if (error.empty()) {
        std::cerr << fmt::format("{}: {} events delivered\n", shown, sent);
      } else {
        ++failed_sinks;
        std::cerr << fmt::format("{}: FAILED: {}\n", shown, error);
      }
    }
    if (failed_sinks > 0)
      throw Error(ErrorKind::kUnavailable, fmt::format("{} of {} sinks did not take every event; see above",
                                                       failed_sinks, a->sinks.size()));
  });
}

}  // namespace facepipe::cli
