// Log output for every facepipe process: spdlog to stderr, as readable text (the default) or as one JSON
// object a line ({"time", "level", "logger", "message"}) for log collectors such as CloudWatch.
#pragma once

#include <string>

namespace facepipe {

// `level`: trace|debug|info|warn|error; `format`: text|json. Error(kInvalidInput) otherwise.
void configure_logging(const std::string& level, const std::string& format);

}  // namespace facepipe
