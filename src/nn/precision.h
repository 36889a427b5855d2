// The number format the networks compute in. fp32 is PyTorch's own arithmetic (the parity tests hold
// there); bf16 keeps fp32's exponent with an 8-bit mantissa: weights and activations between layers are
// bf16, products accumulate in fp32 inside oneDNN's avx512_core_bf16 kernels (AVX512-BF16's
// vdpbf16ps), and a network's input and output stay fp32. int8 (the embedders only) quantises each
// convolution: weights per output channel, its input with one scale calibrated on the bundled frames
// (nn/calibration.h); products accumulate in int32 on VNNI units (vpdpbusd) and the result is rescaled
// to fp32. The fidelity each costs is measured, not assumed: README "Precision".
#pragma once

#include <string>

namespace facepipe::nn {

enum class Precision { kF32, kBf16, kInt8 };

// "fp32", "bf16" or "int8" (the CLI's --precision / --detector-precision). Throws Error(kInvalidInput) naming
// the choices for anything else.
Precision parse_precision(const std::string& name);
std::string to_string(Precision precision);

// Whether this CPU, as oneDNN sees it, has the units for `precision` (bf16: AVX512-BF16 or AMX; int8:
// AVX512-VNNI, AVX-VNNI or AMX). oneDNN would otherwise run bf16 on its reference kernels, tens of times
// slower, and int8 on AVX2's 16-bit products, which saturate, so such a choice is refused.
bool cpu_supports(Precision precision);
// oneDNN's name of the instruction set it dispatches to here ("avx512_core_bf16", "avx2", ...).
std::string cpu_isa_name();
// Throws Error(kInvalidInput) saying what the CPU lacks and to use fp32, when !cpu_supports(precision).
// `what` names the option in the message ("--precision").
void require_supported(Precision precision, const std::string& what);

}  // namespace facepipe::nn
