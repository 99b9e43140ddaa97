// Internal to the GEMM: portable packing templates (the scalar kernel uses them; the AVX2 and
// AVX-512 files have vector versions of the same layouts).
// Packing is where the transposes are absorbed, so the micro-kernels see one layout only.
#pragma once
#include <cstdint>

namespace moelab {
namespace gemm {

template <int MR>
void PackAPortable(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                   int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += MR, out += kc * MR) {
    const int64_t rows = mc - i < MR ? mc - i : MR;
    if (trans) {
      // op(A)(r, p) = A[p * lda + r]: each k step is a contiguous run of rows.
      const float* src = a + (p0)*lda + (i0 + i);
      for (int64_t p = 0; p < kc; ++p, src += lda) {
        float* dst = out + p * MR;
        int64_t r = 0;
        for (; r < rows; ++r) dst[r] = src[r];
        for (; r < MR; ++r) dst[r] = 0.f;
      }
    } else {
      int64_t r = 0;
      for (; r < rows; ++r) {
        const float* src = a + (i0 + i + r) * lda + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * MR + r] = src[p];
      }
      for (; r < MR; ++r)
        for (int64_t p = 0; p < kc; ++p) out[p * MR + r] = 0.f;
    }
  }
}

template <int NR>
void PackBPortable(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += NR, out += kc * NR) {
    const int64_t cols = nc - j < NR ? nc - j : NR;
    if (!trans) {
      // op(B)(p, c) = B[p * ldb + c]: each k step is a contiguous run of columns.
      const float* src = b + p0 * ldb + (j0 + j);
      for (int64_t p = 0; p < kc; ++p, src += ldb) {
        float* dst = out + p * NR;
        int64_t c = 0;
        for (; c < cols; ++c) dst[c] = src[c];
        for (; c < NR; ++c) dst[c] = 0.f;
      }
    } else {
      int64_t c = 0;
      for (; c < cols; ++c) {
        const float* src = b + (j0 + j + c) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * NR + c] = src[p];
      }
      for (; c < NR; ++c)
        for (int64_t p = 0; p < kc; ++p) out[p * NR + c] = 0.f;
    }
  }
}

}  // namespace gemm
}  // namespace moelab
