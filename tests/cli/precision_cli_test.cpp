// --precision and --detector-precision as a user passes them: refused with the choices when wrong; bf16
// reaches the embedder (or MTCNN) of every command through the one engine set-up, on oneDNN's bf16 kernels
// (never its reference ones).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "image/codec.h"
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
    EXPECT_NE(r.output.find("choose fp32, bf16 or int8"), std::string::npos) << args << "\n" << r.output;
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

// The first face's embedding in `embed`'s output (its JSON is the last line, after oneDNN's verbose ones).
std::vector<float> first_embedding(const std::string& out) {
  return nlohmann::json::parse(last_line(out))[0]["faces"][0]["embedding"].get<std::vector<float>>();
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  return facepipe::testing::cosine(a.data(), b.data(), a.size());
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
    const auto a = first_embedding(fp32.output), b = first_embedding(bf16.output);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_GE(cosine(a, b), 0.995) << embedder;
    EXPECT_NE(a, b) << embedder << ": bf16 gave fp32's exact embedding";
  }
}

// int8: u8 activations and s8 weights on the VNNI units' kernels for every convolution but each network's
// first (its input is signed), with the calibration compiled in; refused, saying why, without VNNI.
TEST(PrecisionCli, Int8EmbedsOnVnniKernelsAndStaysCloseToFp32) {
  const std::string image = shell_quoted(datasets() / "video_frames/Obama/frame_014.jpg");
  if (!nn::cpu_supports(nn::Precision::kInt8)) {
    const auto r = run_command(fp() + "--precision int8 embed " + image, true);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("VNNI"), std::string::npos) << r.output;
    return;
  }
  const auto count_convolutions = [](const std::string& verbose_output) {
    std::istringstream verbose(verbose_output);
    int n = 0;
    for (std::string line; std::getline(verbose, line);)
      n += line.find(",exec,cpu,convolution,") != std::string::npos;
    return n;
  };
  // MTCNN's convolutions (fp32) come first in embed's output: as many as detect runs.
  const int detector_convolutions =
      count_convolutions(run_command("ONEDNN_VERBOSE=1 " + fp() + "detect " + image).output);
  ASSERT_GT(detector_convolutions, 10);
  for (const char* embedder : {"faceapi", "irv1-random"}) {
    const auto fp32 = run_command(fp() + "embed --embedder " + embedder + " " + image);
    ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
    const auto int8 = run_command("ONEDNN_VERBOSE=1 " + fp() + "--precision int8 embed --embedder " +
                                  embedder + " " + image);
    ASSERT_EQ(int8.exit_code, 0) << int8.output;
    std::istringstream verbose(int8.output);
    int convolutions = 0, int8_convolutions = 0;
    for (std::string line; std::getline(verbose, line);) {
      if (line.find(",exec,cpu,convolution,") == std::string::npos) continue;
      ++convolutions;
      if (line.find("src_u8") == std::string::npos) continue;
      ++int8_convolutions;
      EXPECT_NE(line.find("wei_s8"), std::string::npos) << line;
      EXPECT_TRUE(line.find("vnni") != std::string::npos || line.find("amx_int8") != std::string::npos)
          << line;
    }
    EXPECT_GE(int8_convolutions, 20) << embedder;
    EXPECT_EQ(int8_convolutions, convolutions - detector_convolutions - 1)
        << embedder << ": all the embedder's convolutions but the first";
    const auto a = first_embedding(fp32.output), b = first_embedding(int8.output);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_GE(cosine(a, b), 0.99) << embedder;
    EXPECT_NE(a, b) << embedder << ": int8 gave fp32's exact embedding";
  }
  const auto bench = run_command(fp() + "bench --json --runs 2 --embedder faceapi --precision int8 " + image);
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_EQ(nlohmann::json::parse(last_line(bench.output))["precision"], "int8");
}

// `facepipe calibrate`: refuses what it cannot use, saying what to give; its table, named by
// FACEPIPE_INT8_CALIBRATION, is what --precision int8 then uses, and a table for another network is refused.
TEST(PrecisionCli, CalibrateWritesATableThatInt8Uses) {
  const auto dir = std::filesystem::temp_directory_path() / ("fp_calibrate_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto gray = dir / "gray.png";
  {
    std::ofstream out(gray, std::ios::binary);
    out << image::encode_png(cv::Mat(64, 96, CV_8UC3, cv::Scalar(128, 128, 128)));
  }
  {
    const auto r = run_command(fp() + "calibrate --embedder faceapi", true);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    const auto missing = run_command(fp() + "calibrate --embedder faceapi /nonexistent.jpg", true);
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.output.find("/nonexistent.jpg"), std::string::npos) << missing.output;
    const auto faceless = run_command(
        fp() + "calibrate --embedder faceapi -o " + shell_quoted(dir / "t.json") + " " + shell_quoted(gray),
        true);
    EXPECT_EQ(faceless.exit_code, 2) << faceless.output;
    EXPECT_NE(faceless.output.find("give frames with faces"), std::string::npos) << faceless.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "t.json"));
  }
  const auto table = dir / "faceapi.json";
  std::string frames;
  for (const char* f : {"Bean/frame_002.jpg", "Obama/frame_003.jpg", "Trump/frame_004.jpg"})
    frames += " " + shell_quoted(datasets() / "video_frames" / f);
  const auto made =
      run_command(fp() + "calibrate --embedder faceapi -o " + shell_quoted(table) + frames, true);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_NE(made.output.find("3/3 frames"), std::string::npos) << made.output;  // progress
  const auto json = facepipe::testing::read_json(table);
  EXPECT_EQ(json["network"], "faceapi-resnet34/aligned150");
  EXPECT_EQ(json["frames"].size(), 3u);
  EXPECT_EQ(json["input_max"].size(), 29u);  // every convolution after the first
  const std::string image = shell_quoted(datasets() / "video_frames/Obama/frame_014.jpg");
  if (nn::cpu_supports(nn::Precision::kInt8)) {
    const auto with_table = run_command("FACEPIPE_INT8_CALIBRATION=" + shell_quoted(table) + " " + fp() +
                                        "--precision int8 embed --embedder faceapi " + image);
    const auto compiled_in = run_command(fp() + "--precision int8 embed --embedder faceapi " + image);
    ASSERT_EQ(with_table.exit_code, 0) << with_table.output;
    ASSERT_EQ(compiled_in.exit_code, 0) << compiled_in.output;
    const auto a = first_embedding(with_table.output), b = first_embedding(compiled_in.output);
    EXPECT_NE(a, b) << "the table from 3 frames gave the compiled-in (32 frames) table's exact embedding";
    EXPECT_GE(cosine(a, b), 0.99);
    const auto other = run_command("FACEPIPE_INT8_CALIBRATION=" + shell_quoted(table) + " " + fp() +
                                       "--precision int8 embed --embedder irv1-random " + image,
                                   true);
    EXPECT_EQ(other.exit_code, 2) << other.output;
    EXPECT_NE(other.output.find("is for faceapi-resnet34/aligned150"), std::string::npos) << other.output;
  }
  std::filesystem::remove_all(dir);
}

// `detect --json`'s document (pretty-printed, after oneDNN's verbose lines).
nlohmann::json detect_json(const std::string& out) {
  const size_t start = out.rfind("onednn_verbose");
  return nlohmann::json::parse(out.substr(out.find("[\n", start == std::string::npos ? 0 : start)));
}

TEST(PrecisionCli, DetectorBf16RunsMtcnnOnBf16KernelsAndFindsTheSameFaces) {
  const std::string image = shell_quoted(datasets() / "video_frames/Obama/frame_014.jpg");
  const auto refused = run_command(fp() + "--detector-precision int8 detect --json " + image, true);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--detector-precision int8 is not offered"), std::string::npos)
      << refused.output;
  if (!nn::cpu_supports(nn::Precision::kBf16)) {
    const auto r = run_command(fp() + "--detector-precision bf16 detect --json " + image, true);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--detector-precision"), std::string::npos) << r.output;
    return;
  }
  const auto fp32 = run_command(fp() + "detect --json " + image);
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  const auto bf16 =
      run_command("ONEDNN_VERBOSE=1 " + fp() + "--detector-precision bf16 detect --json " + image);
  ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  // PNet's three convolutions after its stem at every pyramid level, RNet's three and ONet's four: all bf16,
  // all on the bf16 units' kernels.
  std::istringstream verbose(bf16.output);
  int convolutions = 0, bf16_convolutions = 0;
  for (std::string line; std::getline(verbose, line);) {
    if (line.find(",exec,cpu,convolution,") == std::string::npos) continue;
    ++convolutions;
    if (line.find("src_bf16") == std::string::npos) continue;
    ++bf16_convolutions;
    EXPECT_TRUE(line.find("avx512_core_bf16") != std::string::npos ||
                line.find("avx512_core_amx_bf16") != std::string::npos)
        << line;
  }
  EXPECT_GE(bf16_convolutions, 3 * 10 + 3 + 4);
  EXPECT_EQ(bf16_convolutions, convolutions);
  const auto a = detect_json(fp32.output)[0]["faces"];
  const auto b = detect_json(bf16.output)[0]["faces"];
  ASSERT_EQ(a.size(), b.size()) << a.dump() << "\n" << b.dump();
  ASSERT_GE(a.size(), 1u);
  bool moved = false;
  for (size_t f = 0; f < a.size(); ++f)
    for (size_t k = 0; k < 4; ++k) {
      const double d = std::abs(a[f]["box"][k].get<double>() - b[f]["box"][k].get<double>());
      EXPECT_LE(d, 3.0) << "face " << f << " box[" << k << "]";
      moved = moved || d > 0;
    }
  EXPECT_TRUE(moved) << "bf16 gave fp32's exact boxes";
}

TEST(PrecisionCli, BenchReportsThePrecisionItRan) {
  if (!nn::cpu_supports(nn::Precision::kBf16)) GTEST_SKIP() << "no bf16 units on this CPU";
  const auto r = run_command(fp() + "bench --json --runs 2 --embedder faceapi --precision bf16 " +
                             shell_quoted(datasets() / "video_frames/Bean/frame_004.jpg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(last_line(r.output));
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["detector_precision"], "fp32");
  EXPECT_EQ(j["frames"], 1);
}

}  // namespace
}  // namespace facepipe::cli
