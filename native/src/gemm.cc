// The ISA-independent SGEMM driver (Goto/BLIS blocking): B is packed once per column block and
// shared by all threads, each thread packs its own blocks of A into an L2-sized buffer, and a
// register-blocked micro-kernel (AVX-512, AVX2 or portable, chosen at run time) does the math.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>
#include <thread>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "cpu_features.h"
#include "gemm_kernels.h"
#include "gemm_pack.h"
#include "threadpool.h"

namespace moelab {
namespace gemm {
namespace {

// ---- portable micro-kernel -------------------------------------------------------------------

constexpr int kScalarMr = 4;
constexpr int kScalarNr = 8;

void KernelScalar(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                  float alpha, float beta) {
  float acc[kScalarMr][kScalarNr] = {};
  for (int64_t p = 0; p < kc; ++p, ap += kScalarMr, bp += kScalarNr)
    for (int r = 0; r < kScalarMr; ++r)
      for (int j = 0; j < kScalarNr; ++j) acc[r][j] += ap[r] * bp[j];
  for (int r = 0; r < kScalarMr; ++r) {
    float* row = c + r * ldc;
    for (int j = 0; j < kScalarNr; ++j)
      row[j] = beta == 0.f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * row[j];
  }
}

const KernelDesc kScalarDesc = {
    "scalar", kScalarMr, kScalarNr, /*mc=*/kScalarMr * 64, /*kc=*/256, KernelScalar, nullptr,
    PackAPortable<kScalarMr>, PackBPortable<kScalarNr>, nullptr,
};

}  // namespace

const KernelDesc* ScalarKernel() { return &kScalarDesc; }

namespace {

// ---- kernel choice ---------------------------------------------------------------------------

// Sizes the depth block for this CPU's L1: the B micro-panel (kc x nr) takes about two thirds of
// it, A and C stream through the rest (48 KiB on Sapphire Rapids gives 256, 32 KiB on Zen 4 160).
KernelDesc ForThisCpu(const KernelDesc& d) {
  KernelDesc t = d;
#ifdef _SC_LEVEL1_DCACHE_SIZE
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (l1 >= 16 * 1024 && l1 <= 1024 * 1024)
    t.kc = std::clamp<int64_t>((l1 * 2 / 3) / (d.nr * 4) / 16 * 16, 64, 512);
#endif
  return t;
}

const KernelDesc* Tuned(const KernelDesc* d) {
  if (d == nullptr) return nullptr;
  static const KernelDesc scalar = ForThisCpu(*ScalarKernel());
  static const KernelDesc avx2 = Avx2Kernel() ? ForThisCpu(*Avx2Kernel()) : scalar;
  static const KernelDesc avx512 = Avx512Kernel() ? ForThisCpu(*Avx512Kernel()) : scalar;
  if (d == Avx512Kernel()) return &avx512;
  if (d == Avx2Kernel()) return &avx2;
  return &scalar;
}

const KernelDesc* ResolveUntuned(GemmKernel want) {
  const CpuFeatures& f = GetCpuFeatures();
  const bool has512 = f.avx512f && f.fma && Avx512Kernel() != nullptr;
  const bool has2 = f.avx2 && f.fma && Avx2Kernel() != nullptr;
  switch (want) {
    case GemmKernel::kAvx512:
      return has512 ? Avx512Kernel() : nullptr;
    case GemmKernel::kAvx2:
      return has2 ? Avx2Kernel() : nullptr;
    case GemmKernel::kScalar:
      return ScalarKernel();
    case GemmKernel::kAuto:
      break;
  }
  if (has512) return Avx512Kernel();
  if (has2) return Avx2Kernel();
  return ScalarKernel();
}

const KernelDesc* Resolve(GemmKernel want) { return Tuned(ResolveUntuned(want)); }

std::atomic<const KernelDesc*>& Current() {
  static std::atomic<const KernelDesc*> current{[] {
    const char* env = std::getenv("MOELAB_GEMM_KERNEL");
    GemmKernel want = GemmKernel::kAuto;
    if (env != nullptr) {
      if (std::strcmp(env, "avx512") == 0) want = GemmKernel::kAvx512;
      if (std::strcmp(env, "avx2") == 0) want = GemmKernel::kAvx2;
      if (std::strcmp(env, "scalar") == 0) want = GemmKernel::kScalar;
    }
    // A kernel this CPU cannot run falls back to the best one it can.
    const KernelDesc* d = Resolve(want);
    return d != nullptr ? d : Resolve(GemmKernel::kAuto);
  }()};
  return current;
}

// ---- buffers ---------------------------------------------------------------------------------

// A per-thread, 64-byte aligned scratch area that only grows.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* Get(size_t floats) {
    if (floats > cap_) {
      std::free(data_);
      cap_ = std::max(floats, cap_ * 2);
      data_ = static_cast<float*>(std::aligned_alloc(64, (cap_ * sizeof(float) + 63) / 64 * 64));
      if (data_ == nullptr) {
        cap_ = 0;
        throw std::bad_alloc();
      }
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

thread_local Scratch tl_pack_a;
thread_local Scratch tl_pack_b;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// ---- driver ----------------------------------------------------------------------------------

// Below this many multiply-adds a product runs on the calling thread: waking workers costs more.
constexpr int64_t kParallelMacs = int64_t{1} << 20;
// Columns of B packed per block; whole problems up to this width share one packing pass.
constexpr int64_t kNc = 4096;
// Bound on a packed block of B (32 MiB), so very deep products use narrower column blocks.
constexpr int64_t kPackBFloats = int64_t{8} << 20;

struct Problem {
  bool ta, tb;
  int64_t m, n, k;
  float alpha;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float beta;
  float* c;
  int64_t ldc;
};

void ScaleC(const Problem& p) {
  for (int64_t i = 0; i < p.m; ++i) {
    float* row = p.c + i * p.ldc;
    if (p.beta == 0.f)
      std::fill(row, row + p.n, 0.f);
    else if (p.beta != 1.f)
      for (int64_t j = 0; j < p.n; ++j) row[j] *= p.beta;
  }
}

// Multiplies rows [mp0, mp1) x columns [np0, np1) of micro-panels for one column block jc.
void ComputeBlock(const KernelDesc& kd, const Problem& p, const float* bpacked, int64_t jc,
                  int64_t nc, int64_t mp0, int64_t mp1, int64_t np0, int64_t np1) {
  const int mr_full = kd.mr, nr_full = kd.nr;
  const int64_t npanels = (nc + nr_full - 1) / nr_full;
  const int64_t mc_panels = kd.mc / mr_full;
  float* ap = tl_pack_a.Get(static_cast<size_t>(kd.mc * kd.kc));
  alignas(64) float tile[16 * 64];  // big enough for every kernel's MR x NR
  for (int64_t pc = 0; pc < p.k; pc += kd.kc) {
    const int64_t kcur = std::min(kd.kc, p.k - pc);
    const float beta = pc == 0 ? p.beta : 1.f;
    const float* bblock = bpacked + pc * npanels * nr_full;
    for (int64_t ic = mp0; ic < mp1; ic += mc_panels) {
      const int64_t icn = std::min(mc_panels, mp1 - ic);
      const int64_t row0 = ic * mr_full;
      const int64_t rows = std::min(icn * mr_full, p.m - row0);
      kd.pack_a(p.ta, p.a, p.lda, row0, rows, pc, kcur, ap);
      for (int64_t jr = np0; jr < np1; ++jr) {
        const float* bpanel = bblock + jr * kcur * nr_full;
        const int64_t col0 = jc + jr * nr_full;
        const int64_t cols = std::min<int64_t>(nr_full, jc + nc - col0);
        for (int64_t ir = 0; ir < icn; ++ir) {
          const int64_t r0 = row0 + ir * mr_full;
          const int64_t mrows = std::min<int64_t>(mr_full, p.m - r0);
          float* cptr = p.c + r0 * p.ldc + col0;
          const float* apanel = ap + ir * kcur * mr_full;
          if (mrows == mr_full && cols == nr_full) {
            kd.kernel(kcur, apanel, bpanel, cptr, p.ldc, p.alpha, beta);
            continue;
          }
          if (kd.edge_kernel != nullptr) {
            kd.edge_kernel(kcur, apanel, bpanel, cptr, p.ldc, p.alpha, beta,
                           static_cast<int>(mrows), static_cast<int>(cols));
            continue;
          }
          // Edge tile: compute the full tile aside, then update only the valid part of C.
          kd.kernel(kcur, apanel, bpanel, tile, nr_full, 1.f, 0.f);
          for (int64_t r = 0; r < mrows; ++r) {
            float* crow = cptr + r * p.ldc;
            const float* trow = tile + r * nr_full;
            if (beta == 0.f)
              for (int64_t j = 0; j < cols; ++j) crow[j] = p.alpha * trow[j];
            else
              for (int64_t j = 0; j < cols; ++j) crow[j] = p.alpha * trow[j] + beta * crow[j];
          }
        }
      }
    }
  }
}

// ---- a few rows (decoding: M = batch <= 4) ------------------------------------------------------
// Packing B costs more than the whole product when A has a few rows: the kernel's small_m runs
// straight from the operands (rows of op(A) copied first when A is transposed).
void GemmSmallM(const KernelDesc& kd, const Problem& p, bool parallel) {
  std::vector<float> arows;
  const float* rows[kSmallM];
  if (p.ta) {
    arows.resize(static_cast<size_t>(p.m * p.k));
    for (int64_t i = 0; i < p.m; i++)
      for (int64_t kk = 0; kk < p.k; kk++) arows[i * p.k + kk] = p.a[kk * p.lda + i];
    for (int64_t i = 0; i < p.m; i++) rows[i] = arows.data() + i * p.k;
  } else {
    for (int64_t i = 0; i < p.m; i++) rows[i] = p.a + i * p.lda;
  }
  constexpr int64_t kCols = 256;
  auto run = [&](int64_t j0, int64_t j1) {
    float tmp[kSmallM * kCols];
    for (int64_t c0 = j0; c0 < j1; c0 += kCols) {
      const int64_t c1 = std::min(j1, c0 + kCols), cw = c1 - c0;
      kd.small_m(p.tb, rows, static_cast<int>(p.m), p.b, p.ldb, p.k, c0, c1, tmp);
      for (int64_t i = 0; i < p.m; i++) {
        float* crow = p.c + i * p.ldc + c0;
        const float* t = tmp + i * cw;
        if (p.beta == 0.f)
          for (int64_t j = 0; j < cw; j++) crow[j] = p.alpha * t[j];
        else
          for (int64_t j = 0; j < cw; j++) crow[j] = p.alpha * t[j] + p.beta * crow[j];
      }
    }
  };
  // Columns are split over threads only for large products (waking a thread costs more than a
  // decode-sized product); a column's sum is the same whichever thread computes it.
  if (parallel && double(p.m) * p.n * p.k >= kParallelMacs && NumThreads() > 1)
    ParallelFor(p.n, 64, run);
  else
    run(0, p.n);
}

void GemmOne(const KernelDesc& kd, const Problem& p, bool parallel) {
  if (p.m <= 0 || p.n <= 0) return;
  if (p.k <= 0 || p.alpha == 0.f) {
    ScaleC(p);
    return;
  }
  if (p.m <= kSmallM && kd.small_m != nullptr) {
    GemmSmallM(kd, p, parallel);
    return;
  }
  const int64_t mpanels = (p.m + kd.mr - 1) / kd.mr;
  const int64_t block_n =
      std::max<int64_t>(kd.nr, std::min(kNc, kPackBFloats / p.k / kd.nr * kd.nr));
  const bool worth_threads = parallel && double(p.m) * p.n * p.k >= kParallelMacs &&
                             mpanels * ((std::min(block_n, p.n) + kd.nr - 1) / kd.nr) >= 2;
  const int threads = worth_threads ? std::max(1, NumThreads()) : 1;
  for (int64_t jc = 0; jc < p.n; jc += block_n) {
    const int64_t nc = std::min(block_n, p.n - jc);
    const int64_t npanels = (nc + kd.nr - 1) / kd.nr;
    float* bp = tl_pack_b.Get(static_cast<size_t>(p.k * npanels * kd.nr));
    auto pack_b = [&](int64_t j0, int64_t j1) {
      for (int64_t pc = 0; pc < p.k; pc += kd.kc) {
        const int64_t kcur = std::min(kd.kc, p.k - pc);
        const int64_t first = j0 * kd.nr;
        const int64_t width = std::min(j1 * kd.nr, nc) - first;
        kd.pack_b(p.tb, p.b, p.ldb, pc, kcur, jc + first, width,
                  bp + pc * npanels * kd.nr + j0 * kcur * kd.nr);
      }
    };
    if (threads == 1) {
      pack_b(0, npanels);
      ComputeBlock(kd, p, bp, jc, nc, 0, mpanels, 0, npanels);
      continue;
    }
    // One parallel region per column block: threads first share the packing of B panel by
    // panel, then pull tiles of C from a queue, so a thread that starts late (a busy machine)
    // just takes fewer tiles. Tiles are a few micro-panels high; C is split along N only when
    // M is too short to give every thread several tiles.
    const int64_t want_tiles = 8 * threads;
    const int64_t tile_m = std::max<int64_t>(1, std::min(kd.mc / kd.mr, mpanels / want_tiles));
    const int64_t tiles_m = (mpanels + tile_m - 1) / tile_m;
    const int64_t tiles_n = std::min(npanels, std::max<int64_t>(1, want_tiles / (2 * tiles_m)));
    const int64_t tiles = tiles_m * tiles_n;
    std::atomic<int64_t> next_pack{0}, packed{0}, next_tile{0};
    ParallelFor(threads, 1, [&](int64_t, int64_t) {
      for (int64_t g; (g = next_pack.fetch_add(1)) < npanels;) {
        pack_b(g, g + 1);
        packed.fetch_add(1, std::memory_order_release);
      }
      // Panels still being packed are in the hands of a running thread: wait for them.
      for (int spins = 0; packed.load(std::memory_order_acquire) < npanels; ++spins) {
        if (spins < 4096)
          CpuRelax();
        else
          std::this_thread::yield();
      }
      for (int64_t t; (t = next_tile.fetch_add(1)) < tiles;) {
        const int64_t mi = t / tiles_n, ni = t % tiles_n;
        ComputeBlock(kd, p, bp, jc, nc, mi * tile_m, std::min(mpanels, (mi + 1) * tile_m),
                     npanels * ni / tiles_n, npanels * (ni + 1) / tiles_n);
      }
    });
  }
}

}  // namespace
}  // namespace gemm

const char* GemmKernelName() { return gemm::Current().load()->name; }

bool SetGemmKernel(GemmKernel kernel) {
  const gemm::KernelDesc* d = gemm::Resolve(kernel);
  if (d == nullptr) return false;
  gemm::Current().store(d);
  return true;
}

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  const gemm::Problem p{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  gemm::GemmOne(*gemm::Current().load(), p, true);
}

void SgemmBatched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                  int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                  int64_t batch) {
  if (batch <= 0) return;
  const gemm::KernelDesc& kd = *gemm::Current().load();
  auto one = [&](int64_t i, bool parallel) {
    const gemm::Problem p{trans_a, trans_b, m,     n,    k,   alpha, a + i * stride_a, lda,
                          b + i * stride_b, ldb, beta, c + i * stride_c, ldc};
    gemm::GemmOne(kd, p, parallel);
  };
  const int threads = NumThreads();
  const double macs = double(m) * n * k;  // double: no overflow on absurd shapes
  // Many small products: one per thread at a time beats splitting each of them.
  const bool by_batch = threads > 1 && batch >= threads && macs * batch >= gemm::kParallelMacs &&
                        (batch >= 4 * threads || batch % threads == 0 ||
                         macs < 8 * gemm::kParallelMacs);
  if (!by_batch) {
    for (int64_t i = 0; i < batch; ++i) one(i, true);
    return;
  }
  // Products are pulled one at a time, so a thread that starts late just does fewer.
  std::atomic<int64_t> next{0};
  ParallelFor(std::min<int64_t>(batch, threads), 1, [&](int64_t, int64_t) {
    for (int64_t i; (i = next.fetch_add(1)) < batch;) one(i, false);
  });
}

}  // namespace moelab
