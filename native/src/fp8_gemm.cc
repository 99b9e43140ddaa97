// Block-scaled FP8 GEMM (twin of lib/fp8/gemm.ts; DeepSeek-V3's fp8_gemm semantics):
//   C[m, n] = sum over 128-wide K-blocks kb of P_kb[m, n] * (a_s[m, kb] * b_s[n, kb])
//   P_kb    = sum_{k in kb} A_q[m, k] * B_q[n, k], in FP32 from zero (the tensor cores' part)
// A [M, K] and B [N, K] are FP8 codes with one scale per tile; C = A * B^T [M, N] in FP32.
// FP8 codes are decoded through a 256-entry table into packed float panels, then an MR x 32
// FMA micro-kernel runs one K-block at a time and promotes its sum into C with the scales.
// Products of two FP8 values are exact in FP32, so fma(a, b, p) == p + a*b: in-block sums
// match the TypeScript reference bit for bit.
//   fp8Gemm(aCodes, aScales, aTileRows, aTileCols, aFormat, bCodes, bScales, bTileRows,
//           bTileCols, bFormat, m, n, k, accumBits, accumChunk, accumNearest, out?): Float32Array
// accumBits < 23 rounds the in-block partial sum to that many mantissa bits after every
// accumChunk products (toward zero, or to nearest-even when accumNearest).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "registry.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace moelab {
namespace {

[[maybe_unused]] bool GenericForced() {
  const char* k = std::getenv("MOELAB_FP8_KERNEL");
  return k != nullptr && std::strcmp(k, "generic") == 0;
}

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

// Portable micro-kernel: C[r, 0:32] += P[r, 0:32] * (sa[r] * sb[0:32]).
void KernelGeneric(int64_t klen, const float* ap, const float* bp, const Accum& ac,
                   const float* sa, const float* sb, float* c, int64_t ldc, bool first) {
  float acc[kMr][kNr];
  std::memset(acc, 0, sizeof(acc));
  for (int64_t c0 = 0; c0 < klen; c0 += ac.chunk) {
    const int64_t c1 = std::min(klen, c0 + ac.chunk);
    for (int64_t k = c0; k < c1; ++k) {
      const float* b = bp + k * kNr;
      const float* a = ap + k * kMr;
      for (int r = 0; r < kMr; ++r)
        for (int j = 0; j < kNr; ++j) acc[r][j] += a[r] * b[j];
    }
    if (ac.limited)
      for (int r = 0; r < kMr; ++r)
        for (int j = 0; j < kNr; ++j) acc[r][j] = RoundMantissa(acc[r][j], ac);
  }
  for (int r = 0; r < kMr; ++r)
    for (int j = 0; j < kNr; ++j)
      c[r * ldc + j] = (first ? 0.0f : c[r * ldc + j]) + acc[r][j] * (sa[r] * sb[j]);
}

#if defined(__x86_64__)
#define FP8_AVX512 __attribute__((target("avx512f,fma")))

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

// first: C is written, not read (the first K-block), so C needs no zeroing beforehand.
FP8_AVX512 void KernelAvx512(int64_t klen, const float* ap, const float* bp, const Accum& ac,
                             const float* sa, const float* sb, float* c, int64_t ldc, bool first) {
  __m512 acc0[kMr], acc1[kMr];
  if (!first)
    for (int r = 0; r < kMr; ++r) {
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
      const float* a = ap + k * kMr;
#pragma GCC unroll 16
      for (int r = 0; r < kMr; ++r) {
        const __m512 av = _mm512_set1_ps(a[r]);
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
  if (first) {
#pragma GCC unroll 16
    for (int r = 0; r < kMr; ++r) {
      const __m512 s = _mm512_set1_ps(sa[r]);
      float* cr = c + r * ldc;
      // fma with +0 (not a plain product): a -0 block sum gives +0, as 0 + p*s does in TypeScript
      _mm512_storeu_ps(cr, _mm512_fmadd_ps(acc0[r], _mm512_mul_ps(s, sb0), _mm512_setzero_ps()));
      _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(acc1[r], _mm512_mul_ps(s, sb1), _mm512_setzero_ps()));
    }
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < kMr; ++r) {
    const __m512 s = _mm512_set1_ps(sa[r]);
    float* cr = c + r * ldc;
    _mm512_storeu_ps(cr, _mm512_fmadd_ps(acc0[r], _mm512_mul_ps(s, sb0), _mm512_loadu_ps(cr)));
    _mm512_storeu_ps(cr + 16,
                     _mm512_fmadd_ps(acc1[r], _mm512_mul_ps(s, sb1), _mm512_loadu_ps(cr + 16)));
  }
}

bool UseAvx512() {
  // MOELAB_FP8_KERNEL=generic forces the portable kernel (tests run both on AVX-512 machines)
  static const bool yes =
      !GenericForced() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  return yes;
}
#else
bool UseAvx512() { return false; }
void KernelAvx512(int64_t, const float*, const float*, const Accum&, const float*, const float*,
                  float*, int64_t, bool) {}
#endif

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

// Scale of row `i` in K-block `kb`.
inline float ScaleAt(const Operand& o, int64_t i, int64_t kb) {
  return o.scales[(i / o.tile_rows) * o.scale_cols + (kb * kBk) / o.tile_cols];
}

void Gemm(const Operand& a, const Operand& b, int64_t M, int64_t N, int64_t K, const Accum& ac,
          float* out) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(M * N));
    return;
  }
  const int64_t MT = (M + kMr - 1) / kMr, NT = (N + kNr - 1) / kNr;
  const int64_t Mp = MT * kMr, Np = NT * kNr, KB = (K + kBk - 1) / kBk;
  float lut_a[256], lut_b[256];
  DecodeTable(a.fmt, lut_a);
  DecodeTable(b.fmt, lut_b);
  // grow-only per-thread buffers: fresh multi-MiB allocations cost more in page faults than packing
  thread_local std::vector<float> ap_buf, bp_buf, sa_buf, sb_buf;
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
  };
  float* ap = grow(ap_buf, MT * K * kMr);
  float* bp = grow(bp_buf, NT * K * kNr);
  float* sa = grow(sa_buf, KB * Mp);
  float* sb = grow(sb_buf, KB * Np);
  // pack: A as [MT][K][kMr], B as [NT][K][kNr], decoded; padding rows are zero
  ParallelFor(MT + NT, 1, [&](int64_t t0, int64_t t1) {
    const uint8_t* src[kNr];
    for (int64_t t = t0; t < t1; ++t) {
      const bool is_a = t < MT;
      const int64_t tile = is_a ? t : t - MT;
      const int w = is_a ? kMr : kNr;
      const Operand& o = is_a ? a : b;
      const float* lut = is_a ? lut_a : lut_b;
      float* dst = (is_a ? ap : bp) + tile * K * w;
      float* sdst = is_a ? sa : sb;
      const int64_t ld = is_a ? Mp : Np;
      int live = 0;
      for (int r = 0; r < w; ++r) {
        const int64_t i = tile * w + r;
        src[r] = i < o.rows ? o.codes + i * K : nullptr;
        if (src[r]) ++live;
        for (int64_t kb = 0; kb < KB; ++kb) sdst[kb * ld + i] = src[r] ? ScaleAt(o, i, kb) : 0.0f;
      }
      if (live == w) {
        if (is_a) PackPanel<kMr>(src, K, lut, dst);
        else PackPanel<kNr>(src, K, lut, dst);
      } else {
        for (int64_t k = 0; k < K; ++k)
          for (int r = 0; r < w; ++r) dst[k * w + r] = src[r] ? lut[src[r][k]] : 0.0f;
      }
    }
  });
  const bool direct = (M % kMr == 0) && (N % kNr == 0);
  thread_local std::vector<float> scratch_buf;
  float* c = out;
  int64_t ldc = N;
  if (!direct) {
    c = grow(scratch_buf, Mp * Np);
    ldc = Np;
  }
  const bool avx = UseAvx512();
  const int64_t mtasks = (MT + kMtPerTask - 1) / kMtPerTask, ntasks = (NT + kNtPerTask - 1) / kNtPerTask;
  ParallelFor(mtasks * ntasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t mt0 = (t / ntasks) * kMtPerTask, mt1 = std::min(MT, mt0 + kMtPerTask);
      const int64_t nt0 = (t % ntasks) * kNtPerTask, nt1 = std::min(NT, nt0 + kNtPerTask);
      for (int64_t kb = 0; kb < KB; ++kb) {
        const int64_t k0 = kb * kBk, klen = std::min<int64_t>(kBk, K - k0);
        Accum acb = ac;
        if (!acb.limited) acb.chunk = klen;
        // B's micro-panel (16 KiB) stays in L1 while A's smaller panels stream from L2, as in Sgemm
        for (int64_t nt = nt0; nt < nt1; ++nt) {
          const float* bpan = bp + (nt * K + k0) * kNr;
          const float* sbp = sb + kb * Np + nt * kNr;
          for (int64_t mt = mt0; mt < mt1; ++mt) {
            const float* apan = ap + (mt * K + k0) * kMr;
            const float* sap = sa + kb * Mp + mt * kMr;
            float* ct = c + mt * kMr * ldc + nt * kNr;
            if (avx) KernelAvx512(klen, apan, bpan, acb, sap, sbp, ct, ldc, kb == 0);
            else KernelGeneric(klen, apan, bpan, acb, sap, sbp, ct, ldc, kb == 0);
          }
        }
      }
    }
  });
  if (!direct)
    for (int64_t i = 0; i < M; ++i) std::memcpy(out + i * N, c + i * ldc, sizeof(float) * N);
}

constexpr double kMaxSafeInteger = 9007199254740991.0;

struct Args {
  const Napi::CallbackInfo& info;
  bool ok = true;

  bool Fail(bool range, const std::string& msg) {
    if (ok) {
      const std::string text = "fp8Gemm: " + msg;
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
    if (static_cast<double>(codes.ElementLength()) != static_cast<double>(rows) * K)
      return Fail(true, n + "Codes has " + std::to_string(codes.ElementLength()) +
                            " elements, expected " + std::to_string(rows) + "*" + std::to_string(K)),
             o;
    const int64_t sr = (rows + o.tile_rows - 1) / o.tile_rows;
    o.scale_cols = (K + o.tile_cols - 1) / o.tile_cols;
    if (static_cast<double>(scales.ElementLength()) != static_cast<double>(sr) * o.scale_cols)
      return Fail(true, n + "Scales has " + std::to_string(scales.ElementLength()) +
                            " elements, expected " + std::to_string(sr) + "x" +
                            std::to_string(o.scale_cols)),
             o;
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
    if (static_cast<double>(out.ElementLength()) != static_cast<double>(M) * N)
      return args.Fail(true, "out has " + std::to_string(out.ElementLength()) +
                                 " elements, expected m*n = " + std::to_string(M * N)),
             env.Undefined();
  } else {
    out = Napi::Float32Array::New(env, static_cast<size_t>(M * N));
  }
  Gemm(a, b, M, N, K, ac, out.Data());
  return out;
}

void InitFp8Gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("fp8Gemm", Napi::Function::New(env, GemmJs, "fp8Gemm"));
}

Registrar reg("fp8_gemm", InitFp8Gemm);

}  // namespace
}  // namespace moelab
