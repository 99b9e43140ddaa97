// Group-limited top-k routing of DeepSeek-V3's gate (lib/nn/moe.ts routeTokens), one token per
// loop iteration: the bias is added for selection only, groups are scored by the sum of their
// top-2 biased scores (with a bias) or their max (without), the best n_limited groups are kept,
// and the top-k experts are chosen by descending score, ties to the lower index.
#include <cmath>
#include <vector>

#include "ops_args.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace ops {
namespace {

void RouteToken(const float* s, const float* bias, int64_t E, int64_t k, int64_t G, int64_t L,
                float* row, int32_t* idx, float* gs, uint8_t* kept, uint8_t* taken) {
  if (bias)
    for (int64_t e = 0; e < E; e++) row[e] = s[e] + bias[e];
  else
    for (int64_t e = 0; e < E; e++) row[e] = s[e];
  if (G > 1) {
    const int64_t per = E / G;
    for (int64_t g = 0; g < G; g++) {
      float m1 = -INFINITY, m2 = -INFINITY;
      for (int64_t j = g * per; j < (g + 1) * per; j++) {
        float v = row[j];
        if (v > m1) {
          m2 = m1;
          m1 = v;
        } else if (v > m2) {
          m2 = v;
        }
      }
      gs[g] = bias ? m1 + m2 : m1;
      kept[g] = 0;
    }
    for (int64_t j = 0; j < L; j++) {
      int64_t best = -1;
      for (int64_t g = 0; g < G; g++)
        if (!kept[g] && (best < 0 || gs[g] > gs[best])) best = g;
      kept[best] = 1;
    }
    for (int64_t g = 0; g < G; g++)
      if (!kept[g])
        for (int64_t j = g * per; j < (g + 1) * per; j++) row[j] = -INFINITY;
  }
  for (int64_t j = 0; j < k; j++) {
    int64_t best = -1;
    for (int64_t e = 0; e < E; e++)
      if (!taken[e] && (best < 0 || row[e] > row[best])) best = e;
    taken[best] = 1;
    idx[j] = static_cast<int32_t>(best);
  }
  for (int64_t j = 0; j < k; j++) taken[idx[j]] = 0;
}

// moeRoute(scores f32[n*E], bias f32[E] | null, n, E, k, G, L, indices i32[n*k], biased f32[n*E])
Napi::Value RouteNapi(const Napi::CallbackInfo& info) {
  Args g(info, "moeRoute", 9);
  int64_t n = g.Int(2, "n"), E = g.Int(3, "E"), k = g.Int(4, "k"), G = g.Int(5, "groups"),
          L = g.Int(6, "limitedGroups");
  if (g.ok && (E < 1 || k < 1 || k > E || G < 1 || E % G != 0 || L < 1 || L > G ||
               k > L * (E / G)))
    g.Fail("need 1 <= k <= limitedGroups * E / groups, groups dividing E, 1 <= limitedGroups <= groups");
  float* s = g.F32(0, "scores", n * E);
  const bool hasBias = g.ok && !info[1].IsNull() && !info[1].IsUndefined();
  float* bias = hasBias ? g.F32(1, "bias", E) : nullptr;
  int32_t* idx = g.I32(7, "indices", n * k);
  float* row = g.F32(8, "biased", n * E);
  if (!g.ok) return info.Env().Undefined();
  std::vector<float> gs(G);
  std::vector<uint8_t> kept(G), taken(E, 0);
  for (int64_t t = 0; t < n; t++)
    RouteToken(s + t * E, bias, E, k, G, L, row + t * E, idx + t * k, gs.data(), kept.data(),
               taken.data());
  return info.Env().Undefined();
}


// One expert's rows of the MoE combine: out[tok[r], :] += w[pos[r]] * ys[r, :] for r < rows.
// A token picks distinct experts, so the rows of one call never share an output row.
// moeCombine(out f32[nOut*D], D, ys f32[rows*D], rows, tok i32, pos i32, w f32)
Napi::Value CombineNapi(const Napi::CallbackInfo& info) {
  Args g(info, "moeCombine", 7);
  int64_t D = g.Int(1, "D"), rows = g.Int(3, "rows");
  float* ys = g.F32(2, "ys", rows * D);
  int32_t* tok = g.I32(4, "tok", rows);
  int32_t* pos = g.I32(5, "pos", rows);
  if (!g.ok) return info.Env().Undefined();
  float* out = g.F32(0, "out", 0);
  float* w = g.F32(6, "w", 0);
  if (!g.ok) return info.Env().Undefined();
  auto outArr = info[0].As<Napi::TypedArray>();
  auto wArr = info[6].As<Napi::TypedArray>();
  const int64_t nOut = D > 0 ? static_cast<int64_t>(outArr.ElementLength()) / D : 0;
  const int64_t nW = static_cast<int64_t>(wArr.ElementLength());
  for (int64_t r = 0; r < rows; r++)
    if (tok[r] < 0 || tok[r] >= nOut || pos[r] < 0 || pos[r] >= nW) {
      g.Fail("row " + std::to_string(r) + ": token " + std::to_string(tok[r]) + " or slot " +
             std::to_string(pos[r]) + " out of range");
      return info.Env().Undefined();
    }
  ParallelFor(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      float* o = out + static_cast<int64_t>(tok[r]) * D;
      const float* y = ys + r * D;
      const float wr = w[pos[r]];
      for (int64_t j = 0; j < D; j++) o[j] += wr * y[j];
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
  float* ys = g.F32(2, "ys", rows * D);
  int32_t* tok = g.I32(4, "tok", rows);
  int32_t* pos = g.I32(5, "pos", rows);
  float* dys = g.F32(7, "dys", rows * D);
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
