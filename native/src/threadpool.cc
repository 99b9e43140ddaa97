#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "registry.h"

namespace moelab {
namespace {

thread_local bool tl_in_parallel = false;

// Idle workers spin this long (~0.1 ms) before sleeping, so back-to-back jobs (a training step
// issues thousands) skip the futex wake-up while an idle pool still sleeps almost at once.
constexpr int kSpinIterations = 1 << 11;
// The caller waits for the last chunks spinning up to ~0.5 ms: once asleep it would have to win
// its core back from other processes before returning to JS.
constexpr int kWaitSpinIterations = 1 << 13;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

class Pool {
 public:
  static Pool& Get() {
    static Pool* pool = new Pool();  // never destroyed: worker threads may outlive static dtors
    return *pool;
  }

  int threads() const { return threads_.load(); }
  void set_threads(int n) { threads_.store(std::max(1, n)); }

  void Run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    int want = threads();
    int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
    int nchunks = static_cast<int>(std::min<int64_t>(want, max_chunks));
    if (nchunks <= 1 || tl_in_parallel) {
      fn(0, n);
      return;
    }
    // One job at a time: callers from several JS threads queue here, so a job always gets the
    // same chunks (results do not depend on which thread called).
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    EnsureWorkers(nchunks - 1);
    Job job{&fn, n, nchunks, 0};
    {
      std::lock_guard<std::mutex> lk(m_);
      job.generation = generation_.load() + 1;
      job_ = job;
      remaining_.store(nchunks);
      // Chunk claims carry the generation, so a worker that wakes late for an earlier job
      // can never take (or miscount) a chunk of this one.
      claims_.store(Pack(job.generation, 0));
      generation_.store(job.generation);
    }
    cv_.notify_all();
    tl_in_parallel = true;
    Work(job);
    tl_in_parallel = false;
    for (int i = 0; i < kWaitSpinIterations && remaining_.load() != 0; ++i) CpuRelax();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return remaining_.load() == 0; });
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n;
    int nchunks;
    uint32_t generation;
  };

  static uint64_t Pack(uint32_t generation, uint32_t chunk) {
    return (static_cast<uint64_t>(generation) << 32) | chunk;
  }

  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("MOELAB_NUM_THREADS")) n = std::atoi(env);
    threads_.store(std::max(1, n));
  }

  // Claims and runs chunks of `job` until none is left (or a newer job has replaced it).
  void Work(const Job& job) {
    uint64_t cur = claims_.load();
    for (;;) {
      if (static_cast<uint32_t>(cur >> 32) != job.generation) return;
      const uint32_t c = static_cast<uint32_t>(cur);
      if (static_cast<int>(c) >= job.nchunks) return;
      if (!claims_.compare_exchange_weak(cur, cur + 1)) continue;
      const int64_t begin = job.n * c / job.nchunks;
      const int64_t end = job.n * (c + 1) / job.nchunks;
      if (begin < end) (*job.fn)(begin, end);
      if (remaining_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_all();
      }
      cur = claims_.load();
    }
  }

  void EnsureWorkers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      workers_.emplace_back([this] { WorkerLoop(); });
      workers_.back().detach();
    }
  }

  void WorkerLoop() {
    tl_in_parallel = true;
    uint32_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpinIterations && generation_.load() == seen; ++i) CpuRelax();
      Job job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_.load() != seen; });
        job = job_;
        seen = job.generation;
      }
      Work(job);
    }
  }

  std::atomic<int> threads_{1};
  std::mutex job_mutex_;
  std::mutex m_;  // guards job_ and the generation change; the condition variables' mutex
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  Job job_{nullptr, 0, 0, 0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint64_t> claims_{0};  // generation << 32 | next chunk
  std::atomic<int> remaining_{0};    // chunks of the current job not yet finished
};

constexpr int kMaxThreads = 1024;

void InitThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("getNumThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Number::New(info.Env(), NumThreads());
              }));
  exports.Set("setNumThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Env env = info.Env();
                // Capped: each thread is an OS thread started on first use, so 1e9 must not be tried.
                const double n = info.Length() < 1 || !info[0].IsNumber() ? 0 : info[0].As<Napi::Number>().DoubleValue();
                if (!(n >= 1 && n <= kMaxThreads) || n != std::floor(n)) {
                  Napi::TypeError::New(env, "setNumThreads(n): n must be an integer in [1, " +
                                                 std::to_string(kMaxThreads) + "]")
                      .ThrowAsJavaScriptException();
                  return env.Undefined();
                }
                SetNumThreads(info[0].As<Napi::Number>().Int32Value());
                return env.Undefined();
              }));
}

Registrar reg("threads", InitThreads);

}  // namespace

int NumThreads() { return Pool::Get().threads(); }
void SetNumThreads(int n) { Pool::Get().set_threads(n); }
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool::Get().Run(n, grain, fn);
}

}  // namespace moelab
