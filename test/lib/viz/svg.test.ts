/** lib/viz/svg: the renderer's axes, bar modes, gaps, annotations and colour scales. */
import { strict as assert } from "node:assert";
import { renderSvg } from "../../../lib/viz/index.js";
import { colorAt, parseColor, resolveScale } from "../../../lib/viz/svg/color.js";
import { niceTicks, tickLabels } from "../../../lib/viz/svg/scale.js";
import { parseXml, type XmlElement } from "./xml.js";

const rects = (els: XmlElement[]) =>
  els.filter((e) => e.name === "rect" && e.parent?.name === "g").map((e) => e.attrs);
const texts = (els: XmlElement[]) => els.filter((e) => e.name === "text").map((e) => e.text);

describe("lib/viz SVG renderer", () => {
  it("picks nice ticks and labels them with the digits they need", () => {
    assert.deepEqual(niceTicks(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(tickLabels([0, 0.25, 0.5]), ["0", "0.25", "0.50"]);
    assert.deepEqual(niceTicks(0, 1000, 5), [0, 200, 400, 600, 800, 1000]);
    assert.deepEqual(tickLabels([10000, 20000]), ["10k", "20k"]);
  });

  it("interpolates colour scales and parses CSS colours", () => {
    assert.equal(colorAt(resolveScale("Greys"), 0.5), "#808080");
    assert.equal(colorAt(resolveScale("Greys", true), 0), "#000000");
    assert.deepEqual(parseColor("rgba(1, 2, 3, 0.5)"), [1, 2, 3, 0.5]);
    assert.deepEqual(parseColor("#abc"), [170, 187, 204, 1]);
    assert.equal(parseColor("not a colour"), null);
    assert.equal(
      colorAt(
        resolveScale([
          [0, "#000000"],
          [1, "#ffffff"],
        ]),
        0.25,
      ),
      "#404040",
    );
  });

  it("draws a log axis with a tick per decade", () => {
    const els = parseXml(
      renderSvg({
        data: [{ type: "scatter", x: [1, 2, 3], y: [0.01, 1, 100] }],
        layout: { yaxis: { type: "log" } },
      }),
    );
    const t = texts(els);
    for (const l of ["0.01", "0.1", "1", "10", "100"]) assert.ok(t.includes(l), `${l} in ${t}`);
    // Equal ratios, equal distances.
    const d = els.find((e) => e.name === "path" && e.attrs.fill === "none")!.attrs.d;
    const ys = [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    assert.ok(Math.abs(ys[0] - ys[1] - (ys[1] - ys[2])) < 0.3, String(ys));
  });

  it("stacks bars, draws horizontal ones, and skips NaN points as gaps", () => {
    const stacked = rects(
      parseXml(
        renderSvg({
          data: [
            { type: "bar", x: ["a"], y: [1] },
            { type: "bar", x: ["a"], y: [3] },
          ],
          layout: { barmode: "stack" },
        }),
      ),
    );
    assert.equal(stacked.length, 2);
    // The second bar sits on the first and is three times as tall.
    assert.ok(
      Math.abs(Number(stacked[1].y) + Number(stacked[1].height) - Number(stacked[0].y)) < 0.3,
    );
    assert.ok(Math.abs(Number(stacked[1].height) / Number(stacked[0].height) - 3) < 0.05);
    const h = rects(
      parseXml(
        renderSvg({
          data: [{ type: "bar", orientation: "h", y: ["p", "q"], x: [2, 4] }],
          layout: {},
        }),
      ),
    );
    assert.ok(Math.abs(Number(h[1].width) / Number(h[0].width) - 2) < 0.05);
    const gap = parseXml(
      renderSvg({
        data: [{ type: "scatter", mode: "lines", x: [0, 1, 2, 3], y: [1, NaN, 2, 3] }],
        layout: {},
      }),
    ).find((e) => e.name === "path")!.attrs.d;
    assert.equal(gap.match(/M/g)!.length, 2, gap);
  });

  it("places annotations, blank heatmap cells for null, and draws an empty figure", () => {
    const els = parseXml(
      renderSvg({
        data: [
          {
            type: "heatmap",
            z: [
              [1, null as unknown as number],
              [3, 4],
            ],
          },
        ],
        layout: {
          annotations: [{ text: "note <1>", xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
        },
      }),
    );
    assert.equal(rects(els).length, 3);
    assert.ok(texts(els).includes("note <1>"));
    const empty = parseXml(renderSvg({ data: [], layout: { title: "nothing yet" } }));
    assert.ok(texts(empty).includes("nothing yet"));
    assert.throws(() => renderSvg({ data: [], layout: {} }, { width: 50, height: 50 }), /no room/);
  });
});
