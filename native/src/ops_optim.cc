// Optimizer kernels for lib/train: the fused AdamW update of one parameter buffer, and the sum of
// squares of a gradient buffer (the global grad norm).
//
//   adamwStep(p, g, m, v, n, step, lr, beta1, beta2, eps, weightDecay, gradScale)
//     p, g: Float32Array; m, v: both Float32Array (float32 moments) or both Uint16Array (bfloat16
//     moments, rounded to nearest even on store). Updates p, m, v in place over [0, n), exactly
//     torch.optim.AdamW's single-tensor formula, each operation rounded to float32, no fused
//     multiply-add (so the TypeScript fallback reproduces it bit for bit):
//       g' = g * gradScale; p *= 1 - lr*wd; m = m*b1 + (1-b1)*g'; v = v*b2 + ((1-b2)*g')*g';
//       p += (-lr/bc1 * m) / (sqrt(v)/sqrt(bc2) + eps),  bc_i = 1 - beta_i^step.
//   adamwSetKernel(name: "auto" | "avx512" | "scalar"): boolean  (false: this CPU lacks it)
//   sumSquares(x, n): number  -- sum of x[i]^2 in double, the same for every thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

#if defined(__x86_64__)
// GCC 12 flags the undefined pass-through operand inside AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace moelab {
namespace ops {
namespace {

// The update's float32 constants, each rounded once from the double hyper-parameters.
struct AdamCoef {
  float decay, b1, omb1, b2, omb2, neg_step, bc2_sqrt, eps, gscale;
};

// beta^step by squaring: plain double products, so lib/train's fallback computes the same bits.
double PowInt(double b, int64_t e) {
  double r = 1.0;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return r;
}

inline float Bf16ToF32(uint16_t h) {
  uint32_t b = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Round to nearest even; NaN stays a quiet NaN (lib/tensor/dtype.ts's f32ToBf16).
inline uint16_t F32ToBf16(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40u);
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

inline float LoadM(const float* a, int64_t i) { return a[i]; }
inline float LoadM(const uint16_t* a, int64_t i) { return Bf16ToF32(a[i]); }
inline void StoreM(float* a, int64_t i, float x) { a[i] = x; }
inline void StoreM(uint16_t* a, int64_t i, float x) { a[i] = F32ToBf16(x); }

// fp-contract=off: a fused multiply-add would round differently from torch and from the fallback.
template <typename M>
__attribute__((optimize("fp-contract=off"))) void AdamScalar(float* p, const float* g, M* m, M* v, int64_t n,
                                                              const AdamCoef& c) {
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * c.gscale;
    const float mi = LoadM(m, i) * c.b1 + c.omb1 * gi;
    const float vi = LoadM(v, i) * c.b2 + (c.omb2 * gi) * gi;
    const float den = std::sqrt(vi) / c.bc2_sqrt + c.eps;
    p[i] = p[i] * c.decay + (c.neg_step * mi) / den;
    StoreM(m, i, mi);
    StoreM(v, i, vi);
  }
}

#if defined(__x86_64__)
#define MOELAB_AVX512 __attribute__((target("avx512f"), optimize("fp-contract=off")))
// Embedded-rounding forms are opaque to the compiler, so no multiply-add can be formed from them.
#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

MOELAB_AVX512 inline __m512 Mul(__m512 a, __m512 b) { return _mm512_mul_round_ps(a, b, RN); }
MOELAB_AVX512 inline __m512 Add(__m512 a, __m512 b) { return _mm512_add_round_ps(a, b, RN); }
MOELAB_AVX512 inline __m512 Div(__m512 a, __m512 b) { return _mm512_div_round_ps(a, b, RN); }

MOELAB_AVX512 inline __m512 LoadV(const float* a) { return _mm512_loadu_ps(a); }
MOELAB_AVX512 inline __m512 LoadV(const uint16_t* a) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
MOELAB_AVX512 inline void StoreV(float* a, __m512 x) { _mm512_storeu_ps(a, x); }
MOELAB_AVX512 inline void StoreV(uint16_t* a, __m512 x) {
  const __m512i b = _mm512_castps_si512(x);
  const __m512i absb = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(absb, _mm512_set1_epi32(0x7f800000));
  const __m512i hi = _mm512_srli_epi32(b, 16);
  const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), odd), 16);
  r = _mm512_mask_blend_epi32(nan, r, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a), _mm512_cvtepi32_epi16(r));
}

template <typename M>
MOELAB_AVX512 void AdamAvx512(float* p, const float* g, M* m, M* v, int64_t n, const AdamCoef& c) {
  const __m512 decay = _mm512_set1_ps(c.decay), b1 = _mm512_set1_ps(c.b1), omb1 = _mm512_set1_ps(c.omb1);
  const __m512 b2 = _mm512_set1_ps(c.b2), omb2 = _mm512_set1_ps(c.omb2), neg_step = _mm512_set1_ps(c.neg_step);
  const __m512 bc2_sqrt = _mm512_set1_ps(c.bc2_sqrt), eps = _mm512_set1_ps(c.eps), gscale = _mm512_set1_ps(c.gscale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 gi = Mul(_mm512_loadu_ps(g + i), gscale);
    const __m512 mi = Add(Mul(LoadV(m + i), b1), Mul(omb1, gi));
    const __m512 vi = Add(Mul(LoadV(v + i), b2), Mul(Mul(omb2, gi), gi));
    const __m512 den = Add(Div(_mm512_sqrt_round_ps(vi, RN), bc2_sqrt), eps);
    _mm512_storeu_ps(p + i, Add(Mul(_mm512_loadu_ps(p + i), decay), Div(Mul(neg_step, mi), den)));
    StoreV(m + i, mi);
    StoreV(v + i, vi);
  }
  // Every operation above is correctly rounded, so the scalar tail gives the same bits.
  if (i < n) AdamScalar(p + i, g + i, m + i, v + i, n - i, c);
}
#undef RN
#endif

enum Kernel { kAuto = 0, kAvx512, kScalar };
std::atomic<int> g_kernel{kAuto};

bool UseAvx512() {
#if defined(__x86_64__)
  const int k = g_kernel.load();
  return k != kScalar && GetCpuFeatures().avx512f;
#else
  return false;
#endif
}

template <typename M>
void AdamRun(float* p, const float* g, M* m, M* v, int64_t n, const AdamCoef& c) {
  const bool avx512 = UseAvx512();
  // Elementwise: each element's result is the same whichever chunk or thread computes it.
  ParallelFor(n, 16384, [&](int64_t b, int64_t e) {
#if defined(__x86_64__)
    if (avx512) {
      AdamAvx512(p + b, g + b, m + b, v + b, e - b, c);
      return;
    }
#endif
    AdamScalar(p + b, g + b, m + b, v + b, e - b, c);
  });
}

// A typed array of the given kind with at least `need` elements, or null after a thrown error.
template <typename T>
T* Typed(Args& a, size_t i, const char* name, napi_typedarray_type type, const char* kind, int64_t need) {
  if (!a.ok) return nullptr;
  if (!a.info[i].IsTypedArray() || a.info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    a.Fail(std::string(name) + " must be a " + kind);
    return nullptr;
  }
  auto arr = a.info[i].As<Napi::TypedArrayOf<T>>();
  if (static_cast<int64_t>(arr.ElementLength()) < need) {
    a.Fail(std::string(name) + " has " + std::to_string(arr.ElementLength()) + " elements, needs " +
           std::to_string(need));
    return nullptr;
  }
  return arr.Data();
}

// A finite number within [lo, hi] (or [lo, hi) when `openHi`).
double Finite(Args& a, size_t i, const char* name, double lo, double hi, bool openHi, const char* range) {
  double x = a.Num(i, name);
  if (!a.ok) return 0;
  if (!std::isfinite(x) || x < lo || x > hi || (openHi && x == hi)) {
    char got[32];
    std::snprintf(got, sizeof got, "%.17g", x);
    a.Fail(std::string(name) + " must be " + range + ", got " + got);
    return 0;
  }
  return x;
}

Napi::Value AdamwStepNapi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "adamwStep", 12);
  const int64_t n = a.Int(4, "n");
  const int64_t step = a.Int(5, "step");
  if (a.ok && step < 1) a.Fail("step must be an integer >= 1 (the update's count, for bias correction)");
  const double inf = INFINITY;
  const double lr = Finite(a, 6, "lr", 0, inf, false, "a finite number >= 0");
  const double beta1 = Finite(a, 7, "beta1", 0, 1, true, "in [0, 1)");
  const double beta2 = Finite(a, 8, "beta2", 0, 1, true, "in [0, 1)");
  const double eps = Finite(a, 9, "eps", 0, inf, false, "a finite number > 0");
  if (a.ok && eps == 0) a.Fail("eps must be a finite number > 0, got 0");
  const double wd = Finite(a, 10, "weightDecay", 0, inf, false, "a finite number >= 0");
  const double gscale = Finite(a, 11, "gradScale", 0, inf, false, "a finite number >= 0");
  float* p = a.F32(0, "p", n);
  const float* g = a.F32(1, "g", n);
  if (!a.ok) return env.Undefined();
  const bool bf16 = info[2].IsTypedArray() && info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  AdamCoef c;
  const double bc1 = 1.0 - PowInt(beta1, step), bc2 = 1.0 - PowInt(beta2, step);
  c.decay = static_cast<float>(1.0 - lr * wd);
  c.b1 = static_cast<float>(beta1);
  c.omb1 = static_cast<float>(1.0 - beta1);
  c.b2 = static_cast<float>(beta2);
  c.omb2 = static_cast<float>(1.0 - beta2);
  c.neg_step = static_cast<float>(-(lr / bc1));
  c.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  c.eps = static_cast<float>(eps);
  c.gscale = static_cast<float>(gscale);
  if (!std::isfinite(c.neg_step) || c.bc2_sqrt == 0.0f || c.eps == 0.0f) {
    a.Fail("lr / (1 - beta1^step), sqrt(1 - beta2^step) and eps must be finite and non-zero in float32");
    return env.Undefined();
  }
  // m decides the moments' type; v must match it.
  if (bf16) {
    uint16_t* m = Typed<uint16_t>(a, 2, "m", napi_uint16_array, "Uint16Array", n);
    uint16_t* v = Typed<uint16_t>(a, 3, "v", napi_uint16_array, "Uint16Array like m (bfloat16 moments)", n);
    if (!a.ok) return env.Undefined();
    AdamRun(p, g, m, v, n, c);
  } else {
    const char* mkind = "Float32Array (float32 moments) or a Uint16Array (bfloat16 moments)";
    float* m = Typed<float>(a, 2, "m", napi_float32_array, mkind, n);
    float* v = Typed<float>(a, 3, "v", napi_float32_array, "Float32Array like m (float32 moments)", n);
    if (!a.ok) return env.Undefined();
    AdamRun(p, g, m, v, n, c);
  }
  return env.Undefined();
}

Napi::Value AdamwSetKernelNapi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string want = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (want == "auto" || want == "scalar") {
    g_kernel.store(want == "auto" ? kAuto : kScalar);
    return Napi::Boolean::New(env, true);
  }
  if (want == "avx512") {
    if (!GetCpuFeatures().avx512f) return Napi::Boolean::New(env, false);
    g_kernel.store(kAvx512);
    return Napi::Boolean::New(env, true);
  }
  Napi::TypeError::New(env, "adamwSetKernel(name): name must be \"auto\", \"avx512\" or \"scalar\"")
      .ThrowAsJavaScriptException();
  return env.Undefined();
}

// Sum of squares: fixed blocks, each summed into 32 double lanes (element j of a block into lane
// j % 32), lanes folded by halves, blocks added in order. Squares of floats are exact in double,
// so vector and scalar code agree, and the split never depends on the thread count.
constexpr int64_t kSsqBlock = 16384;
constexpr int kSsqLanes = 32;

double FoldLanes(double* lanes) {
  for (int w = kSsqLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; l++) lanes[l] += lanes[l + w];
  return lanes[0];
}

double SsqBlockScalar(const float* x, int64_t n) {
  double lanes[kSsqLanes] = {0};
  for (int64_t j = 0; j < n; j++) {
    const double d = x[j];
    lanes[j % kSsqLanes] += d * d;
  }
  return FoldLanes(lanes);
}

#if defined(__x86_64__)
MOELAB_AVX512 double SsqBlockAvx512(const float* x, int64_t n) {
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
  int64_t j = 0;
  for (; j + kSsqLanes <= n; j += kSsqLanes) {
    for (int k = 0; k < 4; k++) {
      const __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8 * k));
      acc[k] = _mm512_add_pd(acc[k], _mm512_mul_pd(d, d));
    }
  }
  double lanes[kSsqLanes];
  for (int k = 0; k < 4; k++) _mm512_storeu_pd(lanes + 8 * k, acc[k]);
  for (int64_t t = j; t < n; t++) {
    const double d = x[t];
    lanes[t % kSsqLanes] += d * d;
  }
  return FoldLanes(lanes);
}
#endif

Napi::Value SumSquaresNapi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a(info, "sumSquares", 2);
  const int64_t n = a.Int(1, "n");
  const float* x = a.F32(0, "x", n);
  if (!a.ok) return env.Undefined();
  const int64_t nb = (n + kSsqBlock - 1) / kSsqBlock;
  std::vector<double> part(static_cast<size_t>(nb));
  const bool avx512 = UseAvx512();
  ParallelFor(nb, 4, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; k++) {
      const int64_t off = k * kSsqBlock, len = std::min(kSsqBlock, n - off);
#if defined(__x86_64__)
      if (avx512) {
        part[k] = SsqBlockAvx512(x + off, len);
        continue;
      }
#endif
      part[k] = SsqBlockScalar(x + off, len);
    }
  });
  double total = 0;
  for (double s : part) total += s;
  return Napi::Number::New(env, total);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStepNapi, "adamwStep"));
  exports.Set("adamwSetKernel", Napi::Function::New(env, AdamwSetKernelNapi, "adamwSetKernel"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquaresNapi, "sumSquares"));
}

Registrar reg("ops_optim", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
