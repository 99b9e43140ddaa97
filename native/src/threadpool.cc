#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "registry.h"

namespace moelab {
namespace {

thread_local bool tl_in_parallel = false;

// Spinning this long before sleeping lets back-to-back jobs (a training step issues thousands)
// skip the futex wake-up, while an idle pool still sleeps almost at once (~20-50 us).
constexpr int kSpinIterations = 1 << 9;

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
    // One job at a time: callers from several JS threads queue here.
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    EnsureWorkers(nchunks - 1);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_ = n;
      nchunks_ = nchunks;
      next_.store(1);
      pending_.store(nchunks - 1);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    tl_in_parallel = true;
    RunChunk(0);
    // Help with chunks no worker has picked up yet.
    for (int c; (c = next_.fetch_add(1)) < nchunks_;) {
      RunChunk(c);
      pending_.fetch_sub(1);
    }
    tl_in_parallel = false;
    for (int i = 0; i < kSpinIterations && pending_.load() != 0; ++i) CpuRelax();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return pending_.load() == 0; });
    fn_ = nullptr;
  }

 private:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("MOELAB_NUM_THREADS")) n = std::atoi(env);
    threads_.store(std::max(1, n));
  }

  void RunChunk(int c) {
    int64_t begin = n_ * c / nchunks_;
    int64_t end = n_ * (c + 1) / nchunks_;
    if (begin < end) (*fn_)(begin, end);
  }

  void EnsureWorkers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      workers_.emplace_back([this] { WorkerLoop(); });
      workers_.back().detach();
    }
  }

  void WorkerLoop() {
    tl_in_parallel = true;
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpinIterations && generation_.load() == seen; ++i) CpuRelax();
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_.load() != seen; });
        seen = generation_.load();
      }
      for (int c; (c = next_.fetch_add(1)) < nchunks_;) {
        RunChunk(c);
        if (pending_.fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> lk(m_);
          done_cv_.notify_all();
        }
      }
    }
  }

  std::atomic<int> threads_{1};
  std::mutex job_mutex_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int nchunks_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
};

void InitThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("getNumThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Number::New(info.Env(), NumThreads());
              }));
  exports.Set("setNumThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Env env = info.Env();
                if (info.Length() < 1 || !info[0].IsNumber() ||
                    info[0].As<Napi::Number>().Int32Value() < 1) {
                  Napi::TypeError::New(env, "setNumThreads(n): n must be an integer >= 1")
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
