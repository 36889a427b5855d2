#include "engine/mtcnn.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>

#include "core/error.h"
#include "nn/resample.h"

namespace facepipe::engine {

using face::Detection;

namespace {

// facenet's input normalisation, (x - 127.5) * 0.0078125, applied as the frame is resampled (PNet's
// pyramid levels and the RNet/ONet crops).
constexpr nn::RgbIntegral::Output kFacenetInput{127.5f, 0.0078125f};

// A candidate box during detection: float32 throughout, as the reference's torch tensors.
struct Cand {
  float x1, y1, x2, y2, score;
  float reg[4];
  std::array<float, 10> points{};
};

// torchvision.ops.nms: greedy by descending score, IoU without the +1 pixel convention, suppress > t.
std::vector<Cand> nms_torchvision(std::vector<Cand> boxes, float threshold) {
  std::stable_sort(boxes.begin(), boxes.end(),
                   [](const Cand& a, const Cand& b) { return a.score > b.score; });
  std::vector<float> area(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i)
    area[i] = (boxes[i].x2 - boxes[i].x1) * (boxes[i].y2 - boxes[i].y1);
  std::vector<char> suppressed(boxes.size(), 0);
  std::vector<Cand> keep;
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (suppressed[i]) continue;
    keep.push_back(boxes[i]);
    const Cand& a = boxes[i];
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      if (suppressed[j]) continue;
      const Cand& b = boxes[j];
      const float w = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
      const float h = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
      const float inter = w * h;
      if (inter / (area[i] + area[j] - inter) > threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

// facenet's nms_numpy with the 'Min' method: +1 pixel areas, overlap relative to the smaller box,
// picks from the highest score down and keeps boxes whose overlap is <= t.
std::vector<Cand> nms_min(const std::vector<Cand>& boxes, float threshold) {
  std::vector<float> area(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i)
    area[i] = (boxes[i].x2 - boxes[i].x1 + 1) * (boxes[i].y2 - boxes[i].y1 + 1);
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return boxes[a].score < boxes[b].score; });
  std::vector<Cand> keep;
  while (!order.empty()) {
    const size_t i = order.back();
    order.pop_back();
    keep.push_back(boxes[i]);
    std::vector<size_t> rest;
    for (size_t j : order) {
      const float w =
          std::max(0.f, std::min(boxes[i].x2, boxes[j].x2) - std::max(boxes[i].x1, boxes[j].x1) + 1);
      const float h =
          std::max(0.f, std::min(boxes[i].y2, boxes[j].y2) - std::max(boxes[i].y1, boxes[j].y1) + 1);
      if (w * h / std::min(area[i], area[j]) <= threshold) rest.push_back(j);
    }
    order.swap(rest);
  }
  return keep;
}

// rerec: grow the shorter side so the box is square around the same centre.
void square_up(Cand& c) {
  const float h = c.y2 - c.y1, w = c.x2 - c.x1, l = std::max(w, h);
  c.x1 = c.x1 + w * 0.5f - l * 0.5f;
  c.y1 = c.y1 + h * 0.5f - l * 0.5f;
  c.x2 = c.x1 + l;
  c.y2 = c.y1 + l;
}

// bbreg: refine with the network's offsets, in units of the +1-pixel box size.
void regress(Cand& c, const float* reg) {
  const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
  const float b1 = c.x1 + reg[0] * w, b2 = c.y1 + reg[1] * h, b3 = c.x2 + reg[2] * w, b4 = c.y2 + reg[3] * h;
  c.x1 = b1;
  c.y1 = b2;
  c.x2 = b3;
  c.y2 = b4;
}

// Cuts each box (truncated to integers, 1-based, clipped to the image as facenet's pad()) out of the
// 8-bit frame and area-resizes it to size x size, standardised. The window sums come from the frame's
// summed-area table (the pyramid's), bit-identical to facenet's float patch (integer sums are exact)
// and four lookups a cell instead of a pass over each window.
// Boxes with nothing inside the image get no crop; `valid` says which.
std::vector<float> crops_for(const cv::Mat& rgb, const nn::RgbIntegral& integral, const std::vector<Cand>& boxes,
                             int size, std::vector<char>& valid) {
  const int height = rgb.rows, width = rgb.cols;
  const size_t plane = static_cast<size_t>(3) * size * size;
  struct Rect {
    int top, left, height, width;
  };
  std::vector<Rect> rects;
  rects.reserve(boxes.size());
  valid.assign(boxes.size(), 0);
  for (size_t k = 0; k < boxes.size(); ++k) {
    int x = static_cast<int>(std::trunc(boxes[k].x1)), y = static_cast<int>(std::trunc(boxes[k].y1));
    int ex = static_cast<int>(std::trunc(boxes[k].x2)), ey = static_cast<int>(std::trunc(boxes[k].y2));
    x = std::max(x, 1);
    y = std::max(y, 1);
    ex = std::min(ex, width);
    ey = std::min(ey, height);
    if (!(ey > y - 1 && ex > x - 1)) continue;
    rects.push_back({y - 1, x - 1, ey - (y - 1), ex - (x - 1)});
    valid[k] = 1;
  }
  std::vector<float> out(rects.size() * plane);
  // The crops across the cores (each is too small to split: 24 x 24 or 48 x 48): a frame's few hundred RNet
  // crops were 2.3 ms on one core of a 720p frame's detection.
  const long long count = static_cast<long long>(rects.size());
#pragma omp parallel for schedule(static) if (count >= 8)
  for (long long i = 0; i < count; ++i) {
    const Rect& r = rects[static_cast<size_t>(i)];
    integral.resample_region(r.top, r.left, r.height, r.width, out.data() + static_cast<size_t>(i) * plane,
                             size, size, kFacenetInput);
  }
  return out;
}

// One pyramid level: the frame area-resampled at `s`, standardised, through PNet; the proposals above
// `threshold` after NMS 0.5 within the level.
std::vector<Cand> pnet_level(models::MtcnnNets& nets, const nn::RgbIntegral& integral, int h, int w, double s,
                             float threshold) {
  const int hs = static_cast<int>(h * s + 1), ws = static_cast<int>(w * s + 1);
  std::vector<float> scaled(static_cast<size_t>(3) * hs * ws + models::kPnetReadPastEnd);
  integral.resample(scaled.data(), hs, ws, kFacenetInput);
  const models::PNetOutput out = nets.pnet(std::move(scaled), hs, ws);
  const float sf = static_cast<float>(s);
  const size_t hw = static_cast<size_t>(out.height) * out.width;
  std::vector<Cand> level;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const size_t i = static_cast<size_t>(y) * out.width + x;
      const float p = out.prob[i];
      if (!(p >= threshold)) continue;
      Cand c{};
      c.x1 = std::floor((2.f * static_cast<float>(x) + 1.f) / sf);
      c.y1 = std::floor((2.f * static_cast<float>(y) + 1.f) / sf);
      c.x2 = std::floor((2.f * static_cast<float>(x) + 12.f) / sf);
      c.y2 = std::floor((2.f * static_cast<float>(y) + 12.f) / sf);
      c.score = p;
      for (int k = 0; k < 4; ++k) c.reg[k] = out.reg[k * hw + i];
      level.push_back(c);
    }
  return nms_torchvision(std::move(level), 0.5f);
}

}  // namespace

Mtcnn::Mtcnn(const std::filesystem::path& mtcnn_dir, MtcnnOptions options)
    : nets_(models::MtcnnNets::load(mtcnn_dir, options.precision)), options_(options) {
  if (options_.min_face_size < 1 || options_.factor <= 0 || options_.factor >= 1)
    throw Error(ErrorKind::kInvalidInput, "MTCNN needs min_face_size >= 1 and 0 < factor < 1");
}

std::vector<Detection> Mtcnn::detect(const cv::Mat& rgb) {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    throw Error(ErrorKind::kInvalidInput, "detect() needs an 8-bit RGB image");
  const int h = rgb.rows, w = rgb.cols;

  // The pyramid: scales 12/min_face_size * factor^k while the shorter side stays >= 12 pixels.
  std::vector<double> scales;
  const double m = 12.0 / options_.min_face_size;
  double minl = std::min(h, w) * m, scale = m;
  while (minl >= 12) {
    scales.push_back(scale);
    scale *= options_.factor;
    minl *= options_.factor;
  }

  // Stage 1: PNet on every scale; NMS 0.5 within each scale, then 0.7 across scales. The levels run
  // in parallel, each on one core (oneDNN runs a primitive single-threaded inside a parallel region):
  // the largest level is about half the pyramid's work, so largest-first dynamic scheduling balances two
  // cores, and small levels no longer pay for splitting a few rows over both.
  const nn::RgbIntegral integral(rgb.data, h, w, static_cast<long>(rgb.step));
  std::vector<std::vector<Cand>> per_level(scales.size());
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t level = 0; level < scales.size(); ++level) {
    try {
      per_level[level] = pnet_level(*nets_, integral, h, w, scales[level], options_.thresholds[0]);
    } catch (...) {
#pragma omp critical(mtcnn_failure)
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  std::vector<Cand> boxes;
  for (auto& level : per_level) boxes.insert(boxes.end(), level.begin(), level.end());
  boxes = nms_torchvision(std::move(boxes), 0.7f);
  for (Cand& c : boxes) {
    const float rw = c.x2 - c.x1, rh = c.y2 - c.y1;
    const float q1 = c.x1 + c.reg[0] * rw, q2 = c.y1 + c.reg[1] * rh, q3 = c.x2 + c.reg[2] * rw,
                q4 = c.y2 + c.reg[3] * rh;
    c.x1 = q1;
    c.y1 = q2;
    c.x2 = q3;
    c.y2 = q4;
    square_up(c);
  }
  if (boxes.empty()) return {};

  // Stage 2: RNet on 24x24 crops.
  {
    std::vector<char> valid;
    const std::vector<float> crops = crops_for(rgb, integral, boxes, 24, valid);
    const int n = static_cast<int>(crops.size() / (size_t{3} * 24 * 24));
    const models::RNetOutput out = nets_->rnet(crops.data(), n);
    std::vector<Cand> kept;
    for (size_t k = 0, j = 0; k < boxes.size(); ++k) {
      if (!valid[k]) continue;
      const size_t i = j++;
      if (!(out.prob[i] > options_.thresholds[1])) continue;
      Cand c = boxes[k];
      c.score = out.prob[i];
      std::copy_n(&out.reg[i * 4], 4, c.reg);
      kept.push_back(c);
    }
    boxes = nms_torchvision(std::move(kept), 0.7f);
    for (Cand& c : boxes) {
      regress(c, c.reg);
      square_up(c);
    }
  }
  if (boxes.empty()) return {};

  // Stage 3: ONet on 48x48 crops: final boxes, probabilities and landmarks.
  {
    std::vector<char> valid;
    const std::vector<float> crops = crops_for(rgb, integral, boxes, 48, valid);
    const int n = static_cast<int>(crops.size() / (size_t{3} * 48 * 48));
    const models::ONetOutput out = nets_->onet(crops.data(), n);
    std::vector<Cand> kept;
    for (size_t k = 0, j = 0; k < boxes.size(); ++k) {
      if (!valid[k]) continue;
      const size_t i = j++;
      if (!(out.prob[i] > options_.thresholds[2])) continue;
      Cand c = boxes[k];
      c.score = out.prob[i];
      const float bw = c.x2 - c.x1 + 1, bh = c.y2 - c.y1 + 1;
      for (int p = 0; p < 5; ++p) {
        c.points[p] = bw * out.landmarks[i * 10 + p] + c.x1 - 1;
        c.points[5 + p] = bh * out.landmarks[i * 10 + 5 + p] + c.y1 - 1;
      }
      regress(c, &out.reg[i * 4]);
      kept.push_back(c);
    }
    boxes = nms_min(kept, 0.7f);
  }

  // MTCNN.detect with select_largest: largest box area first.
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  auto area = [&](size_t i) { return (boxes[i].x2 - boxes[i].x1) * (boxes[i].y2 - boxes[i].y1); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return area(a) > area(b); });
  std::vector<Detection> faces;
  for (size_t i : order) {
    const Cand& c = boxes[i];
    Detection d;
    d.box = {c.x1, c.y1, c.x2, c.y2};
    d.prob = c.score;
    for (int p = 0; p < 5; ++p) d.landmarks[p] = {c.points[p], c.points[5 + p]};
    faces.push_back(d);
  }
  return faces;
}

}  // namespace facepipe::engine
