/**
 * moelab's own SVG renderer for the Figure trace subset (heatmap, bar, scatter; layout.grid
 * subplots, axis titles and types, shapes, annotations, legend, title): the image/svg+xml of a
 * figure's MIME bundle and the fallback its text/html shows until (unless) plotly.js draws, so a
 * saved notebook shows its figures where no script runs. It follows plotly.js's defaults (colours,
 * row 0 of a heatmap at the bottom, "coupled" grids) closely enough that both drawings of a figure
 * read the same.
 */
import type { FigureSpec, PlotlyTrace } from "../figure.js";
import { COLORWAY, colorAt, inkOn, parseColor, resolveScale, toCss } from "./color.js";
import { encodePng } from "./png.js";
import { formatNumber, niceTicks, padRange, position, tickLabels, type Scale } from "./scale.js";

export interface SvgOptions {
  /** Pixel width (default layout.width, else 680). */
  width?: number;
  /** Pixel height (default layout.height, else from the grid's rows). */
  height?: number;
}

/** Heatmaps with more cells than this are drawn as one embedded PNG (one pixel per cell). */
export const MAX_CELL_RECTS = 1024;

const FONT = `font-family="Helvetica,Arial,sans-serif"`;
const r1 = (v: number): string => String(Math.round(v * 10) / 10);

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!,
  );
}

/** Plotly titles: a string or { text }, with <br> line breaks and light HTML tags. */
export function titleText(t: unknown): string[] {
  const s =
    typeof t === "string"
      ? t
      : t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string"
        ? (t as { text: string }).text
        : "";
  if (!s) return [];
  return s.split(/<br\s*\/?>/i).map((line) =>
    line
      // Plotly's pseudo-HTML tags; any other "<...>" is text (a token such as "<eos>").
      .replace(/<\/?(?:b|i|em|strong|sup|sub|span|a|br)\b[^>]*>/gi, "")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&"),
  );
}

/** About how wide a label is in pixels (no font metrics here). */
function textWidth(s: string, size: number): number {
  return s.length * size * 0.56;
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

type Rect = { x: number; y: number; w: number; h: number };

interface AxisInfo {
  id: string; // "x", "x2", "y", ...
  letter: "x" | "y";
  layout: Record<string, unknown>;
  kind: Scale["kind"];
  categories: string[];
  lo: number;
  hi: number;
  /** Whether the extent came from heatmap cell edges or bars (no padding then). */
  tight: boolean;
  hasBars: boolean;
  scale?: Scale;
  /** Pixel span along the axis, set by the subplot that draws it. */
  rect?: Rect;
}

const axisName = (id: string): string =>
  id[0] === "x" ? `xaxis${id.slice(1)}` : `yaxis${id.slice(1)}`;
const axisNumber = (id: string): number => (id.length > 1 ? Number(id.slice(1)) : 1);

function num(v: unknown): number {
  return typeof v === "number" ? v : v === null || v === undefined ? NaN : Number(v);
}

function arr(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  return [];
}

function zRows(t: PlotlyTrace): number[][] {
  return arr(t.z).map((row) => arr(row).map(num));
}

function traceColor(t: PlotlyTrace, i: number): string {
  const line = t.line as { color?: unknown } | undefined;
  const marker = t.marker as { color?: unknown } | undefined;
  const c =
    (typeof line?.color === "string" && line.color) ||
    (typeof marker?.color === "string" && marker.color) ||
    COLORWAY[i % COLORWAY.length];
  return parseColor(c) ? c : COLORWAY[i % COLORWAY.length];
}

/** Draws a figure spec as a standalone SVG document (a string). */
export function renderSvg(spec: FigureSpec, opts: SvgOptions = {}): string {
  const layout = spec.layout ?? {};
  const traces = spec.data ?? [];
  const grid = layout.grid as
    { rows?: number; columns?: number; pattern?: string; roworder?: string } | undefined;
  const rows = Math.max(1, Math.floor(num(grid?.rows)) || 1);
  const cols = Math.max(1, Math.floor(num(grid?.columns)) || 1);
  const W = Math.round(opts.width ?? (num(layout.width) || 680));
  const H = Math.round(opts.height ?? (num(layout.height) || 140 + 260 * rows));
  const title = titleText(layout.title);

  // Legend entries: named line/bar traces, as plotly shows them (more than one, or asked for).
  const legendItems = traces
    .map((t, i) => ({ t, i }))
    .filter(
      ({ t }) => t.type !== "heatmap" && t.showlegend !== false && typeof t.name === "string",
    );
  const showLegend =
    layout.showlegend === true || (layout.showlegend !== false && legendItems.length > 1);
  const legendW = showLegend
    ? Math.min(190, 34 + Math.max(...legendItems.map(({ t }) => textWidth(String(t.name), 11))))
    : 0;

  const margin = layout.margin as Record<string, number> | undefined;
  const area: Rect = {
    x: num(margin?.l) || 64,
    y: (num(margin?.t) || 18) + (title.length ? 18 * title.length + 14 : 0),
    w: 0,
    h: 0,
  };
  area.w = W - area.x - (num(margin?.r) || 24) - legendW;
  area.h = H - area.y - (num(margin?.b) || 56);
  if (area.w < 40 || area.h < 40)
    throw new RangeError(`renderSvg: ${W}x${H} pixels leave no room to draw the plot`);

  // Axes and the traces on them.
  const axes = new Map<string, AxisInfo>();
  const getAxis = (id: string): AxisInfo => {
    let a = axes.get(id);
    if (!a) {
      const lay = (layout[axisName(id)] ?? {}) as Record<string, unknown>;
      const type = lay.type;
      a = {
        id,
        letter: id[0] as "x" | "y",
        layout: lay,
        kind: type === "log" ? "log" : type === "category" ? "category" : "linear",
        categories: Array.isArray(lay.categoryarray) ? lay.categoryarray.map(String) : [],
        lo: Infinity,
        hi: -Infinity,
        tight: false,
        hasBars: false,
      };
      axes.set(id, a);
    }
    return a;
  };
  const pairs = new Map<
    string,
    { x: AxisInfo; y: AxisInfo; traces: { t: PlotlyTrace; i: number }[] }
  >();
  traces.forEach((t, i) => {
    const xid = typeof t.xaxis === "string" ? t.xaxis : "x";
    const yid = typeof t.yaxis === "string" ? t.yaxis : "y";
    const key = `${xid}${yid}`;
    if (!pairs.has(key)) pairs.set(key, { x: getAxis(xid), y: getAxis(yid), traces: [] });
    pairs.get(key)!.traces.push({ t, i });
  });
  if (pairs.size === 0) pairs.set("xy", { x: getAxis("x"), y: getAxis("y"), traces: [] });

  // Category axes: any string value on them.
  const isStr = (v: unknown) => typeof v === "string";
  for (const { x, y, traces: ts } of pairs.values())
    for (const { t } of ts) {
      const hx = t.type === "heatmap" ? arr(t.x) : arr(t.x);
      const hy = t.type === "heatmap" ? arr(t.y) : arr(t.y);
      if (x.kind !== "log" && hx.some(isStr)) x.kind = "category";
      if (y.kind !== "log" && hy.some(isStr)) y.kind = "category";
    }

  const extend = (a: AxisInfo, v: number) => {
    if (!Number.isFinite(v) || (a.kind === "log" && v <= 0)) return;
    const w = a.kind === "log" ? Math.log10(v) : v;
    a.lo = Math.min(a.lo, w);
    a.hi = Math.max(a.hi, w);
  };
  const catIndex = (a: AxisInfo, v: unknown): number => {
    const s = String(v);
    let k = a.categories.indexOf(s);
    if (k < 0) k = a.categories.push(s) - 1;
    return k;
  };
  // Heatmap cells are placed by index on category axes (token labels may repeat).
  const heatCoords = (
    a: AxisInfo,
    labels: unknown[],
    n: number,
    o0: unknown,
    d: unknown,
  ): number[] => {
    const start0 = typeof o0 === "number" ? o0 : 0;
    const step = typeof d === "number" ? d : 1;
    if (a.kind === "category") {
      const start = a.categories.length;
      for (let k = 0; k < n; k++)
        a.categories.push(k < labels.length ? String(labels[k]) : String(k));
      return Array.from({ length: n }, (_, k) => start + k);
    }
    return Array.from({ length: n }, (_, k) =>
      k < labels.length ? num(labels[k]) : start0 + k * step,
    );
  };

  type Prepared = { t: PlotlyTrace; i: number; xs: number[]; ys: number[] };
  const prepared = new Map<string, Prepared[]>();
  for (const [key, { x, y, traces: ts }] of pairs) {
    const out: Prepared[] = [];
    for (const { t, i } of ts) {
      if (t.type === "heatmap") {
        const z = zRows(t);
        const nx = Math.max(0, ...z.map((r) => r.length));
        const xs = heatCoords(x, arr(t.x), nx, t.x0, t.dx);
        const ys = heatCoords(y, arr(t.y), z.length, t.y0, t.dy);
        for (const [a, cs] of [
          [x, xs],
          [y, ys],
        ] as const) {
          const h0 = cs.length > 1 ? (cs[1] - cs[0]) / 2 : 0.5;
          const h1 = cs.length > 1 ? (cs[cs.length - 1] - cs[cs.length - 2]) / 2 : 0.5;
          if (cs.length) {
            extend(a, cs[0] - h0);
            extend(a, cs[cs.length - 1] + h1);
          }
          a.tight = true;
        }
        out.push({ t, i, xs, ys });
        continue;
      }
      let xsRaw = arr(t.x);
      let ysRaw = arr(t.y);
      const horizontal = t.type === "bar" && t.orientation === "h";
      // Plotly's implicit coordinates: x0 + k·dx (default 0 and 1).
      const implicit = (o: unknown, d: unknown) => (_: unknown, k: number) =>
        (typeof o === "number" ? o : 0) + k * (typeof d === "number" ? d : 1);
      if (xsRaw.length === 0 && ysRaw.length) xsRaw = ysRaw.map(implicit(t.x0, t.dx));
      if (ysRaw.length === 0 && xsRaw.length) ysRaw = xsRaw.map(implicit(t.y0, t.dy));
      const xs = xsRaw.map((v) => (x.kind === "category" ? catIndex(x, v) : num(v)));
      const ys = ysRaw.map((v) => (y.kind === "category" ? catIndex(y, v) : num(v)));
      if (t.type === "bar") {
        (horizontal ? x : y).hasBars = true;
        extend(horizontal ? x : y, 0);
      }
      out.push({ t, i, xs, ys });
    }
    prepared.set(key, out);
  }
  // Bar stacking and extents.
  const barmode = typeof layout.barmode === "string" ? layout.barmode : "group";
  const stackBase = new Map<string, Map<number, [number, number]>>();
  const barOffsets = new Map<number, number[]>(); // trace index -> per-point base
  for (const [key, ps] of prepared) {
    const { x, y } = pairs.get(key)!;
    const base = new Map<number, [number, number]>();
    stackBase.set(key, base);
    for (const p of ps) {
      const horizontal = p.t.type === "bar" && p.t.orientation === "h";
      const [pos, val, va] = horizontal ? [p.ys, p.xs, x] : [p.xs, p.ys, y];
      const pa = horizontal ? y : x;
      if (p.t.type === "heatmap") continue;
      if (p.t.type === "bar" && (barmode === "stack" || barmode === "relative")) {
        const bases: number[] = [];
        pos.forEach((c, k) => {
          const [neg, posb] = base.get(c) ?? [0, 0];
          const v = Number.isFinite(val[k]) ? val[k] : 0;
          const b = v >= 0 ? posb : neg;
          bases.push(b);
          base.set(c, v >= 0 ? [neg, posb + v] : [neg + v, posb]);
          extend(va, b + v);
        });
        barOffsets.set(p.i, bases);
      } else val.forEach((v) => extend(va, v));
      pos.forEach((c) => extend(pa, c));
      if (p.t.type === "bar") {
        if (pa.kind !== "category") {
          const sorted = [...new Set(pos)].sort((a, b) => a - b);
          const gap = sorted.length > 1 ? sorted[1] - sorted[0] : 1;
          extend(pa, sorted[0] - gap / 2);
          extend(pa, sorted[sorted.length - 1] + gap / 2);
        }
      }
    }
  }
  // Shapes and annotations on data axes widen the autorange, as in plotly.js.
  const shapes = arr(layout.shapes) as Record<string, unknown>[];
  for (const s of shapes) {
    if (!s || typeof s !== "object") continue;
    const xr = typeof s.xref === "string" ? s.xref : "x";
    const yr = typeof s.yref === "string" ? s.yref : "y";
    if (/^x\d*$/.test(xr) && axes.has(xr) && axes.get(xr)!.kind !== "category") {
      extend(axes.get(xr)!, num(s.x0));
      extend(axes.get(xr)!, num(s.x1));
    }
    if (/^y\d*$/.test(yr) && axes.has(yr) && axes.get(yr)!.kind !== "category") {
      extend(axes.get(yr)!, num(s.y0));
      extend(axes.get(yr)!, num(s.y1));
    }
  }

  // Subplot rectangles: axis domains, else the grid, else the whole area.
  const hasScale = (key: string) =>
    (prepared.get(key) ?? []).some((p) => p.t.type === "heatmap" && p.t.showscale !== false);
  const independent = grid?.pattern === "independent";
  const bottomUp = grid?.roworder === "bottom to top";
  const gapX = 64;
  const gapY = 64;
  const cellW = (area.w - (cols - 1) * gapX) / cols;
  const cellH = (area.h - (rows - 1) * gapY) / rows;
  const cellOf = (x: AxisInfo, y: AxisInfo): [number, number] => {
    if (independent) {
      const k = axisNumber(x.id) - 1;
      return [Math.floor(k / cols) % rows, k % cols];
    }
    return [(axisNumber(y.id) - 1) % rows, (axisNumber(x.id) - 1) % cols];
  };
  const domainOf = (a: AxisInfo): [number, number] | null => {
    const d = a.layout.domain;
    return Array.isArray(d) && d.length === 2 && d.every((v) => typeof v === "number")
      ? [d[0], d[1]]
      : null;
  };
  const subplots: { key: string; x: AxisInfo; y: AxisInfo; rect: Rect }[] = [];
  for (const [key, { x, y }] of pairs) {
    let rect: Rect;
    const dx = domainOf(x);
    const dy = domainOf(y);
    if (grid && !(dx && dy)) {
      const [row, col] = cellOf(x, y);
      const rr = bottomUp ? rows - 1 - row : row;
      rect = {
        x: area.x + col * (cellW + gapX),
        y: area.y + rr * (cellH + gapY),
        w: cellW,
        h: cellH,
      };
    } else {
      const [x0, x1] = dx ?? [0, 1];
      const [y0, y1] = dy ?? [0, 1];
      rect = {
        x: area.x + x0 * area.w,
        y: area.y + (1 - y1) * area.h,
        w: (x1 - x0) * area.w,
        h: (y1 - y0) * area.h,
      };
    }
    if (hasScale(key)) rect.w = Math.max(20, rect.w - 56);
    // Room for long category labels on the y axis.
    if (y.kind === "category") {
      const labelW = Math.max(0, ...y.categories.map((c) => textWidth(clip(c, 24), 11))) + 8;
      const room = grid && !(dx && dy) ? (cellOf(x, y)[1] === 0 ? area.x : gapX) : area.x;
      if (labelW > room) {
        const shift = Math.min(rect.w / 3, labelW - room);
        rect.x += shift;
        rect.w -= shift;
      }
    }
    subplots.push({ key, x, y, rect });
  }

  // Scales.
  for (const a of axes.values()) {
    const sp = subplots.find((s) => s.x === a || s.y === a);
    if (!sp) continue;
    a.rect = sp.rect;
    let domain: [number, number];
    const given = a.layout.range;
    if (Array.isArray(given) && given.length === 2 && given.every(Number.isFinite))
      domain = [num(given[0]), num(given[1])];
    else if (a.kind === "category") domain = [-0.5, Math.max(0, a.categories.length - 1) + 0.5];
    else if (!Number.isFinite(a.lo)) domain = a.kind === "log" ? [0, 1] : [-1, 1];
    else if (a.tight) domain = [a.lo, a.hi];
    else if (a.hasBars) {
      const [lo, hi] = padRange(a.lo, a.hi);
      domain = [a.lo < 0 ? lo : a.lo, a.hi > 0 ? hi : a.hi];
    } else domain = padRange(a.lo, a.hi, a.letter === "x" ? 0.02 : 0.06);
    if (a.layout.autorange === "reversed") domain = [domain[1], domain[0]];
    const rect = sp.rect;
    a.scale = {
      kind: a.kind,
      domain,
      range: a.letter === "x" ? [rect.x, rect.x + rect.w] : [rect.y + rect.h, rect.y],
      categories: a.categories,
    };
  }

  const parts: string[] = [];
  const defs: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  if (title.length)
    title.forEach((line, k) => {
      // A long title gets a smaller font rather than running off the image.
      const size = Math.max(9, Math.min(k === 0 ? 16 : 13, (W - 20) / (line.length * 0.56)));
      parts.push(
        `<text x="${r1(W / 2)}" y="${24 + 18 * k}" text-anchor="middle" font-size="${r1(size)}" fill="#222">${escapeXml(line)}</text>`,
      );
    });

  subplots.forEach((sp, si) => {
    const { rect, x, y } = sp;
    const sx = x.scale!;
    const sy = y.scale!;
    const clipId = `c${si}`;
    defs.push(
      `<clipPath id="${clipId}"><rect x="${r1(rect.x)}" y="${r1(rect.y)}" width="${r1(rect.w)}" height="${r1(rect.h)}"/></clipPath>`,
    );
    parts.push(
      `<rect x="${r1(rect.x)}" y="${r1(rect.y)}" width="${r1(rect.w)}" height="${r1(rect.h)}" fill="#fff" stroke="#ccc"/>`,
    );
    parts.push(...axisMarks(x, rect, "x"), ...axisMarks(y, rect, "y"));
    const body: string[] = [];
    const ps = prepared.get(sp.key) ?? [];
    const bars = ps.filter((p) => p.t.type === "bar");
    let barSlot = 0;
    for (const p of ps) {
      if (p.t.type === "heatmap") body.push(...heatmap(p, sx, sy, rect, parts, defs, si));
      else if (p.t.type === "bar") {
        body.push(...barTrace(p, sx, sy, barmode, bars.length, barSlot++, barOffsets.get(p.i)));
      } else body.push(...scatterTrace(p, sx, sy));
    }
    parts.push(`<g clip-path="url(#${clipId})">${body.join("")}</g>`);
  });

  // Shapes and annotations, over the traces.
  const toPx = (ref: unknown, v: number, letter: "x" | "y"): number => {
    const r = typeof ref === "string" ? ref : letter;
    if (r === "paper") return letter === "x" ? area.x + v * area.w : area.y + (1 - v) * area.h;
    const m = /^([xy]\d*)( domain)?$/.exec(r);
    const a = m ? axes.get(m[1]) : undefined;
    if (!a?.scale) return NaN;
    if (m![2]) {
      const rc = a.rect!;
      return letter === "x" ? rc.x + v * rc.w : rc.y + (1 - v) * rc.h;
    }
    return position(a.scale, v);
  };
  for (const s of shapes) {
    if (!s || typeof s !== "object") continue;
    const line = (s.line ?? {}) as { color?: unknown; width?: unknown; dash?: unknown };
    const stroke = parseColor(line.color) ? String(line.color) : "#444";
    const width = num(line.width) || 1.5;
    const x0 = toPx(s.xref, num(s.x0), "x");
    const x1 = toPx(s.xref, num(s.x1), "x");
    const y0 = toPx(s.yref, num(s.y0), "y");
    const y1 = toPx(s.yref, num(s.y1), "y");
    if (![x0, x1, y0, y1].every(Number.isFinite)) continue;
    const dash = dashArray(line.dash);
    if (s.type === "rect") {
      const fill = parseColor(s.fillcolor) ? String(s.fillcolor) : "none";
      parts.push(
        `<rect x="${r1(Math.min(x0, x1))}" y="${r1(Math.min(y0, y1))}" width="${r1(Math.abs(x1 - x0))}" height="${r1(Math.abs(y1 - y0))}" fill="${escapeXml(fill)}" stroke="${escapeXml(stroke)}" stroke-width="${width}"${dash}${typeof s.opacity === "number" ? ` opacity="${s.opacity}"` : ""}/>`,
      );
    } else
      parts.push(
        `<line x1="${r1(x0)}" y1="${r1(y0)}" x2="${r1(x1)}" y2="${r1(y1)}" stroke="${escapeXml(stroke)}" stroke-width="${width}"${dash}/>`,
      );
  }
  for (const an of arr(layout.annotations) as Record<string, unknown>[]) {
    if (!an || typeof an !== "object") continue;
    const lines = titleText(an.text);
    const px = toPx(an.xref, num(an.x), "x");
    const py = toPx(an.yref, num(an.y), "y");
    if (!lines.length || !Number.isFinite(px) || !Number.isFinite(py)) continue;
    const font = (an.font ?? {}) as { size?: unknown; color?: unknown };
    const size = num(font.size) || 12;
    const anchor = an.xanchor === "left" ? "start" : an.xanchor === "right" ? "end" : "middle";
    const dy = an.yanchor === "bottom" ? -4 : an.yanchor === "top" ? size : size / 3;
    lines.forEach((l, k) =>
      parts.push(
        `<text x="${r1(px)}" y="${r1(py + dy + k * size * 1.2)}" text-anchor="${anchor}" font-size="${size}" fill="${parseColor(font.color) ? escapeXml(String(font.color)) : "#222"}">${escapeXml(l)}</text>`,
      ),
    );
  }

  if (showLegend) {
    const lx = W - legendW + 6;
    let ly = area.y + 4;
    for (const { t, i } of legendItems) {
      const c = traceColor(t, i);
      const mode = typeof t.mode === "string" ? t.mode : "lines";
      const swatch =
        t.type === "bar"
          ? `<rect x="${lx}" y="${ly - 5}" width="14" height="10" fill="${escapeXml(c)}"/>`
          : mode.includes("lines")
            ? `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${escapeXml(c)}" stroke-width="2"${dashArray((t.line as { dash?: unknown } | undefined)?.dash)}/>`
            : `<circle cx="${lx + 9}" cy="${ly}" r="4" fill="${escapeXml(c)}"/>`;
      parts.push(
        swatch +
          `<text x="${lx + 24}" y="${ly + 4}" font-size="11" fill="#222">${escapeXml(clip(String(t.name), 26))}</text>`,
      );
      ly += 18;
      if (ly > H - 10) break;
    }
  }

  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} class="moelab-figure">` +
    (defs.length ? `<defs>${defs.join("")}</defs>` : "") +
    parts.join("") +
    `</svg>`
  );
}

function dashArray(d: unknown): string {
  if (d === "dash") return ` stroke-dasharray="6,4"`;
  if (d === "dot") return ` stroke-dasharray="2,3"`;
  if (d === "dashdot") return ` stroke-dasharray="6,3,2,3"`;
  if (d === "longdash") return ` stroke-dasharray="10,4"`;
  return "";
}

/** Grid lines, ticks, tick labels and the title of one axis. */
function axisMarks(a: AxisInfo, rect: Rect, letter: "x" | "y"): string[] {
  const s = a.scale!;
  const out: string[] = [];
  const lay = a.layout;
  let ticks: number[];
  let labels: string[];
  const tickvals = arr(lay.tickvals).map(num);
  if (tickvals.length && tickvals.every(Number.isFinite)) {
    ticks = tickvals;
    const tt = arr(lay.ticktext);
    labels = ticks.map((t, k) => (k < tt.length ? String(tt[k]) : formatNumber(t)));
  } else if (s.kind === "category") {
    const n = s.categories.length;
    const len = letter === "x" ? rect.w : rect.h;
    const maxLabel = Math.max(1, ...s.categories.map((c) => Math.min(c.length, 14)));
    const need = letter === "x" ? Math.min(maxLabel * 6.2, 40) + 4 : 13;
    const every = Math.max(1, Math.ceil((n * need) / Math.max(1, len)));
    ticks = [];
    for (let k = 0; k < n; k += every) ticks.push(k);
    labels = ticks.map((k) => s.categories[k]);
  } else if (s.kind === "log") {
    const [lo, hi] = [Math.min(...s.domain), Math.max(...s.domain)];
    ticks = [];
    for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push(Math.pow(10, e));
    labels = ticks.map(formatNumber);
  } else {
    const len = letter === "x" ? rect.w : rect.h;
    ticks = niceTicks(
      Math.min(...s.domain),
      Math.max(...s.domain),
      Math.max(2, Math.round(len / (letter === "x" ? 70 : 45))),
    );
    labels = tickLabels(ticks);
  }
  const rotate =
    letter === "x" &&
    s.kind === "category" &&
    ticks.length > 1 &&
    Math.max(...labels.map((l) => textWidth(clip(l, 14), 11))) > rect.w / ticks.length - 4;
  ticks.forEach((t, k) => {
    const p = position(s, t);
    if (!Number.isFinite(p)) return;
    const label = escapeXml(clip(labels[k], letter === "x" ? 14 : 24));
    if (letter === "x") {
      if (p < rect.x - 0.5 || p > rect.x + rect.w + 0.5) return;
      if (s.kind !== "category")
        out.push(
          `<line x1="${r1(p)}" y1="${r1(rect.y)}" x2="${r1(p)}" y2="${r1(rect.y + rect.h)}" stroke="#eee"/>`,
        );
      const ty = rect.y + rect.h + 14;
      out.push(
        rotate
          ? `<text x="${r1(p)}" y="${r1(ty - 4)}" font-size="10" fill="#444" text-anchor="end" transform="rotate(-45 ${r1(p)} ${r1(ty - 4)})">${label}</text>`
          : `<text x="${r1(p)}" y="${r1(ty)}" font-size="11" fill="#444" text-anchor="middle">${label}</text>`,
      );
    } else {
      if (p < rect.y - 0.5 || p > rect.y + rect.h + 0.5) return;
      if (s.kind !== "category")
        out.push(
          `<line x1="${r1(rect.x)}" y1="${r1(p)}" x2="${r1(rect.x + rect.w)}" y2="${r1(p)}" stroke="#eee"/>`,
        );
      out.push(
        `<text x="${r1(rect.x - 5)}" y="${r1(p + 4)}" font-size="11" fill="#444" text-anchor="end">${label}</text>`,
      );
    }
  });
  const t = titleText(lay.title).join(" ");
  if (t) {
    if (letter === "x")
      out.push(
        `<text x="${r1(rect.x + rect.w / 2)}" y="${r1(rect.y + rect.h + (rotate ? 50 : 34))}" font-size="12" fill="#222" text-anchor="middle">${escapeXml(t)}</text>`,
      );
    else {
      const cx = rect.x - 46;
      const cy = rect.y + rect.h / 2;
      out.push(
        `<text x="${r1(cx)}" y="${r1(cy)}" font-size="12" fill="#222" text-anchor="middle" transform="rotate(-90 ${r1(cx)} ${r1(cy)})">${escapeXml(clip(t, 40))}</text>`,
      );
    }
  }
  return out;
}

function heatmap(
  p: { t: PlotlyTrace; xs: number[]; ys: number[] },
  sx: Scale,
  sy: Scale,
  rect: Rect,
  over: string[],
  defs: string[],
  si: number,
): string[] {
  const { t, xs, ys } = p;
  const z = zRows(t);
  const finite = z.flat().filter(Number.isFinite);
  let zmin = typeof t.zmin === "number" ? t.zmin : Math.min(...finite);
  let zmax = typeof t.zmax === "number" ? t.zmax : Math.max(...finite);
  if (typeof t.zmid === "number" && typeof t.zmin !== "number" && typeof t.zmax !== "number") {
    const d = Math.max(Math.abs(zmax - t.zmid), Math.abs(zmin - t.zmid));
    [zmin, zmax] = [t.zmid - d, t.zmid + d];
  }
  if (!finite.length) [zmin, zmax] = [0, 1];
  const scale = resolveScale(t.colorscale, t.reversescale === true);
  const colour = (v: number) => colorAt(scale, zmax > zmin ? (v - zmin) / (zmax - zmin) : 0.5);
  const edges = (cs: number[], s: Scale): [number, number][] =>
    cs.map((c, k) => {
      const lo = k > 0 ? (c + cs[k - 1]) / 2 : cs.length > 1 ? c - (cs[1] - c) / 2 : c - 0.5;
      const hi =
        k < cs.length - 1 ? (c + cs[k + 1]) / 2 : cs.length > 1 ? c + (c - cs[k - 1]) / 2 : c + 0.5;
      const a = position(s, lo);
      const b = position(s, hi);
      return [Math.min(a, b), Math.max(a, b)];
    });
  const ex = edges(xs, sx);
  const ey = edges(ys, sy);
  const out: string[] = [];
  const cells = xs.length * ys.length;
  if (cells > MAX_CELL_RECTS && xs.length > 0 && ys.length > 0) {
    // One pixel per cell, drawn top row first in screen order.
    const rowsOrder = ys.map((_, r) => r).sort((a, b) => ey[a][0] - ey[b][0]);
    const colsOrder = xs.map((_, c) => c).sort((a, b) => ex[a][0] - ex[b][0]);
    const rgba = new Uint8Array(cells * 4);
    rowsOrder.forEach((r, py) =>
      colsOrder.forEach((c, px) => {
        const v = z[r]?.[c];
        const col = Number.isFinite(v) ? parseColor(colour(v))! : [0, 0, 0, 0];
        const o = (py * xs.length + px) * 4;
        rgba[o] = col[0];
        rgba[o + 1] = col[1];
        rgba[o + 2] = col[2];
        rgba[o + 3] = Math.round(col[3] * 255);
      }),
    );
    const png = encodePng(xs.length, ys.length, rgba).toString("base64");
    const x0 = Math.min(...ex.map((e) => e[0]));
    const x1 = Math.max(...ex.map((e) => e[1]));
    const y0 = Math.min(...ey.map((e) => e[0]));
    const y1 = Math.max(...ey.map((e) => e[1]));
    out.push(
      `<image x="${r1(x0)}" y="${r1(y0)}" width="${r1(x1 - x0)}" height="${r1(y1 - y0)}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,${png}"/>`,
    );
  } else {
    const tt = arr(t.text);
    const showText = typeof t.texttemplate === "string" && t.texttemplate !== "";
    ys.forEach((_, r) =>
      xs.forEach((_, c) => {
        const v = z[r]?.[c];
        if (!Number.isFinite(v)) return;
        const [x0, x1] = ex[c];
        const [y0, y1] = ey[r];
        const fill = colour(v);
        out.push(
          `<rect x="${r1(x0)}" y="${r1(y0)}" width="${r1(x1 - x0 + 0.3)}" height="${r1(y1 - y0 + 0.3)}" fill="${fill}"/>`,
        );
        if (showText && x1 - x0 >= 22 && y1 - y0 >= 11) {
          const row = arr(tt[r]);
          const label = c < row.length ? String(row[c]) : formatNumber(v);
          out.push(
            `<text x="${r1((x0 + x1) / 2)}" y="${r1((y0 + y1) / 2 + 4)}" font-size="10" text-anchor="middle" fill="${inkOn(fill)}">${escapeXml(clip(label, 8))}</text>`,
          );
        }
      }),
    );
  }
  if (t.showscale !== false) {
    const gid = `g${si}_${defs.length}`;
    const stops = Array.from({ length: 11 }, (_, k) => {
      const f = k / 10;
      return `<stop offset="${f}" stop-color="${colorAt(scale, 1 - f)}"/>`;
    }).join("");
    defs.push(`<linearGradient id="${gid}" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient>`);
    const bx = rect.x + rect.w + 10;
    const bh = Math.min(rect.h, 260);
    const by = rect.y + (rect.h - bh) / 2;
    over.push(
      `<rect x="${r1(bx)}" y="${r1(by)}" width="12" height="${r1(bh)}" fill="url(#${gid})" stroke="#ccc"/>`,
    );
    const cs: Scale = {
      kind: "linear",
      domain: [zmin, zmax],
      range: [by + bh, by],
      categories: [],
    };
    const ticks = niceTicks(zmin, zmax, 5);
    const labels = tickLabels(ticks);
    ticks.forEach((v, k) => {
      const py = position(cs, v);
      if (py < by - 0.5 || py > by + bh + 0.5) return;
      over.push(
        `<text x="${r1(bx + 16)}" y="${r1(py + 4)}" font-size="10" fill="#444">${escapeXml(labels[k])}</text>`,
      );
    });
    const ct = titleText((t.colorbar as { title?: unknown } | undefined)?.title).join(" ");
    if (ct)
      over.push(
        `<text x="${r1(bx)}" y="${r1(by - 6)}" font-size="10" fill="#444">${escapeXml(clip(ct, 18))}</text>`,
      );
  }
  return out;
}

function barTrace(
  p: { t: PlotlyTrace; i: number; xs: number[]; ys: number[] },
  sx: Scale,
  sy: Scale,
  barmode: string,
  nBars: number,
  slot: number,
  bases: number[] | undefined,
): string[] {
  const { t, i } = p;
  const horizontal = t.orientation === "h";
  const [pos, val, sp, sv] = horizontal ? [p.ys, p.xs, sy, sx] : [p.xs, p.ys, sx, sy];
  const marker = (t.marker ?? {}) as { color?: unknown; opacity?: unknown };
  const colors = Array.isArray(marker.color) ? marker.color : null;
  const base = traceColor(t, i);
  // The slot width: the smallest distance between positions, in pixels.
  const sorted = [...new Set(pos.filter(Number.isFinite))].sort((a, b) => a - b);
  let gap = Infinity;
  for (let k = 1; k < sorted.length; k++) gap = Math.min(gap, sorted[k] - sorted[k - 1]);
  if (!Number.isFinite(gap) || gap <= 0) gap = 1;
  const slotPx = Math.abs(position(sp, sorted[0] ?? 0) - position(sp, (sorted[0] ?? 0) + gap));
  const grouped = barmode === "group" && nBars > 1;
  const width = (slotPx * 0.8) / (grouped ? nBars : 1);
  const out: string[] = [];
  pos.forEach((c, k) => {
    const v = val[k];
    if (!Number.isFinite(c) || !Number.isFinite(v)) return;
    const b = bases?.[k] ?? 0;
    let center = position(sp, c);
    if (grouped) center += (slot - (nBars - 1) / 2) * width;
    const a0 = position(sv, sv.kind === "log" ? Math.max(b, 1e-300) : b);
    const a1 = position(sv, b + v);
    const fill =
      colors && typeof colors[k] === "string" && parseColor(colors[k]) ? String(colors[k]) : base;
    const lo = Math.min(a0, a1);
    const len = Math.max(0.5, Math.abs(a1 - a0));
    out.push(
      horizontal
        ? `<rect x="${r1(lo)}" y="${r1(center - width / 2)}" width="${r1(len)}" height="${r1(width)}" fill="${escapeXml(fill)}"/>`
        : `<rect x="${r1(center - width / 2)}" y="${r1(lo)}" width="${r1(width)}" height="${r1(len)}" fill="${escapeXml(fill)}"${barmode === "overlay" ? ` fill-opacity="0.6"` : ""}/>`,
    );
  });
  return out;
}

function markerPath(symbol: string, x: number, y: number, r: number): string {
  const X = r1(x);
  const Y = r1(y);
  const d = r1(r);
  switch (symbol.replace(/-open$/, "")) {
    case "square":
      return `<rect x="${r1(x - r)}" y="${r1(y - r)}" width="${r1(2 * r)}" height="${r1(2 * r)}"`;
    case "diamond":
      return `<path d="M${X},${r1(y - r * 1.3)}l${d},${d}l-${d},${d}l-${d},-${d}z"`;
    case "triangle-up":
      return `<path d="M${X},${r1(y - r)}L${r1(x + r)},${r1(y + r)}L${r1(x - r)},${r1(y + r)}z"`;
    case "x":
      return `<path d="M${r1(x - r)},${r1(y - r)}L${r1(x + r)},${r1(y + r)}M${r1(x - r)},${r1(y + r)}L${r1(x + r)},${r1(y - r)}" stroke-width="2"`;
    case "cross":
      return `<path d="M${r1(x - r)},${Y}H${r1(x + r)}M${X},${r1(y - r)}V${r1(y + r)}" stroke-width="2"`;
    default:
      return `<circle cx="${X}" cy="${Y}" r="${d}"`;
  }
}

function scatterTrace(
  p: { t: PlotlyTrace; i: number; xs: number[]; ys: number[] },
  sx: Scale,
  sy: Scale,
): string[] {
  const { t, i, xs, ys } = p;
  const mode = typeof t.mode === "string" ? t.mode : xs.length > 20 ? "lines" : "lines+markers";
  const color = traceColor(t, i);
  const out: string[] = [];
  const pts = xs.map((x, k) => {
    const ok = Number.isFinite(x) && Number.isFinite(ys[k]) && (sy.kind !== "log" || ys[k] > 0);
    return ok ? [position(sx, x), position(sy, ys[k])] : null;
  });
  if (mode.includes("lines")) {
    const line = (t.line ?? {}) as { width?: unknown; dash?: unknown };
    let d = "";
    let pen = false;
    for (const q of pts) {
      if (!q) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${r1(q[0])},${r1(q[1])}`;
      pen = true;
    }
    if (d)
      out.push(
        `<path d="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="${num(line.width) || 2}" stroke-linejoin="round"${dashArray(line.dash)}/>`,
      );
  }
  if (mode.includes("markers")) {
    const marker = (t.marker ?? {}) as {
      size?: unknown;
      symbol?: unknown;
      color?: unknown;
      line?: unknown;
    };
    const size = num(marker.size) || 6;
    const symbol = typeof marker.symbol === "string" ? marker.symbol : "circle";
    const open = symbol.endsWith("-open") || symbol === "x" || symbol === "cross";
    const colors = Array.isArray(marker.color) ? marker.color : null;
    pts.forEach((q, k) => {
      if (!q) return;
      const c =
        colors && typeof colors[k] === "string" && parseColor(colors[k])
          ? String(colors[k])
          : color;
      const paint = open
        ? ` fill="none" stroke="${escapeXml(c)}"${symbol === "x" || symbol === "cross" ? "" : ` stroke-width="1.5"`}`
        : ` fill="${escapeXml(c)}"`;
      out.push(`${markerPath(symbol, q[0], q[1], size / 2)}${paint}/>`);
    });
  }
  if (mode.includes("text")) {
    const tx = arr(t.text);
    pts.forEach((q, k) => {
      if (!q || tx[k] === undefined) return;
      out.push(
        `<text x="${r1(q[0])}" y="${r1(q[1] - 6)}" font-size="10" text-anchor="middle" fill="#222">${escapeXml(clip(String(tx[k]), 16))}</text>`,
      );
    });
  }
  return out;
}

/** The trace colours a figure uses (for tests and legends elsewhere). */
export function traceColors(spec: FigureSpec): string[] {
  return spec.data.map((t, i) => toCss(parseColor(traceColor(t, i))!));
}
