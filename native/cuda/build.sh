#!/usr/bin/env bash
# Compiles moelab's CUDA FP8 kernels for Hopper (sm_90) and Ada (sm_89) into build/cuda/:
#   libmoelab_fp8.a   fp8_quant + fp8_gemm (C API in native/cuda/fp8.h)
#   libmoelab_fp8.so  the same as a shared library (for ctypes / dlopen)
#   check_fp8         the check-and-time program (needs a GPU to run; compiling needs none)
# Usage: bash native/cuda/build.sh   (NVCC=/path/to/nvcc to choose the compiler)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/native/cuda"
out="$root/build/cuda"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$nvcc" ]; then
  echo "build.sh: nvcc not found (set NVCC)" >&2
  exit 1
fi
mkdir -p "$out"
arch=(-gencode arch=compute_90,code=sm_90 -gencode arch=compute_89,code=sm_89)
flags=(-std=c++17 -O3 -Xcompiler -fPIC -Werror all-warnings)
echo "build.sh: $("$nvcc" --version | tail -1)"
# the three translation units compile in parallel; any failure fails the build
pids=()
for unit in fp8_quant fp8_gemm check_fp8; do
  "$nvcc" "${flags[@]}" "${arch[@]}" -c "$src/$unit.cu" -o "$out/$unit.o" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
rm -f "$out/libmoelab_fp8.a"
ar rcs "$out/libmoelab_fp8.a" "$out/fp8_quant.o" "$out/fp8_gemm.o"
"$nvcc" "${arch[@]}" -shared "$out/fp8_quant.o" "$out/fp8_gemm.o" -o "$out/libmoelab_fp8.so"
"$nvcc" "${arch[@]}" "$out/check_fp8.o" "$out/libmoelab_fp8.a" -o "$out/check_fp8"
echo "build.sh: built $(cd "$out" && ls libmoelab_fp8.a libmoelab_fp8.so check_fp8 | tr '\n' ' ')in build/cuda"
