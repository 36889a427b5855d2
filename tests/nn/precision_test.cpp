// The precision names and the CPU check behind --precision: what this machine's /proc/cpuinfo says
// decides what the check must answer (no CPU is faked).
#include "nn/precision.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace facepipe::nn {
namespace {

// Whether the kernel lists `flag` among the first CPU's flags.
bool cpuinfo_has(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;)
      if (w == flag) return true;
    return false;
  }
  return false;
}

TEST(Precision, ParsesItsNamesAndRefusesOthersNamingTheChoices) {
  EXPECT_EQ(parse_precision("fp32"), Precision::kF32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_EQ(parse_precision("int8"), Precision::kInt8);
  EXPECT_EQ(to_string(parse_precision("bf16")), "bf16");
  EXPECT_EQ(to_string(parse_precision("int8")), "int8");
  for (const char* bad : {"", "FP32", "fp16", "int4", "bf16 ", "INT8"}) {
    try {
      parse_precision(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find("choose fp32, bf16 or int8"), std::string::npos) << e.what();
    }
  }
}

// On a CPU without the units for `precision`: the option is refused, saying what is missing (`units`)
// and what to use.
void expect_refused_naming(Precision precision, const std::string& units) {
  try {
    require_supported(precision, "--precision");
    ADD_FAILURE() << to_string(precision) << " accepted without " << units << " units";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(units), std::string::npos) << m;
    EXPECT_NE(m.find("use --precision fp32"), std::string::npos) << m;
  }
}

TEST(Precision, Bf16IsOfferedExactlyWhenTheCpuHasBf16Units) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA"))
    GTEST_SKIP() << "oneDNN's ISA is capped by the environment";
  const bool has = cpuinfo_has("avx512_bf16") || cpuinfo_has("amx_bf16");
  EXPECT_EQ(cpu_supports(Precision::kBf16), has) << "oneDNN ISA " << cpu_isa_name();
  EXPECT_TRUE(cpu_supports(Precision::kF32));
  EXPECT_NO_THROW(require_supported(Precision::kF32, "--precision"));
  if (has) {
    EXPECT_NO_THROW(require_supported(Precision::kBf16, "--precision"));
    EXPECT_TRUE(cpu_isa_name() == "avx512_core_bf16" || cpu_isa_name() == "avx512_core_amx")
        << cpu_isa_name();
    return;
  }
  expect_refused_naming(Precision::kBf16, "AVX512-BF16");
}

TEST(Precision, Int8IsOfferedExactlyWhenTheCpuHasVnniUnits) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA"))
    GTEST_SKIP() << "oneDNN's ISA is capped by the environment";
  const bool has = cpuinfo_has("avx512_vnni") || cpuinfo_has("avx_vnni") || cpuinfo_has("amx_int8");
  EXPECT_EQ(cpu_supports(Precision::kInt8), has) << "oneDNN ISA " << cpu_isa_name();
  if (has) {
    EXPECT_NO_THROW(require_supported(Precision::kInt8, "--precision"));
    return;
  }
  expect_refused_naming(Precision::kInt8, "VNNI");
}

}  // namespace
}  // namespace facepipe::nn
