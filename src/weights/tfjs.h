// Reader for TF.js weight manifests (`*-weights_manifest.json` + the binary shards it names), as
// face-api.js ships its models. Tensors may be float32 or quantised (uint8/uint16 with scale and min:
// value = q * scale + min, TF.js's dequantisation). Shapes are kept as the manifest declares them
// (convolution filters are HWIO); converting layouts is the network's business.
#pragma once

#include <cstdint>
#include <filesystem>

#include "weights/tensor.h"

namespace facepipe::weights {

// Keyed by the manifest's names (e.g. "conv32_down/conv/filters"). Error(kNotFound) for a missing
// manifest or shard, Error(kInvalidInput) for malformed JSON, an unsupported dtype, or shards whose
// size differs from what the manifest declares.
StateDict load_tfjs(const std::filesystem::path& manifest);
// The total size of the shards `manifest` lists (what identifies a set of weights; 0 for shards that
// are missing). Error(kInvalidInput) for a malformed manifest.
uint64_t tfjs_shard_bytes(const std::filesystem::path& manifest);

}  // namespace facepipe::weights
