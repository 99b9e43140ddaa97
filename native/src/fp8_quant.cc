// FP8 codecs and fine-grained quantization for the addon (twins of lib/fp8/format.ts and
// lib/fp8/scaling.ts, bit-identical to them and to CUDA's host conversion in cuda_fp8.hpp):
//   fp8Encode(values: Float32Array, format: 0|1, saturate: boolean): Uint8Array
//   fp8Quantize(x, rows, cols, tileRows, tileCols, format, pow2, amaxFloor, outCodes?, outScales?)
//       -> { codes: Uint8Array, scales: Float32Array, nonFinite: number }
//   fp8QuantizeTiles(x, rows, cols, format, pow2, amaxFloor, transposed = false)  (1x128 / 128x1)
//   fp8QuantizeBlocks(x, rows, cols, format, pow2, amaxFloor)                     (128x128)
//   fp8Dequantize(codes, scales, rows, cols, tileRows, tileCols, format): Float32Array
// format: 0 = e4m3 (fn), 1 = e5m2. Every argument is checked before any memory is touched.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
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

// Float32-bit thresholds of one format (see lib/fp8/format.ts for their derivation).
struct Fmt {
  uint32_t zero_max;    // |x| bits <= this: signed zero (min subnormal / 2)
  uint32_t ovf_above;   // |x| bits > this: overflow
  uint32_t normal_min;  // |x| bits >= this: normal
  uint32_t rebias;      // (127 - bias) << mantissa bits
  int shift;            // 23 - mantissa bits
  float sub_magic;      // 2^(23 + log2(subnormal step)): its float32 ulp is the subnormal step
  uint32_t sub_magic_bits;
  uint32_t max_code;    // +max finite
  uint32_t ovf_code;    // non-saturating overflow: NaN (e4m3) or +Inf (e5m2)
  float max_value;
};

constexpr Fmt kFormats[2] = {
    {0x3A800000u, 0x43E80000u, 0x3C800000u, 120u << 3, 20, 16384.0f, 0x46800000u, 0x7Eu, 0x7Fu,
     448.0f},
    {0x37000000u, 0x476FFFFFu, 0x38800000u, 112u << 2, 21, 128.0f, 0x43000000u, 0x7Bu, 0x7Cu,
     57344.0f},
};

enum Mode { kSaturate = 0, kNoSaturate = 1, kQuantize = 2 };  // kQuantize: finite saturate, Inf not

// Branchless so the loops below vectorise; unused lanes may compute garbage that is selected away.
__attribute__((always_inline)) inline uint32_t EncodeBits(uint32_t b, const Fmt& f, int mode) {
  const uint32_t a = b & 0x7FFFFFFFu;
  const uint32_t sign = (b >> 24) & 0x80u;
  const uint32_t half = (1u << (f.shift - 1)) - 1u;
  const uint32_t nrm = ((a + half + ((a >> f.shift) & 1u)) >> f.shift) - f.rebias;
  // subnormal: adding 2^k whose float32 ulp is the subnormal step rounds |x| to nearest-even
  // on that grid in one FPU add; the sum's low bits are then the code (a carry gives min normal)
  float ax, sum;
  std::memcpy(&ax, &a, 4);
  sum = ax + f.sub_magic;
  uint32_t sum_bits;
  std::memcpy(&sum_bits, &sum, 4);
  const uint32_t sub = sum_bits - f.sub_magic_bits;
  uint32_t code = a >= f.normal_min ? nrm : sub;
  code = a <= f.zero_max ? 0u : code;
  // kQuantize: Inf takes the non-saturating code, finite overflow the saturating one (a mask,
  // not a nested select, so GCC if-converts it)
  const uint32_t inf_mask = 0u - static_cast<uint32_t>(a >= 0x7F800000u);
  const uint32_t ovf = mode == kSaturate     ? f.max_code
                       : mode == kNoSaturate ? f.ovf_code
                                             : f.max_code ^ ((f.max_code ^ f.ovf_code) & inf_mask);
  code = a > f.ovf_above ? ovf : code;
  code |= sign;
  return a > 0x7F800000u ? 0x7Fu : code;  // any NaN: canonical positive 0x7F
}

template <int F, int MODE>
__attribute__((always_inline)) inline void EncodeLoop(const float* x, uint8_t* out, int64_t n) {
  const Fmt& f = kFormats[F];
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    out[i] = static_cast<uint8_t>(EncodeBits(b, f, MODE));
  }
}

// y = x / s then encode (quantize mode), s constant.
template <int F>
__attribute__((always_inline)) inline void ScaleEncodeLoop(const float* x, float s, uint8_t* out,
                                                           int64_t n) {
  const Fmt& f = kFormats[F];
  for (int64_t i = 0; i < n; ++i) {
    const float y = x[i] / s;
    uint32_t b;
    std::memcpy(&b, &y, 4);
    out[i] = static_cast<uint8_t>(EncodeBits(b, f, kQuantize));
  }
}

// y = x / s[i] then encode, one scale per element (128x1 tiles).
template <int F>
__attribute__((always_inline)) inline void ScaleEncodeLoopV(const float* x, const float* s,
                                                            uint8_t* out, int64_t n) {
  const Fmt& f = kFormats[F];
  for (int64_t i = 0; i < n; ++i) {
    const float y = x[i] / s[i];
    uint32_t b;
    std::memcpy(&b, &y, 4);
    out[i] = static_cast<uint8_t>(EncodeBits(b, f, kQuantize));
  }
}

// Max |x| over finite x, as an integer max on the bits (finite non-negative floats order like
// their bits), so it vectorises without fast-math; counts non-finite values.
__attribute__((always_inline)) inline float AmaxLoop(const float* x, int64_t n, int64_t* bad) {
  // one pass: the max of |x|'s bits is the amax unless it is Inf/NaN's (rare: then recount)
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    const uint32_t a = b & 0x7FFFFFFFu;
    m = m > a ? m : a;
  }
  if (m >= 0x7F800000u) {
    m = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t b;
      std::memcpy(&b, x + i, 4);
      const uint32_t a = b & 0x7FFFFFFFu;
      if (a < 0x7F800000u) m = m > a ? m : a;
      else ++*bad;
    }
  }
  float r;
  std::memcpy(&r, &m, 4);
  return r;
}

// The same loops compiled twice: for AVX-512 CPUs and for any x86-64 (or other) CPU.
#if defined(__x86_64__)
#define FP8_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define FP8_HAS_AVX512 1
#else
#define FP8_AVX512
#define FP8_HAS_AVX512 0
#endif

template <int F, int MODE>
FP8_AVX512 void EncodeAvx512(const float* x, uint8_t* out, int64_t n) {
  EncodeLoop<F, MODE>(x, out, n);
}
template <int F, int MODE>
void EncodeGeneric(const float* x, uint8_t* out, int64_t n) {
  EncodeLoop<F, MODE>(x, out, n);
}
#if FP8_HAS_AVX512
// EncodeBits(kQuantize) on 16 lanes, written out: GCC's auto-vectorised loop is ~1.7x slower.
template <int F>
FP8_AVX512 inline __m128i Encode16(__m512 y) {
  const Fmt& f = kFormats[F];
  const __m512i b = _mm512_castps_si512(y);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(b, 24), _mm512_set1_epi32(0x80));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(a, f.shift), _mm512_set1_epi32(1));
  __m512i nrm = _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>((1u << (f.shift - 1)) - 1u)));
  nrm = _mm512_sub_epi32(_mm512_srli_epi32(_mm512_add_epi32(nrm, odd), f.shift),
                         _mm512_set1_epi32(static_cast<int>(f.rebias)));
  const __m512 sum = _mm512_add_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(f.sub_magic));
  const __m512i sub = _mm512_sub_epi32(_mm512_castps_si512(sum),
                                       _mm512_set1_epi32(static_cast<int>(f.sub_magic_bits)));
  const __mmask16 normal = _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(f.normal_min)));
  __m512i code = _mm512_mask_mov_epi32(sub, normal, nrm);
  code = _mm512_maskz_mov_epi32(
      _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(f.zero_max))), code);
  const __mmask16 ovf = _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(f.ovf_above)));
  const __mmask16 inf = _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(0x7F800000));
  code = _mm512_mask_mov_epi32(code, ovf, _mm512_set1_epi32(static_cast<int>(f.max_code)));
  code = _mm512_mask_mov_epi32(code, inf, _mm512_set1_epi32(static_cast<int>(f.ovf_code)));
  code = _mm512_or_si512(code, sign);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x7F800000));
  code = _mm512_mask_mov_epi32(code, nan, _mm512_set1_epi32(0x7F));
  return _mm512_cvtepi32_epi8(code);
}

template <int F>
FP8_AVX512 void ScaleEncodeAvx512(const float* x, float s, uint8_t* out, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     Encode16<F>(_mm512_div_ps(_mm512_loadu_ps(x + i), vs)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm_mask_storeu_epi8(out + i, m, Encode16<F>(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs)));
  }
}

// For finite x only (so y = x / s is finite): codes as ScaleEncodeAvx512 gives them, and their
// decoded values (y rounded to the format's grid: the normal path's rounded bits, or the
// subnormal magic sum minus the magic) in dst, without a table.
// kExact = false multiplies by 1/s instead of dividing (the division bounds the loop): that
// product is within 2 float32 ulps of x / s, so it encodes alike unless it lies within a few ulps
// of a rounding midpoint or in the subnormal range; then it returns false, and the caller redoes
// the tile with kExact. kDecode = false writes codes only (dst unused).
template <int F, bool kExact, bool kDecode>
FP8_AVX512 inline void EncodeDecode16(__m512 xv, __m512 vs, __mmask16 m, uint8_t* out, float* dst,
                                      __mmask16* risky) {
  const Fmt& f = kFormats[F];
  // largest finite value's bits: the code max_code shifted back into float32 position
  const __m512i max_bits = _mm512_set1_epi32(static_cast<int>((f.max_code + f.rebias) << f.shift));
  const __m512i b = _mm512_castps_si512(kExact ? _mm512_div_ps(xv, vs) : _mm512_mul_ps(xv, vs));
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(a, f.shift), _mm512_set1_epi32(1));
  __m512i q = _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>((1u << (f.shift - 1)) - 1u)));
  q = _mm512_srli_epi32(_mm512_add_epi32(q, odd), f.shift);
  // saturate: rounding is monotonic, so a min on the rounded bits is the overflow clamp
  const __m512i vn = _mm512_min_epu32(_mm512_slli_epi32(q, f.shift), max_bits);
  const __m512i cn = _mm512_sub_epi32(_mm512_srli_epi32(vn, f.shift),
                                      _mm512_set1_epi32(static_cast<int>(f.rebias)));
  const __m512i sign = _mm512_and_si512(b, _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  __m512i code, v;
  if (!kExact) {
    // distance of the low bits from the rounding midpoint, as one unsigned compare
    const __m512i low = _mm512_and_si512(
        _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>(4u - (1u << (f.shift - 1))))),
        _mm512_set1_epi32(static_cast<int>((1u << f.shift) - 1u)));
    *risky |= _mm512_cmple_epu32_mask(low, _mm512_set1_epi32(8));
    // below the normal range (zero excepted: 0 * r is 0 / s, sign included): redone exactly, so
    // only zeros need the subnormal path's answer here
    const __mmask16 nonzero = _mm512_test_epi32_mask(a, a);
    *risky |= _mm512_mask_cmplt_epu32_mask(nonzero, a,
                                           _mm512_set1_epi32(static_cast<int>(f.normal_min + 8)));
    code = _mm512_maskz_mov_epi32(nonzero, cn);
    v = _mm512_maskz_mov_epi32(nonzero, vn);
  } else {
    const __m512 magic = _mm512_set1_ps(f.sub_magic);
    const __m512 sum = _mm512_add_ps(_mm512_castsi512_ps(a), magic);
    const __m512i cs = _mm512_sub_epi32(_mm512_castps_si512(sum),
                                        _mm512_set1_epi32(static_cast<int>(f.sub_magic_bits)));
    const __mmask16 normal =
        _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(f.normal_min)));
    code = _mm512_mask_mov_epi32(cs, normal, cn);
    v = _mm512_mask_mov_epi32(_mm512_castps_si512(_mm512_sub_ps(sum, magic)), normal, vn);
  }
  code = _mm512_or_si512(code, _mm512_srli_epi32(sign, 24));
  _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(code));
  if (kDecode) _mm512_mask_storeu_ps(dst, m, _mm512_castsi512_ps(_mm512_or_si512(v, sign)));
}

template <int F, bool kExact, bool kDecode = true>
FP8_AVX512 bool ScaleEncodeDecodeAvx512(const float* x, float s, uint8_t* out, float* dst,
                                        int64_t n) {
  const __m512 vs = _mm512_set1_ps(kExact ? s : 1.0f / s);
  __mmask16 risky = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1u);
    EncodeDecode16<F, kExact, kDecode>(_mm512_maskz_loadu_ps(m, x + i), vs, m, out + i,
                                       kDecode ? dst + i : nullptr, &risky);
  }
  return risky == 0;
}

float ScaleOf(float amax, float floor, const Fmt& f, bool pow2);

// A whole 1x128 tile from registers: amax, scale, codes and decoded values in one pass over x.
// Returns false, touching nothing, when the tile holds NaN/Inf (the caller's general path).
template <int F>
FP8_AVX512 bool QuantizeTile128Avx512(const float* x, bool pow2, float floor, uint8_t* out,
                                      float* dst, float* scale) {
  __m512 v[8];
  __m512i mx = _mm512_setzero_si512();
  for (int j = 0; j < 8; ++j) {
    v[j] = _mm512_loadu_ps(x + 16 * j);
    mx = _mm512_max_epu32(mx, _mm512_and_si512(_mm512_castps_si512(v[j]), _mm512_set1_epi32(0x7FFFFFFF)));
  }
  const uint32_t mb = _mm512_reduce_max_epu32(mx);
  if (mb >= 0x7F800000u) return false;
  float amax;
  std::memcpy(&amax, &mb, 4);
  const float s = ScaleOf(amax, floor, kFormats[F], pow2);
  *scale = s;
  __mmask16 risky = 0;
  const __m512 r = _mm512_set1_ps(1.0f / s);
  for (int j = 0; j < 8; ++j)
    EncodeDecode16<F, false, true>(v[j], r, 0xFFFF, out + 16 * j, dst + 16 * j, &risky);
  if (risky) {
    const __m512 vs = _mm512_set1_ps(s);
    for (int j = 0; j < 8; ++j)
      EncodeDecode16<F, true, true>(v[j], vs, 0xFFFF, out + 16 * j, dst + 16 * j, &risky);
  }
  return true;
}

// ScaleEncode for tiles known to be finite: the multiply-by-reciprocal path, exact on a miss.
template <int F>
FP8_AVX512 void ScaleEncodeFiniteAvx512(const float* x, float s, uint8_t* out, int64_t n) {
  if (!ScaleEncodeDecodeAvx512<F, false, false>(x, s, out, nullptr, n))
    ScaleEncodeDecodeAvx512<F, true, false>(x, s, out, nullptr, n);
}
#else
template <int F>
void ScaleEncodeAvx512(const float* x, float s, uint8_t* out, int64_t n) {
  ScaleEncodeLoop<F>(x, s, out, n);
}
#endif
template <int F>
void ScaleEncodeGeneric(const float* x, float s, uint8_t* out, int64_t n) {
  ScaleEncodeLoop<F>(x, s, out, n);
}
template <int F>
FP8_AVX512 void ScaleEncodeVAvx512(const float* x, const float* s, uint8_t* out, int64_t n) {
  ScaleEncodeLoopV<F>(x, s, out, n);
}
template <int F>
void ScaleEncodeVGeneric(const float* x, const float* s, uint8_t* out, int64_t n) {
  ScaleEncodeLoopV<F>(x, s, out, n);
}
#if FP8_HAS_AVX512
FP8_AVX512 float AmaxAvx512(const float* x, int64_t n, int64_t* bad) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_loadu_si512(x + i), abs_mask));
    m1 = _mm512_max_epu32(m1, _mm512_and_si512(_mm512_loadu_si512(x + i + 16), abs_mask));
  }
  for (; i < n; i += 16) {
    const __mmask16 k = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1u);
    m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_maskz_loadu_epi32(k, x + i), abs_mask));
  }
  const uint32_t m = _mm512_reduce_max_epu32(_mm512_max_epu32(m0, m1));
  if (m >= 0x7F800000u) return AmaxLoop(x, n, bad);  // Inf/NaN present: the careful pass
  float r;
  std::memcpy(&r, &m, 4);
  return r;
}
#else
float AmaxAvx512(const float* x, int64_t n, int64_t* bad) { return AmaxLoop(x, n, bad); }
#endif
float AmaxGeneric(const float* x, int64_t n, int64_t* bad) { return AmaxLoop(x, n, bad); }

bool UseAvx512() {
#if FP8_HAS_AVX512
  // MOELAB_FP8_KERNEL=generic forces the portable loops (tests run both on AVX-512 machines)
  static const bool yes = !GenericForced() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return yes;
#else
  return false;
#endif
}

void Encode(int fmt, int mode, const float* x, uint8_t* out, int64_t n) {
  const bool v = UseAvx512();
#define FP8_ENC(F, M) (v ? EncodeAvx512<F, M>(x, out, n) : EncodeGeneric<F, M>(x, out, n))
  if (fmt == 0) {
    if (mode == kSaturate) FP8_ENC(0, kSaturate);
    else FP8_ENC(0, kNoSaturate);
  } else {
    if (mode == kSaturate) FP8_ENC(1, kSaturate);
    else FP8_ENC(1, kNoSaturate);
  }
#undef FP8_ENC
}

void ScaleEncode(int fmt, const float* x, float s, uint8_t* out, int64_t n) {
  const bool v = UseAvx512();
  if (fmt == 0) v ? ScaleEncodeAvx512<0>(x, s, out, n) : ScaleEncodeGeneric<0>(x, s, out, n);
  else v ? ScaleEncodeAvx512<1>(x, s, out, n) : ScaleEncodeGeneric<1>(x, s, out, n);
}

void ScaleEncodeV(int fmt, const float* x, const float* s, uint8_t* out, int64_t n) {
  const bool v = UseAvx512();
  if (fmt == 0) v ? ScaleEncodeVAvx512<0>(x, s, out, n) : ScaleEncodeVGeneric<0>(x, s, out, n);
  else v ? ScaleEncodeVAvx512<1>(x, s, out, n) : ScaleEncodeVGeneric<1>(x, s, out, n);
}

// ScaleEncode for x without NaN/Inf.
void ScaleEncodeFinite(int fmt, const float* x, float s, uint8_t* out, int64_t n) {
#if FP8_HAS_AVX512
  if (UseAvx512()) {
    if (fmt == 0) ScaleEncodeFiniteAvx512<0>(x, s, out, n);
    else ScaleEncodeFiniteAvx512<1>(x, s, out, n);
    return;
  }
#endif
  ScaleEncode(fmt, x, s, out, n);
}

float Amax(const float* x, int64_t n, int64_t* bad) {
  return UseAvx512() ? AmaxAvx512(x, n, bad) : AmaxGeneric(x, n, bad);
}

// Column-wise running max of |x| bits over finite x (128x1 tiles); counts non-finite values.
__attribute__((always_inline)) inline void AmaxColumnsLoop(const float* x, uint32_t* m, int64_t n,
                                                           int64_t* bad) {
  uint32_t any = 0;
  for (int64_t j = 0; j < n; ++j) {
    uint32_t b;
    std::memcpy(&b, x + j, 4);
    const uint32_t a = b & 0x7FFFFFFFu;
    const uint32_t fin = 0u - static_cast<uint32_t>(a < 0x7F800000u);
    const uint32_t v = a & fin;
    m[j] = m[j] > v ? m[j] : v;
    any |= ~fin & 1u;
  }
  if (any)
    for (int64_t j = 0; j < n; ++j) *bad += std::isfinite(x[j]) ? 0 : 1;
}
FP8_AVX512 void AmaxColumnsAvx512(const float* x, uint32_t* m, int64_t n, int64_t* bad) {
  AmaxColumnsLoop(x, m, n, bad);
}
void AmaxColumnsGeneric(const float* x, uint32_t* m, int64_t n, int64_t* bad) {
  AmaxColumnsLoop(x, m, n, bad);
}
void AmaxColumns(const float* x, uint32_t* m, int64_t n, int64_t* bad) {
  UseAvx512() ? AmaxColumnsAvx512(x, m, n, bad) : AmaxColumnsGeneric(x, m, n, bad);
}

// scale = max(amax, floor) / max_format in float32; ue8m0 rounds it up to a power of two.
float ScaleOf(float amax, float floor, const Fmt& f, bool pow2) {
  const float s = std::max(amax, floor) / f.max_value;
  if (!pow2) return s;
  uint32_t b;
  std::memcpy(&b, &s, 4);
  if (b & 0x7FFFFFu) b = (b & 0x7F800000u) + 0x800000u;
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

// Quantizes x [rows, cols] in tr x tc tiles; returns the number of non-finite inputs.
int64_t Quantize(const float* x, int64_t rows, int64_t cols, int64_t tr, int64_t tc, int fmt,
                 bool pow2, float floor, uint8_t* codes, float* scales) {
  const Fmt& f = kFormats[fmt];
  const int64_t sr = (rows + tr - 1) / tr;
  const int64_t sc = (cols + tc - 1) / tc;
  std::vector<int64_t> bad_per(static_cast<size_t>(std::max<int64_t>(sr, 1)), 0);
  // one tile-row per task; a tile-row is tr full rows, so tasks never share a scale
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, tr * cols));
  ParallelFor(sr, grain, [&](int64_t g0, int64_t g1) {
    std::vector<float> amax(static_cast<size_t>(sc));
    std::vector<uint32_t> amax_bits(static_cast<size_t>(tc == 1 ? sc : 0));
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t i0 = g * tr, i1 = std::min(rows, i0 + tr);
      std::fill(amax.begin(), amax.end(), 0.0f);
      std::fill(amax_bits.begin(), amax_bits.end(), 0u);
      int64_t bad = 0;
      for (int64_t i = i0; i < i1; ++i) {
        const float* xr = x + i * cols;
        if (tc == 1) {
          AmaxColumns(xr, amax_bits.data(), cols, &bad);
        } else {
          for (int64_t t = 0; t < sc; ++t) {
            const int64_t j0 = t * tc, j1 = std::min(cols, j0 + tc);
            amax[t] = std::max(amax[t], Amax(xr + j0, j1 - j0, &bad));
          }
        }
      }
      if (tc == 1)
        for (int64_t t = 0; t < sc; ++t) std::memcpy(&amax[t], &amax_bits[t], 4);
      bad_per[g] = bad;
      float* srow = scales + g * sc;
      for (int64_t t = 0; t < sc; ++t) srow[t] = ScaleOf(amax[t], floor, f, pow2);
      for (int64_t i = i0; i < i1; ++i) {
        const float* xr = x + i * cols;
        uint8_t* cr = codes + i * cols;
        if (tc == 1) {
          ScaleEncodeV(fmt, xr, srow, cr, cols);
        } else {
          for (int64_t t = 0; t < sc; ++t) {
            const int64_t j0 = t * tc, j1 = std::min(cols, j0 + tc);
            if (bad == 0) ScaleEncodeFinite(fmt, xr + j0, srow[t], cr + j0, j1 - j0);
            else ScaleEncode(fmt, xr + j0, srow[t], cr + j0, j1 - j0);
          }
        }
      }
    }
  });
  int64_t bad = 0;
  for (int64_t b : bad_per) bad += b;
  return bad;
}

}  // namespace

namespace fp8 {
// One 1xN tile exactly as Quantize does it (fp8_gemm.cc quantizes activations while packing).
// When the tile is finite and AVX-512 runs, dst also gets the decoded codes (*decoded = true).
float QuantizeRowTile(const float* x, int64_t n, int fmt, bool pow2, float floor, uint8_t* codes,
                      float* dst, bool* decoded, int64_t* bad) {
#if FP8_HAS_AVX512
  if (n == 128 && UseAvx512()) {
    float s;
    if (fmt == 0 ? QuantizeTile128Avx512<0>(x, pow2, floor, codes, dst, &s)
                 : QuantizeTile128Avx512<1>(x, pow2, floor, codes, dst, &s)) {
      *decoded = true;
      return s;
    }
  }
#endif
  const int64_t bad_before = *bad;
  const float amax = std::max(0.0f, Amax(x, n, bad));
  const float s = ScaleOf(amax, floor, kFormats[fmt], pow2);
  *decoded = false;
#if FP8_HAS_AVX512
  if (*bad == bad_before && UseAvx512()) {
    if (fmt == 0) {
      if (!ScaleEncodeDecodeAvx512<0, false>(x, s, codes, dst, n))
        ScaleEncodeDecodeAvx512<0, true>(x, s, codes, dst, n);
    } else {
      if (!ScaleEncodeDecodeAvx512<1, false>(x, s, codes, dst, n))
        ScaleEncodeDecodeAvx512<1, true>(x, s, codes, dst, n);
    }
    *decoded = true;
    return s;
  }
#endif
  ScaleEncode(fmt, x, s, codes, n);
  return s;
}
}  // namespace fp8

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// Argument checking that reports the first bad argument as a JS exception.
struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;
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
  bool Bool(size_t i, const char* name, bool fallback, bool optional) {
    if (!ok) return false;
    if (optional && (i >= info.Length() || info[i].IsUndefined())) return fallback;
    if (!info[i].IsBoolean()) return Fail(false, std::string(name) + " must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  int64_t Count(size_t i, const char* name, int64_t min = 0) {
    if (!ok) return 0;
    if (!info[i].IsNumber()) return Fail(false, std::string(name) + " must be a number"), 0;
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= static_cast<double>(min)) || v != std::floor(v) || v > kMaxSafeInteger)
      return Fail(true, std::string(name) + " must be an integer >= " + std::to_string(min) +
                            ", got " + std::to_string(v)),
             0;
    return static_cast<int64_t>(v);
  }
  int Format(size_t i) {
    const int64_t f = Count(i, "format");
    if (ok && f > 1) Fail(true, "format must be 0 (e4m3) or 1 (e5m2), got " + std::to_string(f));
    return static_cast<int>(f);
  }
  float Floor(size_t i) {
    if (!ok) return 0;
    if (!info[i].IsNumber()) return Fail(false, "amaxFloor must be a number"), 0;
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v > 0) || !(static_cast<float>(v) <= FLT_MAX))
      return Fail(true, "amaxFloor must be positive and finite"), 0;
    return static_cast<float>(v);
  }
  template <typename T>
  Napi::TypedArrayOf<T> Array(size_t i, const char* name, napi_typedarray_type type,
                              const char* tname) {
    if (ok && info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == type)
      return info[i].As<Napi::TypedArrayOf<T>>();
    Fail(false, std::string(name) + " must be a " + tname);
    return Napi::TypedArrayOf<T>();
  }
  // An array must hold exactly a x b elements (what names the product, e.g. "rows x cols");
  // the expected size is printed exactly, or as its factors when it exceeds 2^53.
  void Length(const char* name, size_t got, int64_t a, int64_t b, const char* what) {
    if (!ok) return;
    int64_t want = 0;
    if (!CheckedMul(a, b, &want)) {
      Fail(true, std::string(name) + " has " + std::to_string(got) + " elements, expected " + what + " = " +
                     JoinDims({a, b}) + " (more than 2^53)");
    } else if (static_cast<int64_t>(got) != want) {
      Fail(true, std::string(name) + " has " + std::to_string(got) + " elements, expected " + what + " = " +
                     std::to_string(want));
    }
  }
};

Napi::Value EncodeJs(const Napi::CallbackInfo& info) {
  Args args{info, "fp8Encode"};
  if (info.Length() < 3) return args.Fail(false, "expected (values, format, saturate)"), info.Env().Undefined();
  auto x = args.Array<float>(0, "values", napi_float32_array, "Float32Array");
  const int fmt = args.Format(1);
  const bool sat = args.Bool(2, "saturate", true, false);
  if (!args.ok) return info.Env().Undefined();
  const int64_t n = static_cast<int64_t>(x.ElementLength());
  auto out = Napi::Uint8Array::New(info.Env(), static_cast<size_t>(n));
  const float* xp = x.Data();
  uint8_t* op = out.Data();
  ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    Encode(fmt, sat ? kSaturate : kNoSaturate, xp + b, op + b, e - b);
  });
  return out;
}

Napi::Value QuantizeCommon(const Napi::CallbackInfo& info, Args& args, int64_t rows, int64_t cols,
                           int64_t tr, int64_t tc, int fmt, bool pow2, float floor,
                           size_t out_at = 0) {
  Napi::Env env = info.Env();
  auto x = args.Array<float>(0, "x", napi_float32_array, "Float32Array");
  args.Length("x", args.ok ? x.ElementLength() : 0, rows, cols, "rows x cols");
  if (!args.ok) return env.Undefined();
  // A tile larger than the matrix is the whole matrix: clamping changes no result and keeps
  // tr * cols (the kernels' work estimate) far from overflow.
  tr = std::min(tr, std::max<int64_t>(rows, 1));
  tc = std::min(tc, std::max<int64_t>(cols, 1));
  const int64_t sr = (rows + tr - 1) / tr, sc = (cols + tc - 1) / tc;
  // optional output buffers (codes, scales) after the other arguments: reusing them saves the
  // page faults of fresh arrays
  Napi::Uint8Array codes;
  Napi::Float32Array scales;
  if (out_at > 0 && info.Length() > out_at + 1 && !info[out_at].IsUndefined()) {
    codes = args.Array<uint8_t>(out_at, "out codes", napi_uint8_array, "Uint8Array");
    scales = args.Array<float>(out_at + 1, "out scales", napi_float32_array, "Float32Array");
    args.Length("out codes", codes.ElementLength(), rows, cols, "rows x cols");
    args.Length("out scales", scales.ElementLength(), sr, sc, "tile rows x tile columns");
    if (!args.ok) return env.Undefined();
  } else {
    codes = Napi::Uint8Array::New(env, static_cast<size_t>(rows * cols));
    scales = Napi::Float32Array::New(env, static_cast<size_t>(sr * sc));
  }
  const int64_t bad = rows == 0 || cols == 0 ? 0
      : Quantize(x.Data(), rows, cols, tr, tc, fmt, pow2, floor, codes.Data(), scales.Data());
  Napi::Object r = Napi::Object::New(env);
  r.Set("codes", codes);
  r.Set("scales", scales);
  r.Set("nonFinite", Napi::Number::New(env, static_cast<double>(bad)));
  return r;
}

Napi::Value QuantizeJs(const Napi::CallbackInfo& info) {
  Args args{info, "fp8Quantize"};
  if (info.Length() < 8)
    return args.Fail(false, "expected (x, rows, cols, tileRows, tileCols, format, pow2, amaxFloor)"),
           info.Env().Undefined();
  const int64_t rows = args.Count(1, "rows"), cols = args.Count(2, "cols");
  const int64_t tr = args.Count(3, "tileRows", 1), tc = args.Count(4, "tileCols", 1);
  const int fmt = args.Format(5);
  const bool pow2 = args.Bool(6, "pow2", false, false);
  const float floor = args.Floor(7);
  return QuantizeCommon(info, args, rows, cols, tr, tc, fmt, pow2, floor, 8);
}

Napi::Value QuantizeTilesJs(const Napi::CallbackInfo& info) {
  Args args{info, "fp8QuantizeTiles"};
  if (info.Length() < 6)
    return args.Fail(false, "expected (x, rows, cols, format, pow2, amaxFloor, transposed?)"),
           info.Env().Undefined();
  const int64_t rows = args.Count(1, "rows"), cols = args.Count(2, "cols");
  const int fmt = args.Format(3);
  const bool pow2 = args.Bool(4, "pow2", false, false);
  const float floor = args.Floor(5);
  const bool t = args.Bool(6, "transposed", false, true);
  return QuantizeCommon(info, args, rows, cols, t ? 128 : 1, t ? 1 : 128, fmt, pow2, floor);
}

Napi::Value QuantizeBlocksJs(const Napi::CallbackInfo& info) {
  Args args{info, "fp8QuantizeBlocks"};
  if (info.Length() < 6)
    return args.Fail(false, "expected (x, rows, cols, format, pow2, amaxFloor)"), info.Env().Undefined();
  const int64_t rows = args.Count(1, "rows"), cols = args.Count(2, "cols");
  const int fmt = args.Format(3);
  const bool pow2 = args.Bool(4, "pow2", false, false);
  const float floor = args.Floor(5);
  return QuantizeCommon(info, args, rows, cols, 128, 128, fmt, pow2, floor);
}

Napi::Value DequantizeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args{info, "fp8Dequantize"};
  if (info.Length() < 7)
    return args.Fail(false, "expected (codes, scales, rows, cols, tileRows, tileCols, format)"),
           env.Undefined();
  auto codes = args.Array<uint8_t>(0, "codes", napi_uint8_array, "Uint8Array");
  auto scales = args.Array<float>(1, "scales", napi_float32_array, "Float32Array");
  const int64_t rows = args.Count(2, "rows"), cols = args.Count(3, "cols");
  const int64_t tr = args.Count(4, "tileRows", 1), tc = args.Count(5, "tileCols", 1);
  const int fmt = args.Format(6);
  if (!args.ok) return env.Undefined();
  args.Length("codes", codes.ElementLength(), rows, cols, "rows x cols");
  if (!args.ok) return env.Undefined();
  const int64_t trc = std::min(tr, std::max<int64_t>(rows, 1)), tcc = std::min(tc, std::max<int64_t>(cols, 1));
  const int64_t sr = (rows + trc - 1) / trc, sc = (cols + tcc - 1) / tcc;
  args.Length("scales", scales.ElementLength(), sr, sc, "tile rows x tile columns");
  if (!args.ok) return env.Undefined();
  if (rows == 0 || cols == 0) return Napi::Float32Array::New(env, 0);
  float lut[256];
  {
    // decode table from the bit fields
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
  auto out = Napi::Float32Array::New(env, static_cast<size_t>(rows * cols));
  const uint8_t* cp = codes.Data();
  const float* sp = scales.Data();
  float* op = out.Data();
  ParallelFor(rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(cols, 1)),
              [&](int64_t i0, int64_t i1) {
                for (int64_t i = i0; i < i1; ++i) {
                  const float* srow = sp + (i / trc) * sc;
                  const uint8_t* cr = cp + i * cols;
                  float* orow = op + i * cols;
                  for (int64_t j0 = 0, t = 0; j0 < cols; j0 += tcc, ++t) {
                    const int64_t j1 = std::min(cols, j0 + tcc);
                    const float s = srow[t];
                    for (int64_t j = j0; j < j1; ++j) orow[j] = lut[cr[j]] * s;
                  }
                }
              });
  return out;
}

void InitFp8Quant(Napi::Env env, Napi::Object exports) {
  exports.Set("fp8Encode", Napi::Function::New(env, EncodeJs, "fp8Encode"));
  exports.Set("fp8Quantize", Napi::Function::New(env, QuantizeJs, "fp8Quantize"));
  exports.Set("fp8QuantizeTiles", Napi::Function::New(env, QuantizeTilesJs, "fp8QuantizeTiles"));
  exports.Set("fp8QuantizeBlocks", Napi::Function::New(env, QuantizeBlocksJs, "fp8QuantizeBlocks"));
  exports.Set("fp8Dequantize", Napi::Function::New(env, DequantizeJs, "fp8Dequantize"));
}

Registrar reg("fp8_quant", InitFp8Quant);

}  // namespace
}  // namespace moelab
