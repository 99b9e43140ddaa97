#!/usr/bin/python3
"""PyTorch 1.13 side of bench/model.ts: the same DeepSeek-V3-style model, on the same weights, in a
persistent process that times forward and forward+backward passes on request.

The model is test/oracle/deepseek_ref.py's Oracle (an independent float32 PyTorch implementation
of DeepSeek-V3's inference/model.py, plus MTP), with its weights turned into trainable leaves (the
gate bias stays a buffer) and a grad-enabled top level, so .backward() runs through it.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout:
  {"cmd": "load", "ckpt": DIR, "tokens": FILE, "attn": "naive"|"absorb"}
      FILE holds [[int] * (T + 1)] * B; inputs are [:, :T], targets [:, 1:].
      -> {"ok": true, "params": N}
  {"cmd": "logits", "out": FILE}  writes F32 "logits" [B, T, V] (forward, no grad) to FILE and
      -> {"ok": true, "loss": main CE + 0.3 / D * sum of MTP CEs (what moelab's model.loss returns)}
  {"cmd": "time", "case": "fwd"|"fwdbwd", "iters": N}  -> {"ms": milliseconds per iteration}
Errors -> {"error": message}. Usage: model_peer.py [THREADS]   (default 2)
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "oracle"))
from deepseek_ref import Oracle, rms_norm, rope_angles, write_safetensors  # noqa: E402

MTP_WEIGHT = 0.3  # moelab's default λ in model.loss


class Peer:
    def __init__(self, ckpt, tokens, attn):
        self.m = Oracle(ckpt)
        for name, t in self.m.w.items():
            # The selection bias is updated by a rule, not by gradients (as in moelab).
            t.requires_grad_(not name.endswith("gate.bias"))
        self.params = [t for t in self.m.w.values() if t.requires_grad]
        toks = torch.tensor(tokens, dtype=torch.int64)
        if toks.dim() != 2 or toks.size(1) < 2:
            raise ValueError("tokens must be [B, T + 1] with T >= 1")
        self.inputs = toks[:, :-1].contiguous()
        self.targets = toks[:, 1:].contiguous()
        self.attn = attn

    def run(self, tokens, with_mtp):
        """Oracle.forward's computation without its no_grad: (logits [B,T,V], [mtp logits])."""
        m, a = self.m, self.m.a
        T = tokens.size(1)
        emb = F.embedding(tokens, m.W("embed.weight"))
        ang = rope_angles(a, T)
        h = emb
        for L in range(a["n_layers"]):
            h = m.block(L, h, ang, m.causal(T), self.attn)
        hn = rms_norm(h, m.W("norm.weight"))
        head = m.W("head.weight")
        logits = F.linear(hn, head)
        mtp, prev = [], hn
        for k in range(1, m.mtp_depth + 1 if with_mtp else 1):
            n = T - k
            if n <= 0:
                break
            L = a["n_layers"] + k - 1
            p = f"layers.{L}."
            e = rms_norm(emb[:, k:k + n], m.W(p + "enorm.weight"))
            hh = rms_norm(prev[:, :n], m.W(p + "hnorm.weight"))
            x = F.linear(torch.cat([e, hh], dim=-1), m.W(p + "eh_proj.weight"))
            x = m.block(L, x, ang[:n], m.causal(n), self.attn)
            mtp.append(F.linear(rms_norm(x, m.W(p + "shared_head.norm.weight")), head))
            prev = x
        return logits, mtp

    def loss(self):
        """Main cross-entropy on the shifted tokens + λ/D Σ_k MTP cross-entropy (module k at
        position i predicts targets[i + k])."""
        logits, mtp = self.run(self.inputs, True)
        V = logits.size(-1)
        loss = F.cross_entropy(logits.reshape(-1, V), self.targets.reshape(-1))
        if mtp:
            s = sum(F.cross_entropy(ml.reshape(-1, V), self.targets[:, k:].reshape(-1))
                    for k, ml in enumerate(mtp, 1))
            loss = loss + s * (MTP_WEIGHT / len(mtp))
        return loss

    def fwd(self):
        with torch.no_grad():
            self.run(self.inputs, False)

    def fwdbwd(self):
        self.loss().backward()
        for p in self.params:
            p.grad = None

    def logits(self, out):
        with torch.no_grad():
            logits, _ = self.run(self.inputs, False)
            loss = self.loss().item()
        write_safetensors(out, {"logits": logits})
        return loss


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    peer = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "load":
                with open(req["tokens"]) as f:
                    toks = json.load(f)
                peer = Peer(req["ckpt"], toks, req.get("attn", "naive"))
                rep = {"ok": True, "params": sum(p.numel() for p in peer.params)}
            elif peer is None:
                raise ValueError(f"command {cmd!r} before a successful 'load'")
            elif cmd == "logits":
                rep = {"ok": True, "loss": peer.logits(req["out"])}
            elif cmd == "time":
                fn = {"fwd": peer.fwd, "fwdbwd": peer.fwdbwd}.get(req.get("case"))
                if fn is None:
                    raise ValueError(f"unknown case {req.get('case')!r} (fwd, fwdbwd)")
                iters = int(req.get("iters", 1))
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn()
                rep = {"ms": (time.perf_counter() - t0) * 1e3 / iters}
            else:
                raise ValueError(f"unknown command {cmd!r} (load, logits, time)")
        except Exception as e:  # noqa: BLE001 - every failure is reported to the driver
            rep = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(rep) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
