#include "cli/commands.h"

#include <cstdlib>

#include "core/logging.h"

#include <fstream>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/suggest.h"
#include "core/version.h"
#include "gallery/index.h"

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

namespace {

// CLI11 says "The following arguments were not expected: detct"; this walks argv as the parser did and
// names the closest subcommand or flag instead ("unknown command 'detct' (did you mean 'detect'?)").
std::string usage_hint(CLI::App& app, int argc, char** argv) {
  std::vector<CLI::App*> chain = {&app};
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (token == "--") break;
    if (token.size() > 1 && token[0] == '-') {
      const std::string name = token.substr(0, token.find('='));
      CLI::Option* opt = nullptr;
      for (auto* a : chain)
        if ((opt = a->get_option_no_throw(name)) != nullptr) break;
      if (opt == nullptr) {
        std::vector<std::string> names;
        for (auto* a : chain)
          for (const auto* o : a->get_options())
            for (const auto& l : o->get_lnames()) names.push_back("--" + l);
        std::string where = chain.size() > 1 ? " for '" + chain.back()->get_name() + "'" : "";
        return "unknown option '" + name + "'" + where + did_you_mean(name, names) + "; see " +
               (chain.size() > 1 ? "facepipe " + chain.back()->get_name() + " --help" : "facepipe --help");
      }
      if (token.find('=') == std::string::npos && opt->get_items_expected_max() > 0) ++i;
      continue;
    }
    CLI::App* current = chain.back();
    CLI::App* sub = nullptr;
    try {
      sub = current->get_subcommand(token);
    } catch (const CLI::OptionNotFound&) {
    }
    if (sub != nullptr) {
      chain.push_back(sub);
      continue;
    }
    if (current->get_require_subcommand_min() > 0) {
      std::vector<std::string> names;
      for (const auto* c : current->get_subcommands({})) names.push_back(c->get_name());
      std::string what = chain.size() > 1 ? "'" + current->get_name() + "' command" : "command";
      return "unknown " + what + " '" + token + "'" + did_you_mean(token, names) + "; see facepipe " +
             (chain.size() > 1 ? current->get_name() + " " : "") + "--help";
    }
  }
  return "";
}

// An error as the user reads it: "facepipe: ..." on stderr, or one JSON log object with --log-format json.
void print_error(const std::string& message, const GlobalOptions& global) {
  if (global.log_format == "json") {
    configure_logging("info", "json");
    spdlog::error("{}", message);
    spdlog::default_logger()->flush();
    return;
  }
  std::cerr << "facepipe: " << message << "\n";
}

}  // namespace

service::StageEngineOptions engine_options(const GlobalOptions& global, service::StageEngineOptions rest) {
  rest.models_dir = global.models_dir;
  rest.precision = global.precision;
  rest.detector_precision = global.detector_precision;
  return rest;
}

int run(int argc, char** argv) {
  CLI::App app{"facepipe: face recognition as a service for camera frames"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("facepipe ") + version());
  GlobalOptions global;
  app.add_option("--models-dir", global.models_dir,
                 "models directory (default: $FACEPIPE_MODELS, ../shared/models)");
  // Parsed here so a bad value is refused before any command runs (Error -> exit 2 with the choices).
  app.add_option_function<std::string>(
         "--precision", [&global](const std::string& v) { global.precision = nn::parse_precision(v); },
         "embedder precision: fp32 (PyTorch's arithmetic, the default), bf16 (AVX512-BF16 units) or int8 "
         "(VNNI units, calibrated on the bundled frames; see `facepipe calibrate`); README \"Precision\"")
      ->type_name("fp32|bf16|int8");
  app.add_option_function<std::string>(
         "--detector-precision",
         [&global](const std::string& v) { global.detector_precision = nn::parse_precision(v); },
         "MTCNN's precision: fp32 (facenet-pytorch's boxes to the pixel, the default) or bf16 (see README "
         "\"Precision\" for its detection parity)")
      ->type_name("fp32|bf16");
  app.add_option("--log-level", global.log_level, "trace|debug|info|warn|error")->capture_default_str();
  if (const char* f = std::getenv("FACEPIPE_LOG_FORMAT"); f != nullptr && *f != '\0') global.log_format = f;
  app.add_option("--log-format", global.log_format, "text, or json: one object a line ($FACEPIPE_LOG_FORMAT)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  // One place for every command that matches against a gallery (serve, worker recognize, recognize, eval,
  // watch, the Lambda functions...): Gallery::open takes the process-wide default.
  app.add_option("--index", global.index,
                 "gallery search: exact, ivf (approximate, for large galleries) or auto (ivf from " +
                     std::to_string(gallery::kIvfAutoRows) + " embeddings; default, or $FACEPIPE_INDEX)")
      ->check(CLI::IsMember({"exact", "ivf", "auto"}));
  spdlog::set_default_logger(spdlog::stderr_color_mt("facepipe"));
  app.parse_complete_callback([&] {
    configure_logging(global.log_level, global.log_format);
    if (!global.index.empty()) gallery::set_default_index_mode(gallery::parse_index_mode(global.index));
  });
  // Global options are also understood after the subcommand (facepipe detect x.jpg --models-dir M).
  app.fallthrough();

  register_engine_commands(app, global);
  register_bench_command(app, global);
  register_calibrate_command(app, global);
  register_recognition_commands(app, global);
  register_gallery_commands(app, global);
  register_service_commands(app, global);
  register_aws_commands(app, global);
  register_video_commands(app, global);
  register_keys_commands(app, global);
  register_people_commands(app, global);
  register_events_commands(app, global);
  register_stream_commands(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const std::string hint = usage_hint(app, argc, argv);
    if (!hint.empty()) {
      print_error(hint, global);
      return 2;
    }
    if (global.log_format == "json") {
      print_error(e.what(), global);
      return 2;
    }
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const Error& e) {
    print_error(e.what(), global);
    return e.kind() == ErrorKind::kInvalidInput || e.kind() == ErrorKind::kNotFound ||
                   e.kind() == ErrorKind::kTooLarge || e.kind() == ErrorKind::kConflict
               ? 2
               : 1;
  } catch (const std::exception& e) {
    print_error(e.what(), global);
    return 1;
  }
  return 0;
}

}  // namespace facepipe::cli
