/**
 * Test support for the real front ends: Debian's chromium driven by playwright-core with the
 * network cut off (only the local Notebook server, when there is one), console errors collected,
 * screenshots written to test-artifacts/frontend (git-ignored).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { DEBIAN_PYTHON, has, needs } from "../helpers/env.js";

export const ROOT = path.resolve(__dirname, "..", "..", "..");
export const ARTIFACTS = path.join(ROOT, "test-artifacts", "frontend");
export const CHROMIUM = "/usr/bin/chromium";

function playwright(): typeof import("playwright-core") | null {
  try {
    // Loaded on demand: without it the tests skip (or fail in CI) with a reason, not a crash.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("playwright-core") as typeof import("playwright-core");
  } catch {
    return null;
  }
}

/** Skips (or in CI fails) without chromium, playwright-core or the named Python modules. */
export function needsBrowser(
  ctx: Mocha.Context,
  ...python: ("notebook" | "nbconvert" | "nbclient")[]
): void {
  needs(ctx, "chromium");
  if (python.includes("nbconvert")) needs(ctx, "nbconvert");
  if (python.includes("nbclient")) needs(ctx, "nbclient");
  const missing: string[] = [];
  if (!playwright()) missing.push("the npm devDependency playwright-core (npm install)");
  if (
    python.includes("notebook") &&
    !(
      existsSync(DEBIAN_PYTHON) &&
      spawnSync(DEBIAN_PYTHON, ["-c", "import notebook.notebookapp"], { stdio: "ignore" })
        .status === 0
    )
  )
    missing.push("Debian package python3-notebook");
  if (missing.length === 0) return;
  const notice = `needs ${missing.join(", ")}`;
  if (process.env.MOELAB_REQUIRE_ALL === "1") throw new Error(notice);
  console.log(`      (skipped: ${notice})`);
  ctx.skip();
}

export async function launch(): Promise<Browser> {
  const pw = playwright()!;
  return pw.chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions, as text. */
  errors: string[];
  /** Requests that tried to leave the machine (blocked). */
  blocked: string[];
}

/**
 * A page whose requests may only reach file: URLs and `allowHost` (the local server): everything
 * else is aborted and recorded, so a figure that needed the network fails the test.
 */
export async function watchedPage(
  browser: Browser,
  opts: { javaScript?: boolean; allowHost?: string } = {},
): Promise<Watched> {
  const context = await browser.newContext({
    javaScriptEnabled: opts.javaScript !== false,
    viewport: { width: 1100, height: 900 },
  });
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    const local =
      url.protocol === "file:" ||
      url.protocol === "data:" ||
      (opts.allowHost !== undefined && url.host === opts.allowHost);
    if (local) return route.continue();
    blocked.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors, blocked };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Page-side code is written as strings: the tests compile without the DOM's types.

/** Waits until every figure on the page has been drawn by plotly.js; returns how many. */
export async function plotlyDrawn(page: Page, timeout = 60000): Promise<number> {
  await page.waitForFunction(
    `(() => { const figs = [...document.querySelectorAll(".moelab-figure")];
      return figs.length > 0 && figs.every((f) => f.getAttribute("data-drawn") &&
        f.querySelector(".moelab-plot svg.main-svg")); })()`,
    undefined,
    { timeout },
  );
  return page.evaluate(`(() => { const figs = [...document.querySelectorAll(".moelab-figure")];
    const hidden = figs.filter((f) => f.querySelector(".moelab-fallback").style.display === "none");
    const layers = figs.filter((f) => f.querySelectorAll(".main-svg .cartesianlayer .subplot").length > 0);
    return hidden.length === figs.length && layers.length === figs.length ? figs.length : -1; })()`);
}

/** With scripts off: every figure's fallback image decoded and visible; returns how many. */
export async function svgFallbacks(page: Page): Promise<number> {
  await page.waitForLoadState("load");
  return page.evaluate(`(() => { const imgs = [...document.querySelectorAll("img.moelab-fallback")];
    const ok = imgs.filter((i) => i.complete && i.naturalWidth > 100 && i.getBoundingClientRect().height > 100);
    return ok.length === imgs.length ? imgs.length : -1; })()`);
}

export { has };
