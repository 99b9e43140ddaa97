// Elementwise kernels: strided 2-D binary ops (broadcasting is strides of 0), unary math and
// its gradients. Op codes match lib/tensor/ops/elementwise.ts.
#include <algorithm>
#include <cmath>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

enum BinOp { kAdd = 0, kSub, kMul, kDiv, kPow, kMax, kMin };

template <int OP>
static inline float Bin(float a, float b) {
  if (OP == kAdd) return a + b;
  if (OP == kSub) return a - b;
  if (OP == kMul) return a * b;
  if (OP == kDiv) return a / b;
  if (OP == kPow) return std::pow(a, b);
  if (OP == kMax) return (a > b || a != a) ? a : b;
  return (a < b || a != a) ? a : b;
}

// One contiguous run of the output: n elements starting at a, b with inner strides sa, sb.
template <int OP>
__attribute__((target_clones("avx512f", "avx2", "default"))) static void Run(const float* a, int64_t sa,
                                                                             const float* b, int64_t sb, float* o,
                                                                             int64_t n) {
  if (sa == 1 && sb == 1)
    for (int64_t i = 0; i < n; i++) o[i] = Bin<OP>(a[i], b[i]);
  else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = Bin<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) o[i] = Bin<OP>(av, b[i]);
  } else
    for (int64_t i = 0; i < n; i++) o[i] = Bin<OP>(a[i * sa], b[i * sb]);
}

template <int OP>
static void Binary2d(const float* a, int64_t aso, int64_t asi, const float* b, int64_t bso, int64_t bsi, float* o,
                     int64_t outer, int64_t inner) {
  int64_t total = outer * inner;
  ParallelFor(total, 32768, [&](int64_t begin, int64_t end) {
    int64_t p = begin;
    while (p < end) {
      int64_t r = p / inner, c = p % inner;
      int64_t n = std::min(inner - c, end - p);
      Run<OP>(a + r * aso + c * asi, asi, b + r * bso + c * bsi, bsi, o + p, n);
      p += n;
    }
  });
}

// Largest element index a strided 2-D walk touches, plus one (checked: hostile strides fail).
static int64_t Extent(Args& g, const char* name, int64_t off, int64_t so, int64_t si, int64_t outer,
                      int64_t inner) {
  if (!g.ok || outer == 0 || inner == 0) return 0;
  const std::string what = std::string(name) + "'s extent (offset + (outer-1) x outer stride + (inner-1) x inner stride)";
  int64_t e = g.Add(g.Size({outer - 1, so}, what.c_str()), g.Size({inner - 1, si}, what.c_str()), what.c_str());
  return g.Add(g.Add(e, off, what.c_str()), 1, what.c_str());
}

Napi::Value Binary2dNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsBinary2d", 13);
  int64_t op = g.Int(0, "op");
  int64_t aOff = g.Int(2, "aOff"), aso = g.Int(3, "aso"), asi = g.Int(4, "asi");
  int64_t bOff = g.Int(6, "bOff"), bso = g.Int(7, "bso"), bsi = g.Int(8, "bsi");
  int64_t oOff = g.Int(10, "outOff"), outer = g.Int(11, "outer"), inner = g.Int(12, "inner");
  float* a = g.F32(1, "a", Extent(g, "a", aOff, aso, asi, outer, inner));
  float* b = g.F32(5, "b", Extent(g, "b", bOff, bso, bsi, outer, inner));
  const int64_t total = g.Size({outer, inner}, "outer x inner");
  float* o = g.F32(9, "out", g.Add(oOff, total, "outOff + outer x inner"));
  if (!g.ok) return info.Env().Undefined();
  if (total == 0) {
    if (op > kMin) g.Fail("unknown op " + std::to_string(op));
    return info.Env().Undefined();
  }
  a += aOff;
  b += bOff;
  o += oOff;
  switch (op) {
    case kAdd: Binary2d<kAdd>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kSub: Binary2d<kSub>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kMul: Binary2d<kMul>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kDiv: Binary2d<kDiv>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kPow: Binary2d<kPow>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kMax: Binary2d<kMax>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    case kMin: Binary2d<kMin>(a, aso, asi, b, bso, bsi, o, outer, inner); break;
    default: g.Fail("unknown op " + std::to_string(op));
  }
  return info.Env().Undefined();
}

enum UnOp { kNeg = 0, kExp, kLog, kSqrt, kRsqrt, kAbs, kSigmoid, kSilu, kTanh, kRelu, kClamp, kPowS };

template <int OP>
static inline float Un(float x, float p0, float p1) {
  if (OP == kNeg) return -x;
  if (OP == kExp) return ExpF(x);
  if (OP == kLog) return std::log(x);
  if (OP == kSqrt) return std::sqrt(x);
  if (OP == kRsqrt) return 1.0f / std::sqrt(x);
  if (OP == kAbs) return std::fabs(x);
  if (OP == kSigmoid) return 1.0f / (1.0f + ExpF(-x));
  if (OP == kSilu) return x / (1.0f + ExpF(-x));
  if (OP == kTanh) return std::tanh(x);
  if (OP == kRelu) return x > 0.0f ? x : 0.0f;
  if (OP == kClamp) return x < p0 ? p0 : (x > p1 ? p1 : x);
  return std::pow(x, p0);
}

template <int OP>
__attribute__((target_clones("avx512f", "avx2", "default"))) static void UnRun(const float* x, float* o, int64_t n,
                                                                               float p0, float p1) {
  for (int64_t i = 0; i < n; i++) o[i] = Un<OP>(x[i], p0, p1);
}

template <int OP>
static inline float UnG(float x, float y, float g, float p0, float p1) {
  if (OP == kNeg) return -g;
  if (OP == kExp) return g * y;
  if (OP == kLog) return g / x;
  if (OP == kSqrt) return 0.5f * g / y;
  if (OP == kRsqrt) return -0.5f * g * y * y * y;
  if (OP == kAbs) return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f);
  if (OP == kSigmoid) return g * y * (1.0f - y);
  if (OP == kSilu) {
    float s = 1.0f / (1.0f + ExpF(-x));
    return g * s * (1.0f + x * (1.0f - s));
  }
  if (OP == kTanh) return g * (1.0f - y * y);
  if (OP == kRelu) return x > 0.0f ? g : 0.0f;
  if (OP == kClamp) return (x >= p0 && x <= p1) ? g : 0.0f;
  return p0 == 0.0f ? 0.0f : g * p0 * std::pow(x, p0 - 1.0f);
}

template <int OP>
__attribute__((target_clones("avx512f", "avx2", "default"))) static void UnGRun(const float* x, const float* y,
                                                                                const float* g, float* o, int64_t n,
                                                                                float p0, float p1) {
  for (int64_t i = 0; i < n; i++) o[i] = UnG<OP>(x[i], y[i], g[i], p0, p1);
}

template <int OP>
static void UnaryPar(const float* x, float* o, int64_t n, float p0, float p1) {
  ParallelFor(n, 32768, [&](int64_t b, int64_t e) { UnRun<OP>(x + b, o + b, e - b, p0, p1); });
}
template <int OP>
static void UnaryGradPar(const float* x, const float* y, const float* g, float* o, int64_t n, float p0, float p1) {
  ParallelFor(n, 32768, [&](int64_t b, int64_t e) { UnGRun<OP>(x + b, y + b, g + b, o + b, e - b, p0, p1); });
}

#define MOELAB_UNARY_CASES(FN, ...)                      \
  switch (op) {                                          \
    case kNeg: FN<kNeg>(__VA_ARGS__); break;             \
    case kExp: FN<kExp>(__VA_ARGS__); break;             \
    case kLog: FN<kLog>(__VA_ARGS__); break;             \
    case kSqrt: FN<kSqrt>(__VA_ARGS__); break;           \
    case kRsqrt: FN<kRsqrt>(__VA_ARGS__); break;         \
    case kAbs: FN<kAbs>(__VA_ARGS__); break;             \
    case kSigmoid: FN<kSigmoid>(__VA_ARGS__); break;     \
    case kSilu: FN<kSilu>(__VA_ARGS__); break;           \
    case kTanh: FN<kTanh>(__VA_ARGS__); break;           \
    case kRelu: FN<kRelu>(__VA_ARGS__); break;           \
    case kClamp: FN<kClamp>(__VA_ARGS__); break;         \
    case kPowS: FN<kPowS>(__VA_ARGS__); break;           \
    default: g.Fail("unknown op " + std::to_string(op)); \
  }

Napi::Value UnaryNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsUnary", 6);
  int64_t op = g.Int(0, "op");
  int64_t n = g.Int(3, "n");
  float* x = g.F32(1, "x", n);
  float* o = g.F32(2, "out", n);
  float p0 = static_cast<float>(g.Num(4, "p0")), p1 = static_cast<float>(g.Num(5, "p1"));
  if (!g.ok) return info.Env().Undefined();
  MOELAB_UNARY_CASES(UnaryPar, x, o, n, p0, p1)
  return info.Env().Undefined();
}

Napi::Value UnaryGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsUnaryGrad", 8);
  int64_t op = g.Int(0, "op");
  int64_t n = g.Int(5, "n");
  float* x = g.F32(1, "x", n);
  float* y = g.F32(2, "y", n);
  float* gr = g.F32(3, "g", n);
  float* o = g.F32(4, "out", n);
  float p0 = static_cast<float>(g.Num(6, "p0")), p1 = static_cast<float>(g.Num(7, "p1"));
  if (!g.ok) return info.Env().Undefined();
  MOELAB_UNARY_CASES(UnaryGradPar, x, y, gr, o, n, p0, p1)
  return info.Env().Undefined();
}

// ---- N-D strided binary ops and copies ---------------------------------------------------------
// out = a OP b over a shape of up to 8 dims, each operand with its own element strides (0 on a
// broadcast dim), the output strided too (an in-place update of a slice passes out = a). One
// call walks the whole index space, so a permuted copy or a slice's update is not thousands of
// tiny 2-D blocks, each a call from JS. kCopy (7) copies a and ignores b.
constexpr int kMaxNd = 8;
constexpr int kCopy = 7;

template <int OP>
static void RowNd(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t so, int64_t n) {
  if (OP == kCopy) {
    if (so == 1 && sa == 1)
      std::copy(a, a + n, o);
    else
      for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa];
    return;
  }
  if (so == 1) {
    Run<OP == kCopy ? kAdd : OP>(a, sa, b, sb, o, n);
    return;
  }
  for (int64_t i = 0; i < n; i++) o[i * so] = Bin<OP == kCopy ? kAdd : OP>(a[i * sa], b[i * sb]);
}

template <int OP>
static void BinaryNd(int nd, const int64_t* shape, const float* a, const int64_t* as, const float* b,
                     const int64_t* bs, float* o, const int64_t* os) {
  const int64_t inner = shape[nd - 1];
  int64_t rows = 1;
  for (int d = 0; d < nd - 1; d++) rows *= shape[d];
  ParallelFor(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    int64_t idx[kMaxNd] = {};
    int64_t pa = 0, pb = 0, po = 0;
    for (int64_t r = r0, d = nd - 2; d >= 0; d--) {
      idx[d] = r % shape[d];
      r /= shape[d];
      pa += idx[d] * as[d];
      pb += idx[d] * bs[d];
      po += idx[d] * os[d];
    }
    for (int64_t r = r0; r < r1; r++) {
      RowNd<OP>(a + pa, as[nd - 1], b + pb, bs[nd - 1], o + po, os[nd - 1], inner);
      for (int d = nd - 2; d >= 0; d--) {
        pa += as[d];
        pb += bs[d];
        po += os[d];
        if (++idx[d] < shape[d]) break;
        pa -= as[d] * shape[d];
        pb -= bs[d] * shape[d];
        po -= os[d] * shape[d];
        idx[d] = 0;
      }
    }
  });
}

// Largest element index an N-D strided walk touches, plus one (0 for an empty shape).
static int64_t ExtentNd(Args& g, const char* name, int64_t off, int nd, const int64_t* shape, const int64_t* st) {
  int64_t e = off;
  for (int d = 0; d < nd && g.ok; d++) {
    if (shape[d] == 0) return 0;
    e = g.Add(e, g.Size({shape[d] - 1, st[d]}, (std::string(name) + "'s extent").c_str()), name);
  }
  return g.Add(e, 1, name);
}

Napi::Value BinaryNdNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsBinaryNd", 12);
  const int64_t op = g.Int(0, "op");
  const int64_t nd = g.Int(1, "nd");
  if (g.ok && (nd < 1 || nd > kMaxNd)) g.Fail("nd must be in [1, " + std::to_string(kMaxNd) + "], got " + std::to_string(nd));
  const int32_t* sh32 = g.I32(2, "shape", nd);
  const int64_t aOff = g.Int(4, "aOff"), bOff = g.Int(7, "bOff"), oOff = g.Int(10, "outOff");
  const int32_t* as32 = g.I32(5, "aStrides", nd);
  const int32_t* bs32 = g.I32(8, "bStrides", nd);
  const int32_t* os32 = g.I32(11, "outStrides", nd);
  if (!g.ok) return info.Env().Undefined();
  int64_t shape[kMaxNd], as[kMaxNd], bs[kMaxNd], os[kMaxNd];
  for (int d = 0; d < nd; d++) {
    shape[d] = sh32[d];
    as[d] = as32[d];
    bs[d] = bs32[d];
    os[d] = os32[d];
    if (shape[d] < 0 || as[d] < 0 || bs[d] < 0 || os[d] < 0) {
      g.Fail("shape and strides must be non-negative (dim " + std::to_string(d) + ")");
      return info.Env().Undefined();
    }
  }
  const int n = static_cast<int>(nd);
  const bool copy = op == kCopy;
  float* a = g.F32(3, "a", ExtentNd(g, "a", aOff, n, shape, as));
  float* b = copy ? nullptr : g.F32(6, "b", ExtentNd(g, "b", bOff, n, shape, bs));
  const int64_t oExtent = ExtentNd(g, "out", oOff, n, shape, os);
  float* o = g.F32(9, "out", oExtent);
  if (!g.ok) return info.Env().Undefined();
  // Every output element is its own: a shape of more elements than the output spans overlaps
  // itself (and, with strides of 0, could ask for an endless walk).
  int64_t total = 1;
  for (int d = 0; d < n && total > 0; d++) total = g.Size({total, shape[d]}, "the shape's elements");
  if (g.ok && total > oExtent - oOff) g.Fail("the shape has " + std::to_string(total) + " elements but out spans only " + std::to_string(oExtent - oOff));
  if (!g.ok) return info.Env().Undefined();
  for (int d = 0; d < n; d++)
    if (shape[d] == 0) {
      if ((op < kAdd || op > kMin) && !copy) g.Fail("unknown op " + std::to_string(op));
      return info.Env().Undefined();
    }
  a += aOff;
  o += oOff;
  if (!copy) b += bOff;
  switch (op) {
    case kAdd: BinaryNd<kAdd>(n, shape, a, as, b, bs, o, os); break;
    case kSub: BinaryNd<kSub>(n, shape, a, as, b, bs, o, os); break;
    case kMul: BinaryNd<kMul>(n, shape, a, as, b, bs, o, os); break;
    case kDiv: BinaryNd<kDiv>(n, shape, a, as, b, bs, o, os); break;
    case kPow: BinaryNd<kPow>(n, shape, a, as, b, bs, o, os); break;
    case kMax: BinaryNd<kMax>(n, shape, a, as, b, bs, o, os); break;
    case kMin: BinaryNd<kMin>(n, shape, a, as, b, bs, o, os); break;
    case kCopy: BinaryNd<kCopy>(n, shape, a, as, a, as, o, os); break;
    default: g.Fail("unknown op " + std::to_string(op));
  }
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("opsBinary2d", Napi::Function::New(env, Binary2dNapi, "opsBinary2d"));
  exports.Set("opsBinaryNd", Napi::Function::New(env, BinaryNdNapi, "opsBinaryNd"));
  exports.Set("opsUnary", Napi::Function::New(env, UnaryNapi, "opsUnary"));
  exports.Set("opsUnaryGrad", Napi::Function::New(env, UnaryGradNapi, "opsUnaryGrad"));
}

Registrar reg("ops_elementwise", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
