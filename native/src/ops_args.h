// Argument checking shared by the ops_*.cc kernels: every typed array is checked for its type
// and for the extent a kernel will touch, so a wrong call throws instead of reading out of bounds.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include "checked.h"

namespace moelab {
namespace ops {

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;
  bool ok = true;

  Args(const Napi::CallbackInfo& i, const char* name, size_t count) : info(i), fn(name) {
    if (info.Length() < count) Fail(std::string("expected ") + std::to_string(count) + " arguments");
  }

  void Fail(const std::string& msg) {
    if (!ok) return;
    ok = false;
    Napi::TypeError::New(info.Env(), std::string(fn) + ": " + msg).ThrowAsJavaScriptException();
  }

  double Num(size_t i, const char* name) {
    if (!ok) return 0;
    if (!info[i].IsNumber()) {
      Fail(std::string(name) + " must be a number");
      return 0;
    }
    return info[i].As<Napi::Number>().DoubleValue();
  }

  // A non-negative integer count or offset.
  int64_t Int(size_t i, const char* name, bool allowNegative = false) {
    double v = Num(i, name);
    if (!ok) return 0;
    if (v != std::floor(v) || std::fabs(v) > 9.0e15 || (!allowNegative && v < 0)) {
      Fail(std::string(name) + " must be a " + (allowNegative ? "" : "non-negative ") + "integer");
      return 0;
    }
    return static_cast<int64_t>(v);
  }

  // The product of `dims` (named `what`, e.g. "rows x cols"), every step checked: sizes near 2^32
  // multiplied in int64 would wrap to a small extent and let a kernel run off its buffers.
  int64_t Size(std::initializer_list<int64_t> dims, const char* what) {
    if (!ok) return 0;
    int64_t p = 0;
    if (!CheckedProduct(dims, &p)) {
      Fail(std::string(what) + " = " + JoinDims(dims) + " is too large (more than 2^53 elements)");
      return 0;
    }
    return p;
  }

  // a + b, checked like Size.
  int64_t Add(int64_t a, int64_t b, const char* what) {
    if (!ok) return 0;
    int64_t s = 0;
    if (!CheckedAdd(a, b, &s)) {
      Fail(std::string(what) + " is too large (more than 2^53 elements)");
      return 0;
    }
    return s;
  }

  bool Bool(size_t i, const char* name) {
    if (!ok) return false;
    if (!info[i].IsBoolean()) {
      Fail(std::string(name) + " must be a boolean");
      return false;
    }
    return info[i].As<Napi::Boolean>().Value();
  }

  // A Float32Array with at least `need` elements.
  float* F32(size_t i, const char* name, int64_t need) {
    if (!ok) return nullptr;
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      Fail(std::string(name) + " must be a Float32Array");
      return nullptr;
    }
    auto a = info[i].As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) < need) {
      Fail(std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, needs " + std::to_string(need));
      return nullptr;
    }
    return a.Data();
  }

  int32_t* I32(size_t i, const char* name, int64_t need) {
    if (!ok) return nullptr;
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      Fail(std::string(name) + " must be an Int32Array");
      return nullptr;
    }
    auto a = info[i].As<Napi::Int32Array>();
    if (static_cast<int64_t>(a.ElementLength()) < need) {
      Fail(std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, needs " + std::to_string(need));
      return nullptr;
    }
    return a.Data();
  }
};

// exp(x) with ~1 ulp error, branch-free so loops over it vectorise; exp(-inf) = 0, NaN stays NaN.
static inline float ExpF(float x) {
  float c = x < -87.3f ? -87.3f : x;
  c = c > 88.7f ? 88.7f : c;
  float t = c * 1.44269504088896341f;
  float fn = (t + 12582912.0f) - 12582912.0f;
  float r = c - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t n = static_cast<int32_t>(fn);
  int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  float v = p * scale;
  v = x < -87.3f ? 0.0f : v;
  v = x > 88.7f ? INFINITY : v;
  return x != x ? x : v;
}

static inline int64_t Grain(int64_t perItem) {
  // Aim for ~32K elements of work per chunk so threading pays for itself.
  int64_t g = 32768 / (perItem > 0 ? perItem : 1);
  return g > 0 ? g : 1;
}

}  // namespace ops
}  // namespace moelab
