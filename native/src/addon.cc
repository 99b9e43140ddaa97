// Entry point of the moelab addon. N-API addons are context-aware, so this loads in worker
// threads (where the kernel runs cells) as well as on the main thread.
#include <vector>
#include <utility>
#include "registry.h"

namespace moelab {

static std::vector<std::pair<const char*, InitFn>>& Modules() {
  static std::vector<std::pair<const char*, InitFn>> modules;
  return modules;
}

void RegisterModule(const char* name, InitFn fn) { Modules().emplace_back(name, fn); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& m : Modules()) {
    m.second(env, exports);
    names.Set(i++, Napi::String::New(env, m.first));
  }
  exports.Set("modules", names);
  return exports;
}

}  // namespace moelab

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return moelab::Init(env, exports); }

NODE_API_MODULE(moelab_native, InitAddon)
