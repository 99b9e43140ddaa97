/**
 * A figure that displays itself: a Plotly spec (traces + layout) and a one-paragraph summary.
 * Its MIME bundle carries text/plain (the summary: what a terminal shows),
 * application/vnd.plotly.v1+json (JupyterLab's and VS Code's renderers), text/html (drawn by
 * plotly.js, injected once per kernel session) and image/svg+xml (drawn by moelab itself, for
 * notebooks viewed where no script runs).
 *
 * The traces a figure may use, so every renderer draws them: "heatmap" (z, x, y, colorscale,
 * zmin/zmax, text), "bar" (x, y, orientation "v"), "scatter" (x, y, mode "lines" | "markers" |
 * "lines+markers", name); subplots through layout.grid { rows, columns } with traces naming
 * xaxis "x2".. / yaxis "y2"..; layout.title, axis titles, shapes of type "line" (a reference line).
 */
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

export class Figure {
  constructor(
    readonly spec: FigureSpec,
    /** What the figure shows, in words and numbers (text/plain). */
    readonly summary: string,
  ) {}

  toJSON(): FigureSpec {
    return this.spec;
  }

  toString(): string {
    return this.summary;
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return {
      "text/plain": this.summary,
      "application/vnd.plotly.v1+json": this.spec,
    };
  }
}
