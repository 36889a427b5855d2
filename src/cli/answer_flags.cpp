#include "cli/answer_flags.h"

namespace facepipe::cli {

std::shared_ptr<recognition::AnswerOptions> add_answer_flags(CLI::App* cmd) {
  auto o = std::make_shared<recognition::AnswerOptions>();
  cmd->add_option_function<std::string>(
         "--answer", [o](const std::string& v) { o->policy = recognition::parse_answer_policy(v); },
         "which face answers for a frame: known (the best-matching enrolled face that passes the quality "
         "gate) or largest (the largest face, the seed's rule)")
      ->check(CLI::IsMember({"known", "largest"}))
      ->default_str("known");
  add_quality_flags(cmd, o->quality);
  return o;
}

void add_quality_flags(CLI::App* cmd, recognition::QualityBounds& q) {
  const char* group = "Quality gate (a face that fails is listed with the reason but does not answer)";
  cmd->add_option("--min-face-prob", q.min_prob, "detection probability a face needs to answer")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--min-face-size", q.min_size, "shorter side of the box, pixels")->capture_default_str()->group(group);
  cmd->add_option("--min-in-frame", q.min_in_frame, "fraction of the box inside the frame")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--min-eye-ratio", q.min_eye_ratio, "eye distance / box width, lower bound")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--max-eye-ratio", q.max_eye_ratio, "eye distance / box width, upper bound")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--min-sharpness", q.min_sharpness, "variance of the Laplacian of the crop (grey, 128x128)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--max-yaw", q.max_yaw, "degrees, estimated from the landmarks")->capture_default_str()->group(group);
  cmd->add_option("--max-roll", q.max_roll, "degrees")->capture_default_str()->group(group);
  cmd->add_flag_function(
         "--no-quality-gate", [&q](int64_t) { q = recognition::QualityBounds::off(); },
         "every face passes, whatever its quality")
      ->group(group);
}

}  // namespace facepipe::cli
