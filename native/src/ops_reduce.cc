// Reductions over the middle axis of a contiguous [outer, r, inner] layout (sum / max / min,
// argmax / argmin). Each output element is reduced by one thread in a fixed order, so results do
// not depend on the thread count.
#include <algorithm>
#include <cstdint>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

enum RedOp { kSum = 0, kMax, kMin };

template <int OP>
static inline float Acc(float acc, float v) {
  if (OP == kSum) return acc + v;
  if (OP == kMax) return (v > acc || v != v) ? v : acc;
  return (v < acc || v != v) ? v : acc;
}

// One row (inner == 1): 16 lanes so the loop vectorises without reassociation flags.
template <int OP>
__attribute__((target_clones("avx512f", "avx2", "default"))) static float RowReduce(const float* x, int64_t r) {
  if (r < 16) {
    float acc = x[0];
    for (int64_t k = 1; k < r; k++) acc = Acc<OP>(acc, x[k]);
    return acc;
  }
  float lanes[16];
  for (int l = 0; l < 16; l++) lanes[l] = x[l];
  int64_t k = 16;
  for (; k + 16 <= r; k += 16)
    for (int l = 0; l < 16; l++) lanes[l] = Acc<OP>(lanes[l], x[k + l]);
  float acc = lanes[0];
  for (int l = 1; l < 16; l++) acc = Acc<OP>(acc, lanes[l]);
  for (; k < r; k++) acc = Acc<OP>(acc, x[k]);
  return acc;
}

template <int OP>
__attribute__((target_clones("avx512f", "avx2", "default"))) static void ColAccum(float* o, const float* x,
                                                                                  int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = Acc<OP>(o[i], x[i]);
}

template <int OP>
static void Reduce(const float* x, float* o, int64_t outer, int64_t r, int64_t inner) {
  if (inner == 1) {
    ParallelFor(outer, Grain(r), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) o[i] = RowReduce<OP>(x + i * r, r);
    });
    return;
  }
  // Split outer x inner-blocks of 1024 columns.
  const int64_t block = 1024;
  int64_t nb = (inner + block - 1) / block;
  ParallelFor(outer * nb, Grain(r * std::min(inner, block)), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; w++) {
      int64_t o0 = w / nb, c0 = (w % nb) * block;
      int64_t n = std::min(block, inner - c0);
      const float* xs = x + o0 * r * inner + c0;
      float* os = o + o0 * inner + c0;
      std::copy(xs, xs + n, os);
      for (int64_t k = 1; k < r; k++) ColAccum<OP>(os, xs + k * inner, n);
    }
  });
}

Napi::Value ReduceNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsReduce", 6);
  int64_t op = g.Int(0, "op");
  int64_t outer = g.Int(3, "outer"), r = g.Int(4, "r"), inner = g.Int(5, "inner");
  if (g.ok && r < 1) g.Fail("r must be >= 1");
  float* x = g.F32(1, "x", g.Size({outer, r, inner}, "outer x r x inner"));
  const int64_t total = g.Size({outer, inner}, "outer x inner");
  float* o = g.F32(2, "out", total);
  if (!g.ok) return info.Env().Undefined();
  if (total == 0) {
    if (op > kMin) g.Fail("unknown op " + std::to_string(op));
    return info.Env().Undefined();
  }
  switch (op) {
    case kSum: Reduce<kSum>(x, o, outer, r, inner); break;
    case kMax: Reduce<kMax>(x, o, outer, r, inner); break;
    case kMin: Reduce<kMin>(x, o, outer, r, inner); break;
    default: g.Fail("unknown op " + std::to_string(op));
  }
  return info.Env().Undefined();
}

Napi::Value ArgReduceNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsArgReduce", 6);
  int64_t op = g.Int(0, "op");
  int64_t outer = g.Int(3, "outer"), r = g.Int(4, "r"), inner = g.Int(5, "inner");
  if (g.ok && r < 1) g.Fail("r must be >= 1");
  if (g.ok && op > 1) g.Fail("unknown op " + std::to_string(op));
  if (g.ok && r > INT32_MAX) g.Fail("r must be < 2^31 (the indices are int32)");
  float* x = g.F32(1, "x", g.Size({outer, r, inner}, "outer x r x inner"));
  int32_t* o = g.I32(2, "out", g.Size({outer, inner}, "outer x inner"));
  if (!g.ok) return info.Env().Undefined();
  const bool isMax = op == 0;
  ParallelFor(outer * inner, Grain(r), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; w++) {
      int64_t o0 = w / inner, i0 = w % inner;
      const float* p = x + o0 * r * inner + i0;
      float best = p[0];
      int32_t bi = 0;
      for (int64_t k = 1; k < r && best == best; k++) {
        float v = p[k * inner];
        if (isMax ? (v > best || v != v) : (v < best || v != v)) {
          best = v;
          bi = static_cast<int32_t>(k);
        }
      }
      o[w] = bi;
    }
  });
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("opsReduce", Napi::Function::New(env, ReduceNapi, "opsReduce"));
  exports.Set("opsArgReduce", Napi::Function::New(env, ArgReduceNapi, "opsArgReduce"));
}

Registrar reg("ops_reduce", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
