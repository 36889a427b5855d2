// Readers for PyTorch `torch.save` files, in both layouts PyTorch writes:
//  - legacy (torch < 1.6 and _use_new_zipfile_serialization=False): a magic-number pickle, a protocol
//    pickle, a sys-info pickle, the object pickle whose tensors name storages by persistent id, the
//    pickled list of storage keys, then each storage as an int64 element count and raw little-endian data;
//  - zip (the default since 1.6): `<archive>/data.pkl` plus one `<archive>/data/<key>` entry per storage.
// The layout is detected from the first bytes. Every length is checked against what is left of the file:
// a truncated or foreign file is an Error(kInvalidInput) naming the file and the problem, never a crash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weights/tensor.h"

namespace facepipe::weights {

// A value of the unpickled object tree (only what torch files hold).
struct TorchValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kTensor };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;  // kBool, kInt
  double float_value = 0;
  std::string string_value;
  std::vector<TorchValue> items;                           // kList, kTuple
  std::vector<std::pair<TorchValue, TorchValue>> entries;  // kDict, in insertion order
  Tensor tensor;                                           // kTensor (converted to float32)
  // Out of line: clang with libstdc++ refuses to instantiate pair<TorchValue, TorchValue>'s traits while
  // TorchValue is still incomplete (the fuzzing build, scripts/fuzz.sh).
  TorchValue();
  TorchValue(const TorchValue&);
  TorchValue(TorchValue&&) noexcept;
  TorchValue& operator=(const TorchValue&);
  TorchValue& operator=(TorchValue&&) noexcept;
  ~TorchValue();
};

// Any object saved with torch.save (e.g. facenet-pytorch's data.pt = [embeddings, names]).
TorchValue load_torch_object(const std::filesystem::path& path);

// A state dict (OrderedDict name -> tensor). Keys starting with one of `skip_prefixes` are dropped (the
// VGGFace2 file carries a `logits.*` classifier the embedder does not use), and so are BatchNorm's
// `num_batches_tracked` counters, which only training reads.
StateDict load_state_dict(const std::filesystem::path& path,
                          const std::vector<std::string>& skip_prefixes = {});

}  // namespace facepipe::weights
