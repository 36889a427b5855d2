// Post-training int8 calibration: the largest value each convolution's input takes over a calibration
// set, run in fp32. One table per weight file, made by `facepipe calibrate` on the bundled frames, kept
// in calibration/ and compiled in; an int8 network quantises each convolution's input with
// 255 / input_max (inputs follow a ReLU, so they are never negative and u8 holds them).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include "nn/layers.h"

namespace facepipe::nn {

struct CalibrationTable {
  std::string network;                     // the embedder's id, e.g. "irv1-random-seed0-legacy/box240"
  uint64_t weights_bytes = 0;              // the weight file's size: a table belongs to one file
  std::string source;                      // what it was calibrated on (frames, faces)
  std::vector<std::string> frames;         // each calibration frame as folder/file, to make the table again
  std::map<std::string, float> input_max;  // per layer name (its state dict prefix)

  // 255 / input_max of `layer`. Throws Error(kInvalidInput) when the table lacks it or it is not > 0.
  float scale_for(const std::string& layer) const;
};

nlohmann::json to_json(const CalibrationTable& table);
// Throws Error(kInvalidInput) naming what is missing or malformed.
CalibrationTable calibration_from_json(const nlohmann::json& json);

// The table for `network` whose weight file has `weights_bytes`: the file $FACEPIPE_INT8_CALIBRATION
// names when set, else the tables compiled in from calibration/. Throws Error(kInvalidInput) saying how
// to make one (`facepipe calibrate`) when none matches.
CalibrationTable find_calibration(const std::string& network, uint64_t weights_bytes);

// `spec` completed for the convolution `name` of a network computing in `precision`, whose result feeds
// the convolution `next` directly (empty: an fp32 result, for a residual sum, a concat with fp32 parts or
// the network's end). For int8 its input is quantised at the scale `table` gives for it and a result
// feeding another int8 layer is written as u8 at that layer's scale, so nothing converts between them;
// a layer with a signed input (`signed_input`, a network's first) stays fp32, as u8 cannot hold it.
// Throws as scale_for does.
ConvSpec calibrated_spec(ConvSpec spec, Precision precision, const CalibrationTable* table,
                         const std::string& name, const std::string& next, bool signed_input);

// While one lives, every fp32 convolution this thread runs records the largest value of its input
// (nn::Conv2d::forward calls record). Not nestable.
class RangeRecorder {
 public:
  RangeRecorder();
  ~RangeRecorder();
  RangeRecorder(const RangeRecorder&) = delete;
  RangeRecorder& operator=(const RangeRecorder&) = delete;

  void record(const std::string& layer, const dnnl::memory& x);
  std::map<std::string, float> input_max() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, float> max_;
};
// This thread's recorder, or nullptr.
RangeRecorder* current_range_recorder();

}  // namespace facepipe::nn
