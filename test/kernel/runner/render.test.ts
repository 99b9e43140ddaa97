import { strict as assert } from "node:assert";
import { renderInline, renderMarkdown } from "../../../kernel/runner/markdown.js";
import {
  ansiToHtml,
  highlightTs,
  renderBundle,
  renderNotebookHtml,
} from "../../../kernel/runner/html.js";
import type { Notebook } from "../../../kernel/runner/notebook.js";

describe("runner: markdown", () => {
  it("renders headings, paragraphs and emphasis", () => {
    const html = renderMarkdown(
      "# Title\n\nSome *em*, **bold**, _also em_ and `a < b`.\nSecond line.",
    );
    assert.match(html, /<h1>Title<\/h1>/);
    assert.match(
      html,
      /<p>Some <em>em<\/em>, <strong>bold<\/strong>, <em>also em<\/em> and <code>a &lt; b<\/code>\.\nSecond line\.<\/p>/,
    );
  });

  it("keeps underscores inside words", () => {
    assert.equal(renderInline("snake_case_name"), "snake_case_name");
  });

  it("renders links and images, neutralizing javascript: URLs", () => {
    assert.equal(
      renderInline("[moelab](https://x.org/a?b=1&c=2)"),
      '<a href="https://x.org/a?b=1&amp;c=2">moelab</a>',
    );
    assert.equal(renderInline("![logo](img/a.png)"), '<img src="img/a.png" alt="logo">');
    assert.match(renderInline("[x](javascript:alert(1))"), /href="#"/);
  });

  it("renders bullet, ordered and nested lists", () => {
    const html = renderMarkdown("- one\n- two\n  - inner\n- three\n\n3. c\n4. d");
    assert.match(
      html,
      /<ul>\n<li>one<\/li>\n<li>two\n<ul>\n<li>inner<\/li>\n<\/ul><\/li>\n<li>three<\/li>\n<\/ul>/,
    );
    assert.match(html, /<ol start="3">\n<li>c<\/li>\n<li>d<\/li>\n<\/ol>/);
  });

  it("renders fenced code without interpreting it", () => {
    const html = renderMarkdown("```ts\nconst a = **b** < c;\n```\nafter");
    assert.match(html, /<pre><code class="language-ts">const a = \*\*b\*\* &lt; c;<\/code><\/pre>/);
    assert.match(html, /<p>after<\/p>/);
  });

  it("renders GFM tables with alignment", () => {
    const html = renderMarkdown("| name | n |\n|:-----|--:|\n| `x` | 1 |\n| y | 2 |");
    assert.match(
      html,
      /<th style="text-align:left">name<\/th><th style="text-align:right">n<\/th>/,
    );
    assert.match(
      html,
      /<tr><td style="text-align:left"><code>x<\/code><\/td><td style="text-align:right">1<\/td><\/tr>/,
    );
  });

  it("escapes raw HTML and renders quotes and rules", () => {
    const html = renderMarkdown("<script>alert(1)</script>\n\n> quoted\n\n---");
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;/);
    assert.match(html, /<blockquote>\n<p>quoted<\/p>\n<\/blockquote>/);
    assert.match(html, /<hr>/);
  });
});

describe("runner: html", () => {
  it("turns ANSI colours into spans and escapes text", () => {
    const html = ansiToHtml("\x1b[0;31mError\x1b[0m: a<b");
    assert.equal(html, '<span style="color:#c33">Error</span>: a&lt;b');
  });

  it("prefers text/html, uses images as data URIs, and Plotly's HTML fallback", () => {
    assert.match(renderBundle({ "text/plain": "x", "text/html": "<b>x</b>" }), /<b>x<\/b>/);
    assert.match(
      renderBundle({ "image/png": "iVBO\nRw==", "text/plain": "img" }),
      /src="data:image\/png;base64,iVBORw=="/,
    );
    const plot = renderBundle({
      "application/vnd.plotly.v1+json": { data: [] },
      "text/html": "<div id=plot></div>",
      "text/plain": "Figure",
    });
    assert.match(plot, /<div id=plot><\/div>/);
    assert.match(renderBundle({ "text/plain": "<tag>" }), /<pre>&lt;tag&gt;<\/pre>/);
  });

  it("highlights TypeScript code cells, escaping everything", () => {
    assert.equal(
      highlightTs('const s = "<b>"; // x\n1'),
      '<span class="k">const</span> s = <span class="s">&quot;&lt;b&gt;&quot;</span>; <span class="c">// x</span>\n<span class="n">1</span>',
    );
  });

  it("renders a notebook with prompts, markdown and outputs", () => {
    const nb: Notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        { cell_type: "markdown", metadata: {}, source: ["## Part\n", "text"] },
        {
          cell_type: "code",
          metadata: {},
          source: "1 + 1",
          execution_count: 3,
          outputs: [
            { output_type: "stream", name: "stdout", text: "hello\n" },
            {
              output_type: "execute_result",
              execution_count: 3,
              data: { "text/plain": "2" },
              metadata: {},
            },
          ],
        },
      ],
    };
    const html = renderNotebookHtml(nb, { title: "t" });
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<h2>Part<\/h2>/);
    assert.match(html, /In&nbsp;\[3\]:/);
    assert.match(html, /Out\[3\]:/);
    assert.match(html, /<pre class="stream stdout">hello\n<\/pre>/);
  });
});
