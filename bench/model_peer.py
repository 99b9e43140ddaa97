#!/usr/bin/python3
"""PyTorch 1.13 side of bench/model.ts: the same DeepSeek-V3-style model, on the same weights, in a
persistent process that times forward and forward+backward passes on request.

The model is test/oracle/deepseek_ref.py's Oracle (an independent float32 PyTorch implementation
of DeepSeek-V3's inference/model.py, plus MTP), with its weights turned into trainable leaves (the
gate bias stays a buffer) and a grad-enabled top level, so .backward() runs through it.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout:
  {"cmd": "load", "ckpt": DIR, "tokens": FILE, "attn": "naive"|"absorb",
   "impl": "oracle"|"deepseek", "model": PATH/inference/model.py (for "deepseek")}
      FILE holds [[int] * (T + 1)] * B; inputs are [:, :T], targets [:, 1:]. "oracle" is the
      project's oracle (below); "deepseek" is DeepSeek-V3's own model.py (DeepSeekPeer).
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
from deepseek_ref import Oracle, read_safetensors, rms_norm, rope_angles, write_safetensors  # noqa: E402

MTP_WEIGHT = 0.3  # moelab's default λ in model.loss


class DeepSeekPeer:
    """DeepSeek-V3's own inference/model.py (path from the driver, never in this repository) on
    the same checkpoint: Transformer.forward's computation at every position and with grad
    (as bench/train_peer.py runs it), plus the MTP modules composed from its own Block, RMSNorm
    and Linear in the oracle's order, so the work equals moelab's model.loss. The gate biases
    (which model.py creates only for dim 7168) are added from the checkpoint."""

    def __init__(self, ckpt, tokens, attn, model_path):
        from train_peer import import_deepseek  # noqa: E402 - bench/ is on sys.path

        mod = import_deepseek(model_path)
        toks = torch.tensor(tokens, dtype=torch.int64)
        if toks.dim() != 2 or toks.size(1) < 2:
            raise ValueError("tokens must be [B, T + 1] with T >= 1")
        self.inputs = toks[:, :-1].contiguous()
        self.targets = toks[:, 1:].contiguous()
        B, T = self.inputs.shape
        with open(os.path.join(ckpt, "config.json")) as f:
            cfg = json.load(f)
        cfg["max_batch_size"] = max(B, cfg.get("max_batch_size", 1))
        torch.set_default_dtype(torch.float32)
        mod.world_size, mod.rank = 1, 0
        mod.attn_impl = attn
        args = mod.ModelArgs(**{k: v for k, v in cfg.items() if k in mod.ModelArgs.__dataclass_fields__})
        self.model = mod.Transformer(args).float()
        sd = {k: t for k, (_dt, t) in read_safetensors(os.path.join(ckpt, "model0-mp1.safetensors")).items()}
        n = args.n_layers
        for L, layer in enumerate(self.model.layers):
            if f"layers.{L}.ffn.gate.bias" in sd and getattr(layer.ffn, "gate", None) is not None:
                layer.ffn.gate.bias = torch.nn.Parameter(torch.zeros(args.n_routed_experts))
        main = {k: t for k, t in sd.items() if not (k.startswith("layers.") and int(k.split(".")[1]) >= n)}
        self.model.load_state_dict(main, strict=True)
        # MTP module k: layers.{n + k - 1}.{enorm, hnorm, eh_proj, <Block>, shared_head.norm}
        self.mtp = torch.nn.ModuleList()
        k = 1
        while f"layers.{n + k - 1}.eh_proj.weight" in sd:
            L, p = n + k - 1, f"layers.{n + k - 1}."
            m = torch.nn.Module()
            m.enorm, m.hnorm = mod.RMSNorm(args.dim), mod.RMSNorm(args.dim)
            m.eh_proj = mod.Linear(2 * args.dim, args.dim)
            m.block = mod.Block(L, args)
            if p + "ffn.gate.bias" in sd and getattr(m.block.ffn, "gate", None) is not None:
                m.block.ffn.gate.bias = torch.nn.Parameter(torch.zeros(args.n_routed_experts))
            m.shared_norm = mod.RMSNorm(args.dim)
            own = {}
            for key, t in sd.items():
                if not key.startswith(p):
                    continue
                rest = key[len(p):]
                if rest.startswith(("enorm.", "hnorm.", "eh_proj.")):
                    own[rest] = t
                elif rest == "shared_head.norm.weight":
                    own["shared_norm.weight"] = t
                else:
                    own["block." + rest] = t
            m.float().load_state_dict(own, strict=True)
            self.mtp.append(m)
            k += 1
        named = list(self.model.named_parameters()) + list(self.mtp.named_parameters())
        for name, q in named:  # the selection bias follows a rule, not gradients (as in moelab)
            q.requires_grad_(not name.endswith("gate.bias"))
        self.params = [q for _n, q in named if q.requires_grad]
        self.mask = torch.full((T, T), float("-inf")).triu_(1)
        self.freqs = self.model.freqs_cis[:T]
        self.attns = [layer.attn for layer in self.model.layers] + [m.block.attn for m in self.mtp]

    def run(self, tokens, with_mtp):
        m = self.model
        for a in self.attns:  # the caches would carry the previous pass's graph otherwise
            for name in ("k_cache", "v_cache", "kv_cache", "pe_cache"):
                if hasattr(a, name):
                    getattr(a, name).detach_()
        T = tokens.size(1)
        emb = m.embed(tokens)
        h = emb
        for layer in m.layers:
            h = layer(h, 0, self.freqs, self.mask)
        hn = m.norm(h)
        logits = m.head(hn)
        mtp, prev = [], hn
        for k, mm in enumerate(self.mtp if with_mtp else [], 1):
            n = T - k
            if n <= 0:
                break
            x = mm.eh_proj(torch.cat([mm.enorm(emb[:, k:k + n]), mm.hnorm(prev[:, :n])], dim=-1))
            x = mm.block(x, 0, self.freqs[:n], self.mask[:n, :n])
            mtp.append(m.head(mm.shared_norm(x)))
            prev = x
        return logits, mtp

    loss = None  # set below: the same loss as Peer's

    def fwd(self):
        with torch.no_grad():
            self.run(self.inputs, False)


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


DeepSeekPeer.loss = Peer.loss
DeepSeekPeer.fwdbwd = Peer.fwdbwd
DeepSeekPeer.logits = Peer.logits


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
                if req.get("impl", "oracle") == "deepseek":
                    peer = DeepSeekPeer(req["ckpt"], toks, req.get("attn", "naive"), req["model"])
                else:
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
