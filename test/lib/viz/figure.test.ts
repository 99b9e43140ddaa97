/**
 * lib/viz: a Figure's MIME bundle (text/plain, Plotly JSON, moelab's SVG, the text/html that draws
 * with plotly.js) and the rule that plotly.js goes out once per kernel session.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  Figure,
  renderSvg,
  resetPlotlySession,
  type FigureSpec,
  type MimeBundle,
} from "../../../lib/viz/index.js";
import { MAX_CELL_RECTS } from "../../../lib/viz/svg/render.js";
import { expatCheck, parseXml } from "./xml.js";

const TOKENS = ["The", "jury", "<eos>", "said", "A&B"];

function heatSpec(): FigureSpec {
  return {
    data: [
      {
        type: "heatmap",
        z: TOKENS.map((_, t) => [0, 1, 2, 3].map((e) => t * 4 + e)),
        x: ["e0", "e1", "e2", "e3"],
        y: TOKENS,
        colorscale: "Viridis",
      },
    ],
    layout: { title: "Router <b>scores</b> & choices", xaxis: { title: "expert" } },
  };
}

/** The bundle the kernel would display. */
function display(f: Figure): MimeBundle {
  return (f as unknown as Record<symbol, () => MimeBundle>)[Symbol.for("Jupyter.display")]();
}

const texts = (svg: string): string[] =>
  parseXml(svg)
    .filter((e) => e.name === "text")
    .map((e) => e.text);

describe("lib/viz figure bundle", () => {
  beforeEach(() => resetPlotlySession());

  it("carries text/plain, Plotly JSON, SVG and HTML", () => {
    const fig = new Figure(heatSpec(), "router scores of 5 tokens");
    const b = display(fig);
    assert.deepEqual(Object.keys(b).sort(), [
      "application/vnd.plotly.v1+json",
      "image/svg+xml",
      "text/html",
      "text/plain",
    ]);
    assert.equal(b["text/plain"], "router scores of 5 tokens");
    const json = b["application/vnd.plotly.v1+json"] as FigureSpec;
    assert.deepEqual(json.data[0].z, heatSpec().data[0].z);
    assert.equal(json.layout.height, fig.size.height);
    assert.equal(String(fig), "router scores of 5 tokens");
    assert.equal(JSON.stringify(fig), JSON.stringify(fig.spec));
  });

  it("draws a well-formed SVG with every cell, label and escaped text", () => {
    const svg = new Figure(heatSpec(), "s").toSVG();
    const els = parseXml(svg);
    assert.equal(els[0].name, "svg");
    assert.equal(els[0].attrs.xmlns, "http://www.w3.org/2000/svg");
    assert.equal(Number(els[0].attrs.width), 680);
    const e = expatCheck(svg);
    if (e !== null) assert.equal(e, "ok");
    // 20 cells + the plot background + the colour bar.
    const cells = els.filter((x) => x.name === "rect" && x.parent?.name === "g");
    assert.equal(cells.length, 20);
    // Low values at one end of Viridis, high at the other.
    assert.equal(cells[0].attrs.fill, "#440154");
    assert.equal(cells[19].attrs.fill, "#fde725");
    const t = texts(svg);
    for (const label of [...TOKENS, "e0", "e3", "expert", "Router scores & choices"])
      assert.ok(t.includes(label), `missing text ${label} in ${JSON.stringify(t)}`);
    assert.ok(svg.includes("&lt;eos&gt;") && svg.includes("A&amp;B"));
    // Row 0 at the bottom, as plotly.js draws a heatmap.
    const y = (label: string) =>
      Number(parseXml(svg).find((x) => x.name === "text" && x.text === label)!.attrs.y);
    assert.ok(y("The") > y("A&B"));
  });

  it("draws bars to scale, lines through their points, reference lines and a legend", () => {
    const spec: FigureSpec = {
      data: [
        { type: "bar", x: ["a", "b", "c"], y: [10, 20, 40], name: "layer 1" },
        { type: "scatter", mode: "lines", x: ["a", "b", "c"], y: [5, 15, 25], name: "ideal" },
      ],
      layout: {
        shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 30, y1: 30 }],
        yaxis: { title: "tokens" },
      },
    };
    const els = parseXml(renderSvg(spec));
    const bars = els.filter((e) => e.name === "rect" && e.parent?.name === "g");
    assert.equal(bars.length, 3);
    const h = bars.map((b) => Number(b.attrs.height));
    assert.ok(Math.abs(h[1] / h[0] - 2) < 0.05 && Math.abs(h[2] / h[0] - 4) < 0.05, String(h));
    const line = els.find((e) => e.name === "path" && e.attrs.fill === "none")!;
    assert.equal(line.attrs.d.match(/[ML]/g)!.length, 3);
    const ref = els.find((e) => e.name === "line" && e.attrs["stroke-width"] === "1.5")!;
    assert.equal(ref.attrs.y1, ref.attrs.y2);
    const t = els.filter((e) => e.name === "text").map((e) => e.text);
    assert.ok(t.includes("layer 1") && t.includes("ideal") && t.includes("tokens"));
  });

  it("places subplots of a grid in their cells", () => {
    const spec: FigureSpec = {
      data: [1, 2, 3, 4].map((k) => ({
        type: "scatter" as const,
        x: [0, 1],
        y: [0, k],
        xaxis: k === 1 ? "x" : `x${k}`,
        yaxis: k === 1 ? "y" : `y${k}`,
      })),
      layout: { grid: { rows: 2, columns: 2, pattern: "independent" } },
    };
    const clips = parseXml(renderSvg(spec))
      .filter((e) => e.name === "rect" && e.parent?.name === "clipPath")
      .map((e) => [Number(e.attrs.x), Number(e.attrs.y)]);
    assert.equal(clips.length, 4);
    assert.ok(clips[0][0] < clips[1][0] && clips[0][1] === clips[1][1], JSON.stringify(clips));
    assert.ok(clips[2][1] > clips[0][1] && clips[2][0] === clips[0][0], JSON.stringify(clips));
  });

  it("embeds a large heatmap as one PNG with a pixel per cell", () => {
    const n = Math.ceil(Math.sqrt(MAX_CELL_RECTS)) + 1;
    const z = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => i - j));
    const svg = renderSvg({ data: [{ type: "heatmap", z }], layout: {} });
    const img = parseXml(svg).find((e) => e.name === "image")!;
    const png = Buffer.from(img.attrs.href.replace("data:image/png;base64,", ""), "base64");
    assert.equal(png.subarray(1, 4).toString("ascii"), "PNG");
    assert.equal(png.readUInt32BE(16), n);
    assert.equal(png.readUInt32BE(20), n);
    assert.ok(svg.length < 60_000, `${svg.length} bytes`);
  });

  it("sends plotly.js in the first figure's html only, and every figure draws through the queue", () => {
    const a = display(new Figure(heatSpec(), "a"));
    const b = display(new Figure(heatSpec(), "b"));
    const ha = a["text/html"] as string;
    const hb = b["text/html"] as string;
    assert.equal(ha.match(/data-moelab-plotly=/g)?.length, 1);
    assert.ok(ha.length > 1_000_000, "the first carries plotly.js");
    assert.ok(!hb.includes("data-moelab-plotly"), "the second does not");
    assert.ok(hb.length < 40_000, `${hb.length} bytes`);
    // Under require.js the library sees no define/module, so it sets window.Plotly.
    assert.ok(ha.includes("var define=undefined,module=undefined,exports=undefined;"));
    for (const h of [ha, hb]) {
      assert.ok(h.includes("__moelabPlotlyQueue"));
      assert.ok(h.includes('class="moelab-fallback"') && h.includes("data:image/svg+xml;base64,"));
    }
    // The fallback image is this figure's SVG.
    const src = /src="data:image\/svg\+xml;base64,([^"]+)"/.exec(hb)![1];
    assert.equal(Buffer.from(src, "base64").toString("utf8"), b["image/svg+xml"]);
    resetPlotlySession();
    const c = display(new Figure(heatSpec(), "c"));
    assert.ok(
      (c["text/html"] as string).includes("data-moelab-plotly"),
      "a new session sends it again",
    );
  });

  it("keeps labels from closing the script element", () => {
    const spec = heatSpec();
    spec.data[0].y = ["</script><b>", "b", "c", "d", "e"];
    const html = new Figure(spec, "s").bundle({ library: false })["text/html"] as string;
    const script = html.slice(html.indexOf("<script"));
    assert.equal(script.match(/<\/script/gi)!.length, 1);
    assert.ok(script.includes("\\u003c/script>"));
  });

  it("leaves the SVG out when asked (a live dashboard's updates)", () => {
    const b = new Figure(heatSpec(), "s").bundle({ svg: false, library: false });
    assert.equal(b["image/svg+xml"], undefined);
    assert.ok(!(b["text/html"] as string).includes("<img"));
    assert.ok(!(b["text/html"] as string).includes("data-moelab-plotly"));
  });

  it("names what is wrong in a bad spec", () => {
    assert.throws(
      () => new Figure({ data: [{ type: "pie" as "bar" }], layout: {} }, "s"),
      /data\[0\]\.type is "pie"/,
    );
    assert.throws(
      () => new Figure({ data: [{ type: "heatmap", z: [[1, 2], [3]] }], layout: {} }, "s"),
      /data\[0\]\.z row 1 has 1 values, row 0 has 2/,
    );
    assert.throws(
      () => new Figure({ data: [{ type: "heatmap", z: [[1, 2]], x: ["a"] }], layout: {} }, "s"),
      /data\[0\]\.x has 1 labels for 2 columns/,
    );
    assert.throws(
      () => new Figure({ data: [{ type: "bar", x: [1, 2], y: [1] }], layout: {} }, "s"),
      /2 x values and 1 y values/,
    );
    assert.throws(
      () => new Figure({ data: {}, layout: {} } as unknown as FigureSpec, "s"),
      /spec\.data/,
    );
    assert.throws(() => new Figure(heatSpec(), 3 as unknown as string), /summary must be a string/);
  });

  it("saves SVG, HTML and JSON by extension", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "moelab-fig-"));
    try {
      const fig = new Figure(heatSpec(), "s");
      parseXml(readFileSync(fig.save(path.join(dir, "f.svg")), "utf8"));
      const html = readFileSync(fig.save(path.join(dir, "f.html")), "utf8");
      assert.ok(html.startsWith("<!DOCTYPE html>") && html.includes("data-moelab-plotly"));
      assert.deepEqual(
        JSON.parse(readFileSync(fig.save(path.join(dir, "f.json")), "utf8")).data,
        fig.spec.data,
      );
      assert.throws(() => fig.save(path.join(dir, "f.png")), /must end in \.svg, \.html or \.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
