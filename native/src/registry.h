// Self-registering modules of the moelab addon: each .cc file adds its exports with a static
// Registrar, so adding a kernel file never means editing a central list.
#pragma once
#include <napi.h>

namespace moelab {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

// Called at static-initialisation time; `name` is for diagnostics only.
void RegisterModule(const char* name, InitFn fn);

struct Registrar {
  Registrar(const char* name, InitFn fn) { RegisterModule(name, fn); }
};

}  // namespace moelab
