// JS binding of the SGEMM. Every argument is checked here, so the C++ below never reads or
// writes outside the caller's Float32Arrays.
//   sgemm(transA, transB, M, N, K, alpha, A, aOffset, lda, B, bOffset, ldb, beta, C, cOffset,
//         ldc, batch = 1, strideA = 0, strideB = 0, strideC = 0): void
//   sgemmInfo(): { kernel: "avx512" | "avx2" | "scalar", threads: number }
//   sgemmSetKernel(name: "auto" | "avx512" | "avx2" | "scalar"): boolean  (false: CPU lacks it)
#include <cmath>
#include <cstdint>
#include <new>
#include <string>

#include "gemm.h"
#include "registry.h"
#include "threadpool.h"

namespace moelab {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// Reports the first bad argument as a JS exception; every check returns false after a throw.
struct Args {
  const Napi::CallbackInfo& info;
  bool ok = true;

  bool Fail(bool range, const std::string& msg) {
    if (ok) {
      const std::string text = "sgemm: " + msg;
      if (range)
        Napi::RangeError::New(info.Env(), text).ThrowAsJavaScriptException();
      else
        Napi::TypeError::New(info.Env(), text).ThrowAsJavaScriptException();
    }
    ok = false;
    return false;
  }

  // Raw N-API below: one call per argument keeps a tiny product's overhead near 1 us.
  bool Bool(size_t i, const char* name) {
    bool v = false;
    if (ok && napi_get_value_bool(info.Env(), info[i], &v) != napi_ok)
      Fail(false, std::string(name) + " must be a boolean");
    return v;
  }

  double Number(size_t i, const char* name) {
    double v = 0;
    if (ok && napi_get_value_double(info.Env(), info[i], &v) != napi_ok)
      Fail(false, std::string(name) + " must be a number");
    return v;
  }

  // A non-negative integer; `fallback` when the argument is absent or undefined.
  int64_t Count(size_t i, const char* name, int64_t fallback = -1) {
    if (!ok) return 0;
    if (fallback >= 0 && (i >= info.Length() || info[i].IsUndefined())) return fallback;
    double v = 0;
    if (napi_get_value_double(info.Env(), info[i], &v) != napi_ok)
      return Fail(false, std::string(name) + " must be a number"), 0;
    if (!(v >= 0) || v != std::floor(v) || v > kMaxSafeInteger)
      return Fail(true, std::string(name) + " must be a non-negative integer, got " +
                            std::to_string(v)),
             0;
    return static_cast<int64_t>(v);
  }

  struct FloatArray {
    float* data = nullptr;
    size_t length = 0;
  };

  FloatArray Floats(size_t i, const char* name) {
    FloatArray out;
    if (!ok) return out;
    napi_typedarray_type type;
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    // Fails (without a pending exception) for anything that is not a typed array.
    if (napi_get_typedarray_info(info.Env(), info[i], &type, &out.length, &data, &buffer,
                                 &offset) != napi_ok ||
        type != napi_float32_array) {
      Fail(false, std::string(name) + " must be a Float32Array");
      return FloatArray();
    }
    out.data = static_cast<float*>(data);
    if (out.data == nullptr) out.length = 0;  // detached
    return out;
  }
};

// Checks that the rows x cols matrices (leading dimension ld) of every batch lie inside arr
// from offset on; returns the index one past the last element touched (0 if none).
double Extent(Args& args, const char* name, size_t length, int64_t offset, int64_t rows,
              int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  if (!args.ok || rows == 0 || cols == 0 || batch == 0) return 0;
  const double end = static_cast<double>(offset) + static_cast<double>(batch - 1) * stride +
                     static_cast<double>(rows - 1) * ld + static_cast<double>(cols);
  if (end > static_cast<double>(length))
    args.Fail(true, std::string(name) + " is too short: needs " + std::to_string(int64_t(end)) +
                        " elements from its start (" + std::to_string(rows) + "x" +
                        std::to_string(cols) + " with leading dimension " + std::to_string(ld) +
                        (batch > 1 ? ", " + std::to_string(batch) + " batches" : std::string()) +
                        ", offset " + std::to_string(offset) + "), has " +
                        std::to_string(length));
  return end;
}

bool Overlap(const float* a, double a_begin, double a_end, const float* c, double c_begin,
             double c_end) {
  if (a_end <= a_begin || c_end <= c_begin) return false;
  const double pa = static_cast<double>(reinterpret_cast<uintptr_t>(a));
  const double pc = static_cast<double>(reinterpret_cast<uintptr_t>(c));
  const double a0 = pa + 4 * a_begin, a1 = pa + 4 * a_end;
  const double c0 = pc + 4 * c_begin, c1 = pc + 4 * c_end;
  return a0 < c1 && c0 < a1;
}

Napi::Value SgemmJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 16) {
    Napi::TypeError::New(env,
                         "sgemm(transA, transB, M, N, K, alpha, A, aOffset, lda, B, bOffset, "
                         "ldb, beta, C, cOffset, ldc, batch?, strideA?, strideB?, strideC?) "
                         "takes at least 16 arguments, got " +
                             std::to_string(info.Length()))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Args args{info};
  const bool ta = args.Bool(0, "transA");
  const bool tb = args.Bool(1, "transB");
  const int64_t m = args.Count(2, "M");
  const int64_t n = args.Count(3, "N");
  const int64_t k = args.Count(4, "K");
  const double alpha = args.Number(5, "alpha");
  const Args::FloatArray a = args.Floats(6, "A");
  const int64_t a_off = args.Count(7, "aOffset");
  const int64_t lda = args.Count(8, "lda");
  const Args::FloatArray b = args.Floats(9, "B");
  const int64_t b_off = args.Count(10, "bOffset");
  const int64_t ldb = args.Count(11, "ldb");
  const double beta = args.Number(12, "beta");
  const Args::FloatArray c = args.Floats(13, "C");
  const int64_t c_off = args.Count(14, "cOffset");
  const int64_t ldc = args.Count(15, "ldc");
  const int64_t batch = args.Count(16, "batch", 1);
  const int64_t stride_a = args.Count(17, "strideA", 0);
  const int64_t stride_b = args.Count(18, "strideB", 0);
  const int64_t stride_c = args.Count(19, "strideC", 0);
  if (!args.ok) return env.Undefined();

  // op(A) is M x K: A itself is rows_a x cols_a in memory, likewise B.
  const int64_t rows_a = ta ? k : m, cols_a = ta ? m : k;
  const int64_t rows_b = tb ? n : k, cols_b = tb ? k : n;
  auto need_ld = [&](const char* name, int64_t ld, int64_t cols, const char* what) {
    if (args.ok && ld < std::max<int64_t>(1, cols))
      args.Fail(true, std::string(name) + " (" + std::to_string(ld) + ") must be >= " +
                          std::to_string(std::max<int64_t>(1, cols)) + ", the " + what);
  };
  need_ld("lda", lda, cols_a, ta ? "M columns of A (transA)" : "K columns of A");
  need_ld("ldb", ldb, cols_b, tb ? "K columns of B (transB)" : "N columns of B");
  need_ld("ldc", ldc, n, "N columns of C");
  // In double: (m - 1) * ldc of two hostile counts would wrap in int64 and pass.
  const double c_span = static_cast<double>(m - 1) * static_cast<double>(ldc) + static_cast<double>(n);
  if (args.ok && batch > 1 && m > 0 && n > 0 && static_cast<double>(stride_c) < c_span)
    args.Fail(true, "strideC (" + std::to_string(stride_c) + ") must be >= " +
                        std::to_string(c_span) + " so that the batches of C do not overlap");
  // A and B are read only when there is something to accumulate.
  const bool reads_ab = k > 0 && m > 0 && n > 0;
  const double a_end = reads_ab ? Extent(args, "A", a.length, a_off, rows_a, cols_a,
                                         lda, batch, stride_a)
                                : 0;
  const double b_end = reads_ab ? Extent(args, "B", b.length, b_off, rows_b, cols_b,
                                         ldb, batch, stride_b)
                                : 0;
  const double c_end = Extent(args, "C", c.length, c_off, m, n, ldc, batch, stride_c);
  if (!args.ok) return env.Undefined();
  if (m == 0 || n == 0 || batch == 0) return env.Undefined();

  float* cp = c.data;
  const float* ap = a.data;
  const float* bp = b.data;
  if (reads_ab && Overlap(ap, a_off, a_end, cp, c_off, c_end)) {
    args.Fail(true, "C overlaps A in memory; the result must go to a separate buffer");
    return env.Undefined();
  }
  if (reads_ab && Overlap(bp, b_off, b_end, cp, c_off, c_end)) {
    args.Fail(true, "C overlaps B in memory; the result must go to a separate buffer");
    return env.Undefined();
  }
  try {
    SgemmBatched(ta, tb, m, n, k, static_cast<float>(alpha), ap + a_off, lda, stride_a,
                 bp + b_off, ldb, stride_b, static_cast<float>(beta), cp + c_off, ldc, stride_c,
                 batch);
  } catch (const std::bad_alloc&) {
    Napi::Error::New(env, "sgemm: out of memory for packing buffers").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value SgemmInfoJs(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("kernel", Napi::String::New(info.Env(), GemmKernelName()));
  out.Set("threads", Napi::Number::New(info.Env(), NumThreads()));
  return out;
}

Napi::Value SgemmSetKernelJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info.Length() > 0 && info[0].IsString()
                               ? info[0].As<Napi::String>().Utf8Value()
                               : std::string();
  GemmKernel want;
  if (name == "auto")
    want = GemmKernel::kAuto;
  else if (name == "avx512")
    want = GemmKernel::kAvx512;
  else if (name == "avx2")
    want = GemmKernel::kAvx2;
  else if (name == "scalar")
    want = GemmKernel::kScalar;
  else {
    Napi::TypeError::New(env, "sgemmSetKernel(name): name must be \"auto\", \"avx512\", "
                              "\"avx2\" or \"scalar\"")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, SetGemmKernel(want));
}

void InitGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, SgemmJs, "sgemm"));
  exports.Set("sgemmInfo", Napi::Function::New(env, SgemmInfoJs, "sgemmInfo"));
  exports.Set("sgemmSetKernel", Napi::Function::New(env, SgemmSetKernelJs, "sgemmSetKernel"));
}

Registrar reg("gemm", InitGemm);

}  // namespace
}  // namespace moelab
