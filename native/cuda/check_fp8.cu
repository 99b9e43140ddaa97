// Checks the CUDA FP8 kernels against a host reference of the CPU path's semantics, then times
// them. Usage: check_fp8 [--quick] [--dump DIR]
//   - quantization: codes and scales must equal the host reference bit for bit (the host uses
//     CUDA's own host conversion, __nv_cvt_float_to_fp8, the definition lib/fp8 is tested against);
//   - GEMM: norm-wise relative error against an FP64 GEMM of the dequantized operands must stay
//     below 1e-3 (tensor cores accumulate inside a K-block with fewer bits than FP32);
//   - timing: quantize + GEMM, printed as JSON lines ({"kind": "time", ...}) for
//     bench/device_check_torch.py.
// --dump DIR writes each check's inputs and GPU outputs (raw little-endian) plus meta.json, so
// native/cuda/compare_cpu.js can compare them with moelab's CPU path (lib/fp8) directly.
// Exit status: 0 all checks passed, 1 a check failed, 2 no usable GPU.
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fp8.h"

namespace {

#define CHECK_CUDA(x)                                                                      \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(2);                                                                        \
    }                                                                                      \
  } while (0)

struct HostQuant {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
};

float HostScale(float amax, float floor, float max_value, bool pow2) {
  const float s = std::fmax(amax, floor) / max_value;
  if (!pow2) return s;
  uint32_t b;
  std::memcpy(&b, &s, 4);
  if (b & 0x7FFFFFu) b = (b & 0x7F800000u) + 0x800000u;
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

HostQuant HostQuantize(const std::vector<float>& x, int64_t rows, int64_t cols, int tr, int tc,
                       int fmt, bool pow2) {
  const int64_t sr = (rows + tr - 1) / tr, sc = (cols + tc - 1) / tc;
  HostQuant q{std::vector<uint8_t>(rows * cols), std::vector<float>(sr * sc, 0.0f)};
  std::vector<float> amax(sr * sc, 0.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const float a = std::fabs(x[i * cols + j]);
      float& m = amax[(i / tr) * sc + j / tc];
      if (std::isfinite(a)) m = std::fmax(m, a);
    }
  const float maxv = fmt == 0 ? 448.0f : 57344.0f;
  for (int64_t t = 0; t < sr * sc; ++t) q.scales[t] = HostScale(amax[t], 1e-4f, maxv, pow2);
  const __nv_fp8_interpretation_t in = fmt == 0 ? __NV_E4M3 : __NV_E5M2;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const float y = x[i * cols + j] / q.scales[(i / tr) * sc + j / tc];
      q.codes[i * cols + j] = static_cast<uint8_t>(
          __nv_cvt_float_to_fp8(y, std::isfinite(y) ? __NV_SATFINITE : __NV_NOSAT, in));
    }
  return q;
}

float Decode(uint8_t c, int fmt) {
  __half_raw h = __nv_cvt_fp8_to_halfraw(c, fmt == 0 ? __NV_E4M3 : __NV_E5M2);
  return __half2float(__half(h));
}

std::vector<float> RandomMatrix(int64_t n, unsigned seed, bool specials) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) {
    v = nd(gen);
    if (ud(gen) < 0.01f) v *= 100.0f;  // outliers, as activations have
  }
  if (specials && n > 8) {
    x[1] = 0.0f;
    x[2] = -0.0f;
    x[3] = NAN;
    x[4] = INFINITY;
    x[5] = -INFINITY;
    x[6] = 1e-30f;
  }
  return x;
}

template <typename T>
T* ToDevice(const std::vector<T>& h) {
  T* d = nullptr;
  CHECK_CUDA(cudaMalloc(&d, sizeof(T) * (h.empty() ? 1 : h.size())));
  if (!h.empty()) CHECK_CUDA(cudaMemcpy(d, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> ToHost(const T* d, size_t n) {
  std::vector<T> h(n);
  if (n) CHECK_CUDA(cudaMemcpy(h.data(), d, sizeof(T) * n, cudaMemcpyDeviceToHost));
  return h;
}

std::string dump_dir;
int dump_count = 0;
std::string dump_meta;

template <typename T>
void DumpFile(const std::string& name, const std::vector<T>& v) {
  const std::string path = dump_dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(v.data(), sizeof(T), v.size(), f);
  std::fclose(f);
}

int failures = 0;

void Report(const char* what, bool ok, const std::string& detail) {
  std::printf("{\"kind\": \"check\", \"what\": \"%s\", \"ok\": %s, %s}\n", what, ok ? "true" : "false",
              detail.c_str());
  if (!ok) ++failures;
}

// One quantize-then-GEMM check: A [m, k] in 1x128 tiles (or as given), B [n, k] in 128x128 blocks.
void CheckCase(int64_t m, int64_t n, int64_t k, int a_tr, int a_tc, int b_tr, int b_tc, int fa,
               int fb, bool pow2, unsigned seed) {
  const std::vector<float> xa = RandomMatrix(m * k, seed, true), xb = RandomMatrix(n * k, seed + 7, false);
  float *dxa = ToDevice(xa), *dxb = ToDevice(xb);
  const int64_t asr = (m + a_tr - 1) / a_tr, asc = (k + a_tc - 1) / a_tc;
  const int64_t bsr = (n + b_tr - 1) / b_tr, bsc = (k + b_tc - 1) / b_tc;
  uint8_t *dqa, *dqb;
  float *dsa, *dsb, *dc;
  CHECK_CUDA(cudaMalloc(&dqa, m * k + 1));
  CHECK_CUDA(cudaMalloc(&dqb, n * k + 1));
  CHECK_CUDA(cudaMalloc(&dsa, sizeof(float) * (asr * asc + 1)));
  CHECK_CUDA(cudaMalloc(&dsb, sizeof(float) * (bsr * bsc + 1)));
  CHECK_CUDA(cudaMalloc(&dc, sizeof(float) * (m * n + 1)));
  int st = moelab_fp8_quantize(dxa, m, k, a_tr, a_tc, fa, pow2, 1e-4f, dqa, dsa, 0);
  st |= moelab_fp8_quantize(dxb, n, k, b_tr, b_tc, fb, pow2, 1e-4f, dqb, dsb, 0);
  CHECK_CUDA(cudaDeviceSynchronize());
  const HostQuant ha = HostQuantize(xa, m, k, a_tr, a_tc, fa, pow2);
  const HostQuant hb = HostQuantize(xb, n, k, b_tr, b_tc, fb, pow2);
  const auto ga = ToHost(dqa, m * k), gb = ToHost(dqb, n * k);
  const auto gsa = ToHost(dsa, asr * asc), gsb = ToHost(dsb, bsr * bsc);
  int64_t bad_codes = 0, bad_scales = 0;
  for (int64_t i = 0; i < m * k; ++i) bad_codes += ga[i] != ha.codes[i];
  for (int64_t i = 0; i < n * k; ++i) bad_codes += gb[i] != hb.codes[i];
  for (int64_t i = 0; i < asr * asc; ++i) bad_scales += std::memcmp(&gsa[i], &ha.scales[i], 4) != 0;
  for (int64_t i = 0; i < bsr * bsc; ++i) bad_scales += std::memcmp(&gsb[i], &hb.scales[i], 4) != 0;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "\"shape\": [%lld, %lld, %lld], \"tiles\": \"%dx%d,%dx%d\", \"formats\": \"%s,%s\", "
                "\"pow2\": %s, \"status\": %d, \"code_mismatches\": %lld, \"scale_mismatches\": %lld",
                (long long)m, (long long)n, (long long)k, a_tr, a_tc, b_tr, b_tc, fa ? "e5m2" : "e4m3",
                fb ? "e5m2" : "e4m3", pow2 ? "true" : "false", st, (long long)bad_codes,
                (long long)bad_scales);
  Report("quantize", st == 0 && bad_codes == 0 && bad_scales == 0, buf);

  // GEMM on the GPU's own codes; the NaN/Inf planted in A would make every error NaN, so the
  // GEMM check clears the planted specials first (they are covered by the quantize check)
  std::vector<uint8_t> qa = ga;
  for (int i = 3; i <= 5 && i < m * k; ++i) qa[i] = 0;
  CHECK_CUDA(cudaMemcpy(dqa, qa.data(), m * k, cudaMemcpyHostToDevice));
  st = moelab_fp8_gemm(dqa, dsa, a_tr, a_tc, fa, dqb, dsb, b_tr, b_tc, fb, m, n, k, dc, 0);
  CHECK_CUDA(cudaDeviceSynchronize());
  const auto gc = ToHost(dc, m * n);
  double num = 0, den = 0, num32 = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;    // FP64 of the dequantized operands
      double blk32 = 0;  // the CPU path: FP32 in-block sums, promoted with fma
      float acc = 0.0f;
      for (int64_t k0 = 0; k0 < k; k0 += 128) {
        float p = 0.0f;
        const int64_t k1 = std::min<int64_t>(k, k0 + 128);
        const float s_a = gsa[(i / a_tr) * asc + k0 / a_tc], s_b = gsb[(j / b_tr) * bsc + k0 / b_tc];
        for (int64_t kk = k0; kk < k1; ++kk) {
          const float va = Decode(qa[i * k + kk], fa), vb = Decode(gb[j * k + kk], fb);
          ref += static_cast<double>(va * s_a) * static_cast<double>(vb * s_b);
          p = std::fma(va, vb, p);
        }
        acc = std::fma(p, s_a * s_b, acc);
      }
      blk32 = acc;
      num += (gc[i * n + j] - ref) * (gc[i * n + j] - ref);
      num32 += (blk32 - ref) * (blk32 - ref);
      den += ref * ref;
    }
  const double rel = std::sqrt(num / (den > 0 ? den : 1)), rel32 = std::sqrt(num32 / (den > 0 ? den : 1));
  std::snprintf(buf, sizeof buf,
                "\"shape\": [%lld, %lld, %lld], \"status\": %d, \"rel_err_vs_fp64\": %.3e, "
                "\"cpu_path_rel_err_vs_fp64\": %.3e",
                (long long)m, (long long)n, (long long)k, st, rel, rel32);
  Report("gemm", st == 0 && rel <= 1e-3, buf);

  if (!dump_dir.empty()) {
    const std::string p = "case" + std::to_string(dump_count);
    DumpFile(p + "_xa.f32", xa);
    DumpFile(p + "_xb.f32", xb);
    DumpFile(p + "_qa.u8", ga);
    DumpFile(p + "_qb.u8", gb);
    DumpFile(p + "_sa.f32", gsa);
    DumpFile(p + "_sb.f32", gsb);
    DumpFile(p + "_qa_gemm.u8", qa);
    DumpFile(p + "_c.f32", gc);
    std::snprintf(buf, sizeof buf,
                  "%s{\"name\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"a_tile\": [%d, %d], "
                  "\"b_tile\": [%d, %d], \"a_format\": \"%s\", \"b_format\": \"%s\", \"pow2\": %s}",
                  dump_count ? ", " : "", p.c_str(), (long long)m, (long long)n, (long long)k, a_tr, a_tc,
                  b_tr, b_tc, fa ? "e5m2" : "e4m3", fb ? "e5m2" : "e4m3", pow2 ? "true" : "false");
    dump_meta += buf;
    ++dump_count;
  }
  cudaFree(dxa);
  cudaFree(dxb);
  cudaFree(dqa);
  cudaFree(dqb);
  cudaFree(dsa);
  cudaFree(dsb);
  cudaFree(dc);
}

void TimeShape(int64_t m, int64_t n, int64_t k, int reps) {
  const std::vector<float> xa = RandomMatrix(m * k, 11, false), xb = RandomMatrix(n * k, 12, false);
  float *dxa = ToDevice(xa), *dxb = ToDevice(xb), *dsa, *dsb, *dc;
  uint8_t *dqa, *dqb;
  CHECK_CUDA(cudaMalloc(&dqa, m * k));
  CHECK_CUDA(cudaMalloc(&dqb, n * k));
  CHECK_CUDA(cudaMalloc(&dsa, sizeof(float) * m * ((k + 127) / 128)));
  CHECK_CUDA(cudaMalloc(&dsb, sizeof(float) * ((n + 127) / 128) * ((k + 127) / 128)));
  CHECK_CUDA(cudaMalloc(&dc, sizeof(float) * m * n));
  cudaEvent_t e0, e1, e2;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventCreate(&e2);
  auto quant = [&] {
    moelab_fp8_quantize(dxa, m, k, 1, 128, 0, 0, 1e-4f, dqa, dsa, 0);
    moelab_fp8_quantize(dxb, n, k, 128, 128, 0, 0, 1e-4f, dqb, dsb, 0);
  };
  auto gemm = [&] { moelab_fp8_gemm(dqa, dsa, 1, 128, 0, dqb, dsb, 128, 128, 0, m, n, k, dc, 0); };
  quant();
  gemm();
  CHECK_CUDA(cudaDeviceSynchronize());
  cudaEventRecord(e0);
  for (int r = 0; r < reps; ++r) quant();
  cudaEventRecord(e1);
  for (int r = 0; r < reps; ++r) gemm();
  cudaEventRecord(e2);
  CHECK_CUDA(cudaEventSynchronize(e2));
  float tq = 0, tg = 0;
  cudaEventElapsedTime(&tq, e0, e1);
  cudaEventElapsedTime(&tg, e1, e2);
  tq /= reps;
  tg /= reps;
  const double flop = 2.0 * m * n * k;
  std::printf("{\"kind\": \"time\", \"shape\": [%lld, %lld, %lld], \"quantize_ms\": %.4f, \"gemm_ms\": %.4f, "
              "\"gemm_tflops\": %.2f, \"with_quantize_tflops\": %.2f}\n",
              (long long)m, (long long)n, (long long)k, tq, tg, flop / (tg * 1e-3) / 1e12,
              flop / ((tg + tq) * 1e-3) / 1e12);
  cudaFree(dxa);
  cudaFree(dxb);
  cudaFree(dqa);
  cudaFree(dqb);
  cudaFree(dsa);
  cudaFree(dsb);
  cudaFree(dc);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--dump") && i + 1 < argc) dump_dir = argv[++i];
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "check_fp8: no CUDA device\n");
    return 2;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("{\"kind\": \"device\", \"name\": \"%s\", \"sm\": %d}\n", prop.name, prop.major * 10 + prop.minor);
  if (prop.major * 10 + prop.minor < 89) {
    std::fprintf(stderr, "check_fp8: sm_%d%d has no FP8 tensor cores\n", prop.major, prop.minor);
    return 2;
  }
  CheckCase(256, 384, 512, 1, 128, 128, 128, 0, 0, false, 1);
  CheckCase(200, 130, 300, 1, 128, 128, 128, 0, 0, false, 2);   // partial tiles, K % 16 != 0
  CheckCase(130, 70, 256, 1, 128, 1, 128, 0, 0, true, 3);       // Wgrad-like, ue8m0 scales
  CheckCase(96, 160, 384, 128, 128, 1, 128, 1, 0, false, 4);    // e5m2 x e4m3
  CheckCase(64, 64, 128, 64, 128, 64, 128, 0, 1, false, 5);     // e4m3 x e5m2, 64-row tiles
  {
    // 128x1 tiles (the transposed quantization): quantize-only check
    const int64_t r = 300, cc = 200;
    const auto x = RandomMatrix(r * cc, 9, true);
    float* dx = ToDevice(x);
    uint8_t* dq;
    float* ds;
    CHECK_CUDA(cudaMalloc(&dq, r * cc));
    CHECK_CUDA(cudaMalloc(&ds, sizeof(float) * 3 * cc));
    const int st = moelab_fp8_quantize(dx, r, cc, 128, 1, 0, 0, 1e-4f, dq, ds, 0);
    CHECK_CUDA(cudaDeviceSynchronize());
    const HostQuant h = HostQuantize(x, r, cc, 128, 1, 0, false);
    const auto g = ToHost(dq, r * cc);
    const auto gs = ToHost(ds, 3 * cc);
    int64_t bad = 0;
    for (int64_t i = 0; i < r * cc; ++i) bad += g[i] != h.codes[i];
    for (int64_t i = 0; i < 3 * cc; ++i) bad += std::memcmp(&gs[i], &h.scales[i], 4) != 0;
    char buf[128];
    std::snprintf(buf, sizeof buf, "\"shape\": [300, 200], \"tiles\": \"128x1\", \"mismatches\": %lld",
                  (long long)bad);
    Report("quantize", st == 0 && bad == 0, buf);
    cudaFree(dx);
    cudaFree(dq);
    cudaFree(ds);
  }
  if (!dump_dir.empty()) {
    FILE* f = std::fopen((dump_dir + "/meta.json").c_str(), "w");
    if (f) {
      std::fprintf(f, "[%s]\n", dump_meta.c_str());
      std::fclose(f);
    }
  }
  const int reps = quick ? 5 : 20;
  TimeShape(4096, 4096, 4096, reps);
  TimeShape(2048, 7168, 2048, reps);
  if (!quick) TimeShape(8192, 8192, 8192, 5);
  TimeShape(2048, 128, 128, reps);
  std::printf("{\"kind\": \"summary\", \"failures\": %d}\n", failures);
  return failures ? 1 : 0;
}
