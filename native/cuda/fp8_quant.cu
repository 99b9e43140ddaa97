// Tile / block FP8 quantization and dequantization on the GPU (see fp8.h for the semantics; they
// are the CPU path's, so codes and scales match native/src/fp8_quant.cc bit for bit).
#include <cuda_fp8.h>
#include <float.h>
#include <stdint.h>

#include "fp8.h"

namespace {

__host__ __device__ __forceinline__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

__device__ __forceinline__ __nv_fp8_interpretation_t Interp(int format) {
  return format == MOELAB_FP8_E4M3 ? __NV_E4M3 : __NV_E5M2;
}

// Finite values saturate (the sm_89+ hardware cvt); NaN/Inf keep their meaning (no saturation).
__device__ __forceinline__ uint8_t Encode(float y, int format) {
  const __nv_saturation_t sat = isfinite(y) ? __NV_SATFINITE : __NV_NOSAT;
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(y, sat, Interp(format)));
}

__device__ __forceinline__ float ScaleOf(float amax, float floor, float max_value, int pow2) {
  const float s = fmaxf(amax, floor) / max_value;  // IEEE division, as on the CPU
  if (!pow2) return s;
  uint32_t b = __float_as_uint(s);
  if (b & 0x7FFFFFu) b = (b & 0x7F800000u) + 0x800000u;
  return __uint_as_float(b);
}

__device__ __forceinline__ float FiniteAbs(float v) {
  const float a = fabsf(v);
  return a <= FLT_MAX ? a : 0.0f;
}

// One CUDA block per tile (tiles at least a warp wide along cols): block-wide max, then encode.
__global__ void QuantizeTiles(const float* __restrict__ x, int64_t rows, int64_t cols, int tr,
                              int tc, int format, int pow2, float floor, float max_value,
                              uint8_t* __restrict__ codes, float* __restrict__ scales) {
  // a 1-D grid over tiles: grid.y's 65535 limit would cap the number of tokens
  const int64_t sc = (cols + tc - 1) / tc;
  const int64_t tile_r = blockIdx.x / sc, tile_c = blockIdx.x % sc;
  const int64_t r0 = tile_r * tr, c0 = tile_c * tc;
  const int h = static_cast<int>(Min64(tr, rows - r0));
  const int w = static_cast<int>(Min64(tc, cols - c0));
  const int64_t count = static_cast<int64_t>(h) * w;
  float m = 0.0f;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t i = r0 + e / w, j = c0 + e % w;
    m = fmaxf(m, FiniteAbs(x[i * cols + j]));
  }
  __shared__ float warp_max[32];
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, off));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = m;
  __syncthreads();
  __shared__ float scale;
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (int i = 0; i < static_cast<int>((blockDim.x + 31) / 32); ++i) t = fmaxf(t, warp_max[i]);
    scale = ScaleOf(t, floor, max_value, pow2);
    scales[tile_r * sc + tile_c] = scale;
  }
  __syncthreads();
  const float s = scale;
  for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int64_t i = r0 + e / w, j = c0 + e % w;
    codes[i * cols + j] = Encode(x[i * cols + j] / s, format);
  }
}

// 128x1-style tiles (one column wide): one thread per column walks its tile's rows, so loads
// stay coalesced across the warp.
__global__ void QuantizeColumns(const float* __restrict__ x, int64_t rows, int64_t cols, int tr,
                                int format, int pow2, float floor, float max_value,
                                uint8_t* __restrict__ codes, float* __restrict__ scales) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * tr;
  const int64_t r1 = Min64(rows, r0 + tr);
  float m = 0.0f;
  for (int64_t i = r0; i < r1; ++i) m = fmaxf(m, FiniteAbs(x[i * cols + j]));
  const float s = ScaleOf(m, floor, max_value, pow2);
  scales[static_cast<int64_t>(blockIdx.y) * cols + j] = s;
  for (int64_t i = r0; i < r1; ++i) codes[i * cols + j] = Encode(x[i * cols + j] / s, format);
}

__global__ void Dequantize(const uint8_t* __restrict__ codes, const float* __restrict__ scales,
                           int64_t rows, int64_t cols, int tr, int tc, int format,
                           float* __restrict__ out) {
  const int64_t sc = (cols + tc - 1) / tc;
  const int64_t n = rows * cols;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / cols, j = e % cols;
    const __half_raw h = __nv_cvt_fp8_to_halfraw(codes[e], Interp(format));
    out[e] = __half2float(__half(h)) * scales[(i / tr) * sc + j / tc];
  }
}

}  // namespace

extern "C" int moelab_fp8_quantize(const float* x, int64_t rows, int64_t cols, int tile_rows,
                                   int tile_cols, int format, int pow2_scale, float amax_floor,
                                   uint8_t* codes, float* scales, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || tile_rows < 1 || tile_cols < 1 || (format != 0 && format != 1) ||
      !(amax_floor > 0.0f) || !(amax_floor <= FLT_MAX))
    return MOELAB_FP8_BAD_ARGUMENT;
  if (rows == 0 || cols == 0) return MOELAB_FP8_OK;
  const int64_t sr = (rows + tile_rows - 1) / tile_rows, sc = (cols + tile_cols - 1) / tile_cols;
  if (sr * sc > 2147483647 || (tile_cols == 1 && sr > 65535)) return MOELAB_FP8_BAD_ARGUMENT;
  const float max_value = format == MOELAB_FP8_E4M3 ? 448.0f : 57344.0f;
  if (tile_cols == 1) {
    dim3 grid(static_cast<unsigned>((cols + 127) / 128), static_cast<unsigned>(sr));
    QuantizeColumns<<<grid, 128, 0, stream>>>(x, rows, cols, tile_rows, format, pow2_scale,
                                              amax_floor, max_value, codes, scales);
  } else {
    const unsigned grid = static_cast<unsigned>(sr * sc);
    const int threads = tile_rows * tile_cols >= 4096 ? 512 : 128;
    QuantizeTiles<<<grid, threads, 0, stream>>>(x, rows, cols, tile_rows, tile_cols, format,
                                                pow2_scale, amax_floor, max_value, codes, scales);
  }
  return cudaGetLastError() == cudaSuccess ? MOELAB_FP8_OK : MOELAB_FP8_CUDA_ERROR;
}

extern "C" int moelab_fp8_dequantize(const uint8_t* codes, const float* scales, int64_t rows,
                                     int64_t cols, int tile_rows, int tile_cols, int format,
                                     float* out, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || tile_rows < 1 || tile_cols < 1 || (format != 0 && format != 1))
    return MOELAB_FP8_BAD_ARGUMENT;
  const int64_t n = rows * cols;
  if (n == 0) return MOELAB_FP8_OK;
  const int blocks = static_cast<int>(Min64((n + 255) / 256, 65535));
  Dequantize<<<blocks, 256, 0, stream>>>(codes, scales, rows, cols, tile_rows, tile_cols, format,
                                         out);
  return cudaGetLastError() == cudaSuccess ? MOELAB_FP8_OK : MOELAB_FP8_CUDA_ERROR;
}

extern "C" const char* moelab_fp8_status_string(int status) {
  switch (status) {
    case MOELAB_FP8_OK: return "ok";
    case MOELAB_FP8_BAD_ARGUMENT: return "bad argument (size, tile or format)";
    case MOELAB_FP8_BAD_LAYOUT: return "an operand's scale varies inside a 128-wide K-block";
    case MOELAB_FP8_CUDA_ERROR: return "CUDA launch error";
    case MOELAB_FP8_UNSUPPORTED: return "device older than sm_89 (no FP8 tensor cores)";
    default: return "unknown status";
  }
}
