// The bounded pickle VM, fed directly: the input becomes archive/data.pkl of a zip-layout torch file
// (with one small storage entry), so every byte reaches the VM instead of the layout checks.
#include <zip.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "weights/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = facepipe::fuzz::scratch_dir() / "pickle.pt";
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) return 0;
  static const float storage[16] = {};
  zip_source_t* pkl = zip_source_buffer(z, data, size, 0);
  zip_source_t* blob = zip_source_buffer(z, storage, sizeof storage, 0);
  zip_file_add(z, "archive/data.pkl", pkl, ZIP_FL_OVERWRITE);
  zip_file_add(z, "archive/data/0", blob, ZIP_FL_OVERWRITE);
  zip_file_add(z, "archive/version", zip_source_buffer(z, "3\n", 2, 0), ZIP_FL_OVERWRITE);
  if (zip_close(z) != 0) {
    zip_discard(z);
    return 0;
  }
  try {
    facepipe::weights::load_torch_object(path);
  } catch (const facepipe::Error&) {
  }
  return 0;
}
