/**
 * A small Markdown renderer for notebook cells: headings, paragraphs, nested lists, fenced and
 * indented code, block quotes, rules, GFM tables, and inline code, emphasis, links, images and
 * autolinks. Raw HTML is escaped, not passed through (the HTML copy must be safe to open).
 */

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Only http(s), mailto, relative and data:image URLs become links; others are neutralized. */
function safeUrl(url: string): string {
  const u = url.trim();
  if (/^(https?:|mailto:|#|\/|\.\.?\/|data:image\/(png|jpeg|gif|svg\+xml);)/i.test(u)) return u;
  if (/^[a-z][a-z0-9+.-]*:/i.test(u)) return "#";
  return u;
}

/** Renders inline Markdown (the text is raw, not yet escaped). */
export function renderInline(
  src: string,
  attachments?: (name: string) => string | undefined,
): string {
  let out = "";
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i];
    const rest = src.slice(i);
    let m: RegExpMatchArray | null;
    if (ch === "\\" && i + 1 < n && /[\\`*_{}[\]()#+\-.!|<>~$]/.test(src[i + 1])) {
      out += escapeHtml(src[i + 1]);
      i += 2;
    } else if (ch === "`" && (m = rest.match(/^(`+)([\s\S]*?[^`])\1(?!`)/))) {
      out += `<code>${escapeHtml(m[2].replace(/^ (.*) $/, "$1"))}</code>`;
      i += m[0].length;
    } else if (
      ch === "!" &&
      (m = rest.match(/^!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"([^"]*)")?\s*\)/))
    ) {
      let url = m[2];
      if (url.startsWith("attachment:") && attachments) url = attachments(url.slice(11)) ?? url;
      const title = m[3] ? ` title="${escapeHtml(m[3])}"` : "";
      out += `<img src="${escapeHtml(safeUrl(url))}" alt="${escapeHtml(m[1])}"${title}>`;
      i += m[0].length;
    } else if (
      ch === "[" &&
      (m = rest.match(/^\[((?:[^\]\\]|\\.)*)\]\(\s*<?([^)\s>]*)>?(?:\s+"([^"]*)")?\s*\)/))
    ) {
      const title = m[3] ? ` title="${escapeHtml(m[3])}"` : "";
      out += `<a href="${escapeHtml(safeUrl(m[2]))}"${title}>${renderInline(m[1], attachments)}</a>`;
      i += m[0].length;
    } else if (ch === "<" && (m = rest.match(/^<((?:https?:\/\/|mailto:)[^>\s]+)>/))) {
      out += `<a href="${escapeHtml(m[1])}">${escapeHtml(m[1])}</a>`;
      i += m[0].length;
    } else if ((ch === "*" || ch === "_") && (m = rest.match(/^(\*\*|__)(?=\S)([\s\S]*?\S)\1/))) {
      out += `<strong>${renderInline(m[2], attachments)}</strong>`;
      i += m[0].length;
    } else if (
      (ch === "*" || (ch === "_" && !/\w/.test(src[i - 1] ?? ""))) &&
      (m = rest.match(ch === "*" ? /^\*(?=\S)([\s\S]*?\S)\*(?!\*)/ : /^_(?=\S)([\s\S]*?\S)_(?!\w)/))
    ) {
      out += `<em>${renderInline(m[1], attachments)}</em>`;
      i += m[0].length;
    } else if (ch === "~" && (m = rest.match(/^~~(?=\S)([\s\S]*?\S)~~/))) {
      out += `<del>${renderInline(m[1], attachments)}</del>`;
      i += m[0].length;
    } else if (ch === "\n" && / {2}$/.test(src.slice(0, i))) {
      out = out.replace(/ +$/, "") + "<br>\n";
      i++;
    } else {
      out += escapeHtml(ch);
      i++;
    }
  }
  return out;
}

interface ListItem {
  lines: string[];
}

const RE = {
  fence: /^ {0,3}(```+|~~~+)\s*([^`\s]*)[^`]*$/,
  heading: /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/,
  rule: /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/,
  quote: /^ {0,3}> ?/,
  bullet: /^( {0,3})([-*+])[ \t]+/,
  ordered: /^( {0,3})(\d{1,9})[.)][ \t]+/,
  tableSep: /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/,
  setext: /^ {0,3}(=+|-+)\s*$/,
};

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "|") {
      cur += "|";
      i++;
    } else if (s[i] === "|") {
      cells.push(cur.trim());
      cur = "";
    } else cur += s[i];
  }
  cells.push(cur.trim());
  return cells;
}

function startsBlock(line: string): boolean {
  return (
    RE.fence.test(line) ||
    RE.heading.test(line) ||
    RE.rule.test(line) ||
    RE.quote.test(line) ||
    RE.bullet.test(line) ||
    RE.ordered.test(line)
  );
}

/** Renders a Markdown document to HTML. `attachments` resolves `attachment:NAME` image URLs. */
export function renderMarkdown(
  src: string,
  attachments?: (name: string) => string | undefined,
): string {
  const lines = src.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n");
  return renderBlocks(lines, attachments);
}

function renderBlocks(lines: string[], att?: (name: string) => string | undefined): string {
  const out: string[] = [];
  let i = 0;
  const inline = (s: string) => renderInline(s, att);
  while (i < lines.length) {
    const line = lines[i];
    let m: RegExpMatchArray | null;
    if (line.trim() === "") {
      i++;
    } else if ((m = line.match(RE.fence))) {
      const fence = m[1];
      const lang = m[2];
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i++;
      const cls = lang ? ` class="language-${escapeHtml(lang)}"` : "";
      out.push(`<pre><code${cls}>${escapeHtml(body.join("\n"))}</code></pre>`);
    } else if (/^ {4}/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && (/^ {4}/.test(lines[i]) || lines[i].trim() === ""))
        body.push(lines[i++].slice(4));
      while (body.length && body[body.length - 1].trim() === "") body.pop();
      out.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
    } else if ((m = line.match(RE.heading))) {
      const level = m[1].length;
      out.push(`<h${level}>${inline(m[2] ?? "")}</h${level}>`);
      i++;
    } else if (RE.rule.test(line)) {
      out.push("<hr>");
      i++;
    } else if (RE.quote.test(line)) {
      const body: string[] = [];
      while (
        i < lines.length &&
        lines[i].trim() !== "" &&
        (RE.quote.test(lines[i]) || !startsBlock(lines[i]))
      ) {
        body.push(lines[i++].replace(RE.quote, ""));
      }
      out.push(`<blockquote>\n${renderBlocks(body, att)}\n</blockquote>`);
    } else if (RE.bullet.test(line) || RE.ordered.test(line)) {
      const ordered = !RE.bullet.test(line);
      const marker = ordered ? RE.ordered : RE.bullet;
      const first = line.match(marker)!;
      const items: ListItem[] = [];
      let loose = false;
      while (i < lines.length) {
        const l = lines[i];
        const im = l.match(marker);
        if (im) {
          const indent = im[0].length;
          const item: ListItem = { lines: [l.slice(indent)] };
          i++;
          while (i < lines.length) {
            const next = lines[i];
            if (next.trim() === "") {
              // A blank line continues the item only when indented content follows.
              const after = lines[i + 1];
              if (after !== undefined && /^ {2,}\S/.test(after) && !marker.test(after)) {
                item.lines.push("");
                loose = true;
                i++;
                continue;
              }
              break;
            }
            // Indented lines (nested lists, code) belong to the item; a new marker ends it.
            if (/^ {2,}/.test(next))
              item.lines.push(next.replace(new RegExp(`^ {1,${indent}}`), ""));
            else if (startsBlock(next)) break;
            else item.lines.push(next.trim());
            i++;
          }
          items.push(item);
          if (lines[i]?.trim() === "" && lines[i + 1] !== undefined && marker.test(lines[i + 1])) {
            loose = true;
            i++;
          }
        } else break;
      }
      const start = ordered && first[2] !== "1" ? ` start="${Number(first[2])}"` : "";
      const tag = ordered ? "ol" : "ul";
      const rendered = items.map((it) => {
        const inner = renderBlocks(it.lines, att);
        // Tight lists show their text without paragraph margins.
        const body = loose ? inner : inner.replace(/^<p>([\s\S]*?)<\/p>/, "$1");
        return `<li>${body}</li>`;
      });
      out.push(`<${tag}${start}>\n${rendered.join("\n")}\n</${tag}>`);
    } else if (
      line.includes("|") &&
      i + 1 < lines.length &&
      RE.tableSep.test(lines[i + 1]) &&
      lines[i + 1].includes("-")
    ) {
      const head = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) =>
        c.startsWith(":") && c.endsWith(":")
          ? "center"
          : c.endsWith(":")
            ? "right"
            : c.startsWith(":")
              ? "left"
              : "",
      );
      i += 2;
      const rows: string[][] = [];
      while (i < lines.length && lines[i].trim() !== "" && lines[i].includes("|"))
        rows.push(splitRow(lines[i++]));
      const cell = (tag: string, c: string, k: number) =>
        `<${tag}${aligns[k] ? ` style="text-align:${aligns[k]}"` : ""}>${inline(c)}</${tag}>`;
      out.push(
        `<table>\n<thead><tr>${head.map((c, k) => cell("th", c, k)).join("")}</tr></thead>\n<tbody>\n` +
          rows
            .map((r) => `<tr>${head.map((_, k) => cell("td", r[k] ?? "", k)).join("")}</tr>`)
            .join("\n") +
          `\n</tbody>\n</table>`,
      );
    } else {
      const para: string[] = [];
      while (
        i < lines.length &&
        lines[i].trim() !== "" &&
        (para.length === 0 || !startsBlock(lines[i]))
      ) {
        if (para.length > 0 && RE.setext.test(lines[i])) break;
        para.push(lines[i++].replace(/^ {1,3}/, ""));
      }
      const sm = i < lines.length ? lines[i].match(RE.setext) : null;
      if (sm && para.length > 0) {
        const level = sm[1][0] === "=" ? 1 : 2;
        out.push(`<h${level}>${inline(para.join("\n"))}</h${level}>`);
        i++;
      } else {
        out.push(`<p>${inline(para.join("\n"))}</p>`);
      }
    }
  }
  return out.join("\n");
}
