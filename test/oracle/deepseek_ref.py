#!/usr/bin/python3
"""moelab's CI oracle: an independent float32 PyTorch implementation of the model DeepSeek-V3's
reference inference code (inference/model.py) computes, written for torch 1.13 (Debian), plus the
MTP modules the reference leaves out.

It loads a checkpoint directory in DeepSeek's layout (model0-mp1.safetensors, config.json with
ModelArgs fields, optional moelab.json) and returns logits at EVERY position (the reference returns
the last one only), and the MTP modules' logits.

Semantics (each matches inference/model.py unless marked moelab):
- RMSNorm eps 1e-6; SwiGLU w2(silu(w1 x) * w3 x); no Linear has a bias.
- RoPE on adjacent pairs (x[2i], x[2i+1]); YaRN frequency correction and the mscale^2 softmax
  factor when max_seq_len > original_seq_len.
- MLA "naive" (full k, v per head) and "absorb" (attention in the kv_lora_rank latent space).
- Gate: softmax or sigmoid scores; the bias (present when the checkpoint has ffn.gate.bias) is added
  for selection only; groups scored by the sum of the top-2 biased scores with a bias, the max
  without; top-k; weights are the unbiased scores, renormalised for sigmoid; times route_scale.
  (The reference creates the bias only when dim == 7168; here it follows the checkpoint.)
- MoE: routed experts + the shared experts fused in one MLP; the first n_dense_layers are dense.
- FP8 weights (F8_E4M3 + `.scale`) are dequantised to float32 with 128x128 block multipliers, as the
  reference's bf16 GEMM path does (scale_fmt only affects its FP8 GEMM path, not computed here).
- MTP (moelab; the layout of DeepSeek's released layer 61 as vLLM reads it): module k (1-based) at
  position i takes h^{k-1}_i and the embedding of token t_{i+k}:
      x = eh_proj([enorm(embed(t_{i+k})) ; hnorm(h^{k-1}_i)])   (embedding first)
      h^k = Block_k(x)  (causal over positions 0..T-1-k, RoPE positions 0..T-1-k)
      logits^k_i = head(shared_head.norm(h^k_i))                (predicts t_{i+k+1})
  where h^0 = norm(h_main) (what the main head reads) and h^k for k >= 1 is Block_k's output.

Validated (Nov 2026) against DeepSeek-V3's inference/model.py @9b4e978 itself, run in float32 on
torch 1.13 (F.rms_norm polyfilled, kernel.py stubbed; that script is not in the repository) on
random weights for four configs (softmax/sigmoid scores, q_lora_rank 0 and > 0, groups scored by
max and by top-2 with a bias, YaRN on and off, 1-2 dense layers, 0-2 shared experts): norm-wise
relative error <= 2.5e-6 at every position, for both attention paths, from prefix runs and from
the reference's cached decoding; its MTP composed from the reference's Block and RMSNorm agrees to
1.7e-6. DeepSeek's reference also loads moelab's config.json (ModelArgs(**json)) and its
model0-mp1.safetensors (strict load_state_dict) for configs without the gate bias.

Usage:
  deepseek_ref.py --ckpt DIR --tokens TOKENS.json --out OUT.safetensors [--attn naive|absorb] [--trace]
                  [--grad TARGETS.json [--mtp-weight W]]
TOKENS.json is [[int, ...], ...] (equal lengths). OUT holds F32 "logits" [B, T, V] and
"mtp_logits.{k}" [B, T-k, V] for k = 1..mtp_depth; with --trace also intermediates named
"trace.layers.{L}.*" (see --help); with --grad also moelab's training loss "loss" [1] and "grad.{name}"
for every weight (the training path: moelab's backward is checked against torch's autograd). From Python: Oracle(DIR).forward(tokens, "absorb").
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MODEL_ARGS_DEFAULTS = dict(
    max_batch_size=8, max_seq_len=4096 * 4, dtype="bf16", scale_fmt=None, vocab_size=102400, dim=2048,
    inter_dim=10944, moe_inter_dim=1408, n_layers=27, n_dense_layers=1, n_heads=16, n_routed_experts=64,
    n_shared_experts=2, n_activated_experts=6, n_expert_groups=1, n_limited_groups=1, score_func="softmax",
    route_scale=1.0, q_lora_rank=0, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
    v_head_dim=128, original_seq_len=4096, rope_theta=10000.0, rope_factor=40, beta_fast=32, beta_slow=1,
    mscale=1.0,
)

EPS = 1e-6
BLOCK = 128


# ---------------------------------------------------------------- safetensors (own parser)

def _e4m3_table():
    t = np.zeros(256, dtype=np.float32)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e = (b >> 3) & 0xF
        m = b & 0x7
        if e == 0xF and m == 0x7:
            t[b] = np.nan
        elif e == 0:
            t[b] = s * (m / 8.0) * 2.0 ** -6
        else:
            t[b] = s * (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return t


_E4M3 = _e4m3_table()
_NP = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64,
       "U8": np.uint8, "I8": np.int8, "BOOL": np.uint8, "I16": np.int16, "U16": np.uint16}


def read_safetensors(path):
    """name -> (dtype, float32 or integer torch tensor); BF16/F16/F8_E4M3 are widened to float32."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too small for a safetensors file")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header size {n} runs past the end of the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype=np.uint8)
        if dt == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dt == "F8_E4M3":
            arr = _E4M3[raw]
        elif dt in _NP:
            arr = raw.view(_NP[dt])
            if dt in ("F16", "F64"):
                arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dt}")
        out[name] = (dt, torch.from_numpy(np.array(arr).reshape(shape)))
    return out


def write_safetensors(path, tensors):
    """tensors: name -> torch tensor; integer tensors are written as I32, the rest as F32."""
    header, blobs, pos = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach()
        dt, t = ("F32", t.to(torch.float32)) if t.is_floating_point() else ("I32", t.to(torch.int32))
        a = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [pos, pos + len(a)]}
        blobs.append(a)
        pos += len(a)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in blobs:
            f.write(a)


def dequant_fp8(q, scale):
    """W = q * s over 128x128 blocks (partial edge blocks take their block's scale)."""
    o, i = q.shape
    s = scale.repeat_interleave(BLOCK, 0)[:o].repeat_interleave(BLOCK, 1)[:, :i]
    return q * s


# ---------------------------------------------------------------- model pieces

def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def swiglu(x, w1, w2, w3):
    return F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)


def rope_angles(a, seqlen):
    """[seqlen, rope/2] rotation angles, with YaRN's frequency correction when active."""
    d = a["qk_rope_head_dim"]
    base = float(a["rope_theta"])
    freqs = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    if a["max_seq_len"] > a["original_seq_len"]:
        def corr_dim(rot):
            return d * math.log(a["original_seq_len"] / (rot * 2 * math.pi)) / (2 * math.log(base))
        lo = max(math.floor(corr_dim(a["beta_fast"])), 0)
        hi = min(math.ceil(corr_dim(a["beta_slow"])), d - 1)
        if lo == hi:
            hi += 0.001
        ramp = torch.clamp((torch.arange(d // 2, dtype=torch.float32) - lo) / (hi - lo), 0, 1)
        keep = 1 - ramp
        freqs = freqs / a["rope_factor"] * (1 - keep) + freqs * keep
    t = torch.arange(seqlen, dtype=torch.float32)
    return torch.outer(t, freqs)


def rope(x, ang):
    """x [B, T, H, r] rotated in adjacent pairs by ang [T, r/2]."""
    cos = torch.cos(ang)[None, :, None, :]
    sin = torch.sin(ang)[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def softmax_scale(a):
    s = (a["qk_nope_head_dim"] + a["qk_rope_head_dim"]) ** -0.5
    if a["max_seq_len"] > a["original_seq_len"]:
        m = 0.1 * a["mscale"] * math.log(a["rope_factor"]) + 1.0
        s = s * m * m
    return s


class Oracle:
    def __init__(self, ckpt_dir):
        with open(os.path.join(ckpt_dir, "config.json")) as f:
            cfg = json.load(f)
        unknown = set(cfg) - set(MODEL_ARGS_DEFAULTS)
        if unknown:
            raise ValueError(f"config.json has keys that are not ModelArgs fields: {sorted(unknown)}")
        self.a = dict(MODEL_ARGS_DEFAULTS, **cfg)
        # Without moelab.json: what the reference does (no MTP; a gate bias only for dim 7168).
        self.mtp_depth = 0
        self.biased = self.a["dim"] == 7168
        mpath = os.path.join(ckpt_dir, "moelab.json")
        if os.path.exists(mpath):
            with open(mpath) as f:
                ml = json.load(f)
            self.mtp_depth = int(ml.get("mtp_depth", 0))
            self.biased = ml.get("routing", "noaux_tc") == "noaux_tc"
        raw = read_safetensors(os.path.join(ckpt_dir, "model0-mp1.safetensors"))
        self.w = {}
        for name, (dt, t) in raw.items():
            if name.endswith(".scale"):
                continue
            if dt == "F8_E4M3":
                sname = name[: -len(".weight")] + ".scale"
                if sname not in raw:
                    raise ValueError(f"FP8 tensor {name} has no {sname}")
                t = dequant_fp8(t, raw[sname][1])
            self.w[name] = t.to(torch.float32)
        self.check({k: list(v[1].shape) for k, v in raw.items()})
        self.trace = None

    def expected(self):
        """name -> shape of every tensor the config needs (the reference's state dict, + MTP)."""
        a = self.a
        d, H = a["dim"], a["n_heads"]
        qk = a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
        fp8 = a["dtype"] == "fp8"
        out = {}

        def lin(n, o, i, quantised=True):
            out[n + ".weight"] = [o, i]
            if fp8 and quantised:
                out[n + ".scale"] = [-(-o // BLOCK), -(-i // BLOCK)]

        def mlp(p, inter):
            lin(p + ".w1", inter, d)
            lin(p + ".w2", d, inter)
            lin(p + ".w3", inter, d)

        def block(L):
            p = f"layers.{L}."
            out[p + "attn_norm.weight"] = [d]
            if a["q_lora_rank"] == 0:
                lin(p + "attn.wq", H * qk, d)
            else:
                lin(p + "attn.wq_a", a["q_lora_rank"], d)
                out[p + "attn.q_norm.weight"] = [a["q_lora_rank"]]
                lin(p + "attn.wq_b", H * qk, a["q_lora_rank"])
            lin(p + "attn.wkv_a", a["kv_lora_rank"] + a["qk_rope_head_dim"], d)
            out[p + "attn.kv_norm.weight"] = [a["kv_lora_rank"]]
            lin(p + "attn.wkv_b", H * (a["qk_nope_head_dim"] + a["v_head_dim"]), a["kv_lora_rank"])
            lin(p + "attn.wo", d, H * a["v_head_dim"])
            out[p + "ffn_norm.weight"] = [d]
            if L < a["n_dense_layers"] or a["n_routed_experts"] == 0:
                mlp(p + "ffn", a["inter_dim"])
            else:
                lin(p + "ffn.gate", a["n_routed_experts"], d, quantised=False)
                if self.biased:
                    out[p + "ffn.gate.bias"] = [a["n_routed_experts"]]
                for e in range(a["n_routed_experts"]):
                    mlp(p + f"ffn.experts.{e}", a["moe_inter_dim"])
                mlp(p + "ffn.shared_experts", a["n_shared_experts"] * a["moe_inter_dim"])

        out["embed.weight"] = [a["vocab_size"], d]
        for L in range(a["n_layers"] + self.mtp_depth):
            block(L)
            if L >= a["n_layers"]:
                p = f"layers.{L}."
                for n in ("enorm", "hnorm", "shared_head.norm"):
                    out[p + n + ".weight"] = [d]
                lin(p + "eh_proj", d, 2 * d, quantised=False)
        out["norm.weight"] = [d]
        lin("head", a["vocab_size"], d, quantised=False)
        return out

    def check(self, found):
        """Like load_state_dict(strict=True): every tensor present, none extra, shapes equal."""
        want = self.expected()
        missing = [n for n in want if n not in found]
        extra = [n for n in found if n not in want]
        bad = [f"{n}: expected {want[n]}, found {found[n]}" for n in want if n in found and found[n] != want[n]]
        msgs = []
        if missing:
            msgs.append("missing tensors: " + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
        if extra:
            msgs.append("unexpected tensors: " + ", ".join(extra[:20]) + (" ..." if len(extra) > 20 else ""))
        if bad:
            msgs.append("wrong shapes: " + "; ".join(bad[:20]))
        if msgs:
            raise ValueError("checkpoint does not match config.json: " + " | ".join(msgs))

    def record(self, name, t):
        """Keeps an intermediate activation when tracing (see --trace)."""
        if self.trace is not None:
            self.trace[name] = t.clone()

    def W(self, name):
        if name not in self.w:
            raise KeyError(f"checkpoint lacks tensor {name}")
        return self.w[name]

    # MLA over a whole sequence (start_pos 0); mask [T, T] additive.
    def mla(self, p, x, ang, mask, attn):
        a = self.a
        B, T, _ = x.shape
        H, nope, r, dv, c = a["n_heads"], a["qk_nope_head_dim"], a["qk_rope_head_dim"], a["v_head_dim"], a["kv_lora_rank"]
        if a["q_lora_rank"] == 0:
            q = F.linear(x, self.W(p + "wq.weight"))
        else:
            q = F.linear(rms_norm(F.linear(x, self.W(p + "wq_a.weight")), self.W(p + "q_norm.weight")), self.W(p + "wq_b.weight"))
        q = q.view(B, T, H, nope + r)
        q_nope, q_pe = q[..., :nope], rope(q[..., nope:], ang)
        kv = F.linear(x, self.W(p + "wkv_a.weight"))
        c_kv, k_pe = kv[..., :c], rope(kv[..., c:].unsqueeze(2), ang)  # k_pe [B, T, 1, r]
        c_kv = rms_norm(c_kv, self.W(p + "kv_norm.weight"))
        self.record(p + "kv_norm", c_kv)
        self.record(p + "k_pe", k_pe.squeeze(2))
        wkv_b = self.W(p + "wkv_b.weight")
        scale = softmax_scale(a)
        if attn == "naive":
            kvb = F.linear(c_kv, wkv_b).view(B, T, H, nope + dv)
            k_nope, v = kvb[..., :nope], kvb[..., nope:]
            k = torch.cat([k_nope, k_pe.expand(B, T, H, r)], dim=-1)
            qf = torch.cat([q_nope, q_pe], dim=-1)
            scores = torch.einsum("bshd,bthd->bsht", qf, k) * scale
        else:
            wb = wkv_b.view(H, nope + dv, c)
            q_lat = torch.einsum("bshd,hdc->bshc", q_nope, wb[:, :nope])
            scores = (torch.einsum("bshc,btc->bsht", q_lat, c_kv) + torch.einsum("bshr,btr->bsht", q_pe, k_pe.squeeze(2))) * scale
        if mask is not None:
            scores = scores + mask[None, :, None, :]
        probs = scores.softmax(dim=-1)
        self.record(p + "pattern", probs.permute(0, 2, 1, 3))
        if attn == "naive":
            o = torch.einsum("bsht,bthd->bshd", probs, v)
        else:
            o = torch.einsum("bsht,btc->bshc", probs, c_kv)
            o = torch.einsum("bshc,hdc->bshd", o, wb[:, nope:])
        return F.linear(o.reshape(B, T, H * dv), self.W(p + "wo.weight"))

    def gate(self, p, x):
        a = self.a
        logits = F.linear(x, self.W(p + "gate.weight"))
        s = logits.softmax(dim=-1) if a["score_func"] == "softmax" else logits.sigmoid()
        orig = s
        bias = self.w.get(p + "gate.bias")
        sel = s + bias if bias is not None else s
        G = a["n_expert_groups"]
        if G > 1:
            g = sel.view(x.size(0), G, -1)
            gs = g.topk(2, dim=-1)[0].sum(-1) if bias is not None else g.amax(-1)
            keep = gs.topk(a["n_limited_groups"], dim=-1)[1]
            drop = torch.ones(x.size(0), G, dtype=torch.bool).scatter_(1, keep, False)
            sel = g.masked_fill(drop.unsqueeze(-1), float("-inf")).flatten(1)
        idx = sel.topk(a["n_activated_experts"], dim=-1)[1]
        wts = orig.gather(1, idx)
        if a["score_func"] == "sigmoid":
            wts = wts / wts.sum(-1, keepdim=True)
        return wts * a["route_scale"], idx

    def moe(self, p, x):
        shape = x.shape
        x = x.reshape(-1, self.a["dim"])
        wts, idx = self.gate(p, x)
        self.record(p + "gate.indices", idx.view(*shape[:-1], -1))
        self.record(p + "gate.weights", wts.view(*shape[:-1], -1))
        y = torch.zeros_like(x)
        for e in range(self.a["n_routed_experts"]):
            tok, slot = torch.where(idx == e)
            if tok.numel() == 0:
                continue
            q = f"{p}experts.{e}."
            y[tok] += swiglu(x[tok], self.W(q + "w1.weight"), self.W(q + "w2.weight"), self.W(q + "w3.weight")) * wts[tok, slot, None]
        s = p + "shared_experts."
        z = swiglu(x, self.W(s + "w1.weight"), self.W(s + "w2.weight"), self.W(s + "w3.weight"))
        return (y + z).view(shape)

    def block(self, L, x, ang, mask, attn):
        p = f"layers.{L}."
        x = x + self.mla(p + "attn.", rms_norm(x, self.W(p + "attn_norm.weight")), ang, mask, attn)
        h = rms_norm(x, self.W(p + "ffn_norm.weight"))
        if L < self.a["n_dense_layers"] or self.a["n_routed_experts"] == 0:
            f = swiglu(h, self.W(p + "ffn.w1.weight"), self.W(p + "ffn.w2.weight"), self.W(p + "ffn.w3.weight"))
        else:
            f = self.moe(p + "ffn.", h)
        x = x + f
        self.record(p + "resid_post", x)
        return x

    @staticmethod
    def causal(T):
        return torch.full((T, T), float("-inf")).triu_(1) if T > 1 else None

    def loss_and_grads(self, tokens, targets, attn="absorb", mtp_weight=0.3, ignore_index=-100):
        """moelab's training loss and its gradient for every weight (float32 autograd):
        CE(logits, targets) + mtp_weight / D * sum_k CE(mtp_logits_k, targets[:, k:]), each CE the
        mean over targets != ignore_index. Returns (loss, {name: grad}); the gate bias only
        chooses experts, so it has no gradient and is left out."""
        for t in self.w.values():
            t.requires_grad_(True)
        try:
            with torch.enable_grad():
                logits, mtp = self.run(tokens, attn)
                V = logits.shape[-1]
                loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore_index)
                if mtp and mtp_weight != 0:
                    extra = sum(F.cross_entropy(m.reshape(-1, V), targets[:, k:k + m.shape[1]].reshape(-1),
                                                ignore_index=ignore_index)
                                for k, m in enumerate(mtp, 1))
                    loss = loss + extra * (mtp_weight / self.mtp_depth)
                names = [n for n in self.w if not n.endswith("gate.bias")]
                grads = torch.autograd.grad(loss, [self.w[n] for n in names], allow_unused=True)
        finally:
            for t in self.w.values():
                t.requires_grad_(False)
        out = {n: (g if g is not None else torch.zeros_like(self.w[n])) for n, g in zip(names, grads)}
        return loss.detach(), out

    @torch.no_grad()
    def forward(self, tokens, attn="absorb"):
        """tokens [B, T] int64 -> (logits [B, T, V], [mtp logits [B, T-k, V] for k = 1..D])."""
        return self.run(tokens, attn)

    def run(self, tokens, attn="absorb"):
        """forward, recording autograd's graph when grad mode is on."""
        a = self.a
        B, T = tokens.shape
        if T > a["max_seq_len"]:
            raise ValueError(f"sequence length {T} exceeds max_seq_len {a['max_seq_len']}")
        if tokens.min() < 0 or tokens.max() >= a["vocab_size"]:
            raise ValueError(f"token ids must lie in [0, {a['vocab_size']})")
        emb = F.embedding(tokens, self.W("embed.weight"))
        ang = rope_angles(a, T)
        mask = self.causal(T)
        h = emb
        for L in range(a["n_layers"]):
            h = self.block(L, h, ang, mask, attn)
        hn = rms_norm(h, self.W("norm.weight"))
        head = self.W("head.weight")
        logits = F.linear(hn, head)
        mtp = []
        prev = hn
        for k in range(1, self.mtp_depth + 1):
            n = T - k
            if n <= 0:
                break
            L = a["n_layers"] + k - 1
            p = f"layers.{L}."
            e = rms_norm(emb[:, k:k + n], self.W(p + "enorm.weight"))
            hh = rms_norm(prev[:, :n], self.W(p + "hnorm.weight"))
            x = F.linear(torch.cat([e, hh], dim=-1), self.W(p + "eh_proj.weight"))
            x = self.block(L, x, ang[:n], self.causal(n), attn)
            mtp.append(F.linear(rms_norm(x, self.W(p + "shared_head.norm.weight")), head))
            prev = x
        return logits, mtp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attn", choices=["naive", "absorb"], default="absorb")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--trace", action="store_true",
                    help="also write intermediates as trace.layers.{L}.*: attn.kv_norm [B,T,c], attn.k_pe "
                         "[B,T,r] (rotated), attn.pattern [B,H,T,T], ffn.gate.indices (I32) and "
                         "ffn.gate.weights [B,T,k] (MoE layers), resid_post [B,T,D]")
    ap.add_argument("--grad", metavar="TARGETS.json",
                    help="also write the loss against these targets ([[int, ...], ...], -100 ignored) as "
                         "'loss' [1] and the gradient of every weight as 'grad.{name}' (MTP weight "
                         "--mtp-weight)")
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ns = ap.parse_args(argv)
    if ns.threads > 0:
        torch.set_num_threads(ns.threads)
    with open(ns.tokens) as f:
        toks = torch.tensor(json.load(f), dtype=torch.int64)
    if toks.dim() != 2:
        raise ValueError("tokens must be a list of equal-length lists")
    model = Oracle(ns.ckpt)
    if ns.trace:
        model.trace = {}
    logits, mtp = model.forward(toks, ns.attn)
    out = {"logits": logits}
    for k, v in (model.trace or {}).items():
        out["trace." + k] = v
    for k, m in enumerate(mtp, 1):
        out[f"mtp_logits.{k}"] = m
    if ns.grad:
        with open(ns.grad) as f:
            tg = torch.tensor(json.load(f), dtype=torch.int64)
        if tg.shape != toks.shape:
            raise ValueError(f"targets shape {list(tg.shape)} must equal tokens shape {list(toks.shape)}")
        model.trace = None
        loss, grads = model.loss_and_grads(toks, tg, ns.attn, ns.mtp_weight)
        out["loss"] = loss.reshape(1)
        for n, g in grads.items():
            out["grad." + n] = g
    write_safetensors(ns.out, out)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, OSError) as e:
        print(f"deepseek_ref.py: error: {e}", file=sys.stderr)
        sys.exit(2)
