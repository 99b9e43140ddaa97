// AVX2 micro-kernel: 6 rows x 16 columns of C in 12 ymm accumulators (16 ymm registers in all).
// Compiled for AVX2+FMA via target attributes only, so the addon runs on older CPUs too.
#include "gemm_kernels.h"
#include "gemm_pack.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace moelab {
namespace gemm {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

__attribute__((target("avx2,fma"))) void KernelAvx2(int64_t kc, const float* ap, const float* bp,
                                                    float* c, int64_t ldc, float alpha,
                                                    float beta) {
  __m256 acc0[kMr], acc1[kMr];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) {
    acc0[r] = _mm256_setzero_ps();
    acc1[r] = _mm256_setzero_ps();
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(bp);
    const __m256 b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const __m256 av = _mm256_broadcast_ss(ap + r);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
    ap += kMr;
    bp += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, acc0[r]));
      _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, acc1[r]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      float* row = c + r * ldc;
      _mm256_storeu_ps(row, _mm256_fmadd_ps(va, acc0[r], _mm256_mul_ps(vb, _mm256_loadu_ps(row))));
      _mm256_storeu_ps(row + 8,
                       _mm256_fmadd_ps(va, acc1[r], _mm256_mul_ps(vb, _mm256_loadu_ps(row + 8))));
    }
  }
}

const KernelDesc kDesc = {
    "avx2", kMr, kNr, /*mc=*/kMr * 32, /*kc=*/256, KernelAvx2, nullptr, PackAPortable<kMr>,
    PackBPortable<kNr>,
};

}  // namespace

const KernelDesc* Avx2Kernel() { return &kDesc; }

}  // namespace gemm
}  // namespace moelab

#else

namespace moelab {
namespace gemm {
const KernelDesc* Avx2Kernel() { return nullptr; }
}  // namespace gemm
}  // namespace moelab

#endif
