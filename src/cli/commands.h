// The facepipe command line: one subcommand per tool, each registered by its own file (cmd_*.cpp).
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "nn/precision.h"
#include "service/stage_engine.h"

namespace facepipe::cli {

// Options every subcommand understands.
struct GlobalOptions {
  std::string models_dir;  // --models-dir; empty = FACEPIPE_MODELS / ../shared/models
  // --precision fp32|bf16|int8: the embedder's, for every command that loads an engine (serve, worker, bench,
  // recognize, ...), passed to the one engine set-up (service/stage_engine.h).
  nn::Precision precision = nn::Precision::kF32;
  nn::Precision detector_precision = nn::Precision::kF32;  // --detector-precision fp32|bf16: MTCNN's
  std::string log_level = "info";
  std::string log_format = "text";  // --log-format text|json
  // --index exact|ivf|auto: how every gallery the command opens for matching is searched (gallery/index.h);
  // empty = $FACEPIPE_INDEX, else auto.
  std::string index;
};

// `rest` with the engine options every command takes from the global ones (--models-dir, --precision,
// --detector-precision): the one place a command's engine learns them.
service::StageEngineOptions engine_options(const GlobalOptions& global,
                                           service::StageEngineOptions rest = {});

// Parses argv, runs the chosen subcommand, and returns the process exit code: 0 on success, 1 on a
// runtime failure, 2 on bad usage or bad input. Errors are printed to stderr as one line saying what
// to do next; they never escape as exceptions.
int run(int argc, char** argv);

// Each cmd_*.cpp defines one of these; run() calls them all. Subcommands set their callback with
// app.callback or sub->final_callback and throw facepipe::Error on failure.
void register_engine_commands(CLI::App& app, GlobalOptions& global);       // detect
void register_bench_command(CLI::App& app, GlobalOptions& global);         // bench
void register_calibrate_command(CLI::App& app, GlobalOptions& global);     // calibrate
void register_recognition_commands(CLI::App& app, GlobalOptions& global);  // embed, enroll, recognize, eval
void register_gallery_commands(CLI::App& app, GlobalOptions& global);      // gallery import|list|remove
void register_service_commands(CLI::App& app, GlobalOptions& global);      // serve, worker, workload
void register_aws_commands(CLI::App& app, GlobalOptions& global);          // lambda
void register_keys_commands(CLI::App& app, GlobalOptions& global);         // keys create|list|revoke
void register_video_commands(CLI::App& app, GlobalOptions& global);        // clip, camera, results
void register_people_commands(CLI::App& app, GlobalOptions& global);       // people set|get|list|import
void register_events_commands(CLI::App& app, GlobalOptions& global);       // events send
void register_stream_commands(CLI::App& app, GlobalOptions& global);       // watch

// Reads a JSON file; Error(kNotFound / kInvalidInput) naming the file when missing or malformed.
nlohmann::json read_json_file(const std::string& path);

}  // namespace facepipe::cli
