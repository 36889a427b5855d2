#include "cli/commands.h"

namespace facepipe::cli {

void register_video_commands(CLI::App& app, GlobalOptions& global) {}

}  // namespace facepipe::cli
