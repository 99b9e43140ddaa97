// One process-wide pool of worker threads shared by every kernel of the addon (and by every
// JS thread that calls into it). ParallelFor splits [0, n) into contiguous chunks.
#pragma once
#include <cstdint>
#include <functional>

namespace moelab {

// Number of threads kernels may use (>= 1). Defaults to the number of online cores, or
// MOELAB_NUM_THREADS when set.
int NumThreads();
void SetNumThreads(int n);

// Runs fn(begin, end) over disjoint chunks covering [0, n), at most NumThreads() at once, the
// calling thread included. Chunks are at least `grain` long. Returns when all are done.
// Nested calls (from inside fn) run serially on the calling thread. Any thread may call it (JS
// worker threads too): jobs from different threads queue and run one at a time, each split the
// same way whoever calls, so results do not depend on the calling thread. fn must not throw.
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace moelab
