#!/usr/bin/python3
"""Re-runs the check behind "validated against DeepSeek's code": the project's oracle
(test/oracle/deepseek_ref.py, which moelab's tests compare against) against DeepSeek-V3's own
inference/model.py, on random float32 weights for several configs, both attention paths, every
position, and the MTP module (composed from DeepSeek's Block, RMSNorm and Linear; see
bench/model_peer.py's DeepSeekPeer). DeepSeek's file is never part of this repository: pass its
path (e.g. from `git clone https://github.com/deepseek-ai/DeepSeek-V3`).

Usage: /usr/bin/python3 bench/check_oracle_deepseek.py --model PATH/inference/model.py [--tol 1e-5]
Prints one line per config and attention path; exits 1 when any norm-wise relative error > tol.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "test", "oracle"))
from deepseek_ref import Oracle, write_safetensors  # noqa: E402
from model_peer import DeepSeekPeer  # noqa: E402
from train_peer import import_deepseek  # noqa: E402

BASE = dict(vocab_size=96, dim=64, inter_dim=128, moe_inter_dim=32, n_layers=3, n_heads=4,
            n_routed_experts=8, n_activated_experts=2, kv_lora_rank=16, qk_nope_head_dim=16,
            qk_rope_head_dim=8, v_head_dim=16, max_batch_size=2, max_seq_len=32, original_seq_len=32)
# (name, ModelArgs overrides, gate bias in the checkpoint)
CONFIGS = [
    ("softmax, q_lora_rank 0, groups by max, no YaRN",
     dict(score_func="softmax", q_lora_rank=0, n_dense_layers=1, n_shared_experts=1,
          n_expert_groups=2, n_limited_groups=1), False),
    ("sigmoid + bias, q_lora_rank 32, groups by top-2, YaRN, 2 dense layers",
     dict(score_func="sigmoid", q_lora_rank=32, n_dense_layers=2, n_shared_experts=2,
          n_expert_groups=4, n_limited_groups=2, route_scale=2.5, max_seq_len=64,
          rope_factor=4.0), True),
    ("sigmoid + bias, no shared experts, one group",
     dict(score_func="sigmoid", q_lora_rank=0, n_dense_layers=1, n_shared_experts=0,
          n_expert_groups=1, n_limited_groups=1), True),
]


def checkpoint(mod, overrides, bias, out, seed):
    """Random float32 weights in DeepSeek's layout, with one MTP module and moelab.json."""
    torch.manual_seed(seed)
    mod.world_size, mod.rank = 1, 0
    args = mod.ModelArgs(**{**BASE, **overrides})
    torch.set_default_dtype(torch.float32)
    model = mod.Transformer(args).float()
    sd = {}
    for name, t in model.state_dict().items():
        if name.endswith("norm.weight"):
            sd[name] = 1 + 0.1 * torch.randn(t.shape)
        else:
            sd[name] = torch.randn(t.shape) * (0.3 / max(1, t.shape[-1]) ** 0.5)
    n = args.n_layers
    if bias:
        for L in range(args.n_dense_layers, n + 1):
            sd[f"layers.{L}.ffn.gate.bias"] = 0.5 * torch.randn(args.n_routed_experts)
    # MTP module 1 = layers.{n}: a MoE block's weights, plus its norms and projection.
    src = f"layers.{n - 1}."
    for name in list(sd):
        if name.startswith(src):
            sd[f"layers.{n}." + name[len(src):]] = sd[name].clone() + 0.01 * torch.randn(sd[name].shape)
    for part in ("enorm", "hnorm", "shared_head.norm"):
        sd[f"layers.{n}.{part}.weight"] = 1 + 0.1 * torch.randn(args.dim)
    sd[f"layers.{n}.eh_proj.weight"] = torch.randn(args.dim, 2 * args.dim) * (0.3 / (2 * args.dim) ** 0.5)
    write_safetensors(os.path.join(out, "model0-mp1.safetensors"), sd)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(args), f)
    with open(os.path.join(out, "moelab.json"), "w") as f:
        # routing "noaux_tc" (a gate bias) or another value (none), as moelab writes it
        json.dump({"mtp_depth": 1, "routing": "noaux_tc" if bias else "plain"}, f)
    return args


def rel(a, b):
    return float((a - b).norm() / b.norm())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="DeepSeek-V3's inference/model.py")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(2)
    mod = import_deepseek(a.model)
    worst = 0.0
    for i, (name, overrides, bias) in enumerate(CONFIGS):
        with tempfile.TemporaryDirectory() as d:
            args = checkpoint(mod, overrides, bias, d, seed=i)
            g = torch.Generator().manual_seed(100 + i)
            toks = torch.randint(0, args.vocab_size, (2, 13), generator=g)
            for attn in ("naive", "absorb"):
                with torch.no_grad():
                    ref, ref_mtp = Oracle(d).forward(toks[:, :-1], attn)
                    ds = DeepSeekPeer(d, toks.tolist(), attn, a.model)
                    got, got_mtp = ds.run(ds.inputs, True)
                e = rel(ref, got)
                em = rel(ref_mtp[0], got_mtp[0])
                worst = max(worst, e, em)
                print(f"{name} [{attn}]: logits rel. err {e:.2e}, MTP logits {em:.2e}")
    ok = worst <= a.tol
    print(f"{'OK' if ok else 'FAILED'}: the oracle {'matches' if ok else 'differs from'} DeepSeek's "
          f"model.py (worst {worst:.2e}, tolerance {a.tol:.0e})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
