// The WebAssembly core loads and works in a real browser, bundled by Vite:
// build a page that imports the core's browser loader, serve it, open it in
// Debian's Chromium, and read the page's self-check (an AMF0 connect command encoded,
// chunked and read back inside the browser).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "vite";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/browser.js";
import { serveStatic, type StaticServer } from "../support/static-server.js";

describe("WebAssembly core in Chromium via Vite", () => {
  let outDir: string;
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), "golive-web-"));
    await build({ configFile: false, root: "test/web/pages/core", base: "./", logLevel: "silent", build: { outDir, emptyOutDir: true, target: "es2022" } });
    server = await serveStatic(outDir);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it("emits golive.wasm as an asset and runs the core's self-check", async () => {
    const assets = await readdir(join(outDir, "assets"));
    expect(assets.some((f) => /^golive-.*\.wasm$/.test(f))).toBe(true);
    const page = await browser.newPage();
    await page.goto(server.url);
    const status = page.locator("#core-status");
    await expect.poll(() => status.getAttribute("data-ok"), { timeout: 10_000 }).not.toBeNull();
    expect(await status.getAttribute("data-ok")).toBe("true");
    expect(await status.textContent()).toMatch(/^OK \(\d+-byte connect command/);
  });
});
