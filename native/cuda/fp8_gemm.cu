// Block-scaled FP8 GEMM on tensor cores (sm_89 / sm_90), DeepSeek-V3's scheme (see fp8.h):
// each CUDA block computes a 128x128 tile of C = A·Bᵀ; for every 128-wide K-block it runs
// mma.sync m16n8k32 (FP8 in, FP32 out) from zero over the block, then promotes the block sum into
// FP32 registers with the two scales, exactly the CPU path's order of operations. Tensor cores
// keep fewer bits than FP32 inside an MMA chain, so results differ from the CPU path by about
// what lib/fp8's accumBits emulation shows for ~14 bits; check_fp8.cu measures that.
#include <stdint.h>

#include "fp8.h"

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 128;
constexpr int kThreads = 256;      // 8 warps: 2 (m) x 4 (n), each a 64x32 tile of C
constexpr int kStride = kBK + 16;  // padded smem row (bytes): fragment loads avoid bank conflicts

template <int FA, int FB>
struct Mma;

#define MOELAB_FP8_MMA(FA, FB, NAME)                                                            \
  template <>                                                                                 \
  struct Mma<FA, FB> {                                                                        \
    __device__ __forceinline__ static void Run(float (&d)[4], const uint32_t (&a)[4],         \
                                               const uint32_t (&b)[2]) {                      \
      asm volatile("mma.sync.aligned.m16n8k32.row.col.f32." NAME                             \
                   ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"            \
                   : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                          \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));      \
    }                                                                                         \
  };
MOELAB_FP8_MMA(0, 0, "e4m3.e4m3")
MOELAB_FP8_MMA(0, 1, "e4m3.e5m2")
MOELAB_FP8_MMA(1, 0, "e5m2.e4m3")
MOELAB_FP8_MMA(1, 1, "e5m2.e5m2")
#undef MOELAB_FP8_MMA

struct Operand {
  const uint8_t* codes;
  const float* scales;
  int64_t rows;
  int tile_rows, tile_cols;
  int64_t scale_cols;
};

// Scale of row i in K-block kb; rows past the end get 0 (their codes are zero-filled anyway).
__device__ __forceinline__ float ScaleAt(const Operand& o, int64_t i, int64_t kb) {
  if (i >= o.rows) return 0.0f;
  return o.scales[(i / o.tile_rows) * o.scale_cols + (kb * kBK) / o.tile_cols];
}

// Copies rows [r0, r0+128) x K-range [k0, k0+128) of codes into smem, zero-filling the outside.
__device__ __forceinline__ void LoadTile(uint8_t* smem, const uint8_t* codes, int64_t rows,
                                         int64_t K, int64_t r0, int64_t k0, bool vec_ok) {
  for (int c = threadIdx.x; c < kBM * (kBK / 16); c += kThreads) {
    const int r = c / (kBK / 16), seg = c % (kBK / 16);
    const int64_t gr = r0 + r, gk = k0 + seg * 16;
    uint8_t* dst = smem + r * kStride + seg * 16;
    if (vec_ok && gr < rows && gk + 16 <= K) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(codes + gr * K + gk);
    } else {
      for (int e = 0; e < 16; ++e)
        dst[e] = (gr < rows && gk + e < K) ? codes[gr * K + gk + e] : static_cast<uint8_t>(0);
    }
  }
}

template <int FA, int FB>
__global__ void __launch_bounds__(kThreads)
    GemmKernel(Operand a, Operand b, int64_t M, int64_t N, int64_t K, float* __restrict__ c,
               bool vec_ok) {
  __shared__ __align__(16) uint8_t sa[kBM * kStride];
  __shared__ __align__(16) uint8_t sb[kBN * kStride];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int wm = warp >> 2, wn = warp & 3;  // warp's 64x32 sub-tile
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM, n0 = static_cast<int64_t>(blockIdx.x) * kBN;

  float total[4][4][4];  // [m16 tile][n8 tile][fragment]: the promoted FP32 accumulator
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) total[i][j][e] = 0.0f;

  const int64_t KB = (K + kBK - 1) / kBK;
  for (int64_t kb = 0; kb < KB; ++kb) {
    const int64_t k0 = kb * kBK;
    LoadTile(sa, a.codes, M, K, m0, k0, vec_ok);
    LoadTile(sb, b.codes, N, K, n0, k0, vec_ok);
    __syncthreads();
    float blk[4][4][4];  // this K-block's tensor-core sum, from zero
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) blk[i][j][e] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kBK / 32; ++ks) {
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint8_t* base = sa + (wm * 64 + i * 16 + g) * kStride + ks * 32 + t * 4;
        af[i][0] = *reinterpret_cast<const uint32_t*>(base);
        af[i][1] = *reinterpret_cast<const uint32_t*>(base + 8 * kStride);
        af[i][2] = *reinterpret_cast<const uint32_t*>(base + 16);
        af[i][3] = *reinterpret_cast<const uint32_t*>(base + 8 * kStride + 16);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint8_t* base = sb + (wn * 32 + j * 8 + g) * kStride + ks * 32 + t * 4;
        bf[j][0] = *reinterpret_cast<const uint32_t*>(base);
        bf[j][1] = *reinterpret_cast<const uint32_t*>(base + 16);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) Mma<FA, FB>::Run(blk[i][j], af[i], bf[j]);
    }
    __syncthreads();
    // promotion: C += block sum * (a_s[row] * b_s[col]) in FP32 (CUDA cores)
    float sar[4][2], sbc[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) sar[i][h] = ScaleAt(a, m0 + wm * 64 + i * 16 + g + 8 * h, kb);
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) sbc[j][h] = ScaleAt(b, n0 + wn * 32 + j * 8 + 2 * t + h, kb);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          total[i][j][e] = fmaf(blk[i][j][e], sar[i][e >> 1] * sbc[j][e & 1], total[i][j][e]);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t row = m0 + wm * 64 + i * 16 + g + 8 * (e >> 1);
        const int64_t col = n0 + wn * 32 + j * 8 + 2 * t + (e & 1);
        if (row < M && col < N) c[row * N + col] = total[i][j][e];
      }
}

}  // namespace

extern "C" int moelab_fp8_gemm(const uint8_t* a_codes, const float* a_scales, int a_tile_rows,
                               int a_tile_cols, int a_format, const uint8_t* b_codes,
                               const float* b_scales, int b_tile_rows, int b_tile_cols,
                               int b_format, int64_t m, int64_t n, int64_t k, float* c,
                               cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 0 || a_tile_rows < 1 || a_tile_cols < 1 || b_tile_rows < 1 ||
      b_tile_cols < 1 || (a_format != 0 && a_format != 1) || (b_format != 0 && b_format != 1))
    return MOELAB_FP8_BAD_ARGUMENT;
  if ((a_tile_cols % kBK != 0 && a_tile_cols < k) || (b_tile_cols % kBK != 0 && b_tile_cols < k))
    return MOELAB_FP8_BAD_LAYOUT;
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return MOELAB_FP8_CUDA_ERROR;
  if (major * 10 + minor < 89) return MOELAB_FP8_UNSUPPORTED;
  if (m == 0 || n == 0) return MOELAB_FP8_OK;
  if (k == 0) return cudaMemsetAsync(c, 0, sizeof(float) * m * n, stream) == cudaSuccess
                         ? MOELAB_FP8_OK
                         : MOELAB_FP8_CUDA_ERROR;
  if ((n + kBN - 1) / kBN > 2147483647 || (m + kBM - 1) / kBM > 65535) return MOELAB_FP8_BAD_ARGUMENT;
  const Operand a{a_codes, a_scales, m, a_tile_rows, a_tile_cols, (k + a_tile_cols - 1) / a_tile_cols};
  const Operand b{b_codes, b_scales, n, b_tile_rows, b_tile_cols, (k + b_tile_cols - 1) / b_tile_cols};
  const bool vec_ok = k % 16 == 0 && reinterpret_cast<uintptr_t>(a_codes) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(b_codes) % 16 == 0;
  const dim3 grid(static_cast<unsigned>((n + kBN - 1) / kBN), static_cast<unsigned>((m + kBM - 1) / kBM));
  switch (a_format * 2 + b_format) {
    case 0: GemmKernel<0, 0><<<grid, kThreads, 0, stream>>>(a, b, m, n, k, c, vec_ok); break;
    case 1: GemmKernel<0, 1><<<grid, kThreads, 0, stream>>>(a, b, m, n, k, c, vec_ok); break;
    case 2: GemmKernel<1, 0><<<grid, kThreads, 0, stream>>>(a, b, m, n, k, c, vec_ok); break;
    default: GemmKernel<1, 1><<<grid, kThreads, 0, stream>>>(a, b, m, n, k, c, vec_ok); break;
  }
  return cudaGetLastError() == cudaSuccess ? MOELAB_FP8_OK : MOELAB_FP8_CUDA_ERROR;
}
