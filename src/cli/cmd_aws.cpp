// facepipe lambda [FUNCTION]: the process a Lambda container image runs (deploy/aws/Dockerfile). The
// function comes from the argument (the image CMD) or $_HANDLER; settings from the environment
// (lambda/functions.h); the Runtime API from $AWS_LAMBDA_RUNTIME_API or --runtime-api.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "cli/commands.h"
#include "core/error.h"
#include "lambda/functions.h"
#include "lambda/runtime.h"

namespace facepipe::cli {

void register_aws_commands(CLI::App& app, GlobalOptions& global) {
  struct Args {
    std::string function;
    std::string api;
    int max_invocations = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("lambda",
                                 "run as an AWS Lambda function (face-detection, face-recognition, "
                                 "video-recognition) over the Lambda Runtime API");
  cmd->add_option("function", args->function, "function to run (default: $_HANDLER)");
  cmd->add_option("--runtime-api", args->api, "Runtime API host:port (default: $AWS_LAMBDA_RUNTIME_API)");
  cmd->add_option("--max-invocations", args->max_invocations, "exit after this many invocations (0 = never)");
  cmd->callback([args, &global] {
    std::string function = args->function;
    if (function.empty())
      if (const char* h = std::getenv("_HANDLER"); h != nullptr) function = h;
    if (function.empty())
      throw Error(
          ErrorKind::kInvalidInput,
          "no function named: pass face-detection, face-recognition or video-recognition (or set _HANDLER)");
    // Validate the name before the Runtime API hears of an init error for a typo.
    bool known = false;
    for (const auto& name : lambda::function_names()) known |= name == function;
    if (!known)
      throw Error(
          ErrorKind::kInvalidInput,
          "unknown function '" + function + "': use face-detection, face-recognition or video-recognition");
    auto config = lambda::FunctionConfig::from_environment();
    if (!global.models_dir.empty()) config.models_dir = global.models_dir;
    lambda::RuntimeOptions options{.api = args->api, .max_invocations = args->max_invocations};
    const int code = lambda::run_runtime(options, [&] { return lambda::make_function(function, config); });
    if (code != 0)
      throw Error(ErrorKind::kUnavailable, "the " + function + " function stopped (see the log above)");
  });
}

}  // namespace facepipe::cli
