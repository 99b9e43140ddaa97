/**
 * A strict XML well-formedness check for the SVG tests (no XML parser is a dependency): one root,
 * tags that nest, quoted attributes without duplicates, no raw "<" or stray "&". Returns the
 * elements met, in document order, with their attributes and text.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
  parent: XmlElement | null;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;

function decode(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, "&");
}

function checkText(s: string, where: number): void {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "<") throw new Error(`raw "<" at ${where + i}`);
    if (s[i] === "&") {
      ENTITY.lastIndex = i;
      if (!ENTITY.test(s)) throw new Error(`stray "&" at ${where + i}: ${s.slice(i, i + 12)}`);
    }
  }
}

export function parseXml(xml: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let i = 0;
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    checkText(text, i);
    if (text.trim() && stack.length === 0) throw new Error(`text outside the root at ${i}`);
    if (stack.length) stack[stack.length - 1].text += decode(text);
    if (lt < 0) break;
    if (xml.startsWith("<?xml", lt)) {
      i = xml.indexOf("?>", lt) + 2;
      continue;
    }
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name)
        throw new Error(`</${name}> at ${lt} closes <${top?.name ?? "(nothing)"}>`);
    } else {
      const attrs: Record<string, string> = {};
      for (const a of attrText.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}> at ${lt}`);
        const v = a[2] ?? a[3];
        checkText(v, lt);
        attrs[a[1]] = decode(v);
      }
      if (stack.length === 0 && ++roots > 1) throw new Error(`a second root <${name}> at ${lt}`);
      const el: XmlElement = { name, attrs, text: "", parent: stack[stack.length - 1] ?? null };
      out.push(el);
      if (!selfClose) stack.push(el);
    }
    i = lt + m[0].length;
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (roots !== 1) throw new Error("no root element");
  return out;
}

/** Python's expat as a second opinion, when Debian's python3 is there (null when not). */
export function expatCheck(xml: string): string | null {
  if (!existsSync("/usr/bin/python3")) return null;
  const r = spawnSync(
    "/usr/bin/python3",
    ["-c", "import sys, xml.dom.minidom as m; m.parseString(sys.stdin.buffer.read()); print('ok')"],
    { input: xml, encoding: "utf8" },
  );
  return r.status === 0 ? "ok" : (r.stderr.trim().split("\n").pop() ?? "failed");
}
