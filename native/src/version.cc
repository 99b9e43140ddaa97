// Build facts the TypeScript side reports (and tests check): compiler and vector ISA support.
#include "registry.h"

namespace moelab {
namespace {

void InitVersion(Napi::Env env, Napi::Object exports) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("compiler", Napi::String::New(env, __VERSION__));
  info.Set("avx512f", Napi::Boolean::New(env, __builtin_cpu_supports("avx512f")));
  info.Set("avx2", Napi::Boolean::New(env, __builtin_cpu_supports("avx2")));
  info.Set("fma", Napi::Boolean::New(env, __builtin_cpu_supports("fma")));
  exports.Set("buildInfo", info);
}

Registrar reg("version", InitVersion);

}  // namespace
}  // namespace moelab
