#include "models/mtcnn_nets.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <type_traits>

#include "core/error.h"
#include "models/pnet_stem.h"
#include "nn/layers.h"
#include "nn/prelu_pool.h"
#include "weights/torch_file.h"

namespace facepipe::models {

using nn::Act;
using nn::Activation;
using nn::Conv2d;
using weights::StateDict;

namespace {

std::unique_ptr<Conv2d> conv_prelu(const StateDict& sd, nn::Precision precision, const std::string& conv,
                                   const std::string& prelu, int in, int out, int k,
                                   bool channels_last = false) {
  const auto& w = weights::expect(sd, conv + ".weight", {out, in, k, k});
  const auto& b = weights::expect(sd, conv + ".bias", {out});
  const auto& a = weights::expect(sd, prelu + ".weight", {out});
  return std::make_unique<Conv2d>(nn::ConvSpec{out, in, k, k, 1, 0, 0, channels_last, precision}, w, b.data,
                                  nullptr, Activation::kPrelu, a.data);
}

// A convolution whose PReLU is applied by the max pooling after it (one pass instead of two). Its result
// is fp32 whatever it computes in: the pooling reads fp32.
std::unique_ptr<Conv2d> conv_then(const StateDict& sd, nn::Precision precision, const std::string& conv,
                                  int in, int out, int k) {
  const auto& w = weights::expect(sd, conv + ".weight", {out, in, k, k});
  const auto& b = weights::expect(sd, conv + ".bias", {out});
  return std::make_unique<Conv2d>(nn::ConvSpec{out, in, k, k, 1, 0, 0, false, precision, true}, w, b.data,
                                  nullptr, Activation::kNone);
}
std::unique_ptr<nn::PreluMaxPool2d> prelu_pool(const StateDict& sd, const std::string& prelu, int channels,
                                               int kernel, int stride) {
  return std::make_unique<nn::PreluMaxPool2d>(weights::expect(sd, prelu + ".weight", {channels}).data, kernel,
                                              stride, true);
}

// Several linear heads on the same input, run as one: their weights stacked row-wise.
std::unique_ptr<nn::Linear> stacked_heads(const StateDict& sd,
                                          const std::vector<std::pair<std::string, int>>& heads, int in) {
  weights::Tensor w;
  std::vector<float> b;
  int total = 0;
  for (const auto& [name, out] : heads) {
    const auto& hw = weights::expect(sd, name + ".weight", {out, in});
    const auto& hb = weights::expect(sd, name + ".bias", {out});
    w.data.insert(w.data.end(), hw.data.begin(), hw.data.end());
    b.insert(b.end(), hb.data.begin(), hb.data.end());
    total += out;
  }
  w.shape = {total, in};
  return std::make_unique<nn::Linear>(w, b);
}

// facenet's RNet/ONet flatten after permute(0, 3, 2, 1), i.e. in (w, h, c) order. Reordering the dense
// layer's input columns once lets the network flatten plain NCHW output instead.
weights::Tensor permute_dense_columns(const weights::Tensor& w, int c, int h, int wd) {
  weights::Tensor out = w;
  const int64_t rows = w.shape[0], cols = w.shape[1];
  for (int64_t o = 0; o < rows; ++o)
    for (int ci = 0; ci < c; ++ci)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < wd; ++x)
          out.data[o * cols + static_cast<int64_t>(ci * h + y) * wd + x] =
              w.data[o * cols + static_cast<int64_t>(x * h + y) * c + ci];
  return out;
}

void softmax2(const float* logits, float* prob1) {
  // Probability of class 1 of a two-class softmax, computed as PyTorch does (max-shifted exponentials).
  const float m = std::max(logits[0], logits[1]);
  const float e0 = std::exp(logits[0] - m), e1 = std::exp(logits[1] - m);
  *prob1 = e1 / (e0 + e1);
}

static_assert(PnetStem::kReadPastEnd <= kPnetReadPastEnd, "pnet()'s promise covers its first stage's reads");

class Nets : public MtcnnNets {
 public:
  Nets(const std::filesystem::path& dir, nn::Precision pr) {
    const StateDict p = weights::load_state_dict(dir / "pnet.pt");
    // conv1, PReLU and pooling in one pass (models/pnet_stem.h says why); the rest channels-last
    // (nn::ConvSpec::channels_last says why).
    stem_ = std::make_unique<PnetStem>(weights::expect(p, "conv1.weight", {10, 3, 3, 3}),
                                       weights::expect(p, "conv1.bias", {10}).data,
                                       weights::expect(p, "prelu1.weight", {10}).data);
    p2_ = conv_prelu(p, pr, "conv2", "prelu2", 10, 16, 3, true);
    p3_ = conv_prelu(p, pr, "conv3", "prelu3", 16, 32, 3, true);
    {  // conv4_1 (2 logits) and conv4_2 (4 offsets) read the same map: one 6-channel 1x1 convolution
      const auto& w1 = weights::expect(p, "conv4_1.weight", {2, 32, 1, 1});
      const auto& w2 = weights::expect(p, "conv4_2.weight", {4, 32, 1, 1});
      weights::Tensor w{{6, 32, 1, 1}, w1.data};
      w.data.insert(w.data.end(), w2.data.begin(), w2.data.end());
      std::vector<float> b = weights::expect(p, "conv4_1.bias", {2}).data;
      const auto& b2 = weights::expect(p, "conv4_2.bias", {4}).data;
      b.insert(b.end(), b2.begin(), b2.end());
      p4_ = std::make_unique<Conv2d>(nn::ConvSpec{6, 32, 1, 1, 1, 0, 0, true, pr, true}, w, b, nullptr,
                                     Activation::kNone);
    }
    const StateDict r = weights::load_state_dict(dir / "rnet.pt");
    r1_ = conv_then(r, pr, "conv1", 3, 28, 3);
    pool_r1_ = prelu_pool(r, "prelu1", 28, 3, 2);
    r2_ = conv_then(r, pr, "conv2", 28, 48, 3);
    pool_r2_ = prelu_pool(r, "prelu2", 48, 3, 2);
    r3_ = conv_prelu(r, pr, "conv3", "prelu3", 48, 64, 2);
    r4_ = std::make_unique<nn::Linear>(
        permute_dense_columns(weights::expect(r, "dense4.weight", {128, 576}), 64, 3, 3),
        weights::expect(r, "dense4.bias", {128}).data, Activation::kPrelu,
        weights::expect(r, "prelu4.weight", {128}).data);
    r5_ = stacked_heads(r, {{"dense5_1", 2}, {"dense5_2", 4}}, 128);
    const StateDict o = weights::load_state_dict(dir / "onet.pt");
    o1_ = conv_then(o, pr, "conv1", 3, 32, 3);
    pool_o1_ = prelu_pool(o, "prelu1", 32, 3, 2);
    o2_ = conv_then(o, pr, "conv2", 32, 64, 3);
    pool_o2_ = prelu_pool(o, "prelu2", 64, 3, 2);
    o3_ = conv_then(o, pr, "conv3", 64, 64, 3);
    pool_o3_ = prelu_pool(o, "prelu3", 64, 2, 2);
    o4_ = conv_prelu(o, pr, "conv4", "prelu4", 64, 128, 2);
    o5_ = std::make_unique<nn::Linear>(
        permute_dense_columns(weights::expect(o, "dense5.weight", {256, 1152}), 128, 3, 3),
        weights::expect(o, "dense5.bias", {256}).data, Activation::kPrelu,
        weights::expect(o, "prelu5.weight", {256}).data);
    o6_ = stacked_heads(o, {{"dense6_1", 2}, {"dense6_2", 4}, {"dense6_3", 10}}, 256);
  }

  PNetOutput pnet(std::vector<float> planar, int height, int width) override {
    if (planar.size() < static_cast<size_t>(3) * height * width + kPnetReadPastEnd)
      throw Error(ErrorKind::kInvalidInput,
                  "PNet input smaller than 3 x height x width plus its read-past margin");
    std::vector<float> pooled;
    int pooled_height = 0, pooled_width = 0;
    stem_->forward(planar.data(), height, width, pooled, pooled_height, pooled_width);
    std::vector<float>().swap(planar);
    dnnl::stream s(nn::cpu_engine());
    Act x = nn::from_nhwc(pooled.data(), 1, 10, pooled_height, pooled_width);
    x = p2_->forward(s, x);
    s.wait();
    std::vector<float>().swap(pooled);  // read by conv2 only (its result is a new buffer)
    x = p3_->forward(s, x);
    x = p4_->forward(s, x);
    const auto d = x.dims();
    const std::vector<float> out = nn::to_nchw(s, x);
    PNetOutput r;
    r.height = static_cast<int>(d[2]);
    r.width = static_cast<int>(d[3]);
    const size_t hw = static_cast<size_t>(r.height) * r.width;
    r.prob.resize(hw);
    for (size_t i = 0; i < hw; ++i) {
      const float logits[2] = {out[i], out[hw + i]};
      softmax2(logits, &r.prob[i]);
    }
    r.reg.assign(out.begin() + static_cast<long>(2 * hw), out.end());
    return r;
  }

  // oneDNN compiles a kernel for every new batch size, and the number of candidate boxes differs on
  // every frame. The candidates run as one batch padded with zero crops to a multiple of kBatchStep (at
  // most kMaxBatch a call): at most kMaxBatch / kBatchStep shapes are ever compiled, and a frame's few
  // hundred RNet candidates take one call per layer instead of ten (64, 64, 64, 16, 16, 16, 4, 1, 1, 1): RNet
  // on a 720p frame's 247 candidates 13.3 -> 8.3 ms. A crop's result does not depend on its batch-mates.
  static constexpr int kBatchStep = 16, kMaxBatch = 512;
  template <typename Out, typename Fn>
  static Out chunked(const float* nchw, int n, int plane, Fn run_chunk) {
    Out all;
    std::vector<float> padded;
    for (int done = 0; done < n;) {
      const int take = std::min(n - done, kMaxBatch);
      const int batch = (take + kBatchStep - 1) / kBatchStep * kBatchStep;
      const float* x = nchw + static_cast<size_t>(done) * plane;
      if (batch != take) {
        padded.assign(static_cast<size_t>(batch) * plane, 0.f);
        std::copy_n(x, static_cast<size_t>(take) * plane, padded.begin());
        x = padded.data();
      }
      Out part = run_chunk(x, batch);
      all.prob.insert(all.prob.end(), part.prob.begin(), part.prob.begin() + take);
      all.reg.insert(all.reg.end(), part.reg.begin(), part.reg.begin() + static_cast<long>(take) * 4);
      if constexpr (std::is_same_v<Out, ONetOutput>)
        all.landmarks.insert(all.landmarks.end(), part.landmarks.begin(),
                             part.landmarks.begin() + static_cast<long>(take) * 10);
      done += take;
    }
    return all;
  }

  RNetOutput rnet(const float* nchw, int n) override {
    return chunked<RNetOutput>(nchw, n, 3 * 24 * 24,
                               [this](const float* x, int k) { return rnet_batch(x, k); });
  }
  ONetOutput onet(const float* nchw, int n) override {
    return chunked<ONetOutput>(nchw, n, 3 * 48 * 48,
                               [this](const float* x, int k) { return onet_batch(x, k); });
  }

 private:
  RNetOutput rnet_batch(const float* nchw, int n) {
    RNetOutput r;
    if (n <= 0) return r;
    dnnl::stream s(nn::cpu_engine());
    Act x = nn::from_nchw(nchw, n, 3, 24, 24);
    x = pool_r1_->forward(s, r1_->forward(s, x));
    x = pool_r2_->forward(s, r2_->forward(s, x));
    x = r3_->forward(s, x);
    const std::vector<float> feat = nn::to_nchw(s, x);
    const std::vector<float> hidden = r4_->forward(feat.data(), n);
    const std::vector<float> heads = r5_->forward(hidden.data(), n);
    r.prob.resize(n);
    r.reg.resize(static_cast<size_t>(n) * 4);
    for (int i = 0; i < n; ++i) {
      const float* h = &heads[static_cast<size_t>(i) * 6];
      softmax2(h, &r.prob[i]);
      std::copy(h + 2, h + 6, &r.reg[static_cast<size_t>(i) * 4]);
    }
    return r;
  }

  ONetOutput onet_batch(const float* nchw, int n) {
    ONetOutput r;
    if (n <= 0) return r;
    dnnl::stream s(nn::cpu_engine());
    Act x = nn::from_nchw(nchw, n, 3, 48, 48);
    x = pool_o1_->forward(s, o1_->forward(s, x));
    x = pool_o2_->forward(s, o2_->forward(s, x));
    x = pool_o3_->forward(s, o3_->forward(s, x));
    x = o4_->forward(s, x);
    const std::vector<float> feat = nn::to_nchw(s, x);
    const std::vector<float> hidden = o5_->forward(feat.data(), n);
    const std::vector<float> heads = o6_->forward(hidden.data(), n);
    r.prob.resize(n);
    r.reg.resize(static_cast<size_t>(n) * 4);
    r.landmarks.resize(static_cast<size_t>(n) * 10);
    for (int i = 0; i < n; ++i) {
      const float* h = &heads[static_cast<size_t>(i) * 16];
      softmax2(h, &r.prob[i]);
      std::copy(h + 2, h + 6, &r.reg[static_cast<size_t>(i) * 4]);
      std::copy(h + 6, h + 16, &r.landmarks[static_cast<size_t>(i) * 10]);
    }
    return r;
  }

  std::unique_ptr<PnetStem> stem_;
  std::unique_ptr<Conv2d> p2_, p3_, p4_, r1_, r2_, r3_, o1_, o2_, o3_, o4_;
  std::unique_ptr<nn::Linear> r4_, r5_, o5_, o6_;
  // Each applies the PReLU of the convolution before it, then max-pools (ceil mode, as facenet).
  std::unique_ptr<nn::PreluMaxPool2d> pool_r1_, pool_r2_, pool_o1_, pool_o2_, pool_o3_;
};

}  // namespace

std::unique_ptr<MtcnnNets> MtcnnNets::load(const std::filesystem::path& dir, nn::Precision precision) {
  return std::make_unique<Nets>(dir, precision);
}

}  // namespace facepipe::models
