#include "cli/commands.h"

#include <cstdlib>

#include "core/logging.h"

#include <fstream>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::cli {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::kNotFound, "cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, "'" + path + "' is not valid JSON: " + e.what());
  }
}

int run(int argc, char** argv) {
  CLI::App app{"facepipe: face recognition as a service for camera frames"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "facepipe 0.1.0");
  GlobalOptions global;
  app.add_option("--models-dir", global.models_dir,
                 "models directory (default: $FACEPIPE_MODELS, ../shared/models)");
  app.add_option("--log-level", global.log_level, "trace|debug|info|warn|error")->capture_default_str();
  if (const char* f = std::getenv("FACEPIPE_LOG_FORMAT"); f != nullptr && *f != '\0') global.log_format = f;
  app.add_option("--log-format", global.log_format, "text, or json: one object a line ($FACEPIPE_LOG_FORMAT)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  spdlog::set_default_logger(spdlog::stderr_color_mt("facepipe"));
  app.parse_complete_callback([&] { configure_logging(global.log_level, global.log_format); });

  register_engine_commands(app, global);
  register_bench_command(app, global);
  register_recognition_commands(app, global);
  register_gallery_commands(app, global);
  register_service_commands(app, global);
  register_aws_commands(app, global);
  register_video_commands(app, global);
  register_keys_commands(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const Error& e) {
    std::cerr << "facepipe: " << e.what() << "\n";
    return e.kind() == ErrorKind::kInvalidInput || e.kind() == ErrorKind::kNotFound ||
                   e.kind() == ErrorKind::kTooLarge || e.kind() == ErrorKind::kConflict
               ? 2
               : 1;
  } catch (const std::exception& e) {
    std::cerr << "facepipe: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace facepipe::cli
