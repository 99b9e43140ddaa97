/**
 * plotly.js for the text/html form of figures: its source (npm's plotly.js-dist-min, read once
 * from node_modules), the <script> that defines it, and the rule that it goes out once per kernel
 * session. A figure's html draws through a queue (`window.__moelabPlotlyQueue`) that the library
 * script drains, so a figure rendered before the output carrying the library (JupyterLab renders
 * lazily; a cell re-run out of order) still draws when the library arrives, and one whose library
 * never arrives keeps its SVG.
 */
import { readFileSync } from "node:fs";

/** The global queue of draw functions waiting for plotly.js. */
export const QUEUE = "__moelabPlotlyQueue";

let source: string | null = null;
let version = "";

/** plotly.js-dist-min's minified source and version. */
export function plotlySource(): { source: string; version: string } {
  if (source === null) {
    let file: string;
    try {
      file = require.resolve("plotly.js-dist-min/plotly.min.js");
    } catch (e) {
      throw new Error(
        "plotly.js-dist-min is not installed (npm install plotly.js-dist-min): figures need it for their text/html form",
        { cause: e },
      );
    }
    const text = readFileSync(file, "utf8");
    version = /plotly\.js v([\d.]+)/.exec(text.slice(0, 200))?.[1] ?? "unknown";
    // Inside an inline <script>, "</script" would end the element early.
    source = text.replace(/<\/(script)/gi, "<\\/$1");
  }
  return { source, version };
}

/**
 * The <script> that defines window.Plotly and draws the figures waiting for it. The library runs
 * inside a function where `define`, `module` and `exports` are undefined, so under classic
 * Notebook's require.js (or any AMD/CommonJS shim) it still sets the global instead of registering
 * an anonymous module, and a second copy (a notebook run in two sessions) is skipped.
 */
export function plotlyScript(): string {
  const { source: src, version: v } = plotlySource();
  return (
    `<script type="text/javascript" data-moelab-plotly="${v}">` +
    `(function(){if(window.Plotly&&window.Plotly.newPlot)return;` +
    `var define=undefined,module=undefined,exports=undefined;\n${src}\n}).call(window);` +
    `(function(){var q=window.${QUEUE};window.${QUEUE}=[];` +
    `if(q&&q.length)for(var i=0;i<q.length;i++){try{q[i](window.Plotly)}catch(e){console.warn("moelab figure:",e)}}})();` +
    `</script>`
  );
}

let injected = false;

/**
 * The library script the first time it is asked for in this process (one kernel session: the
 * worker and its modules start fresh on restart), "" after. Exported HTML from `moelab run` runs
 * one fresh session, so the file carries the library once.
 */
export function takePlotly(): string {
  if (injected) return "";
  injected = true;
  return plotlyScript();
}

/** Whether this session has already sent the library. */
export function plotlySent(): boolean {
  return injected;
}

/** Forgets that the library was sent (tests; a front end known to have been reloaded). */
export function resetPlotlySession(): void {
  injected = false;
}
