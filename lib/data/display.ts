/** Small formatting helpers shared by the data layer's Jupyter displays. */

/** The MIME bundle key Jupyter kernels (Deno's convention) call on live objects. */
export const DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

export function escapeHtml(x: unknown): string {
  return String(x)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** 1234567 -> "1,234,567". */
export function commas(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A right-aligned plain-text table (first column left-aligned). */
export function textTable(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const w = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  return all.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join("  "),
  );
}

/** An HTML table with a caption; cells are escaped. */
export function htmlTable(caption: string, header: string[], rows: string[][]): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const tr = rows
    .map(
      (r) =>
        "<tr>" +
        r
          .map(
            (c, i) => `<td style="text-align:${i === 0 ? "left" : "right"}">${escapeHtml(c)}</td>`,
          )
          .join("") +
        "</tr>",
    )
    .join("");
  return (
    `<table><caption style="text-align:left">${escapeHtml(caption)}</caption>` +
    `<thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`
  );
}
