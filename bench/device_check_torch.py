"""Times torch._scaled_mm (PyTorch's FP8 GEMM) on the shapes check_fp8 timed, and prints a
side-by-side table with moelab's CUDA FP8 GEMM (read from check_fp8's JSON lines).

Usage: python3 bench/device_check_torch.py CHECK_OUTPUT.jsonl
torch._scaled_mm is tried with DeepSeek's block scaling (1x128 x 128x128) first, then row-wise,
then per-tensor scales, whichever this torch build supports; the table says which ran.
The timings are NOT interleaved: moelab's kernels were timed by check_fp8 in an earlier process,
torch's here afterwards on the same GPU; the table's heading says so.
"""
import json
import sys

import torch


def timed(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def scaled_mm(m, n, k):
    """Returns (mode, ms, use_fast_accum) for the most faithful scaling this torch supports."""
    a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
    w = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn)
    b = w.t()  # column-major [K, N], as _scaled_mm wants
    kb = (k + 127) // 128
    candidates = [
        ("block 1x128 x 128x128", torch.ones(m, kb, device="cuda"), torch.ones((n + 127) // 128, kb, device="cuda").t()),
        ("row-wise", torch.ones(m, 1, device="cuda"), torch.ones(1, n, device="cuda")),
        ("per-tensor", torch.ones((), device="cuda"), torch.ones((), device="cuda")),
    ]
    for mode, sa, sb in candidates:
        try:
            f = lambda: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.float32, use_fast_accum=False)
            f()
            torch.cuda.synchronize()
            return mode, timed(f)
        except Exception as e:  # this torch does not take that scaling: try the next
            last = f"{mode}: {str(e).splitlines()[0][:120]}"
    return f"none ({last})", float("nan")


def main():
    lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    times = [l for l in lines if l.get("kind") == "time"]
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    rows = [["shape M x N x K", "moelab fp8 gemm TFLOP/s", "moelab +quantize TFLOP/s", "torch._scaled_mm TFLOP/s", "scaling", "ratio (gemm)", "torch bf16 TFLOP/s"]]
    for t in times:
        m, n, k = t["shape"]
        flop = 2.0 * m * n * k
        mode, ms = scaled_mm(m, n, k)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        bf = timed(lambda: x @ y)
        tt = flop / (ms * 1e-3) / 1e12
        rows.append([f"{m} x {n} x {k}", f"{t['gemm_tflops']:.1f}", f"{t['with_quantize_tflops']:.1f}", f"{tt:.1f}", mode, f"{t['gemm_tflops'] / tt:.2f}x", f"{flop / (bf * 1e-3) / 1e12:.1f}"])
    print("Not interleaved: moelab's columns come from check_fp8's earlier process, torch's are timed"
          " here afterwards on the same GPU (clocks and other load may differ between the two).")
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    for r in rows:
        print("| " + " | ".join(s.ljust(w) for s, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()
