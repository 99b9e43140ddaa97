// AVX-512 micro-kernel: MR rows x 32 columns of C in 2*MR zmm accumulators, one broadcast of A
// and two loads of B per k step. Compiled for AVX-512 via target attributes only, so the rest
// of the addon still runs on CPUs without it.
#include "gemm_kernels.h"

#include <algorithm>

#if defined(__x86_64__)
// GCC 12 flags the undefined pass-through operand inside AVX-512 shuffle intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace moelab {
namespace gemm {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 32;

// R rows (R <= kMr; A keeps its kMr stride) x 32 columns, the columns limited by masks m0, m1
// (first and second 16) when kMasked; the full tile is R = kMr without masks.
template <int R, bool kMasked>
__attribute__((target("avx512f,fma"))) inline void TileAvx512(int64_t kc, const float* ap,
                                                              const float* bp, float* c,
                                                              int64_t ldc, float alpha, float beta,
                                                              __mmask16 m0, __mmask16 m1) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(bp);
    const __m512 b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(ap[r]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
    ap += kMr;
    bp += kNr;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    __m512 lo = _mm512_mul_ps(va, acc0[r]), hi = _mm512_mul_ps(va, acc1[r]);
    if (kMasked) {
      // beta == 0 must not read C (it may hold NaN).
      if (beta != 0.f) {
        lo = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), lo);
        hi = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), hi);
      }
      _mm512_mask_storeu_ps(row, m0, lo);
      _mm512_mask_storeu_ps(row + 16, m1, hi);
    } else {
      if (beta != 0.f) {
        lo = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), lo);
        hi = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), hi);
      }
      _mm512_storeu_ps(row, lo);
      _mm512_storeu_ps(row + 16, hi);
    }
  }
}

__attribute__((target("avx512f,fma"))) void KernelAvx512(int64_t kc, const float* ap,
                                                         const float* bp, float* c, int64_t ldc,
                                                         float alpha, float beta) {
  TileAvx512<kMr, false>(kc, ap, bp, c, ldc, alpha, beta, 0xFFFF, 0xFFFF);
}

template <int R>
__attribute__((target("avx512f,fma"))) void EdgeRows(int64_t kc, const float* ap,
                                                     const float* bp, float* c, int64_t ldc,
                                                     float alpha, float beta, __mmask16 m0,
                                                     __mmask16 m1) {
  TileAvx512<R, true>(kc, ap, bp, c, ldc, alpha, beta, m0, m1);
}

using EdgeRowsFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float,
                            __mmask16, __mmask16);
// Partial tiles cost in proportion to their rows, not a full kMr.
const EdgeRowsFn kEdgeRows[kMr + 1] = {
    nullptr,      EdgeRows<1>,  EdgeRows<2>,  EdgeRows<3>,  EdgeRows<4>,
    EdgeRows<5>,  EdgeRows<6>,  EdgeRows<7>,  EdgeRows<8>,  EdgeRows<9>,
    EdgeRows<10>, EdgeRows<11>, EdgeRows<12>, EdgeRows<13>, EdgeRows<14>,
};

void EdgeKernelAvx512(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                      float alpha, float beta, int rows, int cols) {
  const __mmask16 m0 = static_cast<__mmask16>(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
  const __mmask16 m1 =
      static_cast<__mmask16>(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
  kEdgeRows[rows](kc, ap, bp, c, ldc, alpha, beta, m0, m1);
}

// In-register transpose: on return r[c] holds column c of the 16x16 block whose rows were r[0..15].
__attribute__((target("avx512f"))) inline void Transpose16x16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  // r[4i+q], 128-bit lane j: rows 4i..4i+3 of column 4j+q; gather the four lanes of a column.
  for (int q = 0; q < 4; ++q) {
    const __m512 a = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    const __m512 b = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
    const __m512 c = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    const __m512 d = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
    t[q] = _mm512_shuffle_f32x4(a, c, 0x88);
    t[8 + q] = _mm512_shuffle_f32x4(a, c, 0xDD);
    t[4 + q] = _mm512_shuffle_f32x4(b, d, 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(b, d, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Loads up to 16 rows x 16 columns (masked, zeros elsewhere) and transposes them.
__attribute__((target("avx512f"))) inline void LoadTransposed(const float* src, int64_t ld,
                                                              int rows, __mmask16 cols,
                                                              __m512* r) {
  for (int j = 0; j < 16; ++j)
    r[j] = j < rows ? _mm512_maskz_loadu_ps(cols, src + j * ld) : _mm512_setzero_ps();
  Transpose16x16(r);
}

__attribute__((target("avx512f"))) void PackAAvx512(bool trans, const float* a, int64_t lda,
                                                    int64_t i0, int64_t mc, int64_t p0,
                                                    int64_t kc, float* out) {
  const __mmask16 row_mask = (1u << kMr) - 1;
  if (trans) {
    // op(A)(r, p) = A[p * lda + r]: walk each row of A once, across every panel, so whole
    // cache lines are used while they are in L1 (rows of A may be 4 KiB-aliased).
    const float* src = a + p0 * lda + i0;
    for (int64_t p = 0; p < kc; ++p, src += lda) {
      float* dst = out + p * kMr;
      for (int64_t i = 0; i < mc; i += kMr, dst += kc * kMr) {
        const int64_t rows = mc - i < kMr ? mc - i : kMr;
        const __mmask16 m = static_cast<__mmask16>((1u << rows) - 1);
        _mm512_mask_storeu_ps(dst, row_mask, _mm512_maskz_loadu_ps(m, src + i));
      }
    }
    return;
  }
  for (int64_t i = 0; i < mc; i += kMr, out += kc * kMr) {
    const int rows = static_cast<int>(mc - i < kMr ? mc - i : kMr);
    const float* src = a + (i0 + i) * lda + p0;
    for (int64_t p = 0; p < kc; p += 16) {
      const int len = static_cast<int>(kc - p < 16 ? kc - p : 16);
      __m512 r[16];
      LoadTransposed(src + p, lda, rows, static_cast<__mmask16>((1u << len) - 1), r);
      for (int c = 0; c < len; ++c) _mm512_mask_storeu_ps(out + (p + c) * kMr, row_mask, r[c]);
    }
  }
}

__attribute__((target("avx512f"))) void PackBAvx512(bool trans, const float* b, int64_t ldb,
                                                    int64_t p0, int64_t kc, int64_t j0,
                                                    int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += kNr, out += kc * kNr) {
    const int cols = static_cast<int>(nc - j < kNr ? nc - j : kNr);
    if (!trans) {
      // op(B)(p, c) = B[p * ldb + c]: each k step is a contiguous run of columns.
      const __mmask16 m0 = static_cast<__mmask16>(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
      const __mmask16 m1 = static_cast<__mmask16>(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
      const float* src = b + p0 * ldb + j0 + j;
      for (int64_t p = 0; p < kc; ++p, src += ldb) {
        _mm512_store_ps(out + p * kNr, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(out + p * kNr + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
      continue;
    }
    const float* src = b + (j0 + j) * ldb + p0;
    for (int64_t p = 0; p < kc; p += 16) {
      const int len = static_cast<int>(kc - p < 16 ? kc - p : 16);
      const __mmask16 m = static_cast<__mmask16>((1u << len) - 1);
      __m512 lo[16], hi[16];
      LoadTransposed(src + p, ldb, cols < 16 ? cols : 16, m, lo);
      LoadTransposed(src + 16 * ldb + p, ldb, cols > 16 ? cols - 16 : 0, m, hi);
      for (int c = 0; c < len; ++c) {
        _mm512_store_ps(out + (p + c) * kNr, lo[c]);
        _mm512_store_ps(out + (p + c) * kNr + 16, hi[c]);
      }
    }
  }
}

// ---- a few rows of A (decoding) ----------------------------------------------------------------

// op(B) = B^T: four rows of B at a time against the M rows of A, 4M zmm accumulators along K.
template <int M>
__attribute__((target("avx512f,fma"))) void SmallDotAvx512(const float* const* a, const float* b,
                                                           int64_t ldb, int64_t k, int64_t j0,
                                                           int64_t j1, float* out) {
  const int64_t kv = k / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (k - kv)) - 1);
  const int64_t w = j1 - j0;
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const float* b0 = b + j * ldb;
    __m512 acc[M][4];
    for (int i = 0; i < M; i++)
      for (int q = 0; q < 4; q++) acc[i][q] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kv; kk += 16) {
      __m512 x[4];
      for (int q = 0; q < 4; q++) x[q] = _mm512_loadu_ps(b0 + q * ldb + kk);
      for (int i = 0; i < M; i++) {
        const __m512 av = _mm512_loadu_ps(a[i] + kk);
        for (int q = 0; q < 4; q++) acc[i][q] = _mm512_fmadd_ps(av, x[q], acc[i][q]);
      }
    }
    if (tail) {
      __m512 x[4];
      for (int q = 0; q < 4; q++) x[q] = _mm512_maskz_loadu_ps(tail, b0 + q * ldb + kv);
      for (int i = 0; i < M; i++) {
        const __m512 av = _mm512_maskz_loadu_ps(tail, a[i] + kv);
        for (int q = 0; q < 4; q++) acc[i][q] = _mm512_fmadd_ps(av, x[q], acc[i][q]);
      }
    }
    for (int i = 0; i < M; i++)
      for (int q = 0; q < 4; q++) out[i * w + (j + q - j0)] = _mm512_reduce_add_ps(acc[i][q]);
  }
  for (; j < j1; j++) {
    const float* b0 = b + j * ldb;
    for (int i = 0; i < M; i++) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t kk = 0; kk < kv; kk += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a[i] + kk), _mm512_loadu_ps(b0 + kk), acc);
      if (tail)
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a[i] + kv),
                              _mm512_maskz_loadu_ps(tail, b0 + kv), acc);
      out[i * w + (j - j0)] = _mm512_reduce_add_ps(acc);
    }
  }
}

// op(B) = B: each row of A scales rows of B into its output row, 16 columns per zmm.
__attribute__((target("avx512f,fma"))) void SmallAxpyAvx512(const float* const* a, int m,
                                                            const float* b, int64_t ldb, int64_t k,
                                                            int64_t j0, int64_t j1, float* out) {
  const int64_t w = j1 - j0;
  for (int i = 0; i < m; i++) {
    float* o = out + i * w;
    for (int64_t j = 0; j < w; j += 64) {
      const int64_t left = w - j;
      __mmask16 mk[4];
      __m512 acc[4];
      for (int q = 0; q < 4; q++) {
        const int64_t n = std::min<int64_t>(16, std::max<int64_t>(0, left - 16 * q));
        mk[q] = static_cast<__mmask16>((1u << n) - 1);
        acc[q] = _mm512_setzero_ps();
      }
      for (int64_t kk = 0; kk < k; kk++) {
        const __m512 s = _mm512_set1_ps(a[i][kk]);
        const float* br = b + kk * ldb + j0 + j;
        for (int q = 0; q < 4; q++)
          if (mk[q]) acc[q] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(mk[q], br + 16 * q), acc[q]);
      }
      for (int q = 0; q < 4; q++)
        if (mk[q]) _mm512_mask_storeu_ps(o + j + 16 * q, mk[q], acc[q]);
    }
  }
}

void SmallMAvx512(bool trans_b, const float* const* a, int m, const float* b, int64_t ldb,
                  int64_t k, int64_t j0, int64_t j1, float* out) {
  if (!trans_b) return SmallAxpyAvx512(a, m, b, ldb, k, j0, j1, out);
  switch (m) {
    case 1:
      return SmallDotAvx512<1>(a, b, ldb, k, j0, j1, out);
    case 2:
      return SmallDotAvx512<2>(a, b, ldb, k, j0, j1, out);
    case 3:
      return SmallDotAvx512<3>(a, b, ldb, k, j0, j1, out);
    default:
      return SmallDotAvx512<4>(a, b, ldb, k, j0, j1, out);
  }
}

const KernelDesc kDesc = {
    "avx512",    kMr,         kNr,        /*mc=*/kMr * 24, /*kc=*/256, KernelAvx512,
    EdgeKernelAvx512, PackAAvx512, PackBAvx512, SmallMAvx512,
};

}  // namespace

const KernelDesc* Avx512Kernel() { return &kDesc; }

}  // namespace gemm
}  // namespace moelab

#else

namespace moelab {
namespace gemm {
const KernelDesc* Avx512Kernel() { return nullptr; }
}  // namespace gemm
}  // namespace moelab

#endif
