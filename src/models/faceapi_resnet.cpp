#include "models/faceapi_resnet.h"

#include <mutex>

#include "core/error.h"
#include "nn/calibration.h"
#include "nn/layers.h"
#include "weights/tfjs.h"

namespace facepipe::models {

using nn::Act;
using nn::Activation;
using nn::Conv2d;
using weights::StateDict;

namespace {

// face-api's convLayer: conv (HWIO filters) + bias, then the scale layer (x * weights + biases),
// folded into one convolution. TF's 'same' padding for a 3x3 stride-1 kernel is 1 on each side.
// The weights being loaded, the precision the convolutions compute in, and for int8 the input ranges
// calibrated per layer (nn/calibration.h).
struct Source {
  const StateDict& sd;
  nn::Precision precision;
  const nn::CalibrationTable* calibration = nullptr;
};

// The first layer reads the mean-subtracted chip, which is signed: int8 networks keep it in fp32.
constexpr const char* kSignedInputLayer = "conv32_down";

// `next`: the int8 layer this one's result feeds directly (written as u8 at its input scale), or empty
// for an fp32 result (the residual stream between blocks stays fp32).
std::unique_ptr<Conv2d> conv_layer(const Source& src, const std::string& p, const std::string& next,
                                   int stride, bool same, Activation act, float residual_scale = 0) {
  const StateDict& sd = src.sd;
  const auto it = sd.find(p + "/conv/filters");
  if (it == sd.end()) throw Error(ErrorKind::kInvalidInput, "face-api weights lack '" + p + "/conv/filters'");
  const weights::Tensor& f = it->second;
  if (f.shape.size() != 4)
    throw Error(ErrorKind::kInvalidInput, "face-api weight '" + p + "' is not a 4-D filter");
  const int kh = static_cast<int>(f.shape[0]), kw = static_cast<int>(f.shape[1]);
  const int in = static_cast<int>(f.shape[2]), out = static_cast<int>(f.shape[3]);
  weights::Tensor oihw{{out, in, kh, kw}, std::vector<float>(f.data.size())};
  for (int h = 0; h < kh; ++h)
    for (int w = 0; w < kw; ++w)
      for (int i = 0; i < in; ++i)
        for (int o = 0; o < out; ++o)
          oihw.data[((static_cast<size_t>(o) * in + i) * kh + h) * kw + w] =
              f.data[((static_cast<size_t>(h) * kw + w) * in + i) * out + o];
  const auto& bias = weights::expect(sd, p + "/conv/bias", {out});
  // scale layer as a BatchNorm with mean 0, var 1 - eps: gamma = weights, beta = biases.
  nn::BatchNorm scale;
  scale.gamma = weights::expect(sd, p + "/scale/weights", {out}).data;
  scale.beta = weights::expect(sd, p + "/scale/biases", {out}).data;
  scale.mean.assign(static_cast<size_t>(out), 0.f);
  scale.var.assign(static_cast<size_t>(out), 1.f);
  scale.eps = 0.f;
  const int pad = same ? kh / 2 : 0;
  const nn::ConvSpec spec =
      nn::calibrated_spec(nn::ConvSpec{out, in, kh, kw, stride, pad, pad}, src.precision, src.calibration, p,
                          next, p == kSignedInputLayer);
  return std::make_unique<Conv2d>(spec, oihw, bias.data, &scale, act, std::vector<float>{}, residual_scale);
}

// residual: relu(convNoRelu(conv(x)) + x).
struct Residual {
  std::unique_ptr<Conv2d> conv1, conv2;
  Residual(const Source& src, const std::string& p)
      : conv1(conv_layer(src, p + "/conv1", p + "/conv2", 1, true, Activation::kRelu)),
        conv2(conv_layer(src, p + "/conv2", "", 1, true, Activation::kRelu, 1.f)) {}
  Act forward(dnnl::stream& s, const Act& x) { return conv2->forward(s, conv1->forward(s, x), &x); }
};

// residualDown: the main path halves the size with a valid 3x3 stride-2 convolution; the shortcut is a
// 2x2 average pool with its channels zero-padded; when sizes differ face-api zero-pads the main path
// by one row and column at the end. Done on plain NCHW floats: four of these per forward pass.
struct ResidualDown {
  std::unique_ptr<Conv2d> conv1, conv2;
  ResidualDown(const Source& src, const std::string& p)
      : conv1(conv_layer(src, p + "/conv1", p + "/conv2", 2, false, Activation::kRelu)),
        conv2(conv_layer(src, p + "/conv2", "", 1, true, Activation::kNone)) {}
  std::vector<float> forward(dnnl::stream& s, const Act& x, int& c_out, int& h_out, int& w_out) {
    const auto xd = x.dims();
    const int n = static_cast<int>(xd[0]), c = static_cast<int>(xd[1]), h = static_cast<int>(xd[2]),
              w = static_cast<int>(xd[3]);
    Act main = conv2->forward(s, conv1->forward(s, x));
    const auto md = main.dims();
    const int mc = static_cast<int>(md[1]), mh = static_cast<int>(md[2]), mw = static_cast<int>(md[3]);
    const std::vector<float> m = nn::to_nchw(s, main);
    const std::vector<float> in = nn::to_nchw(s, x);
    const int ph = h / 2, pw = w / 2;  // avgPool 2x2 stride 2 'valid'
    const int oh = std::max(ph, mh), ow = std::max(pw, mw);
    if (mh != ph || mw != pw) {
      if (mh + 1 != ph || mw + 1 != pw)
        throw Error(ErrorKind::kInternal, "face-api residualDown: unexpected shape mismatch");
    }
    std::vector<float> out(static_cast<size_t>(n) * mc * oh * ow, 0.f);
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < mc; ++ch)
        for (int y = 0; y < oh; ++y)
          for (int xx = 0; xx < ow; ++xx) {
            float v = 0;
            if (y < mh && xx < mw) v = m[((static_cast<size_t>(b) * mc + ch) * mh + y) * mw + xx];
            if (ch < c) {
              const float* p = &in[((static_cast<size_t>(b) * c + ch) * h + 2 * static_cast<size_t>(y)) * w +
                                   2 * static_cast<size_t>(xx)];
              v += (p[0] + p[1] + p[w] + p[w + 1]) / 4.f;
            }
            out[((static_cast<size_t>(b) * mc + ch) * oh + y) * ow + xx] = v > 0 ? v : 0;
          }
    c_out = mc;
    h_out = oh;
    w_out = ow;
    return out;
  }
};

}  // namespace

struct FaceApiResNet::Net {
  std::unique_ptr<Conv2d> conv32_down;
  nn::MaxPool2d pool{3, 2, false};
  std::vector<Residual> r32, r64, r128, r256;
  std::unique_ptr<ResidualDown> d64, d128, d256, d256_out;
  weights::Tensor fc;  // [256, 128]
  std::mutex mu;

  explicit Net(const Source& src) {
    conv32_down = conv_layer(src, "conv32_down", "", 2, false, Activation::kRelu);
    for (int i = 1; i <= 3; ++i) r32.emplace_back(src, "conv32_" + std::to_string(i));
    d64 = std::make_unique<ResidualDown>(src, "conv64_down");
    for (int i = 1; i <= 3; ++i) r64.emplace_back(src, "conv64_" + std::to_string(i));
    d128 = std::make_unique<ResidualDown>(src, "conv128_down");
    for (int i = 1; i <= 2; ++i) r128.emplace_back(src, "conv128_" + std::to_string(i));
    d256 = std::make_unique<ResidualDown>(src, "conv256_down");
    for (int i = 1; i <= 2; ++i) r256.emplace_back(src, "conv256_" + std::to_string(i));
    d256_out = std::make_unique<ResidualDown>(src, "conv256_down_out");
    fc = weights::expect(src.sd, "fc", {256, 128});
  }

  std::vector<float> forward(const float* nchw, int n) {
    std::lock_guard<std::mutex> lock(mu);
    dnnl::stream s(nn::cpu_engine());
    int c = 0, h = 0, w = 0;
    Act x = nn::from_nchw(nchw, n, 3, 150, 150);
    x = pool.forward(s, conv32_down->forward(s, x));
    for (auto& r : r32) x = r.forward(s, x);
    std::vector<float> buf = d64->forward(s, x, c, h, w);
    x = nn::from_nchw(buf.data(), n, c, h, w);
    for (auto& r : r64) x = r.forward(s, x);
    buf = d128->forward(s, x, c, h, w);
    x = nn::from_nchw(buf.data(), n, c, h, w);
    for (auto& r : r128) x = r.forward(s, x);
    buf = d256->forward(s, x, c, h, w);
    x = nn::from_nchw(buf.data(), n, c, h, w);
    for (auto& r : r256) x = r.forward(s, x);
    buf = d256_out->forward(s, x, c, h, w);
    // Global average over space, then the fully connected layer (x @ fc, fc stored [in, out]).
    std::vector<float> out(static_cast<size_t>(n) * 128, 0.f);
    const size_t hw = static_cast<size_t>(h) * w;
    std::vector<float> avg(256);
    for (int b = 0; b < n; ++b) {
      for (int ch = 0; ch < c; ++ch) {
        float sum = 0;
        for (size_t i = 0; i < hw; ++i) sum += buf[(static_cast<size_t>(b) * c + ch) * hw + i];
        avg[ch] = sum / static_cast<float>(hw);
      }
      for (int ch = 0; ch < 256; ++ch)
        for (int o = 0; o < 128; ++o)
          out[static_cast<size_t>(b) * 128 + o] += avg[ch] * fc.data[ch * 128 + o];
    }
    return out;
  }
};

FaceApiResNet::FaceApiResNet(std::unique_ptr<Net> net) : net_(std::move(net)) {}
FaceApiResNet::~FaceApiResNet() = default;

uint64_t FaceApiResNet::weights_bytes(const std::filesystem::path& manifest) {
  return weights::tfjs_shard_bytes(manifest);
}

std::unique_ptr<FaceApiResNet> FaceApiResNet::load(const std::filesystem::path& manifest,
                                                   nn::Precision precision) {
  const StateDict sd = weights::load_tfjs(manifest);  // first: its errors name a missing file
  nn::CalibrationTable calibration;
  if (precision == nn::Precision::kInt8)
    calibration = nn::find_calibration("faceapi-resnet34/aligned150", weights_bytes(manifest));
  return std::unique_ptr<FaceApiResNet>(
      new FaceApiResNet(std::make_unique<Net>(Source{sd, precision, &calibration})));
}

std::vector<face::Embedding> FaceApiResNet::embed(const std::vector<cv::Mat>& crops) {
  if (crops.empty()) return {};
  // face-api: subtract the mean RGB of its training set, divide by 256.
  constexpr float kMean[3] = {122.782f, 117.001f, 104.298f};
  const size_t plane = size_t{150} * 150;
  std::vector<float> batch(crops.size() * 3 * plane);
  for (size_t i = 0; i < crops.size(); ++i) {
    const cv::Mat& m = crops[i];
    if (m.type() != CV_8UC3 || m.rows != 150 || m.cols != 150)
      throw Error(ErrorKind::kInvalidInput,
                  "the face-api descriptor wants 150x150 RGB chips (extract_crop with its crop_spec)");
    for (int y = 0; y < 150; ++y) {
      const uint8_t* row = m.ptr<uint8_t>(y);
      for (int x = 0; x < 150; ++x)
        for (int c = 0; c < 3; ++c)
          batch[(i * 3 + c) * plane + static_cast<size_t>(y) * 150 + x] = (row[3 * x + c] - kMean[c]) / 256.f;
    }
  }
  const std::vector<float> out = net_->forward(batch.data(), static_cast<int>(crops.size()));
  std::vector<face::Embedding> result(crops.size());
  for (size_t i = 0; i < crops.size(); ++i)
    result[i].assign(out.begin() + static_cast<long>(i * 128),
                     out.begin() + static_cast<long>((i + 1) * 128));
  return result;
}

}  // namespace facepipe::models
