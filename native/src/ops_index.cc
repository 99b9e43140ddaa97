// Row gather / scatter-add for indexSelect, embedding and their gradients over a contiguous
// [outer, n, inner] layout. Scatter-add splits work by columns, so repeated indices never race
// and sums run in a fixed order (results do not depend on the thread count).
#include <algorithm>
#include <cstring>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

__attribute__((target_clones("avx512f", "avx2", "default"))) static void AddRow(float* d, const float* s,
                                                                                int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] += s[i];
}

static bool CheckIdx(Args& g, const int32_t* idx, int64_t m, int64_t n) {
  for (int64_t j = 0; j < m; j++)
    if (idx[j] < 0 || idx[j] >= n) {
      g.Fail("index " + std::to_string(idx[j]) + " at position " + std::to_string(j) + " is out of range for size " +
             std::to_string(n));
      return false;
    }
  return true;
}

// out[o, j, :] = x[o, idx[j], :]
Napi::Value GatherRowsNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsGatherRows", 7);
  int64_t outer = g.Int(3, "outer"), n = g.Int(4, "n"), m = g.Int(5, "m"), inner = g.Int(6, "inner");
  float* x = g.F32(0, "x", g.Size({outer, n, inner}, "outer x n x inner"));
  int32_t* idx = g.I32(1, "index", m);
  const int64_t total = g.Size({outer, m, inner}, "outer x m x inner");
  float* o = g.F32(2, "out", total);
  if (!g.ok || !CheckIdx(g, idx, m, n) || total == 0) return info.Env().Undefined();
  ParallelFor(outer * m, Grain(inner), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; w++) {
      int64_t oo = w / m, j = w % m;
      std::memcpy(o + w * inner, x + (oo * n + idx[j]) * inner, sizeof(float) * inner);
    }
  });
  return info.Env().Undefined();
}

// out[o, idx[j], :] += src[o, j, :]
Napi::Value ScatterAddRowsNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsScatterAddRows", 7);
  int64_t outer = g.Int(3, "outer"), n = g.Int(4, "n"), m = g.Int(5, "m"), inner = g.Int(6, "inner");
  const int64_t total = g.Size({outer, m, inner}, "outer x m x inner");
  float* src = g.F32(0, "src", total);
  int32_t* idx = g.I32(1, "index", m);
  float* o = g.F32(2, "out", g.Size({outer, n, inner}, "outer x n x inner"));
  if (!g.ok || !CheckIdx(g, idx, m, n) || total == 0) return info.Env().Undefined();
  const int64_t block = 256;
  int64_t nb = (inner + block - 1) / block;
  ParallelFor(outer * nb, std::max<int64_t>(1, Grain(m * std::min(inner, block))), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; w++) {
      int64_t oo = w / nb, c0 = (w % nb) * block, len = std::min(block, inner - c0);
      for (int64_t j = 0; j < m; j++)
        AddRow(o + (oo * n + idx[j]) * inner + c0, src + (oo * m + j) * inner + c0, len);
    }
  });
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("opsGatherRows", Napi::Function::New(env, GatherRowsNapi, "opsGatherRows"));
  exports.Set("opsScatterAddRows", Napi::Function::New(env, ScatterAddRowsNapi, "opsScatterAddRows"));
}

Registrar reg("ops_index", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
