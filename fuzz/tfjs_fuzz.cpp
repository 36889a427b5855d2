// TF.js weight manifest reader: the input is the manifest JSON; a 64 KiB shard named group1-shard1of1
// lies beside it (manifests may name any path: the reader must refuse, not crash, on each).
#include <vector>

#include "core/error.h"
#include "fuzz_util.h"
#include "weights/tfjs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool shard = [] {
    std::vector<uint8_t> bytes(64 * 1024, 0x3f);
    facepipe::fuzz::write_scratch("group1-shard1of1", bytes.data(), bytes.size());
    return true;
  }();
  (void)shard;
  const auto path = facepipe::fuzz::write_scratch("model-weights_manifest.json", data, size);
  try {
    facepipe::weights::load_tfjs(path);
  } catch (const facepipe::Error&) {
  }
  return 0;
}
