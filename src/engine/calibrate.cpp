#include "engine/calibrate.h"

#include "core/error.h"
#include "image/decode.h"

namespace facepipe::engine {

nn::CalibrationTable calibrate_int8(EngineOptions options, const std::vector<std::filesystem::path>& frames,
                                    const std::function<void(size_t, size_t, size_t)>& progress) {
  options.precision = nn::Precision::kF32;
  options.detector_precision = nn::Precision::kF32;
  const auto detector = make_detector(options);
  const auto embedder = make_embedder(options);
  const face::CropSpec spec = embedder->crop_spec();
  nn::RangeRecorder recorder;
  nn::CalibrationTable table;
  size_t faces = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat rgb = image::load_rgb(frames[i]);
    std::vector<cv::Mat> crops;
    for (const auto& face : detector->detect(rgb)) crops.push_back(face::extract_crop(rgb, face, spec));
    // One face at a time: the ranges are those each face reaches, whatever the batch.
    for (const auto& crop : crops) embedder->embed({crop});
    faces += crops.size();
    table.frames.push_back((frames[i].parent_path().filename() / frames[i].filename()).generic_string());
    if (progress) progress(i + 1, frames.size(), faces);
  }
  if (faces == 0)
    throw Error(ErrorKind::kInvalidInput,
                "no face in the calibration frames; give frames with faces in them");
  table.network = embedder->id();
  table.weights_bytes = embedder_weights_bytes(options);
  table.source = std::to_string(faces) + " faces in " + std::to_string(frames.size()) + " frames";
  table.input_max = recorder.input_max();
  return table;
}

}  // namespace facepipe::engine
