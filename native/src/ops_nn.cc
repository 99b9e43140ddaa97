// Fused row kernels for lib/tensor/ops/nn.ts: softmax / logSoftmax and their gradients,
// cross-entropy, RMSNorm forward/backward, rotary embedding, SwiGLU. Rows are independent and
// each is computed by one thread in a fixed order (results do not depend on the thread count).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

#define MOELAB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

MOELAB_CLONES static float RowMax(const float* x, int64_t n) {
  float lanes[16];
  for (int l = 0; l < 16; l++) lanes[l] = -INFINITY;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] = x[j + l] > lanes[l] ? x[j + l] : lanes[l];
  float m = -INFINITY;
  for (int l = 0; l < 16; l++) m = lanes[l] > m ? lanes[l] : m;
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

// out[j] = exp(x[j] - m); returns the sum (16 lanes).
MOELAB_CLONES static float ExpShiftSum(const float* x, float* out, int64_t n, float m) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) {
      float e = ExpF(x[j + l] - m);
      out[j + l] = e;
      lanes[l] += e;
    }
  float s = 0;
  for (int l = 0; l < 16; l++) s += lanes[l];
  for (; j < n; j++) {
    float e = ExpF(x[j] - m);
    out[j] = e;
    s += e;
  }
  return s;
}

MOELAB_CLONES static float Dot(const float* a, const float* b, int64_t n) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] += a[j + l] * b[j + l];
  float s = 0;
  for (int l = 0; l < 16; l++) s += lanes[l];
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}

MOELAB_CLONES static float SumOf(const float* a, int64_t n) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] += a[j + l];
  float s = 0;
  for (int l = 0; l < 16; l++) s += lanes[l];
  for (; j < n; j++) s += a[j];
  return s;
}

MOELAB_CLONES static void Scale(float* o, int64_t n, float s) {
  for (int64_t j = 0; j < n; j++) o[j] *= s;
}

MOELAB_CLONES static void SubConst(const float* x, float* o, int64_t n, float c) {
  for (int64_t j = 0; j < n; j++) o[j] = x[j] - c;
}

// Softmax (or log-softmax) of one row; out may alias x.
MOELAB_CLONES static void SoftmaxRow(const float* x, float* out, int64_t n, bool log) {
  float m = RowMax(x, n);
  if (m == -INFINITY) m = 0.0f;  // an all -inf row gives NaN below, as PyTorch does
  if (log) {
    // Sum without overwriting x first (out may alias x).
    float lanes[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
      for (int l = 0; l < 16; l++) lanes[l] += ExpF(x[j + l] - m);
    float s = 0;
    for (int l = 0; l < 16; l++) s += lanes[l];
    for (; j < n; j++) s += ExpF(x[j] - m);
    SubConst(x, out, n, m + std::log(s));
  } else {
    float s = ExpShiftSum(x, out, n, m);
    Scale(out, n, 1.0f / s);
  }
}

MOELAB_CLONES static void SoftmaxGradRow(const float* y, const float* g, float* o, int64_t n, bool log) {
  if (log) {
    float s = SumOf(g, n);
    for (int64_t j = 0; j < n; j++) o[j] = g[j] - ExpF(y[j]) * s;
  } else {
    float s = Dot(g, y, n);
    for (int64_t j = 0; j < n; j++) o[j] = y[j] * (g[j] - s);
  }
}

Napi::Value SoftmaxNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsSoftmax", 5);
  int64_t rows = g.Int(2, "rows"), cols = g.Int(3, "cols");
  bool log = g.Bool(4, "log");
  const int64_t n = g.Size({rows, cols}, "rows x cols");
  float* x = g.F32(0, "x", n);
  float* o = g.F32(1, "out", n);
  if (!g.ok || n == 0) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) SoftmaxRow(x + r * cols, o + r * cols, cols, log);
  });
  return info.Env().Undefined();
}

Napi::Value SoftmaxGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsSoftmaxGrad", 6);
  int64_t rows = g.Int(3, "rows"), cols = g.Int(4, "cols");
  bool log = g.Bool(5, "log");
  const int64_t n = g.Size({rows, cols}, "rows x cols");
  float* y = g.F32(0, "y", n);
  float* gr = g.F32(1, "g", n);
  float* o = g.F32(2, "out", n);
  if (!g.ok || n == 0) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) SoftmaxGradRow(y + r * cols, gr + r * cols, o + r * cols, cols, log);
  });
  return info.Env().Undefined();
}

// Validates targets: each is ignoreIndex or in [0, cols).
static bool CheckTargets(Args& g, const int32_t* t, int64_t rows, int64_t cols, int64_t ignore) {
  for (int64_t r = 0; r < rows; r++)
    if (t[r] != ignore && (t[r] < 0 || t[r] >= cols)) {
      g.Fail("target " + std::to_string(t[r]) + " at row " + std::to_string(r) + " is out of range for " +
             std::to_string(cols) + " classes");
      return false;
    }
  return true;
}

// log(sum(exp(x))) of one row, stably.
MOELAB_CLONES static float LogSumExpRow(const float* x, int64_t n) {
  float m = RowMax(x, n);
  if (m == -INFINITY) return m;
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] += ExpF(x[j + l] - m);
  float s = 0;
  for (int l = 0; l < 16; l++) s += lanes[l];
  for (; j < n; j++) s += ExpF(x[j] - m);
  return m + std::log(s);
}

Napi::Value CrossEntropyNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsCrossEntropy", 7);
  int64_t rows = g.Int(4, "rows"), cols = g.Int(5, "cols"), ignore = g.Int(6, "ignoreIndex", true);
  float* x = g.F32(0, "logits", g.Size({rows, cols}, "rows x cols"));
  int32_t* t = g.I32(1, "targets", rows);
  float* loss = g.F32(2, "losses", rows);
  float* lse = g.F32(3, "lse", rows);
  if (!g.ok || !CheckTargets(g, t, rows, cols, ignore)) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const float* xr = x + r * cols;
      float l = LogSumExpRow(xr, cols);
      lse[r] = l;
      loss[r] = t[r] == ignore ? 0.0f : l - xr[t[r]];
    }
  });
  return info.Env().Undefined();
}

MOELAB_CLONES static void CeGradRow(const float* x, float* o, int64_t n, float l, float s) {
  for (int64_t j = 0; j < n; j++) o[j] = ExpF(x[j] - l) * s;
}

Napi::Value CrossEntropyGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsCrossEntropyGrad", 8);
  int64_t rows = g.Int(5, "rows"), cols = g.Int(6, "cols"), ignore = g.Int(7, "ignoreIndex", true);
  const int64_t n = g.Size({rows, cols}, "rows x cols");
  float* x = g.F32(0, "logits", n);
  int32_t* t = g.I32(1, "targets", rows);
  float* lse = g.F32(2, "lse", rows);
  float* scale = g.F32(3, "scale", rows);
  float* o = g.F32(4, "out", n);
  if (!g.ok || !CheckTargets(g, t, rows, cols, ignore)) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      float* orow = o + r * cols;
      if (t[r] == ignore) {
        std::fill(orow, orow + cols, 0.0f);
        continue;
      }
      CeGradRow(x + r * cols, orow, cols, lse[r], scale[r]);
      orow[t[r]] -= scale[r];
    }
  });
  return info.Env().Undefined();
}

MOELAB_CLONES static void MulScaleW(const float* x, const float* w, float* o, int64_t n, float s) {
  for (int64_t j = 0; j < n; j++) o[j] = x[j] * s * w[j];
}

Napi::Value RmsNormNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsRmsNorm", 7);
  int64_t rows = g.Int(4, "rows"), cols = g.Int(5, "cols");
  float eps = static_cast<float>(g.Num(6, "eps"));
  const int64_t n = g.Size({rows, cols}, "rows x cols");
  float* x = g.F32(0, "x", n);
  float* w = g.F32(1, "weight", cols);
  float* o = g.F32(2, "out", n);
  float* rstd = g.F32(3, "rstd", rows);
  if (!g.ok) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const float* xr = x + r * cols;
      float rs = 1.0f / std::sqrt(Dot(xr, xr, cols) / static_cast<float>(cols) + eps);
      rstd[r] = rs;
      MulScaleW(xr, w, o + r * cols, cols, rs);
    }
  });
  return info.Env().Undefined();
}

MOELAB_CLONES static void RmsDxRow(const float* x, const float* w, const float* gr, float* dx, int64_t n, float rs) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] += gr[j + l] * w[j + l] * x[j + l];
  float dot = 0;
  for (int l = 0; l < 16; l++) dot += lanes[l];
  for (; j < n; j++) dot += gr[j] * w[j] * x[j];
  float c = dot * rs * rs / static_cast<float>(n);
  for (int64_t k = 0; k < n; k++) dx[k] = rs * (gr[k] * w[k] - x[k] * c);
}

MOELAB_CLONES static void RmsDwAccum(const float* x, const float* gr, float* dw, int64_t n, float rs) {
  for (int64_t j = 0; j < n; j++) dw[j] += gr[j] * x[j] * rs;
}

Napi::Value RmsNormGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsRmsNormGrad", 8);
  int64_t rows = g.Int(6, "rows"), cols = g.Int(7, "cols");
  const int64_t n = g.Size({rows, cols}, "rows x cols");
  float* x = g.F32(0, "x", n);
  float* w = g.F32(1, "weight", cols);
  float* rstd = g.F32(2, "rstd", rows);
  float* gr = g.F32(3, "g", n);
  float* dx = g.F32(4, "dx", n);
  float* dw = g.F32(5, "dw", cols);
  if (!g.ok) return info.Env().Undefined();
  ParallelFor(rows, Grain(cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) RmsDxRow(x + r * cols, w, gr + r * cols, dx + r * cols, cols, rstd[r]);
  });
  // dw sums over rows: split by column blocks so each dw[j] has one owner and a fixed order.
  const int64_t block = 256;
  int64_t nb = (cols + block - 1) / block;
  ParallelFor(nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; k++) {
      int64_t c0 = k * block, n = std::min(block, cols - c0);
      float* d = dw + c0;
      std::fill(d, d + n, 0.0f);
      for (int64_t r = 0; r < rows; r++) RmsDwAccum(x + r * cols + c0, gr + r * cols + c0, d, n, rstd[r]);
    }
  });
  return info.Env().Undefined();
}

MOELAB_CLONES static void RopeRow(const float* xr, const float* cr, const float* sr, float* orow, int64_t half,
                                  float sg) {
  for (int64_t i = 0; i < half; i++) {
    float x0 = xr[2 * i], x1 = xr[2 * i + 1], cc = cr[i], ss = sg * sr[i];
    orow[2 * i] = x0 * cc - x1 * ss;
    orow[2 * i + 1] = x0 * ss + x1 * cc;
  }
}

Napi::Value RopeNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsRope", 9);
  int64_t outer = g.Int(4, "outer"), T = g.Int(5, "t"), H = g.Int(6, "h"), D = g.Int(7, "d");
  bool inverse = g.Bool(8, "inverse");
  if (g.ok && D % 2 != 0) g.Fail("d must be even");
  const int64_t n = g.Size({outer, T, H, D}, "outer x t x h x d");
  const int64_t table = g.Size({T, D / 2}, "t x d/2");
  float* x = g.F32(0, "x", n);
  float* c = g.F32(1, "cos", table);
  float* s = g.F32(2, "sin", table);
  float* o = g.F32(3, "out", n);
  if (!g.ok || n == 0) return info.Env().Undefined();
  const float sg = inverse ? -1.0f : 1.0f;
  const int64_t half = D / 2;
  ParallelFor(outer * T * H, Grain(D), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; row++) {
      int64_t t = (row / H) % T;
      RopeRow(x + row * D, c + t * half, s + t * half, o + row * D, half, sg);
    }
  });
  return info.Env().Undefined();
}

MOELAB_CLONES static void SwigluRun(const float* a, const float* b, float* o, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = a[i] / (1.0f + ExpF(-a[i])) * b[i];
}

MOELAB_CLONES static void SwigluGradRun(const float* a, const float* b, const float* g, float* da, float* db,
                                        int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float s = 1.0f / (1.0f + ExpF(-a[i]));
    db[i] = g[i] * a[i] * s;
    da[i] = g[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
  }
}

Napi::Value SwigluNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsSwiglu", 4);
  int64_t n = g.Int(3, "n");
  float* a = g.F32(0, "a", n);
  float* b = g.F32(1, "b", n);
  float* o = g.F32(2, "out", n);
  if (!g.ok) return info.Env().Undefined();
  ParallelFor(n, 32768, [&](int64_t s, int64_t e) { SwigluRun(a + s, b + s, o + s, e - s); });
  return info.Env().Undefined();
}

Napi::Value SwigluGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "opsSwigluGrad", 6);
  int64_t n = g.Int(5, "n");
  float* a = g.F32(0, "a", n);
  float* b = g.F32(1, "b", n);
  float* gr = g.F32(2, "g", n);
  float* da = g.F32(3, "da", n);
  float* db = g.F32(4, "db", n);
  if (!g.ok) return info.Env().Undefined();
  ParallelFor(n, 32768, [&](int64_t s, int64_t e) { SwigluGradRun(a + s, b + s, gr + s, da + s, db + s, e - s); });
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("opsSoftmax", Napi::Function::New(env, SoftmaxNapi, "opsSoftmax"));
  exports.Set("opsSoftmaxGrad", Napi::Function::New(env, SoftmaxGradNapi, "opsSoftmaxGrad"));
  exports.Set("opsCrossEntropy", Napi::Function::New(env, CrossEntropyNapi, "opsCrossEntropy"));
  exports.Set("opsCrossEntropyGrad", Napi::Function::New(env, CrossEntropyGradNapi, "opsCrossEntropyGrad"));
  exports.Set("opsRmsNorm", Napi::Function::New(env, RmsNormNapi, "opsRmsNorm"));
  exports.Set("opsRmsNormGrad", Napi::Function::New(env, RmsNormGradNapi, "opsRmsNormGrad"));
  exports.Set("opsRope", Napi::Function::New(env, RopeNapi, "opsRope"));
  exports.Set("opsSwiglu", Napi::Function::New(env, SwigluNapi, "opsSwiglu"));
  exports.Set("opsSwigluGrad", Napi::Function::New(env, SwigluGradNapi, "opsSwigluGrad"));
}

Registrar reg("ops_nn", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
