// What fp8_quant.cc and fp8_gemm.cc share: the kernel override and the one-tile quantizer the
// fused GEMM calls while packing activations.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace moelab {
namespace fp8 {

// MOELAB_FP8_KERNEL=generic forces the portable paths (tests compare them with AVX-512).
inline bool GenericForced() {
  const char* k = std::getenv("MOELAB_FP8_KERNEL");
  return k != nullptr && std::strcmp(k, "generic") == 0;
}

// In fp8_quant.cc: quantizes one tile of n consecutive values exactly as fp8Quantize does
// (amax over finite values, scale with the floor, encode); returns the scale, counts NaN/Inf.
// When *decoded comes back true (finite tile, AVX-512), dst holds the tile's decoded values too.
float QuantizeRowTile(const float* x, int64_t n, int fmt, bool pow2, float floor, uint8_t* codes,
                      float* dst, bool* decoded, int64_t* bad);

}  // namespace fp8
}  // namespace moelab
