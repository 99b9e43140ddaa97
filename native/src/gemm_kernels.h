// Internal to the GEMM: the description of one micro-kernel family (tile shape, cache blocking,
// packing routines) that the ISA-independent driver in gemm.cc runs.
#pragma once
#include <cstdint>

namespace moelab {
namespace gemm {

// Computes the full MR x NR tile C = alpha * Ap * Bp + beta * C (beta == 0: C is not read),
// where Ap holds kc columns of MR values and Bp kc rows of NR values.
using MicroKernelFn = void (*)(int64_t kc, const float* ap, const float* bp, float* c,
                               int64_t ldc, float alpha, float beta);

// The same for a partial tile: only the first rows x cols of C are read and written (Ap keeps
// its MR stride). Optional: without one the driver computes the tile aside and copies it.
using EdgeKernelFn = void (*)(int64_t kc, const float* ap, const float* bp, float* c,
                              int64_t ldc, float alpha, float beta, int rows, int cols);

// Packs rows [i0, i0 + mc) x columns [p0, p0 + kc) of op(A) into ceil(mc/MR) panels of
// kc * MR floats, zero-padding the last panel's missing rows.
using PackAFn = void (*)(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc,
                         int64_t p0, int64_t kc, float* out);
// Packs rows [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into ceil(nc/NR) panels of
// kc * NR floats, zero-padding the last panel's missing columns.
using PackBFn = void (*)(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int64_t nc, float* out);

// A few rows of op(A) (m <= kSmallM, each contiguous, k long) times op(B), columns [j0, j1):
// out[i * (j1 - j0) + (j - j0)] = sum_k a[i][k] * op(B)[k][j]. With trans_b, op(B)[k][j] =
// b[j * ldb + k] (rows of B are dot products); without, b[k * ldb + j]. For decoding, where
// packing B costs more than the product. Sums run in another order than the tiled kernel's.
constexpr int kSmallM = 4;
using SmallMFn = void (*)(bool trans_b, const float* const* a, int m, const float* b, int64_t ldb,
                          int64_t k, int64_t j0, int64_t j1, float* out);

struct KernelDesc {
  const char* name;
  int mr, nr;     // micro-tile
  int64_t mc;     // rows of A packed per block (multiple of mr; sized for L2)
  int64_t kc;     // depth per block (B micro-panel sized for L1)
  MicroKernelFn kernel;
  EdgeKernelFn edge_kernel;  // may be nullptr
  PackAFn pack_a;
  PackBFn pack_b;
  SmallMFn small_m;  // may be nullptr: small M goes through the tiled path
};

const KernelDesc* Avx512Kernel();  // nullptr when not compiled for this architecture
const KernelDesc* Avx2Kernel();    // nullptr when not compiled for this architecture
const KernelDesc* ScalarKernel();

}  // namespace gemm
}  // namespace moelab
