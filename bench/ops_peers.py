"""PyTorch 1.13 side of bench/ops.ts: a persistent process that runs named cases on request.

Protocol: one JSON object per line on stdin {"case": NAME, "iters": N}; replies one line
{"us": microseconds per iteration}. Cases mirror those in bench/ops.ts; every leaf's .grad is
cleared after each iteration, as moelab's side does.
"""
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)


def make_cases():
    c = {}
    a = torch.randn(8, requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    g8 = torch.ones(8)

    def add_single():
        y = a + b
        y.backward(g8)

    def add_chain():
        x = a
        for _ in range(1000):
            x = x + b
        x.backward(g8)

    def add_fwd():
        with torch.no_grad():
            for _ in range(1000):
                a + b

    c["add [8] fwd+bwd"] = (add_single, 1)
    c["add [8] chain fwd+bwd"] = (add_chain, 1000)
    c["add [8] fwd (no grad)"] = (add_fwd, 1000)

    x = torch.randn(4, 256, 512, requires_grad=True)
    w = torch.randn(512, requires_grad=True)
    gx = torch.randn(4, 256, 512)

    def rmsnorm():
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
        y.backward(gx)

    c["rmsNorm [4,256,512] fwd+bwd"] = (rmsnorm, 1)

    s = torch.randn(4, 8, 256, 256, requires_grad=True)
    gs = torch.randn(4, 8, 256, 256)

    def softmax():
        torch.softmax(s, -1).backward(gs)

    c["softmax [4,8,256,256] fwd+bwd"] = (softmax, 1)

    q = torch.randn(4, 8, 256, 64, requires_grad=True)
    k = torch.randn(4, 8, 256, 64, requires_grad=True)
    v = torch.randn(4, 8, 256, 64, requires_grad=True)
    go = torch.randn(4, 8, 256, 64)
    mask = torch.ones(256, 256, dtype=torch.bool).triu(1)

    def attention():
        sc = (q @ k.transpose(-2, -1)) * (1 / 8.0)
        p = torch.softmax(sc.masked_fill(mask, float("-inf")), -1)
        (p @ v).backward(go)

    c["attention B4 H8 T256 D64 fwd+bwd"] = (attention, 1)

    logits = torch.randn(2048, 4096, requires_grad=True)
    tgt = torch.randint(0, 4096, (2048,))

    def ce():
        torch.nn.functional.cross_entropy(logits, tgt).backward()

    c["crossEntropy [2048,4096] fwd+bwd"] = (ce, 1)

    aa = torch.randn(4, 256, 1024, requires_grad=True)
    bb = torch.randn(4, 256, 1024, requires_grad=True)
    gg = torch.randn(4, 256, 1024)

    def swiglu():
        (torch.nn.functional.silu(aa) * bb).backward(gg)

    c["swiglu [4,256,1024] fwd+bwd"] = (swiglu, 1)

    lx = torch.randn(8, 256, 512, requires_grad=True)
    lw = torch.randn(1536, 512, requires_grad=True)
    lb = torch.randn(1536, requires_grad=True)
    lg = torch.randn(8, 256, 1536)

    def linear():
        torch.nn.functional.linear(lx, lw, lb).backward(lg)

    c["linear [8,256,512]x[1536,512]^T+b fwd+bwd"] = (linear, 1)
    return c, [a, b, x, w, s, q, k, v, logits, aa, bb, lx, lw, lb]


# LEAVES: every tensor with requires_grad; their .grad is cleared after each call, as
# bench/ops.ts's zeroGrad does on the moelab side (accumulating into old gradients is other work).
CASES, LEAVES = make_cases()


def clear():
    for t in LEAVES:
        t.grad = None


for line in sys.stdin:
    req = json.loads(line)
    fn, per = CASES[req["case"]]
    n = req["iters"]
    fn()
    clear()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
        clear()
    dt = time.perf_counter() - t0
    sys.stdout.write(json.dumps({"us": dt / n / per * 1e6}) + "\n")
    sys.stdout.flush()
