"""PyTorch reference for lib/train's AdamW and gradient clipping (test/lib/train/optim.test.ts).

Reads a JSON list of jobs on stdin (one Python start for them all), prints a JSON list of results.
Each job:
  params: [{name, shape, data, decay}]     float32 values; decay: in the weight-decay group
  steps:  [{grads: [list | null], lr, clip: maxNorm | null}]
  betas, eps, weight_decay
  moments: "float32" (torch.optim.AdamW itself) or "bfloat16" (the same formula written out with
           the moments stored as torch.bfloat16 between steps, the float32 values used within it)
The result: params, exp_avg, exp_avg_sq (final, as float lists; bf16 moments widened to float)
and norms (clip_grad_norm_'s return per step, or null).
"""
import json
import math
import sys

import torch

torch.set_num_threads(1)


def main():
    print(json.dumps([run(job) for job in json.load(sys.stdin)]))


def run(job):
    b1, b2 = job["betas"]
    eps, wd = job["eps"], job["weight_decay"]
    ps = [torch.tensor(p["data"], dtype=torch.float32).reshape(p["shape"]) for p in job["params"]]
    for p in ps:
        p.requires_grad_(True)
    decay = [p["decay"] for p in job["params"]]
    norms = []
    if job["moments"] == "float32":
        groups = [
            {"params": [p for p, d in zip(ps, decay) if d], "weight_decay": wd},
            {"params": [p for p, d in zip(ps, decay) if not d], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=1e-3, betas=(b1, b2), eps=eps,
                                foreach=False)
        for st in job["steps"]:
            for p, g in zip(ps, st["grads"]):
                p.grad = None if g is None else torch.tensor(g, dtype=torch.float32).reshape(p.shape)
            norms.append(clip(ps, st))
            for group in opt.param_groups:
                group["lr"] = st["lr"]
            opt.step()
        state = [opt.state[p] for p in ps]
        m = [s["exp_avg"].flatten().tolist() if s else None for s in state]
        v = [s["exp_avg_sq"].flatten().tolist() if s else None for s in state]
    else:
        m = [None] * len(ps)
        v = [None] * len(ps)
        steps = [0] * len(ps)
        for st in job["steps"]:
            for p, g in zip(ps, st["grads"]):
                p.grad = None if g is None else torch.tensor(g, dtype=torch.float32).reshape(p.shape)
            norms.append(clip(ps, st))
            lr = st["lr"]
            with torch.no_grad():
                for i, p in enumerate(ps):
                    if p.grad is None:
                        continue
                    if m[i] is None:
                        m[i] = torch.zeros_like(p, dtype=torch.bfloat16)
                        v[i] = torch.zeros_like(p, dtype=torch.bfloat16)
                    steps[i] += 1
                    g = p.grad
                    p.mul_(1 - lr * (wd if decay[i] else 0.0))
                    m32 = m[i].float().mul_(b1).add_(g, alpha=1 - b1)
                    v32 = v[i].float().mul_(b2).addcmul_(g, g, value=1 - b2)
                    bc1 = 1 - b1 ** steps[i]
                    bc2 = 1 - b2 ** steps[i]
                    denom = (v32.sqrt() / math.sqrt(bc2)).add_(eps)
                    p.addcdiv_(m32, denom, value=-lr / bc1)
                    m[i] = m32.to(torch.bfloat16)
                    v[i] = v32.to(torch.bfloat16)
        m = [x.float().flatten().tolist() if x is not None else None for x in m]
        v = [x.float().flatten().tolist() if x is not None else None for x in v]
    return {
        "params": [p.detach().flatten().tolist() for p in ps],
        "exp_avg": m,
        "exp_avg_sq": v,
        "norms": norms,
    }


def clip(ps, st):
    if st.get("clip") is None:
        return None
    with_grad = [p for p in ps if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(with_grad, st["clip"]))


main()
