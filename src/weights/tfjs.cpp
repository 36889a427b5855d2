#include "weights/tfjs.h"

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace facepipe::weights {

uint64_t tfjs_shard_bytes(const std::filesystem::path& manifest) {
  std::ifstream in(manifest);
  const nlohmann::json groups = nlohmann::json::parse(in, nullptr, false);
  if (!groups.is_array())
    throw Error(ErrorKind::kInvalidInput,
                "'" + manifest.string() + "' is not a TF.js manifest (no group list)");
  uint64_t bytes = 0;
  for (const auto& group : groups) {
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array())
      throw Error(ErrorKind::kInvalidInput, "'" + manifest.string() + "' has a group without paths");
    for (const auto& p : group["paths"]) {
      if (!p.is_string())
        throw Error(ErrorKind::kInvalidInput, "'" + manifest.string() + "' has a non-string path");
      std::error_code ec;
      const auto size = std::filesystem::file_size(manifest.parent_path() / p.get<std::string>(), ec);
      if (!ec) bytes += size;
    }
  }
  return bytes;
}

StateDict load_tfjs(const std::filesystem::path& manifest) {
  const std::string file = manifest.string();
  std::ifstream in(manifest);
  if (!in)
    throw Error(ErrorKind::kNotFound, "cannot open TF.js manifest '" + file + "'; run scripts/models.sh");
  nlohmann::json groups;
  try {
    groups = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, "'" + file + "' is not a TF.js manifest: " + e.what());
  }
  if (!groups.is_array())
    throw Error(ErrorKind::kInvalidInput, "'" + file + "' is not a TF.js manifest (no group list)");
  StateDict out;
  try {
    for (const auto& group : groups) {
      std::vector<uint8_t> shard;  // a group's paths are one buffer split into files
      for (const auto& p : group.at("paths")) {
        const auto path = manifest.parent_path() / p.get<std::string>();
        std::ifstream bin(path, std::ios::binary);
        if (!bin)
          throw Error(ErrorKind::kNotFound,
                      "weights shard '" + path.string() + "' is missing; run scripts/models.sh");
        shard.insert(shard.end(), std::istreambuf_iterator<char>(bin), std::istreambuf_iterator<char>());
      }
      size_t offset = 0;
      for (const auto& w : group.at("weights")) {
        Tensor t;
        t.shape = w.at("shape").get<std::vector<int64_t>>();
        const size_t n = static_cast<size_t>(t.numel());
        const std::string name = w.at("name");
        std::string dtype = w.at("dtype");
        double scale = 1, min = 0;
        const bool quantised = w.contains("quantization");
        if (quantised) {
          const auto& q = w["quantization"];
          dtype = q.at("dtype");
          scale = q.at("scale");
          min = q.at("min");
        }
        const size_t elem = dtype == "uint8" ? 1 : dtype == "uint16" ? 2 : dtype == "float32" ? 4 : 0;
        if (!elem || (dtype == "float32" && quantised))
          throw Error(ErrorKind::kInvalidInput,
                      "'" + file + "': tensor '" + name + "' has unsupported dtype " + dtype);
        if (offset + n * elem > shard.size())
          throw Error(ErrorKind::kInvalidInput,
                      "'" + file + "': weights shard too short for '" + name + "' (truncated .bin?)");
        const uint8_t* p = shard.data() + offset;
        t.data.resize(n);
        for (size_t i = 0; i < n; ++i) {
          if (elem == 4) {
            std::memcpy(&t.data[i], p + 4 * i, 4);
          } else {
            const double q = elem == 1 ? p[i] : double(p[2 * i] | p[2 * i + 1] << 8);
            t.data[i] = static_cast<float>(q * scale + min);
          }
        }
        offset += n * elem;
        out.emplace(name, std::move(t));
      }
      if (offset != shard.size())
        throw Error(ErrorKind::kInvalidInput, "'" + file + "': weights shard has " +
                                                  std::to_string(shard.size() - offset) +
                                                  " bytes the manifest does not describe");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, "'" + file + "' is not a TF.js manifest: " + e.what());
  }
  return out;
}

}  // namespace facepipe::weights
