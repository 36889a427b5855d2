// The accuracy report (`facepipe eval --report DIR`), laid out as NIST FRVT and ISO/IEC 19795-1 report
// biometric accuracy:
//   verification (1:1): genuine and impostor distance distributions, ROC (TAR against FAR) and DET (FNMR
//     against FMR on normal-deviate axes), TAR at FAR 1e-2 and 1e-3, EER, the decidability index d';
//   open-set identification (1:N): FNIR against FPIR, rank-1 identification rate;
//   the frames as the service answers them: confusion matrix, correct / wrong / unknown, strangers admitted;
//   failure to acquire: faces that fail the quality gate, images without a face.
// The thresholds the service uses are marked on every curve. Output: report.json, one SVG per figure, and
// index.html, a one-page summary to open in a browser.
//
// Comparisons: each probe image's subject (its largest face that passes the quality gate) is compared with
// every enrolled identity (its nearest template): one genuine score with its own identity, one impostor
// score with each other. Every gated face of a stranger image (expected gallery::kUnknown) is compared with
// every identity (impostor scores) and is a non-mated search.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "recognition/answer_policy.h"
#include "recognition/enroll.h"
#include "recognition/evaluate.h"

namespace facepipe::recognition {

struct ReportOptions {
  float threshold = 0;           // the service's open-set threshold (marked on the curves)
  std::vector<float> marked;     // further thresholds to mark (e.g. face-api's customary 0.6)
  AnswerOptions answer;          // how frames are answered (the confusion matrix)
  bool mirror_probe = false;     // average each probe's embedding with its mirror image's (measurement)
};

struct AccuracyReport {
  EvalReport frames;            // the frames as answered (confusion, mistakes)
  std::vector<float> genuine;   // distances
  std::vector<float> impostor;  // distances
  nlohmann::json summary;       // every figure of report.json
};

// Runs every image once (detect, crop, embed, quality, distances to every identity) and computes the
// figures. Unreadable images count as errors in `frames`, as evaluate() counts them.
AccuracyReport accuracy_report(face::Detector& detector, face::Embedder& embedder, const gallery::Gallery& gallery,
                               const std::vector<LabeledImage>& images, const ReportOptions& options,
                               const Progress& progress = {});

// Writes report.json, distances.svg, roc.svg, det.svg, fnir_fpir.svg, confusion.svg and index.html into
// `dir` (created). Error(kUnavailable) when a file cannot be written.
void write_report(const AccuracyReport& report, const std::filesystem::path& dir);

// Verification figures from raw scores (distances: smaller = more alike), exposed for tests.
struct ErrorRates {
  float threshold = 0;
  double far = 0;  // impostors at distance <= threshold / impostors (FMR)
  double frr = 0;  // genuine at distance > threshold / genuine (FNMR)
};
ErrorRates rates_at(const std::vector<float>& genuine, const std::vector<float>& impostor, float threshold);
// The largest TAR with FAR <= `far` over all thresholds.
double tar_at_far(const std::vector<float>& genuine, const std::vector<float>& impostor, double far);
// Equal error rate: the mean of FAR and FRR where they cross (0 when the scores separate).
double equal_error_rate(const std::vector<float>& genuine, const std::vector<float>& impostor);
// Inverse of the standard normal CDF (the DET curve's axes), p in (0, 1).
double probit(double p);

}  // namespace facepipe::recognition
