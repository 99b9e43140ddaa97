// Block-scaled FP8 GEMM (twin of lib/fp8/gemm.ts; DeepSeek-V3's fp8_gemm semantics):
//   C[m, n] = sum over 128-wide K-blocks kb of P_kb[m, n] * (a_s[m, kb] * b_s[n, kb])
//   P_kb    = sum_{k in kb} A_q[m, k] * B_q[n, k], in FP32 from zero (the tensor cores' part)
// A [M, K] and B [N, K] are FP8 codes with one scale per tile; C = A * B^T [M, N] in FP32.
// FP8 codes are decoded (a 256-entry table, in registers on AVX-512) into packed float panels,
// then an MR x 32 FMA micro-kernel runs one K-block at a time and promotes its sum into C with
// the scales. fp8QuantizeGemm (below) quantizes activations in 1x128 tiles while packing them.
// Products of two FP8 values are exact in FP32, so fma(a, b, p) == p + a*b: in-block sums
// match the TypeScript reference bit for bit.
//   fp8Gemm(aCodes, aScales, aTileRows, aTileCols, aFormat, bCodes, bScales, bTileRows,
//           bTileCols, bFormat, m, n, k, accumBits, accumChunk, accumNearest, out?): Float32Array
// accumBits < 23 rounds the in-block partial sum to that many mantissa bits after every
// accumChunk products (toward zero, or to nearest-even when accumNearest).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "checked.h"
#include "fp8_common.h"
#include "registry.h"
#include "threadpool.h"

#if defined(__x86_64__)
// GCC 12 flags the undefined pass-through operand inside AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

namespace moelab {
namespace {

using fp8::GenericForced;

constexpr int kMr = 14;   // rows of C per micro-kernel call
constexpr int kNr = 32;   // columns of C per micro-kernel call (two zmm)
constexpr int kBk = 128;  // K-block: promotion and scale granularity
constexpr int kMtPerTask = 16;
constexpr int kNtPerTask = 8;

void DecodeTable(int fmt, float* lut) {
  const int mb = fmt == 0 ? 3 : 2, eb = fmt == 0 ? 4 : 5, bias = fmt == 0 ? 7 : 15;
  for (int c = 0; c < 256; ++c) {
    const int e = (c >> mb) & ((1 << eb) - 1), m = c & ((1 << mb) - 1);
    const float s = (c & 0x80) ? -1.0f : 1.0f;
    float v;
    if (fmt == 1 && e == 31) v = m == 0 ? s * INFINITY : NAN;
    else if (fmt == 0 && e == 15 && m == 7) v = NAN;
    else if (e == 0) v = s * std::ldexp(static_cast<float>(m), 1 - bias - mb);
    else v = s * std::ldexp(static_cast<float>((1 << mb) + m), e - bias - mb);
    lut[c] = v;
  }
}

struct Accum {
  int64_t chunk;   // products between roundings (>= block length when not limited)
  bool limited;    // round the partial sum at all
  bool nearest;    // round to nearest-even instead of toward zero
  uint32_t shift;  // 23 - accumBits
};

inline float RoundMantissa(float x, const Accum& a) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7F800000u) == 0x7F800000u) return x;
  if (a.nearest) b = b + ((1u << (a.shift - 1)) - 1u) + ((b >> a.shift) & 1u);
  b = (b >> a.shift) << a.shift;
  std::memcpy(&x, &b, 4);
  return x;
}

// Packed A: one [kMr][kBk] row-major panel per (row tile, K-block), rows kBk floats apart, so
// the kernel broadcasts A[r][k] at a constant offset and packing needs no transpose.
// Packed B: [NT][K][kNr], decoded. Padding rows and columns are zero, with zero scales.

// Portable micro-kernel: C[r, 0:cols] += P[r, 0:cols] * (sa[r] * sb[0:cols]) for r < rows.
void KernelGeneric(int64_t klen, const float* ap, const float* bp, const Accum& ac,
                   const float* sa, const float* sb, float* c, int64_t ldc, bool first, int rows,
                   int cols) {
  float acc[kMr][kNr];
  std::memset(acc, 0, sizeof(acc));
  for (int64_t c0 = 0; c0 < klen; c0 += ac.chunk) {
    const int64_t c1 = std::min(klen, c0 + ac.chunk);
    for (int64_t k = c0; k < c1; ++k) {
      const float* b = bp + k * kNr;
      for (int r = 0; r < kMr; ++r) {
        const float a = ap[r * kBk + k];
        for (int j = 0; j < kNr; ++j) acc[r][j] += a * b[j];
      }
    }
    if (ac.limited)
      for (int r = 0; r < kMr; ++r)
        for (int j = 0; j < kNr; ++j) acc[r][j] = RoundMantissa(acc[r][j], ac);
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j)
      c[r * ldc + j] = (first ? 0.0f : c[r * ldc + j]) + acc[r][j] * (sa[r] * sb[j]);
}

#if defined(__x86_64__)
#define FP8_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

FP8_AVX512 inline __m512 RoundV(__m512 v, const Accum& ac) {
  const __m512i b = _mm512_castps_si512(v);
  __m512i r = b;
  if (ac.nearest) {
    const __mmask16 odd = _mm512_test_epi32_mask(b, _mm512_set1_epi32(static_cast<int>(1u << ac.shift)));
    r = _mm512_add_epi32(b, _mm512_set1_epi32(static_cast<int>((1u << (ac.shift - 1)) - 1u)));
    r = _mm512_mask_add_epi32(r, odd, r, _mm512_set1_epi32(1));
  }
  r = _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(~((1u << ac.shift) - 1u))));
  // Inf/NaN keep their bits, as the scalar RoundMantissa
  const __m512i expo = _mm512_set1_epi32(0x7F800000);
  const __mmask16 special = _mm512_cmpeq_epi32_mask(_mm512_and_si512(b, expo), expo);
  return _mm512_castsi512_ps(_mm512_mask_mov_epi32(r, special, b));
}

// first: C is written, not read (the first K-block), so C needs no zeroing beforehand. Edge
// tiles (rows < kMr or cols < kNr) store only their valid part, straight into the output.
FP8_AVX512 void KernelAvx512(int64_t klen, const float* ap, const float* bp, const Accum& ac,
                             const float* sa, const float* sb, float* c, int64_t ldc, bool first,
                             int rows, int cols) {
  __m512 acc0[kMr], acc1[kMr];
  if (!first)
    for (int r = 0; r < rows; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16), _MM_HINT_T0);
    }
#pragma GCC unroll 16
  for (int r = 0; r < kMr; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  for (int64_t c0 = 0; c0 < klen; c0 += ac.chunk) {
    const int64_t c1 = std::min(klen, c0 + ac.chunk);
#pragma GCC unroll 2
    for (int64_t k = c0; k < c1; ++k) {
      const __m512 b0 = _mm512_loadu_ps(bp + k * kNr);
      const __m512 b1 = _mm512_loadu_ps(bp + k * kNr + 16);
#pragma GCC unroll 16
      for (int r = 0; r < kMr; ++r) {
        const __m512 av = _mm512_set1_ps(ap[r * kBk + k]);
        acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
      }
    }
    if (ac.limited) {
      for (int r = 0; r < kMr; ++r) {
        acc0[r] = RoundV(acc0[r], ac);
        acc1[r] = RoundV(acc1[r], ac);
      }
    }
  }
  const __m512 sb0 = _mm512_loadu_ps(sb), sb1 = _mm512_loadu_ps(sb + 16);
  const __mmask16 m0 = static_cast<__mmask16>(cols >= 16 ? 0xFFFF : (1u << cols) - 1u);
  const __mmask16 m1 =
      static_cast<__mmask16>(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1u);
#pragma GCC unroll 16
  for (int r = 0; r < kMr; ++r) {
    if (r >= rows) break;
    const __m512 s = _mm512_set1_ps(sa[r]);
    float* cr = c + r * ldc;
    // first: fma with +0 (not a plain product): a -0 block sum gives +0, as 0 + p*s does in TS
    const __m512 c0 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, cr);
    const __m512 c1 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, cr + 16);
    _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(acc0[r], _mm512_mul_ps(s, sb0), c0));
    _mm512_mask_storeu_ps(cr + 16, m1, _mm512_fmadd_ps(acc1[r], _mm512_mul_ps(s, sb1), c1));
  }
}

// lut[codes] for 16 codes, through eight in-register 16-entry tables (codes 0..127) and the sign
FP8_AVX512 inline __m512 Decode16(const __m512* t, __m128i bytes) {
  const __m512i idx = _mm512_cvtepu8_epi32(bytes);
  const __m512 q0 = _mm512_permutex2var_ps(t[0], idx, t[1]);
  const __m512 q1 = _mm512_permutex2var_ps(t[2], idx, t[3]);
  const __m512 q2 = _mm512_permutex2var_ps(t[4], idx, t[5]);
  const __m512 q3 = _mm512_permutex2var_ps(t[6], idx, t[7]);
  const __mmask16 b5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
  const __mmask16 b6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
  const __m512 v = _mm512_mask_mov_ps(_mm512_mask_mov_ps(q0, b5, q1), b6, _mm512_mask_mov_ps(q2, b5, q3));
  // negative codes: the sign bit, except on NaN (the table's NaN is positive for both signs)
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(idx, _mm512_set1_epi32(0x80)), 24);
  const __mmask16 ord = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
  return _mm512_castsi512_ps(
      _mm512_mask_or_epi32(_mm512_castps_si512(v), ord, _mm512_castps_si512(v), sign));
}

// dst[0:n] = lut[codes[0:n]]
FP8_AVX512 void DecodeRowAvx512(const uint8_t* codes, int64_t n, const float* lut, float* dst) {
  __m512 t[8];
  for (int q = 0; q < 8; ++q) t[q] = _mm512_loadu_ps(lut + 16 * q);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(dst + i, m, Decode16(t, _mm_maskz_loadu_epi8(m, codes + i)));
  }
}

// In-register 16x16 transpose: r[i] holds row i on entry and column i on return.
FP8_AVX512 inline void Transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4i+q], 128-bit lane L: rows 4i..4i+3 of column 4L+q
  __m512 u[16];
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // a 4x4 transpose of 128-bit lanes for each q
  for (int q = 0; q < 4; ++q) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x44);
    const __m512 v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xEE);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x44);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xEE);
    r[q] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[4 + q] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[8 + q] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

// PackPanel<kNr> for 32 live rows: decode 16 codes of each row, transpose 16x16 blocks.
FP8_AVX512 void PackPanel32Avx512(const uint8_t* const* src, int64_t K, const float* lut,
                                  float* dst) {
  __m512 t[8];
  for (int q = 0; q < 8; ++q) t[q] = _mm512_loadu_ps(lut + 16 * q);
  for (int64_t k = 0; k < K; k += 16) {
    const int len = static_cast<int>(K - k < 16 ? K - k : 16);
    const __mmask16 m = static_cast<__mmask16>(len == 16 ? 0xFFFF : (1u << len) - 1u);
    for (int h = 0; h < 2; ++h) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = Decode16(t, _mm_maskz_loadu_epi8(m, src[16 * h + i] + k));
      Transpose16(r);
      for (int j = 0; j < len; ++j) _mm512_storeu_ps(dst + (k + j) * kNr + 16 * h, r[j]);
    }
  }
}

bool UseAvx512() {
  // MOELAB_FP8_KERNEL=generic forces the portable kernel (tests run both on AVX-512 machines)
  static const bool yes = !GenericForced() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  return yes;
}
#else
bool UseAvx512() { return false; }
void KernelAvx512(int64_t, const float*, const float*, const Accum&, const float*, const float*,
                  float*, int64_t, bool, int, int) {}
void DecodeRowAvx512(const uint8_t*, int64_t, const float*, float*) {}
void PackPanel32Avx512(const uint8_t* const*, int64_t, const float*, float*) {}
#endif

void DecodeRow(const uint8_t* codes, int64_t n, const float* lut, float* dst, bool avx) {
  if (avx) DecodeRowAvx512(codes, n, lut, dst);
  else
    for (int64_t j = 0; j < n; ++j) dst[j] = lut[codes[j]];
}

// Decodes W full rows of codes into a [K][W] panel: W sequential read streams, one write stream.
template <int W>
void PackPanel(const uint8_t* const* src, int64_t K, const float* lut, float* dst) {
  const uint8_t* s[W];
  for (int r = 0; r < W; ++r) s[r] = src[r];
  for (int64_t k = 0; k < K; ++k)
    for (int r = 0; r < W; ++r) dst[k * W + r] = lut[s[r][k]];
}

struct Operand {
  const uint8_t* codes;
  const float* scales;
  int64_t rows, tile_rows, tile_cols, scale_cols;
  int fmt;
};

// Activations to quantize on the fly in 1x128 tiles (into codes/scales, as fp8Quantize would).
struct Fused {
  const float* x;
  uint8_t* codes;
  float* scales;
  bool pow2;
  float floor;
};

inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Scale of row `i` in K-block `kb`.
inline float ScaleAt(const Operand& o, int64_t i, int64_t kb) {
  return o.scales[(i / o.tile_rows) * o.scale_cols + (kb * kBk) / o.tile_cols];
}

// C = A * B^T; A comes as codes (a) or, when fused is set, as floats quantized on the way
// (format a.fmt). Returns the number of non-finite inputs the fused quantization saw.
int64_t Gemm(const Operand& a, const Fused* fused, const Operand& b, int64_t M, int64_t N,
             int64_t K, const Accum& ac, float* out) {
  if (M == 0 || N == 0) return 0;
  if (K == 0) {
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(M * N));
    return 0;
  }
  const int64_t MT = (M + kMr - 1) / kMr, NT = (N + kNr - 1) / kNr;
  const int64_t Mp = MT * kMr, Np = NT * kNr, KB = (K + kBk - 1) / kBk;
  float lut_a[256], lut_b[256];
  DecodeTable(a.fmt, lut_a);
  DecodeTable(b.fmt, lut_b);
  const bool avx = UseAvx512();
  // grow-only per-thread buffers: fresh multi-MiB allocations cost more in page faults than packing
  thread_local std::vector<float> ap_buf, bp_buf, sa_buf, sb_buf;
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
  };
  float* ap = grow(ap_buf, MT * KB * kMr * kBk);
  float* bp = grow(bp_buf, NT * K * kNr);
  float* sa = grow(sa_buf, KB * Mp);
  float* sb = grow(sb_buf, KB * Np);
  // B [NT][K][kNr], decoded; padding rows are zero. Every task reads all of it.
  auto pack_b = [&](int64_t tile) {
    const uint8_t* src[kNr];
    float* dst = bp + tile * K * kNr;
    int live = 0;
    for (int r = 0; r < kNr; ++r) {
      const int64_t i = tile * kNr + r;
      src[r] = i < b.rows ? b.codes + i * K : nullptr;
      if (src[r]) ++live;
      for (int64_t kb = 0; kb < KB; ++kb) sb[kb * Np + i] = src[r] ? ScaleAt(b, i, kb) : 0.0f;
    }
    if (live == kNr) {
      if (avx) PackPanel32Avx512(src, K, lut_b, dst);
      else PackPanel<kNr>(src, K, lut_b, dst);
    } else {
      for (int64_t k = 0; k < K; ++k)
        for (int r = 0; r < kNr; ++r) dst[k * kNr + r] = src[r] ? lut_b[src[r][k]] : 0.0f;
    }
  };
  // A row tile by row tile, inside the task that multiplies it (so it is hot in L2)
  auto pack_a = [&](int64_t mt, int64_t* bad) {
    for (int r = 0; r < kMr; ++r) {
      const int64_t i = mt * kMr + r;
      for (int64_t kb = 0; kb < KB; ++kb) {
        const int64_t k0 = kb * kBk, klen = std::min<int64_t>(kBk, K - k0);
        float* dst = ap + ((mt * KB + kb) * kMr + r) * kBk;
        if (i >= M) {
          std::memset(dst, 0, sizeof(float) * kBk);
          sa[kb * Mp + i] = 0.0f;
          continue;
        }
        const uint8_t* codes = a.codes + i * K + k0;
        if (fused) {
          uint8_t* cw = fused->codes + i * K + k0;
          bool decoded = false;
          const float s = fp8::QuantizeRowTile(fused->x + i * K + k0, klen, a.fmt, fused->pow2,
                                               fused->floor, cw, dst, &decoded, bad);
          fused->scales[i * KB + kb] = s;
          sa[kb * Mp + i] = s;
          if (decoded) continue;
          codes = cw;
        } else {
          sa[kb * Mp + i] = ScaleAt(a, i, kb);
        }
        DecodeRow(codes, klen, lut_a, dst, avx);
      }
    }
  };
  // tasks: a few row tiles by all of N, pulled from a queue so a late thread just does fewer
  const int threads = std::max(1, NumThreads());
  const int64_t mt_per = std::clamp<int64_t>(MT / (8 * threads), 1, 16);
  const int64_t tasks = (MT + mt_per - 1) / mt_per;
  constexpr int64_t kNtChunk = 16;  // C columns per pass: keeps the task's part of C in L2
  std::atomic<int64_t> next_b{0}, packed_b{0}, next{0}, bad_total{0};
  // one parallel region: threads share B's panels first, then pull tasks; a thread that starts
  // late (a busy machine) just takes fewer
  ParallelFor(std::min<int64_t>(threads, std::max<int64_t>(tasks, NT)), 1, [&](int64_t, int64_t) {
    for (int64_t g; (g = next_b.fetch_add(1)) < NT;) {
      pack_b(g);
      packed_b.fetch_add(1, std::memory_order_release);
    }
    int64_t bad = 0;
    bool b_ready = false;
    for (int64_t t; (t = next.fetch_add(1)) < tasks;) {
      const int64_t mt0 = t * mt_per, mt1 = std::min(MT, mt0 + mt_per);
      for (int64_t mt = mt0; mt < mt1; ++mt) pack_a(mt, &bad);
      // panels still being packed are in the hands of a running thread: wait for them
      for (int spins = 0; !b_ready && packed_b.load(std::memory_order_acquire) < NT; ++spins) {
        if (spins < 4096) CpuRelax();
        else std::this_thread::yield();
      }
      b_ready = true;
      for (int64_t nc = 0; nc < NT; nc += kNtChunk) {
        const int64_t nc1 = std::min(NT, nc + kNtChunk);
        for (int64_t kb = 0; kb < KB; ++kb) {
          const int64_t k0 = kb * kBk, klen = std::min<int64_t>(kBk, K - k0);
          Accum acb = ac;
          if (!acb.limited) acb.chunk = klen;
          // B's micro-panel (16 KiB) stays in L1 while A's panels stream from L2, as in Sgemm
          for (int64_t nt = nc; nt < nc1; ++nt) {
            const float* bpan = bp + (nt * K + k0) * kNr;
            const float* sbp = sb + kb * Np + nt * kNr;
            const int cols = static_cast<int>(std::min<int64_t>(kNr, N - nt * kNr));
            for (int64_t mt = mt0; mt < mt1; ++mt) {
              const float* apan = ap + (mt * KB + kb) * kMr * kBk;
              const float* sap = sa + kb * Mp + mt * kMr;
              const int rows = static_cast<int>(std::min<int64_t>(kMr, M - mt * kMr));
              float* ct = out + mt * kMr * N + nt * kNr;
              if (avx) KernelAvx512(klen, apan, bpan, acb, sap, sbp, ct, N, kb == 0, rows, cols);
              else KernelGeneric(klen, apan, bpan, acb, sap, sbp, ct, N, kb == 0, rows, cols);
            }
          }
        }
      }
    }
    bad_total.fetch_add(bad);
  });
  return bad_total.load();
}

constexpr double kMaxSafeInteger = 9007199254740991.0;
// V8's limit on a typed array's length (Node 20: 2^32 elements).
constexpr int64_t kMaxOut = int64_t{1} << 32;

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn = "fp8Gemm";
  bool ok = true;

  bool Fail(bool range, const std::string& msg) {
    if (ok) {
      const std::string text = std::string(fn) + ": " + msg;
      if (range) Napi::RangeError::New(info.Env(), text).ThrowAsJavaScriptException();
      else Napi::TypeError::New(info.Env(), text).ThrowAsJavaScriptException();
    }
    ok = false;
    return false;
  }
  int64_t Count(size_t i, const char* name, int64_t min = 0, int64_t max = -1) {
    if (!ok) return 0;
    if (!info[i].IsNumber()) return Fail(false, std::string(name) + " must be a number"), 0;
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= static_cast<double>(min)) || v != std::floor(v) || v > kMaxSafeInteger ||
        (max >= 0 && v > static_cast<double>(max)))
      return Fail(true, std::string(name) + " must be an integer in [" + std::to_string(min) + ", " +
                            (max >= 0 ? std::to_string(max) : std::string("inf")) + "], got " +
                            std::to_string(v)),
             0;
    return static_cast<int64_t>(v);
  }
  bool Bool(size_t i, const char* name) {
    if (!ok) return false;
    if (!info[i].IsBoolean()) return Fail(false, std::string(name) + " must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  // An array of exactly a x b elements; the expected size is printed exactly, or as its factors
  // when it is beyond 2^53 (never as a wrapped int64).
  bool Length(const char* name, size_t got, int64_t a, int64_t b) {
    if (!ok) return false;
    int64_t want = 0;
    if (!CheckedMul(a, b, &want))
      return Fail(true, std::string(name) + " has " + std::to_string(got) + " elements, expected " +
                            JoinDims({a, b}) + " (more than 2^53)");
    if (static_cast<int64_t>(got) != want)
      return Fail(true, std::string(name) + " has " + std::to_string(got) + " elements, expected " +
                            JoinDims({a, b}) + " = " + std::to_string(want));
    return true;
  }
  // Reads codes, scales, tile and format of one operand at argument `i`.
  Operand Op(size_t i, const char* name, int64_t rows, int64_t K) {
    Operand o{};
    if (!ok) return o;
    const std::string n(name);
    if (!(info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array))
      return Fail(false, n + "Codes must be a Uint8Array"), o;
    if (!(info[i + 1].IsTypedArray() &&
          info[i + 1].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array))
      return Fail(false, n + "Scales must be a Float32Array"), o;
    auto codes = info[i].As<Napi::Uint8Array>();
    auto scales = info[i + 1].As<Napi::Float32Array>();
    o.tile_rows = Count(i + 2, (n + "TileRows").c_str(), 1);
    o.tile_cols = Count(i + 3, (n + "TileCols").c_str(), 1);
    o.fmt = static_cast<int>(Count(i + 4, (n + "Format").c_str(), 0, 1));
    if (!ok) return o;
    o.rows = rows;
    if (!Length((n + "Codes").c_str(), codes.ElementLength(), rows, K)) return o;
    const int64_t sr = (rows + o.tile_rows - 1) / o.tile_rows;
    o.scale_cols = (K + o.tile_cols - 1) / o.tile_cols;
    if (!Length((n + "Scales").c_str(), scales.ElementLength(), sr, o.scale_cols)) return o;
    if (o.tile_cols % kBk != 0 && o.tile_cols < K)
      return Fail(true, n + " tiles are " + std::to_string(o.tile_cols) +
                            " wide along K: the scale must be constant over each 128-wide K-block"),
             o;
    o.codes = codes.Data();
    o.scales = scales.Data();
    return o;
  }
};

Napi::Value GemmJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args{info};
  if (info.Length() < 16)
    return args.Fail(false,
                     "expected (aCodes, aScales, aTileRows, aTileCols, aFormat, bCodes, bScales, "
                     "bTileRows, bTileCols, bFormat, m, n, k, accumBits, accumChunk, accumNearest)"),
           env.Undefined();
  const int64_t M = args.Count(10, "m"), N = args.Count(11, "n"), K = args.Count(12, "k");
  const int64_t bits = args.Count(13, "accumBits", 1, 23);
  const int64_t chunk = args.Count(14, "accumChunk", 1);
  const bool nearest = args.Bool(15, "accumNearest");
  const Operand a = args.Op(0, "a", M, K);
  const Operand b = args.Op(5, "b", N, K);
  if (!args.ok) return env.Undefined();
  Accum ac{chunk, bits < 23, nearest, static_cast<uint32_t>(23 - bits)};
  // optional output buffer: reusing one saves the page faults of a fresh multi-MiB array
  Napi::Float32Array out;
  if (info.Length() > 16 && !info[16].IsUndefined()) {
    if (!(info[16].IsTypedArray() &&
          info[16].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array))
      return args.Fail(false, "out must be a Float32Array"), env.Undefined();
    out = info[16].As<Napi::Float32Array>();
    if (!args.Length("out", out.ElementLength(), M, N)) return env.Undefined();
  } else {
    int64_t mn = 0;
    if (!CheckedMul(M, N, &mn) || mn > kMaxOut)
      return args.Fail(true, "m x n = " + JoinDims({M, N}) + " is too large for one Float32Array (at most 2^32 elements)"),
             env.Undefined();
    out = Napi::Float32Array::New(env, static_cast<size_t>(mn));
    if (env.IsExceptionPending()) return env.Undefined();
  }
  if (M == 0 || N == 0) return out;
  Gemm(a, nullptr, b, M, N, K, ac, out.Data());
  return out;
}

// fp8QuantizeGemm(x, m, k, aFormat, pow2, amaxFloor, aCodes, aScales, bCodes, bScales,
//                 bTileRows, bTileCols, bFormat, n, accumBits, accumChunk, accumNearest, out)
//   -> number of NaN/Inf in x. Quantizes x [m, k] in 1x128 tiles into aCodes [m*k] and aScales
//   [m, ceil(k/128)] (bit for bit as fp8Quantize) while packing them for C = A * B^T into out.
Napi::Value QuantizeGemmJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args{info, "fp8QuantizeGemm"};
  if (info.Length() < 18)
    return args.Fail(false,
                     "expected (x, m, k, aFormat, pow2, amaxFloor, aCodes, aScales, bCodes, "
                     "bScales, bTileRows, bTileCols, bFormat, n, accumBits, accumChunk, "
                     "accumNearest, out)"),
           env.Undefined();
  auto is_type = [&](size_t i, napi_typedarray_type t) {
    return info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == t;
  };
  if (!is_type(0, napi_float32_array)) return args.Fail(false, "x must be a Float32Array"), env.Undefined();
  const int64_t M = args.Count(1, "m"), K = args.Count(2, "k");
  const int fmt = static_cast<int>(args.Count(3, "aFormat", 0, 1));
  const bool pow2 = args.Bool(4, "pow2");
  if (args.ok && !info[5].IsNumber()) args.Fail(false, "amaxFloor must be a number");
  const double floor = args.ok ? info[5].As<Napi::Number>().DoubleValue() : 0.0;
  if (args.ok && !(floor > 0 && floor <= 3.4028234663852886e38))
    args.Fail(true, "amaxFloor must be positive and finite");
  const int64_t N = args.Count(13, "n");
  const int64_t bits = args.Count(14, "accumBits", 1, 23);
  const int64_t chunk = args.Count(15, "accumChunk", 1);
  const bool nearest = args.Bool(16, "accumNearest");
  if (!args.ok) return env.Undefined();
  if (!is_type(6, napi_uint8_array)) return args.Fail(false, "aCodes must be a Uint8Array"), env.Undefined();
  if (!is_type(7, napi_float32_array)) return args.Fail(false, "aScales must be a Float32Array"), env.Undefined();
  if (!is_type(17, napi_float32_array)) return args.Fail(false, "out must be a Float32Array"), env.Undefined();
  auto x = info[0].As<Napi::Float32Array>();
  auto codes = info[6].As<Napi::Uint8Array>();
  auto scales = info[7].As<Napi::Float32Array>();
  auto out = info[17].As<Napi::Float32Array>();
  const int64_t KB = (K + kBk - 1) / kBk;
  args.Length("x", x.ElementLength(), M, K);
  args.Length("aCodes", codes.ElementLength(), M, K);
  args.Length("aScales", scales.ElementLength(), M, KB);
  args.Length("out", out.ElementLength(), M, N);
  const Operand b = args.Op(8, "b", N, K);
  if (!args.ok) return env.Undefined();
  if (M == 0 || N == 0) return Napi::Number::New(env, 0);
  Operand a{};
  a.codes = codes.Data();
  a.scales = scales.Data();
  a.rows = M;
  a.tile_rows = 1;
  a.tile_cols = kBk;
  a.scale_cols = KB;
  a.fmt = fmt;
  const Fused fused{x.Data(), codes.Data(), scales.Data(), pow2, static_cast<float>(floor)};
  Accum ac{chunk, bits < 23, nearest, static_cast<uint32_t>(23 - bits)};
  const int64_t bad = Gemm(a, &fused, b, M, N, K, ac, out.Data());
  return Napi::Number::New(env, static_cast<double>(bad));
}

void InitFp8Gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("fp8QuantizeGemm", Napi::Function::New(env, QuantizeGemmJs, "fp8QuantizeGemm"));
  exports.Set("fp8Gemm", Napi::Function::New(env, GemmJs, "fp8Gemm"));
}

Registrar reg("fp8_gemm", InitFp8Gemm);

}  // namespace
}  // namespace moelab
