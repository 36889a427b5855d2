#include "recognition/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "image/decode.h"

namespace facepipe::recognition {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

size_t count_at_most(const std::vector<float>& sorted, float t) {
  return static_cast<size_t>(std::upper_bound(sorted.begin(), sorted.end(), t) - sorted.begin());
}

std::vector<float> sorted_copy(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Every threshold at which some rate changes, plus both ends.
std::vector<float> thresholds_of(const std::vector<float>& a, const std::vector<float>& b) {
  std::set<float> s(a.begin(), a.end());
  s.insert(b.begin(), b.end());
  s.insert(0.0f);
  std::vector<float> out(s.begin(), s.end());
  out.push_back(out.back() + 1);
  return out;
}

json stats(std::vector<float> v) {
  if (v.empty()) return {{"count", 0}};
  std::sort(v.begin(), v.end());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double var = 0;
  for (float x : v) var += (x - mean) * (x - mean);
  return {{"count", v.size()},  {"min", v.front()},          {"max", v.back()},
          {"mean", mean},       {"sd", std::sqrt(var / v.size())}, {"median", v[v.size() / 2]}};
}

std::string esc(const std::string& s) {  // names go into SVG and HTML: escape them
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// ---- SVG ----
// The figures are written as SVG text directly: they are a few polylines, ticks and labels, and Debian's
// plotting libraries (PLplot, matplotlib through Python) would add a large dependency, or a Python run, for
// what is a hundred lines here.
enum class Scale { kLinear, kLog, kProbit };

struct Axis {
  double lo, hi;
  Scale scale = Scale::kLinear;
  std::string label;
  std::vector<double> ticks;
  double map(double v) const {
    auto f = [this](double x) {
      switch (scale) {
        case Scale::kLog: return std::log10(x);
        case Scale::kProbit: return probit(x);
        default: return x;
      }
    };
    v = std::clamp(v, lo, hi);
    return (f(v) - f(lo)) / (f(hi) - f(lo));
  }
};

std::string tick_label(double v, Scale s) {
  if (s == Scale::kLinear) return fmt::format("{:g}", v);
  if (v >= 0.01) return fmt::format("{:g}", v);
  return fmt::format("1e{}", static_cast<int>(std::round(std::log10(v))));
}

class SvgPlot {
 public:
  SvgPlot(std::string title, Axis x, Axis y) : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)) {}
  void line(const std::vector<std::pair<double, double>>& pts, const std::string& colour, const std::string& label,
            bool step = false) {
    std::string d;
    double px = 0, py = 0;
    for (size_t i = 0; i < pts.size(); ++i) {
      const double X = sx(pts[i].first), Y = sy(pts[i].second);
      if (i == 0)
        d += fmt::format("M{:.1f},{:.1f}", X, Y);
      else if (step)
        d += fmt::format(" H{:.1f} V{:.1f}", X, Y);
      else
        d += fmt::format(" L{:.1f},{:.1f}", X, Y);
      px = X, py = Y;
    }
    (void)px, (void)py;
    body_ += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="2"/>)", d, colour) + "\n";
    legend(colour, label);
  }
  void vline(double x, const std::string& colour, const std::string& label) {
    const double X = sx(x);
    body_ += fmt::format(R"(<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{}" stroke="{}" stroke-dasharray="5,4"/>)",
                         X, kTop, X, kTop + kH, colour) +
             "\n";
    legend(colour, label);
  }
  void point(double x, double y, const std::string& colour, const std::string& label) {
    body_ += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="none" stroke="{}" stroke-width="2"/>)",
                         sx(x), sy(y), colour) +
             "\n";
    legend(colour, label);
  }
  void note(const std::string& text) { notes_.push_back(text); }
  std::string str() const {
    std::string s = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif" font-size="12">)",
        kWidth, kHeight, kWidth, kHeight);
    s += "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s += fmt::format(R"(<text x="{}" y="20" font-size="15" text-anchor="middle">{}</text>)", kLeft + kW / 2,
                     esc(title_)) +
         "\n";
    s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>)", kLeft, kTop, kW, kH) +
         "\n";
    for (double t : x_.ticks) {
      const double X = sx(t);
      s += fmt::format(R"(<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{}" stroke="#ddd"/>)", X, kTop, X, kTop + kH);
      s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", X, kTop + kH + 16,
                       tick_label(t, x_.scale)) +
           "\n";
    }
    for (double t : y_.ticks) {
      const double Y = sy(t);
      s += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#ddd"/>)", kLeft, Y, kLeft + kW, Y);
      s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)", kLeft - 6, Y + 4,
                       tick_label(t, y_.scale)) +
           "\n";
    }
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", kLeft + kW / 2, kTop + kH + 36,
                     esc(x_.label)) +
         "\n";
    s += fmt::format(R"svg(<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>)svg",
                     kTop + kH / 2, kTop + kH / 2, esc(y_.label)) +
         "\n";
    s += body_;
    int row = 0;
    for (const auto& [colour, label] : legend_) {
      const int y = kTop + 14 + 16 * row++;
      s += fmt::format(R"(<rect x="{}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}">{}</text>)",
                       kLeft + kW + 10, y - 4, colour, kLeft + kW + 28, y, esc(label)) +
           "\n";
    }
    for (const auto& n : notes_) {
      const int y = kTop + 14 + 16 * row++;
      s += fmt::format(R"(<text x="{}" y="{}" fill="#555">{}</text>)", kLeft + kW + 10, y, esc(n)) + "\n";
    }
    return s + "</svg>\n";
  }

 private:
  static constexpr int kWidth = 820, kHeight = 420, kLeft = 60, kTop = 32, kW = 500, kH = 330;
  double sx(double v) const { return kLeft + x_.map(v) * kW; }
  double sy(double v) const { return kTop + kH - y_.map(v) * kH; }
  void legend(const std::string& colour, const std::string& label) {
    if (!label.empty()) legend_.emplace_back(colour, label);
  }
  std::string title_;
  Axis x_, y_;
  std::string body_;
  std::vector<std::pair<std::string, std::string>> legend_;
  std::vector<std::string> notes_;
};

const char* kThresholdColours[] = {"#d62728", "#9467bd", "#8c564b", "#e377c2"};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(ErrorKind::kUnavailable, "cannot write '" + path.string() + "'; check the folder's permissions");
}

struct Search {  // one open-set identification search
  bool mated = false;
  std::string expected, nearest;
  float nearest_distance = 0, mate_distance = 0;
};

double fnir(const std::vector<Search>& s, float t) {
  size_t n = 0, miss = 0;
  for (const auto& x : s)
    if (x.mated) {
      ++n;
      if (!(x.nearest == x.expected && x.nearest_distance <= t)) ++miss;
    }
  return n ? double(miss) / n : 0;
}

double fpir(const std::vector<Search>& s, float t) {
  size_t n = 0, hit = 0;
  for (const auto& x : s)
    if (!x.mated) {
      ++n;
      if (x.nearest_distance <= t) ++hit;
    }
  return n ? double(hit) / n : 0;
}

face::Embedding average(const face::Embedding& a, const face::Embedding& b) {
  face::Embedding out(a.size());
  double norm_a = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    out[i] = (a[i] + b[i]) / 2;
    norm_a += a[i] * a[i];
    norm += out[i] * out[i];
  }
  // L2-normalised embedders (InceptionResnetV1) stay normalised; raw descriptors (face-api) stay raw.
  if (std::abs(norm_a - 1) < 1e-3 && norm > 0)
    for (auto& v : out) v = static_cast<float>(v / std::sqrt(norm));
  return out;
}

}  // namespace

double probit(double p) {
  // Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9), enough for axes.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  p = std::clamp(p, 1e-12, 1 - 1e-12);
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) return -probit(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

ErrorRates rates_at(const std::vector<float>& genuine, const std::vector<float>& impostor, float t) {
  const auto g = sorted_copy(genuine), i = sorted_copy(impostor);
  ErrorRates r;
  r.threshold = t;
  r.far = i.empty() ? 0 : double(count_at_most(i, t)) / i.size();
  r.frr = g.empty() ? 0 : 1 - double(count_at_most(g, t)) / g.size();
  return r;
}

double tar_at_far(const std::vector<float>& genuine, const std::vector<float>& impostor, double far) {
  const auto g = sorted_copy(genuine), i = sorted_copy(impostor);
  if (g.empty()) return 0;
  double best = 0;
  for (float t : thresholds_of(g, i)) {
    const double f = i.empty() ? 0 : double(count_at_most(i, t)) / i.size();
    if (f <= far) best = std::max(best, double(count_at_most(g, t)) / g.size());
  }
  return best;
}

double equal_error_rate(const std::vector<float>& genuine, const std::vector<float>& impostor) {
  const auto g = sorted_copy(genuine), i = sorted_copy(impostor);
  if (g.empty() || i.empty()) return 0;
  double best_gap = 2, eer = 0;
  for (float t : thresholds_of(g, i)) {
    const double far = double(count_at_most(i, t)) / i.size();
    const double frr = 1 - double(count_at_most(g, t)) / g.size();
    if (std::abs(far - frr) < best_gap || (std::abs(far - frr) == best_gap && (far + frr) / 2 < eer)) {
      best_gap = std::abs(far - frr);
      eer = (far + frr) / 2;
    }
  }
  return eer;
}

AccuracyReport accuracy_report(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                               const std::vector<LabeledImage>& images, const ReportOptions& options,
                               const Progress& progress) {
  AccuracyReport report;
  EvalReport& frames = report.frames;
  std::set<std::string> enrolled;
  for (const auto& p : gallery.people()) enrolled.insert(p.name);
  std::vector<Search> searches;
  int fta_images = 0, gated_faces = 0, all_faces = 0, rank1 = 0, mated = 0;
  std::map<std::string, int> gate_reasons;
  const face::CropSpec spec = embedder.crop_spec();
  size_t done = 0;
  for (const auto& item : images) {
    if (progress) progress(done++, images.size(), item.path.string());
    ++frames.total;
    const bool is_mated = enrolled.count(item.expected) > 0;
    const std::string expected = is_mated ? item.expected : std::string(gallery::kUnknown);
    std::string answered;
    float answered_distance = 0;
    try {
      const cv::Mat rgb = image::load_rgb(item.path);
      const auto detections = detector.detect(rgb);
      std::vector<cv::Mat> crops;
      for (const auto& d : detections) crops.push_back(face::extract_crop(rgb, d, spec));
      std::vector<face::Embedding> embeddings;
      if (!crops.empty()) embeddings = embedder.embed(crops);
      if (options.mirror_probe && !crops.empty()) {
        std::vector<cv::Mat> mirrored;
        for (const auto& c : crops) {
          cv::Mat m;
          cv::flip(c, m, 1);
          mirrored.push_back(m);
        }
        const auto e2 = embedder.embed(mirrored);
        for (size_t k = 0; k < embeddings.size(); ++k) embeddings[k] = average(embeddings[k], e2[k]);
      }
      std::vector<FaceAnswer> faces;
      std::vector<std::vector<std::pair<std::string, float>>> per_person;
      for (size_t k = 0; k < detections.size(); ++k) {
        auto dist = gallery.distances(embeddings[k]);
        FaceAnswer f;
        f.detection = detections[k];
        auto nearest = std::min_element(dist.begin(), dist.end(),
                                        [](const auto& a, const auto& b) { return a.second < b.second; });
        f.match.nearest = nearest->first;
        f.match.distance = nearest->second;
        f.match.name = options.threshold > 0 && f.match.distance > options.threshold ? gallery::kUnknown
                                                                                     : f.match.nearest;
        f.quality = assess_quality(detections[k], rgb.cols, rgb.rows, crops[k], options.answer.quality);
        faces.push_back(std::move(f));
        per_person.push_back(std::move(dist));
      }
      // Scores need each face's distances after decide() sorts the faces: pair them up by box.
      std::vector<size_t> order(faces.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return faces[a].detection.box.area() > faces[b].detection.box.area();
      });
      const FrameAnswer frame = decide(faces, options.answer.policy);
      if (frame.no_face()) {
        answered = "(no face)";
        ++frames.no_face;
      } else {
        answered = frame.result;
        answered_distance = frame.answering >= 0 ? frame.faces[static_cast<size_t>(frame.answering)].match.distance
                                                 : frame.faces[0].match.distance;
      }
      bool subject_found = false;
      for (size_t rank = 0; rank < order.size(); ++rank) {
        const size_t k = order[rank];
        ++all_faces;
        if (!faces[k].quality.ok()) {
          ++gated_faces;
          const std::string& why = faces[k].quality.failed;
          gate_reasons[why.substr(0, why.find_first_of("0123456789"))]++;
          continue;
        }
        Search s;
        s.nearest = faces[k].match.nearest;
        s.nearest_distance = faces[k].match.distance;
        if (is_mated) {
          if (subject_found) continue;  // bystanders of a labelled frame carry no label
          subject_found = true;
          s.mated = true;
          s.expected = expected;
          for (const auto& [name, d] : per_person[k]) {
            if (name == expected) {
              report.genuine.push_back(d);
              s.mate_distance = d;
            } else {
              report.impostor.push_back(d);
            }
          }
          ++mated;
          if (s.nearest == expected) ++rank1;
        } else {
          for (const auto& [name, d] : per_person[k]) report.impostor.push_back(d);
        }
        searches.push_back(s);
      }
      if (is_mated && !subject_found) ++fta_images;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kInternal || e.kind() == ErrorKind::kUnavailable) throw;
      answered = "(error)";
      ++frames.errors;
    }
    frames.confusion[expected][answered]++;
    if (answered == expected) {
      ++frames.correct;
      continue;
    }
    if (answered == gallery::kUnknown)
      ++frames.unknown;
    else if (answered[0] != '(')
      ++frames.wrong;
    frames.mistakes.push_back({{"image", item.path.string()},
                               {"expected", expected},
                               {"answered", answered},
                               {"distance", answered_distance}});
  }
  if (progress) progress(images.size(), images.size(), "");

  // ---- figures ----
  const auto& g = report.genuine;
  const auto& imp = report.impostor;
  std::vector<float> marked = {options.threshold};
  for (float t : options.marked)
    if (t > 0 && t != options.threshold) marked.push_back(t);
  json at = json::array();
  for (float t : marked) {
    const auto r = rates_at(g, imp, t);
    at.push_back({{"threshold", t},
                  {"far", r.far},
                  {"frr", r.frr},
                  {"fpir", fpir(searches, t)},
                  {"fnir", fnir(searches, t)}});
  }
  json gs = stats(g), is = stats(imp);
  double d_prime = 0;
  if (!g.empty() && !imp.empty()) {
    const double sg = gs["sd"].get<double>(), si = is["sd"].get<double>();
    d_prime = std::abs(is["mean"].get<double>() - gs["mean"].get<double>()) / std::sqrt((sg * sg + si * si) / 2);
  }
  // FNIR at a given FPIR: the smallest FNIR over the thresholds whose FPIR does not exceed it.
  std::vector<float> search_t;
  for (const auto& s : searches) search_t.push_back(s.nearest_distance);
  const auto ts = thresholds_of(search_t, {});
  auto fnir_at_fpir = [&](double target) {
    double best = 1;
    for (float t : ts)
      if (fpir(searches, t) <= target) best = std::min(best, fnir(searches, t));
    return best;
  };
  int non_mated = 0;
  for (const auto& s : searches) non_mated += s.mated ? 0 : 1;
  int strangers_admitted = 0;
  for (const auto& [answered, count] : frames.confusion[gallery::kUnknown])
    if (answered != gallery::kUnknown && answered[0] != '(') strangers_admitted += count;
  json reasons = json::object();
  for (const auto& [why, n] : gate_reasons) reasons[why] = n;
  report.summary = {
      {"threshold", options.threshold},
      {"answer", to_string(options.answer.policy)},
      {"mirror_probe", options.mirror_probe},
      {"verification",
       {{"genuine", gs},
        {"impostor", is},
        {"tar_at_far", {{"1e-2", tar_at_far(g, imp, 1e-2)}, {"1e-3", tar_at_far(g, imp, 1e-3)}}},
        {"eer", equal_error_rate(g, imp)},
        {"d_prime", d_prime},
        {"margin", (g.empty() || imp.empty()) ? 0.0 : double(is["min"].get<float>() - gs["max"].get<float>())}}},
      {"identification",
       {{"mated_searches", mated},
        {"non_mated_searches", non_mated},
        {"rank1", mated ? double(rank1) / mated : 0},
        {"fnir_at_fpir", {{"1e-2", fnir_at_fpir(1e-2)}, {"1e-3", fnir_at_fpir(1e-3)}}}}},
      {"at_thresholds", at},
      {"frames", frames.to_json()},
      {"strangers_admitted", strangers_admitted},
      {"failure_to_acquire",
       {{"labelled_images_without_a_usable_face", fta_images},
        {"faces", all_faces},
        {"faces_failing_the_gate", gated_faces},
        {"reasons", reasons}}}};
  // The curves themselves, for anyone replotting.
  json roc = json::array(), fi = json::array();
  const auto gsorted = sorted_copy(g), isorted = sorted_copy(imp);
  for (float t : thresholds_of(gsorted, isorted)) {
    const double far = isorted.empty() ? 0 : double(count_at_most(isorted, t)) / isorted.size();
    const double tar = gsorted.empty() ? 0 : double(count_at_most(gsorted, t)) / gsorted.size();
    roc.push_back({t, far, tar});
  }
  for (float t : ts) fi.push_back({t, fpir(searches, t), fnir(searches, t)});
  report.summary["curves"] = {{"roc", roc}, {"fpir_fnir", fi}};
  return report;
}

void write_report(const AccuracyReport& report, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::kUnavailable, "cannot create '" + dir.string() + "': " + ec.message());
  const json& s = report.summary;
  std::vector<float> marked;
  for (const auto& a : s["at_thresholds"]) marked.push_back(a["threshold"].get<float>());
  auto mark_label = [&](size_t i) {
    return fmt::format("{} {:.2f}", i == 0 ? "service threshold" : "threshold", marked[i]);
  };

  // Distance distributions: normalised histograms, 0.02 wide.
  {
    float hi = 0.1f;
    for (float v : report.genuine) hi = std::max(hi, v);
    for (float v : report.impostor) hi = std::max(hi, v);
    hi = std::ceil(hi * 10) / 10;
    const float bin = 0.02f;
    const int bins = static_cast<int>(std::ceil(hi / bin));
    auto hist = [&](const std::vector<float>& v) {
      std::vector<double> h(static_cast<size_t>(bins), 0);
      for (float x : v) h[static_cast<size_t>(std::min(bins - 1, static_cast<int>(x / bin)))] += 1;
      std::vector<std::pair<double, double>> pts = {{0, 0}};
      for (int b = 0; b < bins; ++b) {
        const double frac = v.empty() ? 0 : h[static_cast<size_t>(b)] / v.size();
        pts.push_back({b * bin, frac});
        pts.push_back({(b + 1) * bin, frac});
      }
      pts.push_back({bins * bin, 0});
      return pts;
    };
    double ymax = 0.05;
    for (auto* v : {&report.genuine, &report.impostor})
      for (auto& p : hist(*v)) ymax = std::max(ymax, p.second);
    ymax = std::ceil(ymax * 10) / 10;
    Axis x{0, hi, Scale::kLinear, "Euclidean distance to the identity's nearest template", {}};
    for (double t = 0; t <= hi + 1e-6; t += 0.1) x.ticks.push_back(t);
    Axis y{0, ymax, Scale::kLinear, "fraction of comparisons", {}};
    for (double t = 0; t <= ymax + 1e-6; t += ymax / 5) y.ticks.push_back(t);
    SvgPlot plot("Genuine and impostor distances", x, y);
    plot.line(hist(report.genuine), "#1f77b4", fmt::format("genuine ({})", report.genuine.size()));
    plot.line(hist(report.impostor), "#ff7f0e", fmt::format("impostor ({})", report.impostor.size()));
    for (size_t i = 0; i < marked.size(); ++i) plot.vline(marked[i], kThresholdColours[i % 4], mark_label(i));
    write_file(dir / "distances.svg", plot.str());
  }
  const auto& roc = s["curves"]["roc"];
  const double floor_rate = 1e-4;
  auto thresh_point = [](const json& curve, float t, int xi, int yi) {
    std::pair<double, double> p{0, 0};
    for (const auto& row : curve)
      if (row[0].get<float>() <= t) p = {row[xi].get<double>(), row[yi].get<double>()};
    return p;
  };
  {
    Axis x{floor_rate, 1, Scale::kLog, "FAR (false accept rate)", {1e-4, 1e-3, 1e-2, 1e-1, 1}};
    Axis y{0, 1, Scale::kLinear, "TAR (true accept rate)", {0, 0.2, 0.4, 0.6, 0.8, 1}};
    SvgPlot plot("ROC (verification)", x, y);
    std::vector<std::pair<double, double>> pts;
    for (const auto& row : roc) pts.push_back({std::max(floor_rate, row[1].get<double>()), row[2].get<double>()});
    plot.line(pts, "#1f77b4", "ROC");
    for (size_t i = 0; i < marked.size(); ++i) {
      auto p = thresh_point(roc, marked[i], 1, 2);
      plot.point(std::max(floor_rate, p.first), p.second, kThresholdColours[i % 4], mark_label(i));
    }
    plot.note("FAR below 1e-4 drawn at 1e-4");
    write_file(dir / "roc.svg", plot.str());
  }
  {
    const std::vector<double> ticks = {1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5};
    Axis x{floor_rate, 0.5, Scale::kProbit, "FMR (false match rate, normal deviate scale)", ticks};
    Axis y{floor_rate, 0.5, Scale::kProbit, "FNMR (false non-match rate)", ticks};
    SvgPlot plot("DET (verification)", x, y);
    std::vector<std::pair<double, double>> pts;
    for (const auto& row : roc) pts.push_back({row[1].get<double>(), 1 - row[2].get<double>()});
    plot.line(pts, "#1f77b4", "DET");
    for (size_t i = 0; i < marked.size(); ++i) {
      auto p = thresh_point(roc, marked[i], 1, 2);
      plot.point(p.first, 1 - p.second, kThresholdColours[i % 4], mark_label(i));
    }
    plot.note("rates below 1e-4 drawn on the axes");
    write_file(dir / "det.svg", plot.str());
  }
  {
    const auto& fi = s["curves"]["fpir_fnir"];
    Axis x{floor_rate, 1, Scale::kLog, "FPIR (non-mated searches returning someone)", {1e-4, 1e-3, 1e-2, 1e-1, 1}};
    Axis y{floor_rate, 1, Scale::kLog, "FNIR (mated searches missing their mate)", {1e-4, 1e-3, 1e-2, 1e-1, 1}};
    SvgPlot plot("Open-set identification: FNIR against FPIR", x, y);
    std::vector<std::pair<double, double>> pts;
    for (const auto& row : fi) pts.push_back({row[1].get<double>(), row[2].get<double>()});
    plot.line(pts, "#1f77b4", "rank 1, threshold swept");
    for (size_t i = 0; i < marked.size(); ++i) {
      auto p = thresh_point(fi, marked[i], 1, 2);
      plot.point(p.first, p.second, kThresholdColours[i % 4], mark_label(i));
    }
    plot.note("rates below 1e-4 drawn on the axes");
    write_file(dir / "fnir_fpir.svg", plot.str());
  }
  // Confusion matrix (frames as answered): rows expected, columns answered.
  std::vector<std::string> rows, cols;
  std::set<std::string> colset;
  for (const auto& [expected, row] : report.frames.confusion) {
    rows.push_back(expected);
    for (const auto& [answered, n] : row) colset.insert(answered);
  }
  for (const auto& r : rows) colset.insert(r);
  cols.assign(colset.begin(), colset.end());
  {
    const int cell = 64, left = 130, top = 110;
    std::string svg = fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)",
        left + cell * static_cast<int>(cols.size()) + 20, top + cell * static_cast<int>(rows.size()) + 20);
    svg += "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += fmt::format(R"(<text x="{}" y="18" font-size="15">Confusion: expected (rows) against answered (columns)</text>)",
                       10) + "\n";
    for (size_t c = 0; c < cols.size(); ++c)
      svg += fmt::format(R"svg(<text x="{}" y="{}" transform="rotate(-40 {} {})">{}</text>)svg", left + c * cell + 20,
                         top - 8, left + c * cell + 20, top - 8, esc(cols[c])) + "\n";
    for (size_t r = 0; r < rows.size(); ++r) {
      const auto& row = report.frames.confusion.at(rows[r]);
      int total = 0;
      for (const auto& [a, n] : row) total += n;
      svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", left - 8, top + r * cell + cell / 2 + 4,
                         esc(rows[r])) + "\n";
      for (size_t c = 0; c < cols.size(); ++c) {
        auto it = row.find(cols[c]);
        const int n = it == row.end() ? 0 : it->second;
        const double f = total ? double(n) / total : 0;
        const std::string fill = n == 0 ? "#f7f7f7"
                                 : rows[r] == cols[c]
                                     ? fmt::format("rgb({0},{1},{0})", int(230 - 150 * f), int(245 - 90 * f))
                                     : fmt::format("rgb({0},{1},{1})", int(245 - 40 * f), int(230 - 150 * f));
        svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#fff"/>)", left + c * cell,
                           top + r * cell, cell, cell, fill);
        if (n) svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", left + c * cell + cell / 2,
                                  top + r * cell + cell / 2 + 4, n);
        svg += "\n";
      }
    }
    write_file(dir / "confusion.svg", svg + "</svg>\n");
  }
  write_file(dir / "report.json", s.dump(2) + "\n");

  // index.html: the figures and the numbers on one page.
  const auto& v = s["verification"];
  const auto& id = s["identification"];
  const auto& fr = s["frames"];
  std::string html = R"(<!doctype html><html><head><meta charset="utf-8"><title>facepipe accuracy report</title>
<style>body{font-family:sans-serif;max-width:1700px;margin:1em auto;padding:0 1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:820px}
.figs{display:flex;flex-wrap:wrap;gap:8px}</style></head><body>
<h1>facepipe accuracy report</h1>
)";
  html += fmt::format("<p>Answer policy <b>{}</b>, service threshold <b>{:.3f}</b>{}. Written in the manner of NIST FRVT "
                      "and ISO/IEC 19795-1; the raw figures are in <a href=\"report.json\">report.json</a>.</p>\n",
                      esc(s["answer"].get<std::string>()), s["threshold"].get<float>(),
                      s["mirror_probe"].get<bool>() ? ", probes averaged with their mirror image" : "");
  html += "<h2>Verification (1:1)</h2><table><tr><th>genuine</th><th>impostor</th><th>TAR @ FAR 1e-2</th>"
          "<th>TAR @ FAR 1e-3</th><th>EER</th><th>d'</th><th>largest genuine</th><th>smallest impostor</th></tr>";
  html += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.4f}</td><td>{:.4f}</td><td>{:.4f}</td><td>{:.2f}</td>"
                      "<td>{:.3f}</td><td>{:.3f}</td></tr></table>\n",
                      v["genuine"]["count"].get<int>(), v["impostor"]["count"].get<int>(),
                      v["tar_at_far"]["1e-2"].get<double>(), v["tar_at_far"]["1e-3"].get<double>(),
                      v["eer"].get<double>(), v["d_prime"].get<double>(), v["genuine"].value("max", 0.0f),
                      v["impostor"].value("min", 0.0f));
  html += "<h2>Open-set identification (1:N)</h2><table><tr><th>mated searches</th><th>non-mated searches</th>"
          "<th>rank-1</th><th>FNIR @ FPIR 1e-2</th><th>FNIR @ FPIR 1e-3</th></tr>";
  html += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.4f}</td><td>{:.4f}</td><td>{:.4f}</td></tr></table>\n",
                      id["mated_searches"].get<int>(), id["non_mated_searches"].get<int>(), id["rank1"].get<double>(),
                      id["fnir_at_fpir"]["1e-2"].get<double>(), id["fnir_at_fpir"]["1e-3"].get<double>());
  html += "<h2>At the marked thresholds</h2><table><tr><th>threshold</th><th>FAR</th><th>FRR</th><th>FPIR</th>"
          "<th>FNIR</th></tr>";
  for (const auto& a : s["at_thresholds"])
    html += fmt::format("<tr><td>{:.3f}</td><td>{:.5f}</td><td>{:.5f}</td><td>{:.5f}</td><td>{:.5f}</td></tr>",
                        a["threshold"].get<float>(), a["far"].get<double>(), a["frr"].get<double>(),
                        a["fpir"].get<double>(), a["fnir"].get<double>());
  html += "</table>\n<h2>Frames as the service answers them</h2>";
  html += fmt::format("<p>{} frames: {} correct, {} wrong, {} Unknown, {} without a face, {} unreadable; "
                      "strangers admitted: {}. Faces failing the quality gate: {} of {}.</p>\n",
                      fr["total"].get<int>(), fr["correct"].get<int>(), fr["wrong"].get<int>(),
                      fr["unknown"].get<int>(), fr["no_face"].get<int>(), fr["errors"].get<int>(),
                      s["strangers_admitted"].get<int>(), s["failure_to_acquire"]["faces_failing_the_gate"].get<int>(),
                      s["failure_to_acquire"]["faces"].get<int>());
  html += "<div class=\"figs\">";
  for (const char* f : {"distances.svg", "roc.svg", "det.svg", "fnir_fpir.svg", "confusion.svg"})
    html += fmt::format("<img src=\"{}\" alt=\"{}\">", f, f);
  html += "</div>\n";
  if (!fr["mistakes"].empty()) {
    html += "<h2>Mistakes</h2><table><tr><th>image</th><th>expected</th><th>answered</th><th>distance</th></tr>";
    for (const auto& m : fr["mistakes"])
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td></tr>",
                          esc(m["image"].get<std::string>()), esc(m["expected"].get<std::string>()),
                          esc(m["answered"].get<std::string>()), m["distance"].get<float>());
    html += "</table>\n";
  }
  write_file(dir / "index.html", html + "</body></html>\n");
}

}  // namespace facepipe::recognition
