#include "nn/precision.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace facepipe::nn {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kF32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  throw Error(ErrorKind::kInvalidInput, "unknown precision '" + name + "'; choose fp32, bf16 or int8");
}

std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "fp32";
}

namespace {

// oneDNN's ISA values are bit sets, each including the ones it extends (amx includes avx512_core_bf16).
bool effective_isa_has(dnnl::cpu_isa isa) {
  const auto have = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto want = static_cast<unsigned>(isa);
  return (have & want) == want;
}

}  // namespace

bool cpu_supports(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return true;
    case Precision::kBf16:
      return effective_isa_has(dnnl::cpu_isa::avx512_core_bf16);
    case Precision::kInt8:
      return effective_isa_has(dnnl::cpu_isa::avx512_core_vnni) ||
             effective_isa_has(dnnl::cpu_isa::avx2_vnni);
  }
  return false;
}

std::string cpu_isa_name() {
  using isa = dnnl::cpu_isa;
  // From the widest down: the first the effective ISA includes.
  for (const auto& [value, name] :
       std::initializer_list<std::pair<isa, const char*>>{{isa::avx512_core_amx, "avx512_core_amx"},
                                                          {isa::avx512_core_bf16, "avx512_core_bf16"},
                                                          {isa::avx512_core_vnni, "avx512_core_vnni"},
                                                          {isa::avx512_core, "avx512_core"},
                                                          {isa::avx2_vnni, "avx2_vnni"},
                                                          {isa::avx2, "avx2"},
                                                          {isa::avx, "avx"},
                                                          {isa::sse41, "sse41"}})
    if (effective_isa_has(value)) return name;
  return "none";
}

void require_supported(Precision precision, const std::string& what) {
  if (cpu_supports(precision)) return;
  const bool bf16 = precision == Precision::kBf16;
  throw Error(ErrorKind::kInvalidInput,
              what + " " + to_string(precision) + " needs a CPU with " +
                  (bf16 ? "AVX512-BF16 (or AMX)" : "AVX512-VNNI, AVX-VNNI or AMX") +
                  " and this one offers oneDNN " + cpu_isa_name() + ": " +
                  (bf16 ? "bf16 would run on reference kernels, many times slower than fp32"
                        : "int8 products would saturate without VNNI") +
                  "; use " + what + " fp32");
}

}  // namespace facepipe::nn
