// torch.save reader (both layouts: legacy pickles + storages, and zip) on arbitrary file contents.
#include "core/error.h"
#include "fuzz_util.h"
#include "weights/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = facepipe::fuzz::write_scratch("input.pt", data, size);
  try {
    facepipe::weights::load_torch_object(path);
  } catch (const facepipe::Error&) {
  }
  return 0;
}
