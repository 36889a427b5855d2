// The flags that choose which face answers for a frame and bound the quality gate, shared by every
// command that answers frames (recognize, eval, clip, serve, worker recognize).
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

#include "recognition/answer_policy.h"

namespace facepipe::cli {

// Adds --answer and the quality-gate bounds to `cmd`. The returned options hold the parsed values once
// CLI11 has parsed the command line (the policy text is checked by a CLI11 validator).
std::shared_ptr<recognition::AnswerOptions> add_answer_flags(CLI::App* cmd);
// Only the quality-gate bounds (enroll); `bounds` must outlive parsing.
void add_quality_flags(CLI::App* cmd, recognition::QualityBounds& bounds);

}  // namespace facepipe::cli
