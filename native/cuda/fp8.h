/*
 * moelab FP8 CUDA kernels: the same semantics as the CPU path (lib/fp8, native/src/fp8_*.cc).
 *
 *   quantize:  per tile [tile_rows, tile_cols] of a row-major [rows, cols] float matrix,
 *              amax = max |x| over finite x, s = max(amax, amax_floor) / max_format (ue8m0: rounded
 *              up to a power of two), code = cvt_fp8_satfinite(x / s); NaN/Inf are converted
 *              without saturation (e4m3: NaN, e5m2: +-Inf). scales are [ceil(rows/tr), ceil(cols/tc)].
 *   dequantize: x = decode(code) * s.
 *   gemm:      C[m, n] = sum over 128-wide K-blocks kb of (sum_{k in kb} A_q[m, k] B_q[n, k]) * a_s * b_s
 *              with A [M, K] and B [N, K] (row-major codes), the in-block sums on tensor cores
 *              (mma.sync m16n8k32 e4m3/e5m2, sm_89+), promoted into FP32 registers every 128.
 *              An operand's tile_cols must be a multiple of 128 or >= K.
 * All pointers are device pointers; `stream` may be 0. Functions return 0 or an error code.
 */
#ifndef MOELAB_FP8_H_
#define MOELAB_FP8_H_

#include <stdint.h>
#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

enum moelab_fp8_format { MOELAB_FP8_E4M3 = 0, MOELAB_FP8_E5M2 = 1 };

enum moelab_fp8_status {
  MOELAB_FP8_OK = 0,
  MOELAB_FP8_BAD_ARGUMENT = 1,   /* a size, tile or format is invalid */
  MOELAB_FP8_BAD_LAYOUT = 2,     /* an operand's scale varies inside a 128-wide K-block */
  MOELAB_FP8_CUDA_ERROR = 3,     /* a launch failed: see cudaGetLastError() */
  MOELAB_FP8_UNSUPPORTED = 4     /* the device is older than sm_89 (no FP8 tensor cores) */
};

int moelab_fp8_quantize(const float* x, int64_t rows, int64_t cols, int tile_rows, int tile_cols,
                        int format, int pow2_scale, float amax_floor, uint8_t* codes, float* scales,
                        cudaStream_t stream);

int moelab_fp8_dequantize(const uint8_t* codes, const float* scales, int64_t rows, int64_t cols,
                          int tile_rows, int tile_cols, int format, float* out, cudaStream_t stream);

int moelab_fp8_gemm(const uint8_t* a, const float* a_scales, int a_tile_rows, int a_tile_cols,
                    int a_format, const uint8_t* b, const float* b_scales, int b_tile_rows,
                    int b_tile_cols, int b_format, int64_t m, int64_t n, int64_t k, float* c,
                    cudaStream_t stream);

const char* moelab_fp8_status_string(int status);

#ifdef __cplusplus
}
#endif

#endif /* MOELAB_FP8_H_ */
