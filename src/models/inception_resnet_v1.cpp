#include "models/inception_resnet_v1.h"

#include <cmath>

#include "core/error.h"
#include "nn/calibration.h"
#include "nn/layers.h"
#include "nn/resample.h"
#include "weights/torch_file.h"

namespace facepipe::models {

using nn::Act;
using nn::Activation;
using nn::Conv2d;
using weights::StateDict;

namespace {

constexpr float kBnEps = 0.001f;  // facenet's BasicConv2d / last_bn (value from the TensorFlow original)

std::string network_id(const std::string& stem, int input_size) {
  return "irv1-" + stem + "/box240" + (input_size == 160 ? "-area160" : "");
}

// The tensor `name` (checked as weights::expect does), moved out of the dict: the network keeps the
// only copy of its weights while loading (the dict is dropped after).
weights::Tensor take(StateDict& sd, const std::string& name, const std::vector<int64_t>& shape) {
  weights::expect(sd, name, shape);
  return std::move(sd.at(name));
}

// The state dict being loaded, the precision every convolution computes in, and for int8 the input
// ranges calibrated per layer.
struct Source {
  StateDict& dict;
  nn::Precision precision;
  const nn::CalibrationTable* calibration = nullptr;
};

// The first layer reads the standardised crop, which is signed: u8 cannot hold it, so int8 networks
// keep it in fp32 (3 input channels: 1% of the network's work).
constexpr const char* kSignedInputLayer = "conv2d_1a";

// `spec` for the layer `name` whose result feeds `next` (nn::calibrated_spec; a max pool between two
// int8 layers keeps the scale).
nn::ConvSpec spec_for(const Source& sd, const std::string& name, const std::string& next, nn::ConvSpec spec) {
  return nn::calibrated_spec(spec, sd.precision, sd.calibration, name, next, name == kSignedInputLayer);
}

// conv (no bias) + BatchNorm + ReLU, as facenet's BasicConv2d.
std::unique_ptr<Conv2d> basic(Source& sd, const std::string& p, const std::string& next, int in, int out,
                              int kh, int kw, int stride, int ph = 0, int pw = 0) {
  weights::Tensor w = take(sd.dict, p + ".conv.weight", {out, in, kh, kw});
  const auto bn = nn::batch_norm_from(sd.dict, p + ".bn", out, kBnEps);
  return std::make_unique<Conv2d>(spec_for(sd, p, next, nn::ConvSpec{out, in, kh, kw, stride, ph, pw}),
                                  std::move(w), std::vector<float>{}, &bn, Activation::kRelu);
}

// The 1x1 convolution that closes a residual block: act(scale * conv(cat) + x), an fp32 result (the
// residual stream stays fp32 between blocks).
std::unique_ptr<Conv2d> up(Source& sd, const std::string& p, int in, int out, float scale, bool relu) {
  weights::Tensor w = take(sd.dict, p + ".conv2d.weight", {out, in, 1, 1});
  const auto& b = weights::expect(sd.dict, p + ".conv2d.bias", {out});
  return std::make_unique<Conv2d>(spec_for(sd, p, "", nn::ConvSpec{out, in, 1, 1, 1, 0, 0}), std::move(w),
                                  b.data, nullptr, relu ? Activation::kRelu : Activation::kNone,
                                  std::vector<float>{}, scale);
}

using Chain = std::vector<std::unique_ptr<Conv2d>>;

Act run(dnnl::stream& s, Chain& chain, Act x) {
  for (auto& c : chain) x = c->forward(s, x);
  return x;
}

struct Block35 {
  Chain b0, b1, b2;
  std::unique_ptr<Conv2d> out;
  nn::Concat cat;
  Block35(Source& sd, const std::string& p, float scale) {
    b0.push_back(basic(sd, p + ".branch0", p, 256, 32, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.0", p + ".branch1.1", 256, 32, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.1", p, 32, 32, 3, 3, 1, 1, 1));
    b2.push_back(basic(sd, p + ".branch2.0", p + ".branch2.1", 256, 32, 1, 1, 1));
    b2.push_back(basic(sd, p + ".branch2.1", p + ".branch2.2", 32, 32, 3, 3, 1, 1, 1));
    b2.push_back(basic(sd, p + ".branch2.2", p, 32, 32, 3, 3, 1, 1, 1));
    out = up(sd, p, 96, 256, scale, true);
  }
  Act forward(dnnl::stream& s, const Act& x) {
    Act c = cat.forward(s, {run(s, b0, x), run(s, b1, x), run(s, b2, x)});
    return out->forward(s, c, &x);
  }
};

struct Block17 {
  Chain b0, b1;
  std::unique_ptr<Conv2d> out;
  nn::Concat cat;
  Block17(Source& sd, const std::string& p, float scale) {
    b0.push_back(basic(sd, p + ".branch0", p, 896, 128, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.0", p + ".branch1.1", 896, 128, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.1", p + ".branch1.2", 128, 128, 1, 7, 1, 0, 3));
    b1.push_back(basic(sd, p + ".branch1.2", p, 128, 128, 7, 1, 1, 3, 0));
    out = up(sd, p, 256, 896, scale, true);
  }
  Act forward(dnnl::stream& s, const Act& x) {
    Act c = cat.forward(s, {run(s, b0, x), run(s, b1, x)});
    return out->forward(s, c, &x);
  }
};

struct Block8 {
  Chain b0, b1;
  std::unique_ptr<Conv2d> out;
  nn::Concat cat;
  Block8(Source& sd, const std::string& p, float scale, bool relu) {
    b0.push_back(basic(sd, p + ".branch0", p, 1792, 192, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.0", p + ".branch1.1", 1792, 192, 1, 1, 1));
    b1.push_back(basic(sd, p + ".branch1.1", p + ".branch1.2", 192, 192, 1, 3, 1, 0, 1));
    b1.push_back(basic(sd, p + ".branch1.2", p, 192, 192, 3, 1, 1, 1, 0));
    out = up(sd, p, 384, 1792, scale, relu);
  }
  Act forward(dnnl::stream& s, const Act& x) {
    Act c = cat.forward(s, {run(s, b0, x), run(s, b1, x)});
    return out->forward(s, c, &x);
  }
};

}  // namespace

struct InceptionResnetV1::Net {
  Chain stem_a;  // conv2d_1a, 2a, 2b
  nn::MaxPool2d pool_3a{3, 2, false};
  Chain stem_b;  // conv2d_3b, 4a, 4b
  std::vector<std::unique_ptr<Block35>> repeat_1;
  Chain m6_b0, m6_b1;
  nn::MaxPool2d m6_pool{3, 2, false};
  nn::Concat m6_cat;
  std::vector<std::unique_ptr<Block17>> repeat_2;
  Chain m7_b0, m7_b1, m7_b2;
  nn::MaxPool2d m7_pool{3, 2, false};
  nn::Concat m7_cat;
  std::vector<std::unique_ptr<Block8>> repeat_3;
  std::unique_ptr<Block8> block8;
  std::unique_ptr<nn::Linear> last;  // last_linear with last_bn folded in
  std::mutex mu;                     // serialises forward passes (oneDNN already uses every core)

  explicit Net(Source sd) {
    stem_a.push_back(basic(sd, "conv2d_1a", "", 3, 32, 3, 3, 2));
    stem_a.push_back(basic(sd, "conv2d_2a", "conv2d_2b", 32, 32, 3, 3, 1));
    stem_a.push_back(basic(sd, "conv2d_2b", "conv2d_3b", 32, 64, 3, 3, 1, 1, 1));  // through pool_3a
    stem_b.push_back(basic(sd, "conv2d_3b", "conv2d_4a", 64, 80, 1, 1, 1));
    stem_b.push_back(basic(sd, "conv2d_4a", "conv2d_4b", 80, 192, 3, 3, 1));
    stem_b.push_back(basic(sd, "conv2d_4b", "", 192, 256, 3, 3, 2));
    for (int i = 0; i < 5; ++i)
      repeat_1.push_back(std::make_unique<Block35>(sd, "repeat_1." + std::to_string(i), 0.17f));
    m6_b0.push_back(basic(sd, "mixed_6a.branch0", "", 256, 384, 3, 3, 2));
    m6_b1.push_back(basic(sd, "mixed_6a.branch1.0", "mixed_6a.branch1.1", 256, 192, 1, 1, 1));
    m6_b1.push_back(basic(sd, "mixed_6a.branch1.1", "mixed_6a.branch1.2", 192, 192, 3, 3, 1, 1, 1));
    m6_b1.push_back(basic(sd, "mixed_6a.branch1.2", "", 192, 256, 3, 3, 2));
    for (int i = 0; i < 10; ++i)
      repeat_2.push_back(std::make_unique<Block17>(sd, "repeat_2." + std::to_string(i), 0.10f));
    m7_b0.push_back(basic(sd, "mixed_7a.branch0.0", "mixed_7a.branch0.1", 896, 256, 1, 1, 1));
    m7_b0.push_back(basic(sd, "mixed_7a.branch0.1", "", 256, 384, 3, 3, 2));
    m7_b1.push_back(basic(sd, "mixed_7a.branch1.0", "mixed_7a.branch1.1", 896, 256, 1, 1, 1));
    m7_b1.push_back(basic(sd, "mixed_7a.branch1.1", "", 256, 256, 3, 3, 2));
    m7_b2.push_back(basic(sd, "mixed_7a.branch2.0", "mixed_7a.branch2.1", 896, 256, 1, 1, 1));
    m7_b2.push_back(basic(sd, "mixed_7a.branch2.1", "mixed_7a.branch2.2", 256, 256, 3, 3, 1, 1, 1));
    m7_b2.push_back(basic(sd, "mixed_7a.branch2.2", "", 256, 256, 3, 3, 2));
    for (int i = 0; i < 5; ++i)
      repeat_3.push_back(std::make_unique<Block8>(sd, "repeat_3." + std::to_string(i), 0.20f, true));
    block8 = std::make_unique<Block8>(sd, "block8", 1.0f, false);
    // last_bn(last_linear(x)) is affine per output: fold it into one linear layer.
    weights::Tensor w = weights::expect(sd.dict, "last_linear.weight", {512, 1792});
    const auto bn = nn::batch_norm_from(sd.dict, "last_bn", 512, kBnEps);
    std::vector<float> bias(512);
    for (size_t o = 0; o < 512; ++o) {
      const double mul = bn.gamma[o] / std::sqrt(static_cast<double>(bn.var[o]) + bn.eps);
      for (size_t i = 0; i < 1792; ++i) w.data[o * 1792 + i] = static_cast<float>(w.data[o * 1792 + i] * mul);
      bias[o] = static_cast<float>(bn.beta[o] - bn.mean[o] * mul);
    }
    last = std::make_unique<nn::Linear>(w, bias);
  }

  std::vector<float> forward(const float* nchw, int n, int size) {
    std::lock_guard<std::mutex> lock(mu);
    dnnl::stream s(nn::cpu_engine());
    Act x = nn::from_nchw(nchw, n, 3, size, size);
    x = run(s, stem_a, x);
    x = pool_3a.forward(s, x);
    x = run(s, stem_b, x);
    for (auto& b : repeat_1) x = b->forward(s, x);
    x = m6_cat.forward(s, {run(s, m6_b0, x), run(s, m6_b1, x), m6_pool.forward(s, x)});
    for (auto& b : repeat_2) x = b->forward(s, x);
    x = m7_cat.forward(s, {run(s, m7_b0, x), run(s, m7_b1, x), run(s, m7_b2, x), m7_pool.forward(s, x)});
    for (auto& b : repeat_3) x = b->forward(s, x);
    x = block8->forward(s, x);
    // Global average pooling, the folded linear+BN and L2 normalisation are a few thousand flops per
    // image: plain loops over the NCHW output are simpler than more primitives.
    const auto d = x.dims();
    const std::vector<float> feat = nn::to_nchw(s, x);
    const size_t c = static_cast<size_t>(d[1]), hw = static_cast<size_t>(d[2] * d[3]);
    std::vector<float> pooled(static_cast<size_t>(n) * c);
    for (size_t i = 0; i < static_cast<size_t>(n) * c; ++i) {
      double sum = 0;
      for (size_t j = 0; j < hw; ++j) sum += feat[i * hw + j];
      pooled[i] = static_cast<float>(sum / static_cast<double>(hw));
    }
    std::vector<float> emb = last->forward(pooled.data(), n);
    for (int i = 0; i < n; ++i) {
      float* e = emb.data() + static_cast<size_t>(i) * 512;
      double norm = 0;
      for (int k = 0; k < 512; ++k) norm += double(e[k]) * e[k];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12));  // F.normalize's eps
      for (int k = 0; k < 512; ++k) e[k] *= inv;
    }
    return emb;
  }
};

InceptionResnetV1::InceptionResnetV1(std::unique_ptr<Net> net, std::string stem, int input_size)
    : net_(std::move(net)), stem_(std::move(stem)), input_size_(input_size) {}
InceptionResnetV1::~InceptionResnetV1() = default;

std::unique_ptr<InceptionResnetV1> InceptionResnetV1::load(const std::filesystem::path& weights,
                                                           int input_size, nn::Precision precision) {
  if (input_size != 240 && input_size != 160)
    throw Error(ErrorKind::kInvalidInput,
                "InceptionResnetV1 input size must be 240 or 160, not " + std::to_string(input_size));
  std::string stem = weights.stem().string();
  if (stem.find("vggface2") != std::string::npos) stem = "vggface2";
  if (stem.find("casia-webface") != std::string::npos) stem = "casia-webface";
  // The id names the network and its input, not the precision: int8 and bf16 embeddings match a gallery
  // enrolled in fp32. The calibration belongs to that network and weight file.
  const std::string id = network_id(stem, input_size);
  StateDict sd = weights::load_state_dict(weights, {"logits."});  // first: its errors name a missing file
  nn::CalibrationTable calibration;
  if (precision == nn::Precision::kInt8)
    calibration = nn::find_calibration(id, std::filesystem::file_size(weights));
  return std::unique_ptr<InceptionResnetV1>(
      new InceptionResnetV1(std::make_unique<Net>(Source{sd, precision, &calibration}), stem, input_size));
}

std::string InceptionResnetV1::id() const { return network_id(stem_, input_size_); }

std::vector<float> InceptionResnetV1::forward(const float* nchw, int n, int size) {
  if (n <= 0) return {};
  return net_->forward(nchw, n, size);
}

void standardize_chw(const cv::Mat& rgb, float* out) {
  const int h = rgb.rows, w = rgb.cols;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        out[(static_cast<size_t>(c) * h + y) * w + x] = (row[3 * x + c] - 127.5f) / 128.f;
  }
}

std::vector<face::Embedding> InceptionResnetV1::embed(const std::vector<cv::Mat>& crops) {
  if (crops.empty()) return {};
  const size_t plane = size_t{3} * 240 * 240;
  std::vector<float> batch(crops.size() * plane);
  for (size_t i = 0; i < crops.size(); ++i) {
    if (crops[i].type() != CV_8UC3 || crops[i].rows != 240 || crops[i].cols != 240)
      throw Error(ErrorKind::kInvalidInput,
                  "InceptionResnetV1 wants 240x240 RGB crops (extract_crop with its crop_spec)");
    standardize_chw(crops[i], batch.data() + i * plane);
  }
  std::vector<float> out;
  if (input_size_ == 160) {
    std::vector<float> small(crops.size() * 3 * 160 * 160);
    for (size_t i = 0; i < crops.size(); ++i)
      nn::adaptive_avg_pool2d(batch.data() + i * plane, 3, 240, 240, small.data() + i * 3 * 160 * 160, 160,
                              160);
    out = forward(small.data(), static_cast<int>(crops.size()), 160);
  } else {
    out = forward(batch.data(), static_cast<int>(crops.size()), 240);
  }
  std::vector<face::Embedding> result(crops.size());
  for (size_t i = 0; i < crops.size(); ++i)
    result[i].assign(out.begin() + static_cast<long>(i * 512),
                     out.begin() + static_cast<long>((i + 1) * 512));
  return result;
}

}  // namespace facepipe::models
