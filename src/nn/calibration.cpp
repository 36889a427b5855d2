#include "nn/calibration.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "core/error.h"

namespace facepipe::nn {

// The tables in calibration/*.json, compiled in by CMake (generated/nn/calibration_tables.cpp).
extern const char* const kCompiledCalibrationTables[];

float CalibrationTable::scale_for(const std::string& layer) const {
  const auto it = input_max.find(layer);
  if (it == input_max.end() || !(it->second > 0))
    throw Error(ErrorKind::kInvalidInput, "the int8 calibration for " + network +
                                              " has no input range for layer '" + layer +
                                              "'; make it again with `facepipe calibrate`");
  return 255.f / it->second;
}

nlohmann::json to_json(const CalibrationTable& table) {
  nlohmann::json ranges = nlohmann::json::object();
  for (const auto& [layer, max] : table.input_max) ranges[layer] = max;
  return {{"network", table.network},
          {"weights_bytes", table.weights_bytes},
          {"source", table.source},
          {"frames", table.frames},
          {"input_max", ranges}};
}

CalibrationTable calibration_from_json(const nlohmann::json& json) {
  CalibrationTable table;
  try {
    table.network = json.at("network").get<std::string>();
    table.weights_bytes = json.at("weights_bytes").get<uint64_t>();
    table.source = json.value("source", "");
    table.frames = json.value("frames", std::vector<std::string>{});
    for (const auto& [layer, max] : json.at("input_max").items()) table.input_max[layer] = max.get<float>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, std::string("malformed int8 calibration table: ") + e.what());
  }
  if (table.input_max.empty()) throw Error(ErrorKind::kInvalidInput, "int8 calibration table has no layers");
  return table;
}

CalibrationTable find_calibration(const std::string& network, uint64_t weights_bytes) {
  const auto matches = [&](const CalibrationTable& t) {
    return t.network == network && t.weights_bytes == weights_bytes;
  };
  if (const char* file = std::getenv("FACEPIPE_INT8_CALIBRATION"); file && *file) {
    std::ifstream in(file);
    if (!in)
      throw Error(ErrorKind::kInvalidInput, std::string("cannot read FACEPIPE_INT8_CALIBRATION=") + file);
    nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_discarded())
      throw Error(ErrorKind::kInvalidInput,
                  std::string("FACEPIPE_INT8_CALIBRATION=") + file + " is not JSON");
    CalibrationTable table = calibration_from_json(json);
    if (!matches(table))
      throw Error(ErrorKind::kInvalidInput, std::string("FACEPIPE_INT8_CALIBRATION=") + file + " is for " +
                                                table.network + " (" + std::to_string(table.weights_bytes) +
                                                " bytes of weights), not " + network);
    return table;
  }
  for (const char* const* text = kCompiledCalibrationTables; *text; ++text) {
    CalibrationTable table = calibration_from_json(nlohmann::json::parse(*text));
    if (matches(table)) return table;
  }
  throw Error(ErrorKind::kInvalidInput,
              "no int8 calibration for " + network + " with a " + std::to_string(weights_bytes) +
                  "-byte weight file; make one with `facepipe calibrate -o table.json FRAMES...` (the "
                  "same --embedder) and set FACEPIPE_INT8_CALIBRATION=table.json, or use --precision bf16");
}

ConvSpec calibrated_spec(ConvSpec spec, Precision precision, const CalibrationTable* table,
                         const std::string& name, const std::string& next, bool signed_input) {
  spec.name = name;
  spec.precision = precision;
  if (precision != Precision::kInt8) return spec;
  if (signed_input) {
    spec.precision = Precision::kF32;
    return spec;
  }
  spec.src_scale = table->scale_for(name);
  if (!next.empty()) spec.dst_scale = table->scale_for(next);
  return spec;
}

namespace {
thread_local RangeRecorder* this_thread_recorder = nullptr;
}

RangeRecorder::RangeRecorder() {
  if (this_thread_recorder) throw Error(ErrorKind::kInternal, "range recorders do not nest");
  this_thread_recorder = this;
}
RangeRecorder::~RangeRecorder() { this_thread_recorder = nullptr; }

RangeRecorder* current_range_recorder() { return this_thread_recorder; }

void RangeRecorder::record(const std::string& layer, const dnnl::memory& x) {
  if (layer.empty() || x.get_desc().data_type() != dnnl::memory::data_type::f32) return;
  // The whole buffer, padding included: blocked layouts pad channels with zeros, which never raise a max.
  const auto* data = static_cast<const float*>(x.get_data_handle());
  const size_t n = x.get_desc().get_size() / sizeof(float);
  const float max = n ? *std::max_element(data, data + n) : 0.f;
  std::lock_guard<std::mutex> lock(mu_);
  float& m = max_[layer];
  m = std::max(m, max);
}

std::map<std::string, float> RangeRecorder::input_max() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_;
}

}  // namespace facepipe::nn
