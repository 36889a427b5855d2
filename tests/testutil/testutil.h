// Helpers shared by the test binaries: where ../shared is, and small loaders for golden files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace facepipe::testing {

// The shared data folder (../shared beside the checkout, or $FACEPIPE_SHARED). Fails the test when absent:
// the data is part of the test environment, so a missing folder is an error, never a skip.
std::filesystem::path shared();
std::filesystem::path shared_models();
std::filesystem::path golden();
std::filesystem::path datasets();
// The checkout's root directory.
std::filesystem::path source_dir();
// The built facepipe command (for tests that run it as a user would).
std::filesystem::path facepipe_binary();
// "'<facepipe_binary>' --models-dir '<shared_models>' ": the start of a shell command line.
std::string facepipe_command();
// datasets()/video_frames/<person>/frame_<NNN>.jpg, the bundled frames.
std::string video_frame(const std::string& person, int n);
// `path` in single quotes for a shell command line.
std::string shell_quoted(const std::filesystem::path& path);

// Runs a shell command; returns its exit code and what it printed on stdout (stderr too with `merge_stderr`).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_command(const std::string& command, bool merge_stderr = false);
// run_command with dummy AWS credentials and region in the command's environment (the aws CLI, boto3 and
// facepipe's signed clients against local stand-ins); stdout and stderr together.
CommandResult run_with_test_aws(const std::string& command);

nlohmann::json read_json(const std::filesystem::path& file);
std::string read_file(const std::filesystem::path& file);
// Raw little-endian float32 file.
std::vector<float> read_f32(const std::filesystem::path& file);

// The cosine of two vectors of n floats, summed in double (how the precision tests compare embeddings).
double cosine(const float* a, const float* b, size_t n);

// The golden InceptionResnetV1 set (golden/irv1_random_embeddings.json): the random-weight state dict and,
// per 240x240 crop (standardised CHW float32), facenet-pytorch's embeddings at 240 and after area
// resizing to 160.
struct Irv1GoldenCase {
  std::string name;  // the crop's file name in golden/
  std::vector<float> crop, embedding_240, embedding_160_area;
};
struct Irv1GoldenSet {
  std::filesystem::path weights;
  std::vector<Irv1GoldenCase> cases;
};
Irv1GoldenSet irv1_golden();

}  // namespace facepipe::testing
