// Single-precision matrix multiply for the whole addon (row-major, BLAS-like arguments):
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],  op(X) = X or X^T,  b in [0, batch)
// op(A) is M x K, op(B) is K x N, C is M x N. Callers have checked the bounds already; C must
// not overlap A or B. Thread-safe; results are bit-identical for any thread count. Packing
// buffers are per thread and reused (may throw std::bad_alloc on the calling thread).
#pragma once
#include <cstdint>

namespace moelab {

enum class GemmKernel { kAuto, kAvx512, kAvx2, kScalar };

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);

void SgemmBatched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                  int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                  int64_t batch);

// The micro-kernel in use: "avx512", "avx2" or "scalar".
const char* GemmKernelName();

// Selects a kernel for the whole process (kAuto: the best this CPU runs). Returns false, and
// changes nothing, when the CPU cannot run the one asked for. MOELAB_GEMM_KERNEL=avx2|scalar
// (or avx512) sets the initial choice.
bool SetGemmKernel(GemmKernel kernel);

}  // namespace moelab
