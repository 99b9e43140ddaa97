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

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("moeRoute", Napi::Function::New(env, RouteNapi, "moeRoute"));
}

Registrar reg("ops_moe", Init);

}  // namespace
}  // namespace ops
}  // namespace moelab
