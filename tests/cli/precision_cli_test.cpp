// --precision as a user passes it: refused with the choices when wrong; bf16 reaches the embedder of
// every command through the one engine set-up, on oneDNN's bf16 kernels (never its reference ones).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "nn/precision.h"
#include "testutil/testutil.h"

namespace facepipe::cli {
namespace {

using facepipe::testing::datasets;
using facepipe::testing::run_command;
using facepipe::testing::shell_quoted;

constexpr auto fp = &facepipe::testing::facepipe_command;

TEST(PrecisionCli, RefusesAnUnknownPrecisionNamingTheChoices) {
  const std::string image = shell_quoted(datasets() / "misc/kate_siegel.jpg");
  for (const std::string& args : {"--precision fp16 embed " + image, "embed " + image + " --precision int4",
                                  "--precision '' bench " + image}) {
    const auto r = run_command(fp() + args, true);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("choose fp32 or bf16"), std::string::npos) << args << "\n" << r.output;
  }
}

// The last line of a command's stdout (oneDNN's verbose lines come before it).
std::string last_line(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

TEST(PrecisionCli, Bf16EmbedsOnAvx512Bf16KernelsAndStaysCloseToFp32) {
  if (!nn::cpu_supports(nn::Precision::kBf16)) {
    // This CPU has no bf16 units: the option must be refused, saying so.
    const auto r = run_command(
        fp() + "--precision bf16 embed " + shell_quoted(datasets() / "misc/kate_siegel.jpg"), true);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("AVX512-BF16"), std::string::npos) << r.output;
    return;
  }
  const std::string image = shell_quoted(datasets() / "video_frames/Obama/frame_014.jpg");
  for (const char* embedder : {"faceapi", "irv1-random"}) {
    const auto fp32 = run_command(fp() + "embed --embedder " + embedder + " " + image);
    ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
    const auto bf16 = run_command("ONEDNN_VERBOSE=1 " + fp() + "--precision bf16 embed --embedder " +
                                  embedder + " " + image);
    ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
    // Every convolution executed on bf16 data ran a JIT kernel for this CPU's bf16 units.
    std::istringstream verbose(bf16.output);
    int bf16_convolutions = 0;
    for (std::string line; std::getline(verbose, line);) {
      if (line.find(",exec,cpu,convolution,") == std::string::npos) continue;
      if (line.find("src_bf16") == std::string::npos) continue;
      ++bf16_convolutions;
      // avx512_core_bf16 (AVX512-BF16 dot products) or, where the CPU exposes AMX, avx512_core_amx_bf16.
      const bool on_bf16_units = line.find("avx512_core_bf16") != std::string::npos ||
                                 line.find("avx512_core_amx_bf16") != std::string::npos;
      EXPECT_TRUE(on_bf16_units) << line;
      EXPECT_EQ(line.find("ref"), std::string::npos) << line;
    }
    EXPECT_GE(bf16_convolutions, 20) << embedder;
    const auto a =
        nlohmann::json::parse(last_line(fp32.output))[0]["faces"][0]["embedding"].get<std::vector<float>>();
    const auto b =
        nlohmann::json::parse(last_line(bf16.output))[0]["faces"][0]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(a.size(), b.size());
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      ab += double(a[i]) * b[i];
      aa += double(a[i]) * a[i];
      bb += double(b[i]) * b[i];
    }
    EXPECT_GE(ab / std::sqrt(aa * bb), 0.995) << embedder;
    EXPECT_NE(a, b) << embedder << ": bf16 gave fp32's exact embedding";
  }
}

TEST(PrecisionCli, BenchReportsThePrecisionItRan) {
  if (!nn::cpu_supports(nn::Precision::kBf16)) GTEST_SKIP() << "no bf16 units on this CPU";
  const auto r = run_command(fp() + "bench --json --runs 2 --embedder faceapi --precision bf16 " +
                             shell_quoted(datasets() / "video_frames/Bean/frame_004.jpg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(last_line(r.output));
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["frames"], 1);
}

}  // namespace
}  // namespace facepipe::cli
