#!/usr/bin/python3
"""PyTorch 1.13 side of bench/train.ts: DeepSeek-V3's own inference/model.py, trained in float32.

The user passes the path of DeepSeek's file (never part of this repository). It is imported as it
is and made trainable from outside, without editing it:
  - its `kernel` module (Triton FP8 kernels) is replaced by a stub: only float32 GEMMs run here;
  - `F.rms_norm` (torch >= 2.4) is polyfilled when torch lacks it;
  - attn_impl "naive", world_size 1, max_batch_size = the batch size; the module is converted to
    float32 (its Linear weights are created in bf16);
  - Transformer.forward runs under inference_mode and returns the last position only, so the
    full-sequence logits are computed here from its submodules (embed, layers, norm, head);
  - each MLA layer writes k and v into its cache buffers before reading them back; the buffers are
    detached before every training forward so that no step's graph reaches into the previous one.
Weights come from moelab's checkpoint (model0-mp1.safetensors + config.json, strict load); batches
are the window starts moelab's Batches drew, over the same token stream; the learning rate of step
s is moelab's cosine schedule (warm-up (s+1)/W, then the decay progress of lib/train/schedule.ts).

Usage: train_peer.py --model PATH/inference/model.py --spec SPEC.json [--steps N] [--probe]
       [--seconds S]
SPEC.json (written by bench/train.ts): ckpt, train_tokens, val_tokens (raw int32 files), starts
[[int] * B] per step, val_starts [int], seq_len, batch_size, lr, warmup, min_ratio, total_steps,
betas, eps, weight_decay, clip, eval_every, threads, lrs (moelab's rates, checked against the
port), logits_out (this side's initial logits of the first validation batch, safetensors).
--probe: a few steps only, no evaluation, no logits (to choose the OpenMP wait policy).
--seconds S: train for S seconds of training time (evaluation excluded) with the schedule's decay
over elapsed / S, then evaluate once (time to loss).
Prints progress on stderr and one JSON object on stdout at the end.
"""
import argparse
import importlib.util
import json
import math
import os
import re
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "oracle"))
from deepseek_ref import read_safetensors, write_safetensors  # noqa: E402


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """torch 2.4's F.rms_norm for float32 inputs: x · rsqrt(mean(x²) + eps) · weight."""
    dims = tuple(range(-len(normalized_shape), 0))
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


def import_deepseek(path):
    """DeepSeek's model.py as a module, with its Triton kernels stubbed out."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"BENCH_DEEPSEEK_MODEL: no file {path}")

    def fp8_only(*_a, **_k):
        raise RuntimeError("DeepSeek's FP8 kernels are not available here (float32 training only)")

    stub = types.ModuleType("kernel")
    stub.act_quant = stub.weight_dequant = stub.fp8_gemm = fp8_only
    sys.modules["kernel"] = stub
    if not hasattr(F, "rms_norm"):
        F.rms_norm = rms_norm
    spec = importlib.util.spec_from_file_location("deepseek_inference_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def lr_at(step, total, lr, warmup, min_ratio, progress=None):
    """moelab's cosine schedule at update `step` (0-based) of a `total`-step run, or at `progress`
    (elapsed / budget) of a run with a time budget: warm-up counted in steps, decay over progress."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(step / total if progress is None else progress, 1.0)
    if step <= warmup or progress <= 0:
        q = 0.0
    else:
        q = min(1.0, max(0.0, (progress * (step - warmup)) / (step - warmup * progress)))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * q)))


def blas_in_use():
    """What torch's build says, and which BLAS library this process actually mapped."""
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    info = f"BLAS_INFO={m.group(1) if m else '?'}"
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            name = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(name)
            if "blas" in base or "mkl" in base:
                libs.add(os.path.realpath(name))
    return info, sorted(libs)


def gflops_512(reps=20):
    """torch's own SGEMM rate at 512³ in this process (median of reps)."""
    g = torch.Generator().manual_seed(1)
    a = torch.rand(512, 512, generator=g)
    b = torch.rand(512, 512, generator=g)
    c = torch.empty(512, 512)
    torch.matmul(a, b, out=c)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        ts.append(time.perf_counter() - t0)
    return 2 * 512 ** 3 / sorted(ts)[len(ts) // 2] / 1e9


class Peer:
    def __init__(self, mod, spec):
        self.spec = spec
        B, T = spec["batch_size"], spec["seq_len"]
        with open(os.path.join(spec["ckpt"], "config.json")) as f:
            cfg = json.load(f)
        cfg["max_batch_size"] = B
        torch.set_default_dtype(torch.float32)
        mod.world_size, mod.rank = 1, 0
        mod.attn_impl = "naive"
        self.args = mod.ModelArgs(**cfg)
        self.model = mod.Transformer(self.args).float()
        sd = read_safetensors(os.path.join(spec["ckpt"], "model0-mp1.safetensors"))
        self.model.load_state_dict({k: t for k, (_dt, t) in sd.items()}, strict=True)
        self.model.train()
        self.mask = torch.full((T, T), float("-inf")).triu_(1)
        self.freqs = self.model.freqs_cis[:T]
        self.attns = [layer.attn for layer in self.model.layers]
        self.train_tokens = torch.from_numpy(np.fromfile(spec["train_tokens"], dtype="<i4").astype(np.int64))
        self.val_tokens = torch.from_numpy(np.fromfile(spec["val_tokens"], dtype="<i4").astype(np.int64))
        self.offsets = torch.arange(T + 1)
        params = list(self.model.parameters())
        decay = [p for p in params if p.dim() == 2]
        rest = [p for p in params if p.dim() != 2]
        self.params = params
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": spec["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
            lr=spec["lr"], betas=tuple(spec["betas"]), eps=spec["eps"])

    def rows(self, stream, starts):
        r = stream[torch.tensor(starts, dtype=torch.int64)[:, None] + self.offsets]
        return r[:, :-1], r[:, 1:]

    def logits(self, tokens):
        """Every position's logits [B, T, V]: Transformer.forward's computation without its
        inference_mode and its last-position cut."""
        m = self.model
        for a in self.attns:  # the caches carry the previous step's graph otherwise
            a.k_cache.detach_()
            a.v_cache.detach_()
        h = m.embed(tokens)
        for layer in m.layers:
            h = layer(h, 0, self.freqs, self.mask)
        return m.head(m.norm(h))

    def loss(self, inputs, targets):
        lg = self.logits(inputs)
        return F.cross_entropy(lg.reshape(-1, lg.size(-1)), targets.reshape(-1))

    def evaluate(self):
        """Mean next-token cross-entropy over the validation windows, batches of batch_size."""
        s, n = 0.0, 0
        st, B = self.spec["val_starts"], self.spec["batch_size"]
        with torch.no_grad():
            for i in range(0, len(st), B):
                x, y = self.rows(self.val_tokens, st[i:i + B])
                s += self.loss(x, y).item() * y.numel()
                n += y.numel()
        return s / n

    def step(self, s, total, progress=None):
        sp = self.spec
        x, y = self.rows(self.train_tokens, sp["starts"][s % len(sp["starts"])])
        lr = lr_at(s, total, sp["lr"], sp["warmup"], sp["min_ratio"], progress)
        for g in self.opt.param_groups:
            g["lr"] = lr
        loss = self.loss(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, sp["clip"])
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.item(), float(norm), lr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--seconds", type=float, default=None,
                    help="train for this many seconds (evaluation excluded), the schedule over time")
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = json.load(f)
    torch.set_num_threads(int(spec["threads"]))
    mod = import_deepseek(a.model)
    peer = Peer(mod, spec)
    total = spec["total_steps"]
    steps = a.steps if a.steps is not None else total
    info, libs = blas_in_use()
    out = {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "blas_info": info,
        "env": {k: os.environ.get(k) for k in
                ("OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        "params": sum(p.numel() for p in peer.params),
        "gflops_512": gflops_512(),
    }
    out["blas_libs"] = blas_in_use()[1]  # after a GEMM, so a lazily loaded BLAS is listed too
    if not a.probe:
        # Same weights first: logits of the first validation batch, and the initial validation loss.
        x, _ = peer.rows(peer.val_tokens, spec["val_starts"][:spec["batch_size"]])
        with torch.no_grad():
            write_safetensors(spec["logits_out"], {"logits": peer.logits(x)})
        out["init_val"] = peer.evaluate()
        lrs = spec.get("lrs") or []
        out["lr_max_rel_diff"] = max((abs(lr_at(s, total, spec["lr"], spec["warmup"], spec["min_ratio"]) - v) / v
                                      for s, v in enumerate(lrs) if v > 0), default=0.0)
    losses, norms, ms, evals = [], [], [], []
    t_start = time.perf_counter()
    if a.seconds is not None:
        # A time budget: the schedule runs against the seconds trained; the last batch wraps
        # around to the first when the run outlasts the starts it was given.
        trained, s = 0.0, 0
        while trained < a.seconds:
            t0 = time.perf_counter()
            loss, norm, _lr = peer.step(s, total, progress=trained / a.seconds)
            dt = time.perf_counter() - t0
            trained += dt
            s += 1
            ms.append(dt * 1e3)
            losses.append(loss)
            norms.append(norm)
            if not math.isfinite(loss):
                out["error"] = f"step {s}: loss {loss}"
                break
            if s % 200 == 0:
                print(f"torch {trained:.0f}/{a.seconds:.0f} s, step {s}: loss {loss:.4f}", file=sys.stderr, flush=True)
        evals.append({"step": s, "seconds": trained, "val": peer.evaluate()})
        out.update(losses=losses, grad_norms=norms, step_ms=ms, evals=evals,
                   wall_s=time.perf_counter() - t_start)
        print(json.dumps(out), flush=True)
        return
    for s in range(steps):
        t0 = time.perf_counter()
        loss, norm, _lr = peer.step(s, total)
        ms.append((time.perf_counter() - t0) * 1e3)
        losses.append(loss)
        norms.append(norm)
        if not math.isfinite(loss):
            out["error"] = f"step {s + 1}: loss {loss}"
            break
        ev = spec["eval_every"]
        if not a.probe and ((ev > 0 and (s + 1) % ev == 0) or s + 1 == steps):
            evals.append({"step": s + 1, "val": peer.evaluate()})
            print(f"torch step {s + 1}/{steps}: loss {loss:.4f} val {evals[-1]['val']:.4f} "
                  f"({sum(ms) / len(ms):.0f} ms/step)", file=sys.stderr, flush=True)
    out.update(losses=losses, grad_norms=norms, step_ms=ms, evals=evals,
               wall_s=time.perf_counter() - t_start)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
