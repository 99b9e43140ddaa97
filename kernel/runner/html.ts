/**
 * A self-contained HTML page for an executed notebook: Markdown cells rendered, code cells with
 * In/Out prompts, rich outputs inlined (HTML, SVG, images as data URIs), text escaped and ANSI
 * colours turned into spans. Plotly outputs use their text/html fallback.
 */
import { escapeHtml, renderMarkdown } from "./markdown.js";
import { text, type Notebook, type Output } from "./notebook.js";

const ANSI_COLORS = ["#000", "#c33", "#282", "#a70", "#35c", "#a3a", "#199", "#bbb"];
const ANSI_BRIGHT = ["#666", "#e55", "#3b3", "#cb2", "#58e", "#c5c", "#3bb", "#fff"];

/** Escapes text and turns ANSI SGR colour/bold codes into spans; other escapes are dropped. */
export function ansiToHtml(s: string): string {
  let out = "";
  let open = false;
  let fg: string | null = null;
  let bg: string | null = null;
  let bold = false;
  // ANSI escapes are control characters by definition.
  // eslint-disable-next-line no-control-regex
  const parts = s.split(/(\x1b\[[0-9;]*[A-Za-z])/);
  for (const part of parts) {
    // eslint-disable-next-line no-control-regex
    const m = part.match(/^\x1b\[([0-9;]*)([A-Za-z])$/);
    if (!m) {
      // eslint-disable-next-line no-control-regex
      out += escapeHtml(part.replace(/\x1b[^[]?/g, ""));
      continue;
    }
    if (m[2] !== "m") continue;
    const codes = m[1] === "" ? [0] : m[1].split(";").map(Number);
    for (let k = 0; k < codes.length; k++) {
      const c = codes[k];
      if (c === 0) [fg, bg, bold] = [null, null, false];
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if (c >= 30 && c <= 37) fg = ANSI_COLORS[c - 30];
      else if (c >= 90 && c <= 97) fg = ANSI_BRIGHT[c - 90];
      else if (c === 39) fg = null;
      else if (c >= 40 && c <= 47) bg = ANSI_COLORS[c - 40];
      else if (c >= 100 && c <= 107) bg = ANSI_BRIGHT[c - 100];
      else if (c === 49) bg = null;
      else if ((c === 38 || c === 48) && codes[k + 1] === 5) k += 2;
      else if ((c === 38 || c === 48) && codes[k + 1] === 2) k += 4;
    }
    if (open) out += "</span>";
    open = fg !== null || bg !== null || bold;
    if (open) {
      const style = [
        fg && `color:${fg}`,
        bg && `background:${bg}`,
        bold && "font-weight:bold",
      ].filter(Boolean);
      out += `<span style="${style.join(";")}">`;
    }
  }
  return open ? out + "</span>" : out;
}

const TS_KEYWORDS = new Set(
  (
    "abstract as async await break case catch class const continue declare default delete do else " +
    "enum export extends false finally for from function if implements import in instanceof " +
    "interface let new null of private protected public readonly return static super switch this " +
    "throw true try type typeof undefined var void while yield"
  ).split(" "),
);

/** Light TypeScript highlighting for code cells: comments, strings, numbers, keywords. */
export function highlightTs(src: string): string {
  const token =
    /(\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`(?:[^`\\]|\\[\s\S])*`?)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?n?\b)|([A-Za-z_$][\w$]*)/g;
  let out = "";
  let last = 0;
  for (const m of src.matchAll(token)) {
    out += escapeHtml(src.slice(last, m.index));
    const [text, comment, str, num, word] = m;
    const cls = comment ? "c" : str ? "s" : num ? "n" : word && TS_KEYWORDS.has(word) ? "k" : "";
    out += cls ? `<span class="${cls}">${escapeHtml(text)}</span>` : escapeHtml(text);
    last = m.index + text.length;
  }
  return out + escapeHtml(src.slice(last));
}

function dataText(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join("");
  return JSON.stringify(v, null, 2);
}

/** Renders one MIME bundle by preference, richest first. */
export function renderBundle(data: Record<string, unknown>): string {
  const has = (k: string) => data[k] !== undefined;
  if (has("text/html")) return `<div class="html">${dataText(data["text/html"])}</div>`;
  if (has("image/svg+xml")) return `<div class="svg">${dataText(data["image/svg+xml"])}</div>`;
  for (const img of ["image/png", "image/jpeg", "image/gif", "image/webp"]) {
    if (has(img)) {
      const b64 = dataText(data[img]).replace(/\s+/g, "");
      return `<img src="data:${img};base64,${b64}" alt="">`;
    }
  }
  if (has("text/markdown"))
    return `<div class="md">${renderMarkdown(dataText(data["text/markdown"]))}</div>`;
  if (has("text/latex"))
    return `<pre class="latex">${escapeHtml(dataText(data["text/latex"]))}</pre>`;
  if (has("application/json"))
    return `<pre>${escapeHtml(JSON.stringify(data["application/json"], null, 2))}</pre>`;
  if (has("text/plain")) return `<pre>${ansiToHtml(dataText(data["text/plain"]))}</pre>`;
  const kinds = Object.keys(data).join(", ");
  return `<pre class="missing">[output of type ${escapeHtml(kinds || "(empty)")} not shown]</pre>`;
}

function renderOutput(o: Output): { prompt: string; html: string } {
  switch (o.output_type) {
    case "stream":
      return {
        prompt: "",
        html: `<pre class="stream ${o.name}">${ansiToHtml(text(o.text))}</pre>`,
      };
    case "error": {
      const tb = o.traceback.length ? o.traceback.join("\n") : `${o.ename}: ${o.evalue}`;
      return { prompt: "", html: `<pre class="error">${ansiToHtml(tb)}</pre>` };
    }
    case "execute_result":
      return { prompt: `Out[${o.execution_count ?? " "}]:`, html: renderBundle(o.data) };
    case "display_data":
      return { prompt: "", html: renderBundle(o.data) };
  }
}

const CSS = `
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 980px;
  margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
.cell { display: grid; grid-template-columns: 7em minmax(0, 1fr); margin: 0.6em 0; }
.prompt { font-family: monospace; color: #307fc1; text-align: right; padding: 0.4em 0.6em 0 0; font-size: 0.85em; }
.out .prompt { color: #bf5b3d; }
.md-cell { grid-column: 2; }
pre { margin: 0; padding: 0.4em 0.6em; overflow-x: auto; font-size: 0.9em; white-space: pre-wrap; }
.input pre { background: #f5f5f5; border: 1px solid #e0e0e0; border-radius: 3px; }
.stream.stderr { background: #fdd; }
.error { background: #fdd; }
.md-cell pre { background: #f5f5f5; }
code { background: #f2f2f2; padding: 0 0.2em; border-radius: 2px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
blockquote { border-left: 3px solid #ccc; margin: 0.5em 0; padding-left: 1em; color: #555; }
img { max-width: 100%; }
.raw { color: #777; }
.input .k { color: #0033b3; font-weight: bold; } .input .s { color: #067d17; }
.input .c { color: #8c8c8c; font-style: italic; } .input .n { color: #1750eb; }
`;

/** The whole page. */
export function renderNotebookHtml(nb: Notebook, options: { title?: string } = {}): string {
  const parts: string[] = [];
  for (const cell of nb.cells) {
    const src = text(cell.source);
    if (cell.cell_type === "code") {
      const count = cell.execution_count ?? " ";
      parts.push(
        `<div class="cell input"><div class="prompt">In&nbsp;[${count}]:</div><pre><code class="language-typescript">${highlightTs(src)}</code></pre></div>`,
      );
      for (const o of cell.outputs) {
        const r = renderOutput(o);
        parts.push(
          `<div class="cell out"><div class="prompt">${r.prompt}</div><div class="output">${r.html}</div></div>`,
        );
      }
    } else if (cell.cell_type === "markdown") {
      const att = cell.attachments;
      const resolve = (name: string) => {
        const bundle = att?.[name];
        const mime = bundle && Object.keys(bundle)[0];
        return mime ? `data:${mime};base64,${String(bundle[mime]).replace(/\s+/g, "")}` : undefined;
      };
      parts.push(
        `<div class="cell"><div class="md-cell">${renderMarkdown(src, resolve)}</div></div>`,
      );
    } else {
      parts.push(
        `<div class="cell"><div class="md-cell"><pre class="raw">${escapeHtml(src)}</pre></div></div>`,
      );
    }
  }
  const title = escapeHtml(options.title ?? "notebook");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="moelab run">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
${parts.join("\n")}
</body>
</html>
`;
}
