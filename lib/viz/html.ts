/**
 * A figure's text/html: its SVG (as an <img>, which survives the HTML sanitizers of untrusted
 * notebooks, GitHub and nbviewer) shown until plotly.js draws the interactive figure beside it,
 * then hidden. Works in classic Notebook (scripts run by jQuery, require.js present), JupyterLab,
 * `moelab run --html` and nbconvert's HTML (scripts run in document order).
 */
import type { FigureSpec } from "./figure.js";
import { QUEUE } from "./plotly.js";
import { escapeXml } from "./svg/render.js";

let counter = 0;
const session = Math.random().toString(36).slice(2, 8);

/** A page-unique element id (unique across kernel sessions too, as a notebook keeps old outputs). */
export function figureId(): string {
  return `moelab-fig-${session}-${++counter}`;
}

/** JSON safe inside an inline <script> (no "</script", no U+2028/9 line breaks). */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export interface FigureHtmlOptions {
  /** The figure's SVG, shown until plotly.js draws (none: an empty box of the figure's size). */
  svg?: string;
  /** The plotly.js <script>, put before the figure (the first figure of a session). */
  library?: string;
  /** Alternative text of the SVG image (the summary's first line). */
  alt?: string;
  width: number;
  height: number;
}

export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
}

/** The html of one figure. */
export function figureHtml(spec: FigureSpec, o: FigureHtmlOptions): string {
  const id = figureId();
  const fallback = o.svg
    ? `<img class="moelab-fallback" alt="${escapeXml(o.alt ?? "figure")}" width="${o.width}" height="${o.height}" style="max-width:100%;height:auto" src="${svgDataUri(o.svg)}">`
    : `<div class="moelab-fallback" style="height:${o.height}px"></div>`;
  const draw =
    `(function(){var spec=${scriptJson(spec)};` +
    `function draw(P){var el=document.getElementById(${JSON.stringify(id)});` +
    `if(!el||el.getAttribute("data-drawn"))return;el.setAttribute("data-drawn","1");` +
    `var fb=el.querySelector(".moelab-fallback"),box=el.querySelector(".moelab-plot");` +
    `P.newPlot(box,spec.data,spec.layout,{displaylogo:false,responsive:false}).then(function(){` +
    `if(fb)fb.style.display="none";},function(e){el.removeAttribute("data-drawn");console.warn("moelab figure:",e);});}` +
    `if(window.Plotly&&window.Plotly.newPlot)draw(window.Plotly);` +
    `else(window.${QUEUE}=window.${QUEUE}||[]).push(draw);})();`;
  return (
    (o.library ?? "") +
    `<div class="moelab-figure" id="${id}" style="max-width:${o.width}px">${fallback}<div class="moelab-plot"></div></div>` +
    `<script type="text/javascript">${draw}</script>`
  );
}
