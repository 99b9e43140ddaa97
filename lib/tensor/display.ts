/** How tensors show in a notebook cell: PyTorch-like text, and a small HTML table. */
import type { Tensor } from "./tensor.js";

const EDGE = 3;
const THRESHOLD = 1000;

function fmtNumber(v: number, isInt: boolean, width: number, decimals: number): string {
  const s = isInt
    ? String(v)
    : Number.isNaN(v)
      ? "nan"
      : !Number.isFinite(v)
        ? v > 0
          ? "inf"
          : "-inf"
        : v.toFixed(decimals);
  return s.padStart(width);
}

function header(t: Tensor): string {
  const parts = [`shape=[${t.shape.join(", ")}]`, `dtype=${t.dtype}`];
  if (t.device.name !== "cpu") parts.push(`device=${t.device.name}`);
  if (t._node !== null) parts.push(`gradFn=${t._node.op}`);
  else if (t.requiresGrad) parts.push("requiresGrad=true");
  if (t.name) parts.unshift(`name=${JSON.stringify(t.name)}`);
  return parts.join(", ");
}

/** PyTorch-style text, summarised with "..." beyond 1000 elements. */
export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return `tensor(<disposed>, ${header(t)})`;
  const vals = t.toArray();
  const isInt = t.dtype === "int32";
  const summarise = t.size > THRESHOLD;
  const shape = t.shape;
  const strides: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  // Pick decimals like PyTorch: 4 normally, scientific when the range is extreme.
  let maxAbs = 0;
  let sci = false;
  for (let i = 0; i < vals.length; i++) {
    const a = Math.abs(vals[i]);
    if (Number.isFinite(a) && a > maxAbs) maxAbs = a;
  }
  if (!isInt && (maxAbs >= 1e8 || (maxAbs > 0 && maxAbs < 1e-4))) sci = true;
  const cell = (v: number): string =>
    sci && !isInt ? v.toExponential(4) : fmtNumber(v, isInt, 0, 4);
  let width = 0;
  for (let i = 0; i < Math.min(vals.length, 2000); i++)
    width = Math.max(width, cell(vals[i]).length);
  const pad = (v: number): string => cell(v).padStart(width);
  const rec = (dim: number, off: number, indent: string): string => {
    if (shape.length === 0) return pad(vals[0]);
    const n = shape[dim];
    const idx: (number | null)[] = [];
    if (summarise && n > 2 * EDGE) {
      for (let i = 0; i < EDGE; i++) idx.push(i);
      idx.push(null);
      for (let i = n - EDGE; i < n; i++) idx.push(i);
    } else for (let i = 0; i < n; i++) idx.push(i);
    if (dim === shape.length - 1)
      return "[" + idx.map((i) => (i === null ? "..." : pad(vals[off + i]))).join(", ") + "]";
    const sep = ",\n" + "\n".repeat(shape.length - dim - 2) + indent + " ";
    return (
      "[" +
      idx
        .map((i) => (i === null ? "..." : rec(dim + 1, off + i * strides[dim], indent + " ")))
        .join(sep) +
      "]"
    );
  };
  return `tensor(${rec(0, 0, "       ")}, ${header(t)})`;
}

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text made safe for HTML content and quoted attribute values (the library's one escaper). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}

/** A small HTML table (first 20 x 20 of the last two dims of the first matrix). */
export function formatHtml(t: Tensor): string {
  if (t.isDisposed || t.ndim === 0 || t.size === 0)
    return `<pre>${escapeHtml(formatTensor(t))}</pre>`;
  const vals = t.toArray();
  const isInt = t.dtype === "int32";
  const rows = t.ndim === 1 ? 1 : t.shape[t.ndim - 2];
  const cols = t.shape[t.ndim - 1];
  const R = Math.min(rows, 20);
  const C = Math.min(cols, 20);
  const lines: string[] = [];
  lines.push(
    `<div class="moelab-tensor"><div style="font-family:monospace;font-size:12px">Tensor ${escapeHtml(header(t))}${t.ndim > 2 ? " (first matrix)" : ""}</div>`,
  );
  lines.push('<table style="font-family:monospace;font-size:12px;border-collapse:collapse">');
  lines.push(
    "<tr><th></th>" +
      Array.from({ length: C }, (_, j) => `<th>${j}</th>`).join("") +
      (C < cols ? "<th>…</th>" : "") +
      "</tr>",
  );
  for (let i = 0; i < R; i++) {
    const cells = [];
    for (let j = 0; j < C; j++) {
      const v = vals[i * cols + j];
      cells.push(
        `<td style="text-align:right;padding:0 4px">${isInt ? v : Number.isFinite(v) ? v.toFixed(4) : String(v)}</td>`,
      );
    }
    lines.push(`<tr><th>${i}</th>${cells.join("")}${C < cols ? "<td>…</td>" : ""}</tr>`);
  }
  if (R < rows) lines.push(`<tr><th>…</th></tr>`);
  lines.push("</table></div>");
  return lines.join("\n");
}

/** The Jupyter MIME bundle (text/plain always). */
export function mimeBundle(t: Tensor): Record<string, string> {
  return { "text/plain": formatTensor(t), "text/html": formatHtml(t) };
}
