"""A peer's own GEMM rate, for the set-up line under every benchmark table: float32 512^3 matmul
GFLOP/s of torch or numpy (median of 20), with the BLAS library the process actually loaded.

Usage: python3 bench/peer_gemm_rate.py torch|numpy THREADS   -> one JSON line
"""
import json
import sys
import time


def main() -> None:
    lib, threads = sys.argv[1], int(sys.argv[2])
    n = 512
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        a, b = torch.rand(n, n) - 0.5, torch.rand(n, n) - 0.5
        c = torch.empty(n, n)
        fn = lambda: torch.matmul(a, b, out=c)
        version = "torch " + torch.__version__
    else:
        import numpy as np

        rng = np.random.default_rng(1)
        a = rng.random((n, n), dtype=np.float32) - 0.5
        b = rng.random((n, n), dtype=np.float32) - 0.5
        c = np.empty((n, n), dtype=np.float32)
        fn = lambda: np.matmul(a, b, out=c)
        version = "numpy " + np.__version__
    for _ in range(3):
        fn()
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    gflops = 2 * n**3 / times[len(times) // 2] / 1e9
    # The BLAS this process really uses (the Debian alternative, or a wheel's bundled copy).
    blas = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = path.rsplit("/", 1)[-1]
            if any(k in name for k in ("blas", "lapack", "mkl")) and "lapack" not in name:
                blas.add(path)
    print(json.dumps({"lib": lib, "version": version, "gflops": gflops, "blas": sorted(blas)}))


if __name__ == "__main__":
    main()
