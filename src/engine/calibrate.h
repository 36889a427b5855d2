// Makes an embedder's int8 calibration table (nn/calibration.h) from frames: the faces MTCNN finds in
// them (fp32) are cropped as the embedder wants and embedded in fp32, while every convolution records the
// largest value its input takes. `facepipe calibrate` writes the table; calibration/ keeps the ones
// compiled in, made from the bundled frames.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "engine/loader.h"
#include "nn/calibration.h"

namespace facepipe::engine {

// `options` selects the embedder (its precisions are ignored: calibration runs in fp32). `progress` is
// called after each frame with (frames done, frames, faces so far). Throws Error(kInvalidInput) when
// the frames hold no face, and what decoding or loading throws.
nn::CalibrationTable calibrate_int8(EngineOptions options, const std::vector<std::filesystem::path>& frames,
                                    const std::function<void(size_t, size_t, size_t)>& progress = {});

}  // namespace facepipe::engine
