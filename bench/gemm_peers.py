"""SGEMM peer for bench/gemm.ts: a persistent child timing numpy or torch matmuls on request.

Protocol (one JSON object per line each way):
  -> {"lib": "numpy" | "torch", "threads": 2}             first line; answered {"ready": ..., "version": ...}
  -> {"op": "run", "ta": bool, "tb": bool, "m": M, "n": N, "k": K, "batch": B, "reps": R, "warm_ms": W}
  <- {"seconds": [t1, ..., tR]}                            wall time of each of the R products,
                                                           timed after W ms of untimed ones
  -> {"op": "quit"}
Thread counts must be fixed before numpy/torch load, so the parent sets OPENBLAS_NUM_THREADS too.
"""
import json
import sys
import time


def main() -> None:
    hello = json.loads(sys.stdin.readline())
    lib, threads = hello["lib"], int(hello["threads"])
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        version = "torch " + torch.__version__
    else:
        import numpy as np

        version = "numpy " + np.__version__
    cache = {}

    def operands(ta, tb, m, n, k, batch):
        key = (ta, tb, m, n, k, batch)
        if key not in cache:
            # Stored as the caller's A and B are; op(A) = A.T when ta, so the BLAS sees the transpose flag.
            lead = (batch,) if batch > 1 else ()
            ashape = lead + ((k, m) if ta else (m, k))
            bshape = lead + ((n, k) if tb else (k, n))
            if lib == "torch":
                g = torch.Generator().manual_seed(1)
                a = torch.rand(ashape, generator=g, dtype=torch.float32) - 0.5
                b = torch.rand(bshape, generator=g, dtype=torch.float32) - 0.5
                c = torch.empty(lead + (m, n), dtype=torch.float32)
                opa, opb = (a.transpose(-1, -2) if ta else a), (b.transpose(-1, -2) if tb else b)
                fn = lambda: torch.matmul(opa, opb, out=c)
            else:
                rng = np.random.default_rng(1)
                a = (rng.random(ashape, dtype=np.float32) - 0.5).astype(np.float32)
                b = (rng.random(bshape, dtype=np.float32) - 0.5).astype(np.float32)
                c = np.empty(lead + (m, n), dtype=np.float32)
                opa, opb = (np.swapaxes(a, -1, -2) if ta else a), (np.swapaxes(b, -1, -2) if tb else b)
                fn = lambda: np.matmul(opa, opb, out=c)
            fn()
            cache[key] = fn
        return cache[key]

    print(json.dumps({"ready": True, "version": version}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        fn = operands(
            bool(req["ta"]), bool(req["tb"]), int(req["m"]), int(req["n"]), int(req["k"]), int(req.get("batch", 1))
        )
        # Untimed products first: threads (and the machine's idle cores) awake, as in a loop.
        t_end = time.perf_counter() + float(req.get("warm_ms", 0)) / 1000
        fn()
        while time.perf_counter() < t_end:
            fn()
        seconds = []
        for _ in range(int(req["reps"])):
            t0 = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t0)
        print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
