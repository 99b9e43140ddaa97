// Native memory that JS objects keep alive, reported to V8 with napi_adjust_external_memory so
// the garbage collector runs (and finalizers free buffers) when native storage piles up, not
// only when the JS heap does. Header-only; any kernel file may include it.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace moelab {

// Adds (bytes > 0) or removes (bytes < 0) native bytes from what V8 counts as held by JS.
// Returns V8's new total, or -1 if the call failed.
inline int64_t AdjustExternalMemory(Napi::Env env, int64_t bytes) {
  int64_t total = 0;
  return napi_adjust_external_memory(env, bytes, &total) == napi_ok ? total : -1;
}

// Keeps V8's count in step with one native allocation: +bytes now, -bytes on Release() or
// destruction. Use one per buffer whose lifetime a JS object controls (a tensor's storage).
class ExternalMemoryCharge {
 public:
  ExternalMemoryCharge(Napi::Env env, int64_t bytes) : env_(env), bytes_(bytes) {
    if (bytes_ > 0) AdjustExternalMemory(env_, bytes_);
  }
  ~ExternalMemoryCharge() { Release(); }
  ExternalMemoryCharge(const ExternalMemoryCharge&) = delete;
  ExternalMemoryCharge& operator=(const ExternalMemoryCharge&) = delete;

  // Must run on the JS thread that owns env (finalizers do).
  void Release() {
    if (bytes_ > 0) AdjustExternalMemory(env_, -bytes_);
    bytes_ = 0;
  }
  int64_t bytes() const { return bytes_; }

 private:
  Napi::Env env_;
  int64_t bytes_;
};

// A zero-filled, 64-byte aligned ArrayBuffer owned by V8: its finalizer frees the storage and
// takes the bytes back out of V8's external count. Throws (returns empty) when out of memory.
inline Napi::ArrayBuffer NewAlignedArrayBuffer(Napi::Env env, size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (data == nullptr) {
    Napi::RangeError::New(env, "out of memory allocating " + std::to_string(bytes) + " bytes")
        .ThrowAsJavaScriptException();
    return Napi::ArrayBuffer();
  }
  std::memset(data, 0, rounded == 0 ? 64 : rounded);
  AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  return Napi::ArrayBuffer::New(
      env, data, bytes,
      [](Napi::Env fin_env, void* p, size_t* size) {
        std::free(p);
        AdjustExternalMemory(fin_env, -static_cast<int64_t>(*size));
        delete size;
      },
      new size_t(bytes));
}

}  // namespace moelab
