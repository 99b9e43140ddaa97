/**
 * Fused kernels (rmsNorm, rope, swiglu, attention, embedding, crossEntropy): forward and
 * gradients against tfjs composites, finite differences, and PyTorch where tfjs lacks the op.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as T from "../../../lib/tensor/index.js";
import { compareWithTf, finiteDiff, tf, TfT, assertClose, relErr } from "./oracle.js";
import { needs, DEBIAN_PYTHON } from "../../helpers/env.js";

function ropeTables(
  Tn: number,
  D: number,
): { cos: T.Tensor; sin: T.Tensor; c: number[]; s: number[] } {
  const c: number[] = [];
  const s: number[] = [];
  for (let t = 0; t < Tn; t++)
    for (let i = 0; i < D / 2; i++) {
      const f = t / Math.pow(10000, (2 * i) / D);
      c.push(Math.cos(f));
      s.push(Math.sin(f));
    }
  return {
    cos: T.tensor(c, { shape: [Tn, D / 2] }),
    sin: T.tensor(s, { shape: [Tn, D / 2] }),
    c,
    s,
  };
}

/** tfjs composite of adjacent-pair rotary embedding for x [B, T, H, D], tables [T, D/2]. */
function tfRope(x: TfT, c: number[], s: number[], Tn: number, D: number): TfT {
  const [B, , H] = x.shape;
  const pairs = x.reshape([B, Tn, H, D / 2, 2]);
  const [x0, x1] = tf.split(pairs, 2, 4).map((p) => p.squeeze([4]));
  const ct = tf.tensor(c, [1, Tn, 1, D / 2]);
  const st = tf.tensor(s, [1, Tn, 1, D / 2]);
  const y0 = x0.mul(ct).sub(x1.mul(st));
  const y1 = x0.mul(st).add(x1.mul(ct));
  return tf.stack([y0, y1], 4).reshape([B, Tn, H, D]);
}

function tfAttention(q: TfT, k: TfT, v: TfT, causal: boolean): TfT {
  const D = q.shape[q.rank - 1];
  const Tq = q.shape[q.rank - 2];
  const S = k.shape[k.rank - 2];
  let sc = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(D));
  if (causal) {
    const m = tf.tensor2d(
      Array.from({ length: Tq * S }, (_, idx) =>
        idx % S <= Math.floor(idx / S) + S - Tq ? 0 : -1e30,
      ),
      [Tq, S],
    );
    sc = sc.add(m);
  }
  return tf.matMul(tf.softmax(sc), v);
}

describe("fused kernels", () => {
  it("rmsNorm matches a tfjs composite (small: JS path, large: native path)", () => {
    for (const [shape, eps] of [
      [[3, 5], 1e-6],
      [[4, 33, 96], 1e-5],
    ] as [number[], number][]) {
      const D = shape[shape.length - 1];
      compareWithTf({
        name: `rmsNorm ${shape}`,
        shapes: [shape, [D]],
        mine: (x, w) => T.rmsNorm(x, w, eps),
        ref: (x, w) => x.mul(x.square().mean(-1, true).add(eps).rsqrt()).mul(w),
        tol: 1e-5,
      });
    }
    compareWithTf({
      name: "rmsNorm no weight",
      shapes: [[7, 9]],
      mine: (x) => T.rmsNorm(x, null),
      ref: (x) => x.mul(x.square().mean(-1, true).add(1e-6).rsqrt()),
    });
  });

  it("rope matches a tfjs composite and inverts with its backward", () => {
    for (const [B, Tn, H, D] of [
      [1, 3, 2, 4],
      [2, 17, 4, 64],
    ]) {
      const { cos, sin, c, s } = ropeTables(Tn, D);
      compareWithTf({
        name: `rope ${[B, Tn, H, D]}`,
        shapes: [[B, Tn, H, D]],
        mine: (x) => T.rope(x, cos, sin),
        ref: (x) => tfRope(x, c, s, Tn, D),
      });
    }
    const { cos, sin } = ropeTables(5, 8);
    const x = T.randn([2, 5, 8], { seed: 4 });
    const y = T.rope(x, cos, sin);
    // A rotation keeps norms per pair.
    assertClose(
      y.square().sum(-1).toArray(),
      x.square().sum(-1).toArray(),
      1e-6,
      "rope keeps norms",
    );
  });

  it("swiglu matches silu(a) * b in tfjs", () => {
    for (const shape of [
      [3, 4],
      [40, 100],
    ])
      compareWithTf({
        name: `swiglu ${shape}`,
        shapes: [shape, shape],
        mine: (a, b) => T.swiglu(a, b),
        ref: (a, b) => a.mul(a.sigmoid()).mul(b),
      });
  });

  it("attention (causal and not, T != S) matches tfjs matMul + softmax", () => {
    for (const [lead, Tq, S, D, causal] of [
      [[2], 3, 3, 4, true],
      [[2, 3], 9, 9, 16, true],
      [[2, 2], 5, 7, 8, true],
      [[1, 2], 6, 6, 8, false],
      [[2, 4], 64, 64, 32, true],
    ] as [number[], number, number, number, boolean][])
      compareWithTf({
        name: `attention ${lead} T=${Tq} S=${S} D=${D} causal=${causal}`,
        shapes: [
          [...lead, Tq, D],
          [...lead, S, D],
          [...lead, S, D],
        ],
        mine: (q, k, v) => T.attention(q, k, v, { causal }),
        ref: (q, k, v) => tfAttention(q, k, v, causal),
      });
    const q = T.randn([1, 2, 4, 8], { seed: 1 });
    const { output, probs } = T.attention(q, q, q, { returnProbs: true });
    assert.deepEqual([...probs.shape], [1, 2, 4, 4]);
    assert.deepEqual([...output.shape], [1, 2, 4, 8]);
    const p = probs.toArray();
    assert.equal(p[1], 0, "future position masked");
    assertClose(probs.sum(-1).toArray(), new Float32Array(8).fill(1), 1e-6, "rows sum to 1");
  });

  it("finite differences agree with the fused backwards", () => {
    const check = (name: string, shapes: number[][], f: (...x: T.Tensor[]) => T.Tensor) => {
      T.tidy(() => {
        const xs = shapes.map((s, i) => T.randn(s, { seed: 20 + i }).requiresGrad_());
        const out = f(...xs);
        const R = T.randn([...out.shape], { seed: 99 });
        out.mul(R).sum().backward();
        xs.forEach((x, i) => {
          const base = xs.map((t) => t.toArray() as Float32Array);
          const fd = finiteDiff(
            (v) =>
              T.noGrad(() =>
                T.tidy(() => {
                  const ins = base.map((b, j) =>
                    T.tensor(j === i ? v : b, { shape: [...shapes[j]] }),
                  );
                  return f(...ins)
                    .mul(R)
                    .sum()
                    .item();
                }),
              ),
            base[i],
            1e-2,
          );
          const e = relErr(x.grad!.toArray(), fd);
          assert.ok(e < 2e-3, `${name}: grad ${i} vs finite differences: ${e.toExponential(2)}`);
        });
      });
    };
    const { cos, sin } = ropeTables(4, 6);
    check("rmsNorm", [[3, 8], [8]], (x, w) => T.rmsNorm(x, w));
    check("rope", [[2, 4, 6]], (x) => T.rope(x, cos, sin));
    check(
      "swiglu",
      [
        [5, 6],
        [5, 6],
      ],
      (a, b) => T.swiglu(a, b),
    );
    check(
      "attention",
      [
        [1, 4, 6],
        [1, 4, 6],
        [1, 4, 6],
      ],
      (q, k, v) => T.attention(q, k, v),
    );
    const tgt = T.tensor([1, 0, 3], { dtype: "int32" });
    check("crossEntropy", [[3, 5]], (x) => T.crossEntropy(x, tgt));
    check("logSoftmax", [[3, 5]], (x) => x.logSoftmax(-1));
  });

  it("embedding accumulates gradients for repeated ids", () => {
    const w = T.randn([5, 3], { seed: 1 }).requiresGrad_();
    const ids = T.tensor(
      [
        [1, 1],
        [4, 1],
      ],
      { dtype: "int32" },
    );
    T.embedding(w, ids).sum().backward();
    assert.deepEqual(Array.from(w.grad!.sum(1).toArray()), [0, 9, 0, 0, 3]);
  });

  it("PyTorch agrees on crossEntropy with ignore_index, rope (complex form) and rmsNorm grads", function () {
    needs(this, "torch");
    const N = 6,
      C = 7;
    const logits = T.randn([N, C], { seed: 3 }).requiresGrad_();
    const tg = [2, -100, 6, 0, -100, 3];
    const loss = T.crossEntropy(logits, T.tensor(tg, { dtype: "int32" }));
    loss.backward();
    const { cos, sin, c, s } = ropeTables(4, 8);
    const xr = T.randn([2, 4, 3, 8], { seed: 5 }).requiresGrad_();
    const yr = T.rope(xr, cos, sin);
    const R = T.randn([2, 4, 3, 8], { seed: 6 });
    yr.mul(R).sum().backward();
    const xn = T.randn([3, 16], { seed: 7 }).requiresGrad_();
    const wn = T.randn([16], { seed: 8 }).requiresGrad_();
    T.rmsNorm(xn, wn).square().sum().backward();
    const input = {
      logits: Array.from(logits.toArray()),
      tg,
      N,
      C,
      xr: Array.from(xr.toArray()),
      R: Array.from(R.toArray()),
      c,
      s,
      xn: Array.from(xn.toArray()),
      wn: Array.from(wn.toArray()),
    };
    const py = `
import json, sys, torch
d = json.load(sys.stdin)
lg = torch.tensor(d["logits"]).reshape(d["N"], d["C"]).requires_grad_()
loss = torch.nn.functional.cross_entropy(lg, torch.tensor(d["tg"]), ignore_index=-100)
loss.backward()
x = torch.tensor(d["xr"]).reshape(2, 4, 3, 8).requires_grad_()
fc = torch.polar(torch.ones(4, 4), torch.atan2(torch.tensor(d["s"]), torch.tensor(d["c"])).reshape(4, 4))
xc = torch.view_as_complex(x.float().view(2, 4, 3, 4, 2))
y = torch.view_as_real(xc * fc.view(1, 4, 1, 4)).flatten(3)
(y * torch.tensor(d["R"]).reshape(2, 4, 3, 8)).sum().backward()
xn = torch.tensor(d["xn"]).reshape(3, 16).requires_grad_()
wn = torch.tensor(d["wn"]).requires_grad_()
yn = xn * torch.rsqrt(xn.pow(2).mean(-1, keepdim=True) + 1e-6) * wn
yn.pow(2).sum().backward()
print(json.dumps({"loss": loss.item(), "glog": lg.grad.flatten().tolist(), "y": y.flatten().tolist(), "gx": x.grad.flatten().tolist(), "gxn": xn.grad.flatten().tolist(), "gwn": wn.grad.flatten().tolist()}))
`;
    const r = spawnSync(DEBIAN_PYTHON, ["-c", py], {
      input: JSON.stringify(input),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.ok(Math.abs(loss.item() - o.loss) < 1e-5 * Math.abs(o.loss), "ce loss");
    assertClose(logits.grad!.toArray(), o.glog, 1e-5, "ce grad");
    assertClose(yr.toArray(), o.y, 1e-5, "rope fwd");
    assertClose(xr.grad!.toArray(), o.gx, 1e-5, "rope grad");
    assertClose(xn.grad!.toArray(), o.gxn, 1e-4, "rmsNorm dx");
    assertClose(wn.grad!.toArray(), o.gwn, 1e-4, "rmsNorm dw");
  });
});
