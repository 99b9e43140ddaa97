// Group-limited top-k routing of DeepSeek-V3's gate (lib/nn/moe.ts routeTokens), one token per
// loop iteration: the bias is added for selection only, groups are scored by the sum of their
// top-2 biased scores (with a bias) or their max (without), the best n_limited groups are kept,
// and the top-k experts are chosen by descending score, ties to the lower index.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <cstdint>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

// Rank of each of m values in descending order, ties to the lower index: rank[i] = #{j : v[j] > v[i]
// or (v[j] == v[i] and j < i)}. Branch-free; m is the number of expert groups (small).
static void Ranks(const float* v, int64_t m, int32_t* rank) {
  for (int64_t i = 0; i < m; i++) {
    const float x = v[i];
    int32_t r = 0;
    for (int64_t j = 0; j < m; j++) r += static_cast<int32_t>(v[j] > x || (v[j] == x && j < i));
    rank[i] = r;
  }
}

struct RouteScratch {
  std::vector<float> gs, topv;
  std::vector<int32_t> grank;
  RouteScratch(int64_t G, int64_t k) : gs(G), topv(k), grank(G) {}
};

// One token. `row` receives the biased scores (NaN as -inf, so it ranks below every number;
// dropped groups -inf); idx the top-k experts by descending biased score, ties to the lower
// index, as a stable descending sort orders them.
inline void RouteToken(const float* s, const float* bias, int64_t E, int64_t k, int64_t G, int64_t L,
                       float* row, int32_t* idx, RouteScratch& sc) {
  for (int64_t e = 0; e < E; e++) {
    const float v = bias ? s[e] + bias[e] : s[e];
    row[e] = v != v ? -INFINITY : v;
  }
  if (G > 1) {
    const int64_t per = E / G;
    for (int64_t g = 0; g < G; g++) {
      float m1 = -INFINITY, m2 = -INFINITY;  // the two largest (m2 <= m1), branch-free
      for (int64_t j = g * per; j < (g + 1) * per; j++) {
        const float v = row[j];
        m2 = std::max(m2, std::min(m1, v));
        m1 = std::max(m1, v);
      }
      sc.gs[g] = bias ? m1 + m2 : m1;
      if (sc.gs[g] != sc.gs[g]) sc.gs[g] = -INFINITY;  // -inf + inf in a degenerate row
    }
    Ranks(sc.gs.data(), G, sc.grank.data());
    for (int64_t g = 0; g < G; g++) {
      const bool drop = sc.grank[g] >= L;
      for (int64_t j = g * per; j < (g + 1) * per; j++) row[j] = drop ? -INFINITY : row[j];
    }
  }
  // Top-k: a sorted list of k; an expert enters only when it beats the k-th best, which after the
  // first few is rarely true, so the branch predicts well (a scan per pick mispredicts on every
  // new best). The first k fill the list by a stable insertion.
  float* topv = sc.topv.data();
  int64_t filled = 0;
  for (int64_t e = 0; e < E; e++) {
    const float v = row[e];
    if (filled == k) {
      if (!(v > topv[k - 1])) continue;
      filled--;
    }
    int64_t p = filled;
    while (p > 0 && v > topv[p - 1]) {
      topv[p] = topv[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    topv[p] = v;
    idx[p] = static_cast<int32_t>(e);
    filled++;
  }
}

// moeRoute(scores f32[n*E], bias f32[E] | null, n, E, k, G, L, indices i32[n*k], biased f32[n*E] | null)
// Tokens are independent: they are split over the thread pool. Without `biased`, each chunk
// uses its own scratch row.
Napi::Value RouteNapi(const Napi::CallbackInfo& info) {
  Args g(info, "moeRoute", 9);
  int64_t n = g.Int(2, "n"), E = g.Int(3, "E"), k = g.Int(4, "k"), G = g.Int(5, "groups"),
          L = g.Int(6, "limitedGroups");
  if (g.ok && (E < 1 || k < 1 || k > E || G < 1 || E % G != 0 || L < 1 || L > G ||
               k > L * (E / G)))
    g.Fail("need 1 <= k <= limitedGroups * E / groups, groups dividing E, 1 <= limitedGroups <= groups");
  const int64_t nE = g.Size({n, E}, "n x E");
  float* s = g.F32(0, "scores", nE);
  const bool hasBias = g.ok && !info[1].IsNull() && !info[1].IsUndefined();
  float* bias = hasBias ? g.F32(1, "bias", E) : nullptr;
  int32_t* idx = g.I32(7, "indices", g.Size({n, k}, "n x k"));
  const bool hasRow = g.ok && !info[8].IsNull() && !info[8].IsUndefined();
  float* rows = hasRow ? g.F32(8, "biased", nE) : nullptr;
  if (g.ok && E > INT32_MAX) g.Fail("E must be < 2^31 (expert indices are int32)");
  if (!g.ok || n == 0) return info.Env().Undefined();
  ParallelFor(n, Grain(E * 4), [&](int64_t b, int64_t e) {
    RouteScratch sc(G, k);
    std::vector<float> scratch(hasRow ? 0 : E);
    for (int64_t t = b; t < e; t++)
      RouteToken(s + t * E, bias, E, k, G, L, hasRow ? rows + t * E : scratch.data(), idx + t * k, sc);
  });
  return info.Env().Undefined();
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void AxpyRow(float* o, const float* y,
                                                                                 float w, int64_t n) {
  for (int64_t j = 0; j < n; j++) o[j] += w * y[j];
}

// The MoE combine, gathered per token: out[t, :] = base[t, :] + sum_j w[t*k+j] * ys[inv[t*k+j], :],
// where grouped row p lives in chunk c (starts[c] <= p < starts[c+1]) as row p - starts[c] of
// chunks[c]. Each token's output row is written once, by one thread, in a fixed order.
// moeCombine(out f32[n*D], base f32[n*D], n, k, D, chunks Float32Array[], starts i32[C+1],
//            inv i32[n*k], w f32[n*k])
Napi::Value CombineNapi(const Napi::CallbackInfo& info) {
  Args g(info, "moeCombine", 9);
  int64_t n = g.Int(2, "n"), k = g.Int(3, "k"), D = g.Int(4, "D");
  const int64_t nD = g.Size({n, D}, "n x D"), nk = g.Size({n, k}, "n x k");
  float* out = g.F32(0, "out", nD);
  float* base = g.F32(1, "base", nD);
  if (g.ok && !info[5].IsArray()) g.Fail("chunks must be an array of Float32Array");
  if (!g.ok) return info.Env().Undefined();
  auto arr = info[5].As<Napi::Array>();
  const int64_t C = arr.Length();
  int32_t* starts = g.I32(6, "starts", C + 1);
  int32_t* inv = g.I32(7, "inv", nk);
  float* w = g.F32(8, "w", nk);
  if (!g.ok) return info.Env().Undefined();
  if (starts[0] != 0 || starts[C] != nk) {
    g.Fail("starts must run from 0 to n * k");
    return info.Env().Undefined();
  }
  for (int64_t c = 0; c < C; c++)
    if (starts[c + 1] < starts[c]) {
      g.Fail("starts must not decrease (starts[" + std::to_string(c + 1) + "] < starts[" + std::to_string(c) + "])");
      return info.Env().Undefined();
    }
  if (nD == 0) return info.Env().Undefined();
  std::vector<const float*> rowPtr(static_cast<size_t>(nk));
  for (int64_t c = 0; c < C; c++) {
    Napi::Value v = arr.Get(static_cast<uint32_t>(c));
    const int64_t rows = static_cast<int64_t>(starts[c + 1]) - starts[c];
    if (rows < 0 || !v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        static_cast<double>(v.As<Napi::Float32Array>().ElementLength()) < static_cast<double>(rows) * D) {
      g.Fail("chunk " + std::to_string(c) + " must be a Float32Array of " + std::to_string(rows) + " x " +
             std::to_string(D) + " values");
      return info.Env().Undefined();
    }
    const float* base0 = v.As<Napi::Float32Array>().Data();
    for (int64_t r = 0; r < rows; r++) rowPtr[starts[c] + r] = base0 + r * D;
  }
  for (int64_t i = 0; i < nk; i++)
    if (inv[i] < 0 || inv[i] >= nk) {
      g.Fail("slot " + std::to_string(i) + ": grouped row " + std::to_string(inv[i]) + " out of range");
      return info.Env().Undefined();
    }
  ParallelFor(n, Grain(D * (k + 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) {
      float* o = out + t * D;
      if (o != base + t * D) std::memcpy(o, base + t * D, static_cast<size_t>(D) * sizeof(float));
      for (int64_t j = 0; j < k; j++) AxpyRow(o, rowPtr[inv[t * k + j]], w[t * k + j], D);
    }
  });
  return info.Env().Undefined();
}

// Its gradient for one expert's rows: dys[r, :] = w[pos[r]] * grad[tok[r], :] and
// dw[pos[r]] = <ys[r, :], grad[tok[r], :]>.
// moeCombineGrad(grad f32[nOut*D], D, ys f32[rows*D], rows, tok i32, pos i32, w f32, dys f32, dw f32)
Napi::Value CombineGradNapi(const Napi::CallbackInfo& info) {
  Args g(info, "moeCombineGrad", 9);
  int64_t D = g.Int(1, "D"), rows = g.Int(3, "rows");
  const int64_t rD = g.Size({rows, D}, "rows x D");
  float* ys = g.F32(2, "ys", rD);
  int32_t* tok = g.I32(4, "tok", rows);
  int32_t* pos = g.I32(5, "pos", rows);
  float* dys = g.F32(7, "dys", rD);
  float* grad = g.F32(0, "grad", 0);
  float* w = g.F32(6, "w", 0);
  float* dw = g.F32(8, "dw", 0);
  if (!g.ok) return info.Env().Undefined();
  const int64_t nOut = D > 0 ? static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength()) / D : 0;
  const int64_t nW = static_cast<int64_t>(info[6].As<Napi::TypedArray>().ElementLength());
  const int64_t nDw = static_cast<int64_t>(info[8].As<Napi::TypedArray>().ElementLength());
  for (int64_t r = 0; r < rows; r++)
    if (tok[r] < 0 || tok[r] >= nOut || pos[r] < 0 || pos[r] >= nW || pos[r] >= nDw) {
      g.Fail("row " + std::to_string(r) + ": token " + std::to_string(tok[r]) + " or slot " +
             std::to_string(pos[r]) + " out of range");
      return info.Env().Undefined();
    }
  ParallelFor(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const float* gr = grad + static_cast<int64_t>(tok[r]) * D;
      const float* y = ys + r * D;
      float* dy = dys + r * D;
      const float wr = w[pos[r]];
      float acc = 0.0f;
      for (int64_t j = 0; j < D; j++) {
        dy[j] = wr * gr[j];
        acc += y[j] * gr[j];
      }
      dw[pos[r]] = acc;
    }
  });
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("moeRoute", Napi::Function::New(env, RouteNapi, "moeRoute"));
  exports.Set("moeCombine", Napi::Function::New(env, CombineNapi, "moeCombine"));
  exports.Set("moeCombineGrad", Napi::Function::New(env, CombineGradNapi, "moeCombineGrad"));
}

Registrar reg("ops_moe", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
