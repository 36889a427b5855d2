#include "core/logging.h"

#include <chrono>
#include <memory>

#include <fmt/chrono.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace facepipe {
namespace {

// spdlog's patterns cannot escape a message for JSON; nlohmann does.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const nlohmann::json line = {
        {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                             fmt::gmtime(std::chrono::system_clock::to_time_t(msg.time)), ms % 1000)},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"message", std::string(msg.payload.data(), msg.payload.size())}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void configure_logging(const std::string& level, const std::string& format) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off")
    throw Error(ErrorKind::kInvalidInput,
                "log level '" + level + "' is not trace, debug, info, warn or error");
  spdlog::set_level(parsed);
  if (format == "json")
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  else if (format != "text")
    throw Error(ErrorKind::kInvalidInput, "log format '" + format + "' is not text or json");
}

}  // namespace facepipe
