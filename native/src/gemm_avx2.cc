// AVX2 micro-kernel: 6 rows x 16 columns of C in 12 ymm accumulators (16 ymm registers in all).
// Compiled for AVX2+FMA via target attributes only, so the addon runs on older CPUs too.
#include "gemm_kernels.h"

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


// Lanes [0, n) set: the mask form AVX2 masked loads and stores take.
__attribute__((target("avx2"))) inline __m256i FirstLanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// In-register transpose: on return r[c] holds column c of the 8x8 block whose rows were r[0..7].
__attribute__((target("avx2"))) inline void Transpose8x8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Loads up to 8 rows x `cols` columns (zeros elsewhere) and transposes them.
__attribute__((target("avx2"))) inline void LoadTransposed8(const float* src, int64_t ld,
                                                           int rows, int cols, __m256* r) {
  const __m256i m = FirstLanes(cols);
  for (int j = 0; j < 8; ++j)
    r[j] = j < rows ? (cols == 8 ? _mm256_loadu_ps(src + j * ld) : _mm256_maskload_ps(src + j * ld, m))
                    : _mm256_setzero_ps();
  Transpose8x8(r);
}

__attribute__((target("avx2"))) void PackAAvx2(bool trans, const float* a, int64_t lda,
                                               int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                                               float* out) {
  const __m256i row_mask = FirstLanes(kMr);
  if (trans) {
    // op(A)(r, p) = A[p * lda + r]: walk each row of A once, across every panel.
    const float* src = a + p0 * lda + i0;
    for (int64_t p = 0; p < kc; ++p, src += lda) {
      float* dst = out + p * kMr;
      for (int64_t i = 0; i < mc; i += kMr, dst += kc * kMr) {
        const int rows = static_cast<int>(mc - i < kMr ? mc - i : kMr);
        _mm256_maskstore_ps(dst, row_mask, _mm256_maskload_ps(src + i, FirstLanes(rows)));
      }
    }
    return;
  }
  for (int64_t i = 0; i < mc; i += kMr, out += kc * kMr) {
    const int rows = static_cast<int>(mc - i < kMr ? mc - i : kMr);
    const float* src = a + (i0 + i) * lda + p0;
    for (int64_t p = 0; p < kc; p += 8) {
      const int len = static_cast<int>(kc - p < 8 ? kc - p : 8);
      __m256 r[8];
      LoadTransposed8(src + p, lda, rows, len, r);
      for (int c = 0; c < len; ++c) _mm256_maskstore_ps(out + (p + c) * kMr, row_mask, r[c]);
    }
  }
}

__attribute__((target("avx2"))) void PackBAvx2(bool trans, const float* b, int64_t ldb,
                                               int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                                               float* out) {
  for (int64_t j = 0; j < nc; j += kNr, out += kc * kNr) {
    const int cols = static_cast<int>(nc - j < kNr ? nc - j : kNr);
    if (!trans) {
      // op(B)(p, c) = B[p * ldb + c]: each k step is a contiguous run of columns.
      const __m256i m0 = FirstLanes(cols), m1 = FirstLanes(cols - 8);
      const float* src = b + p0 * ldb + j0 + j;
      for (int64_t p = 0; p < kc; ++p, src += ldb) {
        _mm256_store_ps(out + p * kNr, _mm256_maskload_ps(src, m0));
        _mm256_store_ps(out + p * kNr + 8, _mm256_maskload_ps(src + 8, m1));
      }
      continue;
    }
    const float* src = b + (j0 + j) * ldb + p0;
    for (int64_t p = 0; p < kc; p += 8) {
      const int len = static_cast<int>(kc - p < 8 ? kc - p : 8);
      __m256 lo[8], hi[8];
      LoadTransposed8(src + p, ldb, cols < 8 ? cols : 8, len, lo);
      LoadTransposed8(src + 8 * ldb + p, ldb, cols > 8 ? cols - 8 : 0, len, hi);
      for (int c = 0; c < len; ++c) {
        _mm256_store_ps(out + (p + c) * kNr, lo[c]);
        _mm256_store_ps(out + (p + c) * kNr + 8, hi[c]);
      }
    }
  }
}

const KernelDesc kDesc = {
    "avx2", kMr, kNr, /*mc=*/kMr * 32, /*kc=*/256, KernelAvx2, nullptr, PackAAvx2, PackBAvx2,
    nullptr,
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
