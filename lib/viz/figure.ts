/**
 * A figure that displays itself: a Plotly spec (traces + layout) and a one-paragraph summary.
 * Its MIME bundle carries text/plain (the summary: what a terminal shows),
 * application/vnd.plotly.v1+json (JupyterLab's and VS Code's renderers), text/html (drawn by
 * plotly.js, injected once per kernel session, over moelab's SVG until it draws) and
 * image/svg+xml (drawn by moelab itself, for notebooks viewed where no script runs).
 *
 * The traces a figure may use, so every renderer draws them: "heatmap" (z, x, y, colorscale,
 * zmin/zmax/zmid, showscale, colorbar.title, text + texttemplate), "bar" (x, y, orientation
 * "v" | "h", marker.color, name; layout.barmode), "scatter" (x, y or y with x0 + k·dx, mode "lines" | "markers" |
 * "lines+markers" | "text", name, line.color/dash/width, marker.color/size/symbol); subplots
 * through layout.grid { rows, columns, pattern } with traces naming xaxis "x2".. / yaxis "y2"..
 * (pattern "independent": one x/y pair per cell, row by row; the default "coupled": x per
 * column, y per row) or through axis domains; layout.title, axis titles, type ("log",
 * "category"), range, autorange "reversed", tickvals/ticktext; shapes of type "line" or "rect"
 * (xref/yref "x".., "paper", "x domain"..); annotations (text at a point); width and height.
 * Labels on a category axis should be unique (plotly.js merges repeated ones: number repeated
 * tokens, "3:the"); an axis with string labels is sent to plotly.js as type "category".
 */
import { writeFileSync } from "node:fs";
import { figureHtml } from "./html.js";
import { plotlyScript, takePlotly } from "./plotly.js";
import { renderSvg, type SvgOptions } from "./svg/render.js";

export interface PlotlyTrace {
  type: "heatmap" | "bar" | "scatter";
  [key: string]: unknown;
}

export interface PlotlyLayout {
  [key: string]: unknown;
}

export interface FigureSpec {
  data: PlotlyTrace[];
  layout: PlotlyLayout;
}

export type MimeBundle = Record<string, unknown>;

/** Which parts a bundle carries (the dashboard's in-between updates leave the SVG out). */
export interface BundleOptions {
  /** image/svg+xml, and the SVG shown in text/html until plotly.js draws (default true). */
  svg?: boolean;
  /** Put plotly.js in the text/html if this session has not sent it yet (default true). */
  library?: boolean;
}

const TRACE_TYPES = new Set(["heatmap", "bar", "scatter"]);

function isArrayLike(v: unknown): boolean {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

/** Checks a spec against the subset every renderer draws; the error names the field. */
export function checkSpec(spec: unknown): asserts spec is FigureSpec {
  if (!spec || typeof spec !== "object")
    throw new TypeError(
      `Figure: spec must be { data: [...traces], layout: {...} }, got ${typeof spec}`,
    );
  const s = spec as { data?: unknown; layout?: unknown };
  if (!Array.isArray(s.data)) throw new TypeError("Figure: spec.data must be an array of traces");
  if (s.layout === null || typeof s.layout !== "object" || Array.isArray(s.layout))
    throw new TypeError("Figure: spec.layout must be an object");
  s.data.forEach((t: unknown, i: number) => {
    const where = `Figure: data[${i}]`;
    if (!t || typeof t !== "object") throw new TypeError(`${where} must be a trace object`);
    const tr = t as Record<string, unknown>;
    if (!TRACE_TYPES.has(tr.type as string))
      throw new TypeError(
        `${where}.type is ${JSON.stringify(tr.type)}: figures draw "heatmap", "bar" and "scatter"`,
      );
    if (tr.type === "heatmap") {
      if (!Array.isArray(tr.z) || !tr.z.every(isArrayLike))
        throw new TypeError(`${where}.z must be a 2-D array (rows of numbers)`);
      const rows = tr.z as ArrayLike<unknown>[];
      const width = rows.length ? rows[0].length : 0;
      rows.forEach((r, k) => {
        if (r.length !== width)
          throw new TypeError(`${where}.z row ${k} has ${r.length} values, row 0 has ${width}`);
      });
      if (isArrayLike(tr.x) && (tr.x as unknown[]).length !== width)
        throw new TypeError(
          `${where}.x has ${(tr.x as unknown[]).length} labels for ${width} columns of z`,
        );
      if (isArrayLike(tr.y) && (tr.y as unknown[]).length !== rows.length)
        throw new TypeError(
          `${where}.y has ${(tr.y as unknown[]).length} labels for ${rows.length} rows of z`,
        );
    } else {
      for (const k of ["x", "y"])
        if (tr[k] !== undefined && !isArrayLike(tr[k]))
          throw new TypeError(`${where}.${k} must be an array`);
      if (isArrayLike(tr.x) && isArrayLike(tr.y)) {
        const nx = (tr.x as unknown[]).length;
        const ny = (tr.y as unknown[]).length;
        if (nx !== ny) throw new TypeError(`${where} has ${nx} x values and ${ny} y values`);
      }
    }
  });
}

/** Typed arrays as plain arrays (JSON and plotly.js both want arrays). */
function plain(spec: FigureSpec): FigureSpec {
  const conv = (v: unknown): unknown =>
    ArrayBuffer.isView(v) && !(v instanceof DataView)
      ? Array.from(v as unknown as ArrayLike<number>)
      : Array.isArray(v)
        ? v.map(conv)
        : v;
  return {
    data: spec.data.map((t) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(t)) out[k] = conv(v);
      return out as PlotlyTrace;
    }),
    layout: spec.layout,
  };
}

const asTitle = (t: unknown): unknown => (typeof t === "string" ? { text: t } : t);
const titled = (o: Record<string, unknown>): Record<string, unknown> =>
  typeof o.title === "string" ? { ...o, title: { text: o.title } } : o;

export class Figure {
  readonly spec: FigureSpec;

  constructor(
    spec: FigureSpec,
    /** What the figure shows, in words and numbers (text/plain). */
    readonly summary: string,
  ) {
    checkSpec(spec);
    if (typeof summary !== "string")
      throw new TypeError(`Figure: summary must be a string, got ${typeof summary}`);
    this.spec = plain(spec);
  }

  /** The drawing size: layout.width/height, else what the SVG renderer picks. */
  get size(): { width: number; height: number } {
    const rows = Number((this.spec.layout.grid as { rows?: unknown } | undefined)?.rows) || 1;
    const w = Number(this.spec.layout.width) || 680;
    const h = Number(this.spec.layout.height) || 140 + 260 * Math.max(1, Math.floor(rows));
    return { width: Math.round(w), height: Math.round(h) };
  }

  /**
   * The spec plotly.js draws: this figure's, at the size of its SVG, with titles given as strings
   * written { text } (plotly.js 3 and later ignore a string axis or colour-bar title).
   */
  plotly(): FigureSpec {
    const { width, height } = this.size;
    const layout: PlotlyLayout = { width, height };
    for (const [k, v] of Object.entries(this.spec.layout))
      layout[k] =
        k === "title"
          ? asTitle(v)
          : /^[xy]axis\d*$/.test(k) && v && typeof v === "object"
            ? titled(v as Record<string, unknown>)
            : v;
    // plotly.js reads labels such as "0".."9" as numbers and drops the rest ("A"); moelab's SVG
    // puts any string on a category axis, so say so to plotly.js too.
    for (const t of this.spec.data)
      for (const letter of ["x", "y"] as const) {
        const values = t[letter];
        if (!Array.isArray(values) || !values.some((v) => typeof v === "string")) continue;
        const id = typeof t[`${letter}axis`] === "string" ? (t[`${letter}axis`] as string) : letter;
        const key = `${letter}axis${id.slice(1)}`;
        const axis = (layout[key] ?? {}) as Record<string, unknown>;
        if (axis.type === undefined) layout[key] = { ...axis, type: "category" };
      }
    const data = this.spec.data.map((t) =>
      t.colorbar && typeof t.colorbar === "object"
        ? { ...t, colorbar: titled(t.colorbar as Record<string, unknown>) }
        : t,
    );
    return { data, layout };
  }

  toJSON(): FigureSpec {
    return this.spec;
  }

  toString(): string {
    return this.summary;
  }

  /** The figure drawn by moelab's SVG renderer. */
  toSVG(opts: SvgOptions = {}): string {
    return renderSvg(this.spec, opts);
  }

  /** A standalone HTML page (plotly.js inlined, SVG until it draws). */
  toHTML(): string {
    const svg = this.toSVG();
    const body = figureHtml(this.plotly(), {
      svg,
      library: plotlyScript(),
      alt: this.summary.split("\n")[0],
      ...this.size,
    });
    return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${this.summary
      .split("\n")[0]
      .replace(/[<&>]/g, "")}</title></head><body>${body}</body></html>\n`;
  }

  /** Writes the figure by the file's extension: .svg, .html (standalone) or .json (the spec). */
  save(path: string): string {
    const ext = /\.([a-z]+)$/i.exec(path)?.[1]?.toLowerCase();
    const text =
      ext === "svg"
        ? this.toSVG()
        : ext === "html" || ext === "htm"
          ? this.toHTML()
          : ext === "json"
            ? JSON.stringify(this.plotly())
            : null;
    if (text === null)
      throw new TypeError(`Figure.save: ${JSON.stringify(path)} must end in .svg, .html or .json`);
    writeFileSync(path, text);
    return path;
  }

  /** The MIME bundle; `opts` leaves parts out (what a live dashboard's updates send). */
  bundle(opts: BundleOptions = {}): MimeBundle {
    const svg = opts.svg === false ? undefined : this.toSVG();
    const spec = this.plotly();
    const out: MimeBundle = {
      "text/plain": this.summary,
      "application/vnd.plotly.v1+json": spec,
      "text/html": figureHtml(spec, {
        svg,
        library: opts.library === false ? "" : takePlotly(),
        alt: this.summary.split("\n")[0],
        ...this.size,
      }),
    };
    if (svg !== undefined) out["image/svg+xml"] = svg;
    return out;
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return this.bundle();
  }
}
