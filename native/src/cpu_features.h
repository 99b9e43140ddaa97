// What the CPU running the addon can execute, checked once at run time so one binary serves
// machines with and without AVX-512.
#pragma once

namespace moelab {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
};

// Detected on first use; never changes afterwards.
const CpuFeatures& GetCpuFeatures();

}  // namespace moelab
