// int8 convolutions (nn::Conv2d with Precision::kInt8) against the same convolution in fp32, and the
// calibration tables and range recorder that give their input scales.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include "core/error.h"
#include "nn/calibration.h"
#include "nn/layers.h"

namespace facepipe::nn {
namespace {

struct Case {
  int in = 64, out = 96, size = 17, kernel = 3;
  std::vector<float> weight, bias, input;
};

// Weights and biases like a trained layer's (small, both signs), a post-ReLU input (non-negative, a
// quarter zeros).
Case make_case(int in, int out, int size, int kernel, unsigned seed) {
  Case c{in, out, size, kernel, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> w(0.f, 0.05f), x(0.f, 1.f);
  c.weight.resize(static_cast<size_t>(out) * in * kernel * kernel);
  for (auto& v : c.weight) v = w(rng);
  c.bias.resize(static_cast<size_t>(out));
  for (auto& v : c.bias) v = w(rng) * 4;
  c.input.resize(static_cast<size_t>(in) * size * size);
  for (auto& v : c.input) v = std::max(0.f, x(rng) + 0.7f);
  return c;
}

float max_of(const std::vector<float>& v) { return *std::max_element(v.begin(), v.end()); }

// Relative error of `got` against `want`: the largest difference over the largest |want|.
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, double(std::abs(got[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  return diff / scale;
}

class Int8 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cpu_supports(Precision::kInt8))
      GTEST_SKIP() << "no VNNI units on this CPU (" << cpu_isa_name() << "): --precision int8 is refused";
  }
};

std::vector<float> run(Conv2d& conv, const Case& c, const Act* residual = nullptr) {
  dnnl::stream s(cpu_engine());
  const Act x = from_nchw(c.input.data(), 1, c.in, c.size, c.size);
  const Act y = conv.forward(s, x, residual);
  return to_nchw(s, y);
}

TEST_F(Int8, ConvolutionMatchesFp32WithinItsQuantisationStep) {
  for (const auto& [in, out, kernel] :
       {std::tuple{64, 96, 3}, std::tuple{256, 32, 1}, std::tuple{32, 64, 3}}) {
    const Case c = make_case(in, out, 17, kernel, static_cast<unsigned>(in + out));
    const int pad = kernel / 2;
    ConvSpec fp{out, in, kernel, kernel, 1, pad, pad};
    Conv2d fp32(fp, {{out, in, kernel, kernel}, c.weight}, c.bias, nullptr, Activation::kRelu);
    ConvSpec q = fp;
    q.precision = Precision::kInt8;
    q.src_scale = 255.f / max_of(c.input);
    q.name = "layer";
    Conv2d int8(q, {{out, in, kernel, kernel}, c.weight}, c.bias, nullptr, Activation::kRelu);
    const auto want = run(fp32, c), got = run(int8, c);
    const double err = relative_error(got, want);
    // 8-bit input and weights: about 1% of the output's range, far from fp32's 1e-6.
    EXPECT_LT(err, 0.02) << in << "->" << out << " k" << kernel;
    EXPECT_GT(err, 1e-5) << "int8 gave fp32's result: it did not run in int8";

    // A u8 result at dst_scale is the fp32 result quantised: fed to to_nchw it reads back / dst_scale.
    ConvSpec u8 = q;
    u8.dst_scale = 255.f / max_of(want);
    Conv2d chained(u8, {{out, in, kernel, kernel}, c.weight}, c.bias, nullptr, Activation::kRelu);
    dnnl::stream s(cpu_engine());
    const Act y = chained.forward(s, from_nchw(c.input.data(), 1, in, 17, 17));
    ASSERT_EQ(y.mem.get_desc().data_type(), dnnl::memory::data_type::u8);
    std::vector<float> back = to_nchw(s, y);
    for (auto& v : back) v /= u8.dst_scale;
    EXPECT_LT(relative_error(back, want), 0.025);
    // ... and another int8 convolution takes it as its input with no conversion.
    ConvSpec next{16, out, 1, 1, 1, 0, 0};
    next.precision = Precision::kInt8;
    next.src_scale = u8.dst_scale;
    next.name = "next";
    const Case n = make_case(out, 16, 17, 1, 7);
    Conv2d consumer(next, {{16, out, 1, 1}, n.weight}, n.bias, nullptr, Activation::kNone);
    Conv2d consumer_fp32(ConvSpec{16, out, 1, 1, 1, 0, 0}, {{16, out, 1, 1}, n.weight}, n.bias, nullptr,
                         Activation::kNone);
    const auto want2 = to_nchw(s, consumer_fp32.forward(s, from_nchw(want.data(), 1, out, 17, 17)));
    const auto got2 = to_nchw(s, consumer.forward(s, y));
    EXPECT_LT(relative_error(got2, want2), 0.03);
  }
}

TEST_F(Int8, ResidualSumAndScaleFoldAsInFp32) {
  const Case c = make_case(96, 64, 9, 1, 3);
  std::vector<float> residual(static_cast<size_t>(64) * 81);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (auto& v : residual) v = u(rng);
  ConvSpec fp{64, 96, 1, 1, 1, 0, 0};
  Conv2d fp32(fp, {{64, 96, 1, 1}, c.weight}, c.bias, nullptr, Activation::kRelu, {}, 0.17f);
  ConvSpec q = fp;
  q.precision = Precision::kInt8;
  q.src_scale = 255.f / max_of(c.input);
  q.name = "up";
  Conv2d int8(q, {{64, 96, 1, 1}, c.weight}, c.bias, nullptr, Activation::kRelu, {}, 0.17f);
  std::vector<float> r1 = residual, r2 = residual;  // consumed by forward
  const Act a1 = from_nchw(r1.data(), 1, 64, 9, 9), a2 = from_nchw(r2.data(), 1, 64, 9, 9);
  const auto want = run(fp32, c, &a1);
  const auto got = run(int8, c, &a2);
  EXPECT_LT(relative_error(got, want), 0.02);
}

TEST(Calibration, RecorderKeepsEachLayersLargestInputAcrossCalls) {
  const Case a = make_case(8, 4, 5, 1, 1), b = make_case(8, 4, 5, 1, 2);
  ConvSpec spec{4, 8, 1, 1, 1, 0, 0};
  spec.name = "probe";
  Conv2d conv(spec, {{4, 8, 1, 1}, a.weight}, a.bias, nullptr, Activation::kNone);
  std::map<std::string, float> got;
  {
    RangeRecorder recorder;
    EXPECT_THROW(RangeRecorder nested, Error);
    run(conv, a);
    run(conv, b);
    got = recorder.input_max();
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FLOAT_EQ(got["probe"], std::max(max_of(a.input), max_of(b.input)));
  EXPECT_EQ(current_range_recorder(), nullptr);
  run(conv, a);  // nothing records outside a recorder's life
}

TEST(Calibration, TablesRoundTripAndBadOnesAreRefusedSayingWhatToDo) {
  CalibrationTable t{"net/x", 1234, "frames", {"A/f1.jpg", "B/f2.jpg"}, {{"a", 2.5f}, {"b.c", 0.75f}}};
  const CalibrationTable back = calibration_from_json(to_json(t));
  EXPECT_EQ(back.network, "net/x");
  EXPECT_EQ(back.frames, t.frames);
  EXPECT_EQ(back.weights_bytes, 1234u);
  EXPECT_EQ(back.input_max, t.input_max);
  EXPECT_FLOAT_EQ(back.scale_for("a"), 102.f);
  EXPECT_THROW(back.scale_for("missing"), Error);
  for (const char* bad : {R"({})", R"({"network":"n","weights_bytes":1,"input_max":{}})",
                          R"({"network":"n","weights_bytes":"x","input_max":{"a":1}})",
                          R"({"network":1,"weights_bytes":1,"input_max":{"a":1}})"}) {
    try {
      calibration_from_json(nlohmann::json::parse(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << bad;
    }
  }
  // No table for an unknown network: the message says how to make one.
  try {
    find_calibration("no-such-net/x", 1);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("facepipe calibrate"), std::string::npos) << e.what();
  }
  // A table named by FACEPIPE_INT8_CALIBRATION is used, and refused for another network.
  const std::string file = ::testing::TempDir() + "/calibration.json";
  std::ofstream(file) << to_json(t).dump();
  setenv("FACEPIPE_INT8_CALIBRATION", file.c_str(), 1);
  EXPECT_EQ(find_calibration("net/x", 1234).input_max, t.input_max);
  EXPECT_THROW(find_calibration("net/x", 99), Error);
  std::ofstream(file) << "{not json";
  EXPECT_THROW(find_calibration("net/x", 1234), Error);
  unsetenv("FACEPIPE_INT8_CALIBRATION");
}

}  // namespace
}  // namespace facepipe::nn
