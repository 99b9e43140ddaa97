#!/usr/bin/env bash
# One call on a GPU machine (sm_89/sm_90): builds moelab's CUDA FP8 kernels, checks them against
# the CPU path on random inputs, and times the FP8 GEMM against torch._scaled_mm.
#   1. native/cuda/build.sh                      (nvcc, sm_90 + sm_89)
#   2. build/cuda/check_fp8 --dump DIR           (GPU vs host reference: bit-exact quantization,
#                                                 GEMM within 1e-3 of FP64; times the kernels)
#   3. node native/cuda/compare_cpu.js DIR       (GPU vs moelab's own lib/fp8, when node and
#                                                 dist/ are present: carry dist and build)
#   4. python3 bench/device_check_torch.py       (torch._scaled_mm timings, side-by-side table)
# Usage: bash bench/device-check.sh [--quick]   Results also go to $OUT (or /tmp) when set.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/moelab-device-check}"
mkdir -p "$out/dump"
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
bash native/cuda/build.sh || { echo "device-check: CUDA build failed"; exit 1; }
./build/cuda/check_fp8 --dump "$out/dump" "$@" | tee "$out/check_fp8.jsonl"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && status=1
if command -v node >/dev/null 2>&1 && [ -f dist/lib/fp8/index.js ]; then
  node native/cuda/compare_cpu.js "$out/dump" | tee "$out/compare_cpu.jsonl" || status=1
else
  echo "device-check: node or dist/lib/fp8 missing: skipped the comparison with lib/fp8"
fi
py=python3
if ! "$py" -c "import torch" 2>/dev/null && [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; fi
if "$py" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  "$py" bench/device_check_torch.py "$out/check_fp8.jsonl" | tee "$out/table.md" || status=1
else
  echo "device-check: no CUDA-enabled torch: skipped the torch._scaled_mm comparison"
fi
grep -q '"ok": false' "$out/check_fp8.jsonl" && status=1
echo "device-check: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
