/**
 * Playwright fixtures for the SDK's end-to-end tests: the kit's test clip
 * (frame counter, a white flash and a 1 kHz beep on the same frame every
 * second, over a quiet 440 Hz tone), Debian's Chromium fed that clip as
 * its fake camera and microphone, the harness page built by Vite, a real
 * `golive serve` process and a real nginx-rtmp.
 */
import { test as base, chromium, type Browser, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { CHROMIUM_ARGS } from "../test/support/browser.js";
import { startNginxRtmp, type NginxRtmpServer } from "../test/support/ingest.js";
import { fakeMediaArgs } from "../server/testing/browser.js";
import { makeTestClip, type TestClip } from "../server/testing/clip.js";
import { freePort } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";

export interface Bridge {
  url: string;
  port: number;
  logs(): string;
}

interface WorkerFixtures {
  workDir: string;
  clip: TestClip;
  harnessDir: string;
  bridge: Bridge;
  nginx: NginxRtmpServer;
  chromiumBrowser: Browser;
}

interface TestFixtures {
  harnessPage: Page;
  /** `golive serve` exactly as `npm start` runs it: the built demo page at /. */
  demoBridge: Bridge;
}

/** A running `golive serve`. */
export interface ServedBridge extends Bridge {
  /** SIGTERM (a graceful shutdown), resolves once the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), resolves once the process is gone. */
  kill(): Promise<void>;
}

/** Starts `golive serve` (the built CLI) on `port` (default: a free one) with `args`; resolves once /healthz answers. */
export async function startServe(args: string[], port?: number): Promise<ServedBridge> {
  if (!existsSync("dist/server/cli.js")) throw new Error("dist/ is not built: run `npm run build` (npm test does it)");
  const listenPort = port ?? (await freePort());
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["bin/golive.js", "serve", "--port", String(listenPort), "--allow-private", "--log-level", "info", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise((r) => child.once("exit", r));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${listenPort}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`golive serve did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${listenPort}/`,
    port: listenPort,
    logs: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Runs `golive serve` on a free port with `args`, for the duration of `use`. */
async function serveBridge(args: string[], use: (bridge: Bridge) => Promise<void>): Promise<void> {
  const bridge = await startServe(args);
  try {
    await use(bridge);
  } finally {
    await bridge.stop();
  }
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  workDir: [async ({}, use) => {
    const dir = await mkdtemp(join(tmpdir(), "golive-e2e-"));
    await use(dir);
    if (!process.env.GOLIVE_KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
  }, { scope: "worker" }],

  clip: [async ({ workDir }, use) => {
    await use(await makeTestClip(join(workDir, "clip")));
  }, { scope: "worker" }],

  harnessDir: [async ({ workDir }, use) => {
    const outDir = join(workDir, "harness");
    await build({ configFile: false, root: "e2e/harness", base: "./", logLevel: "warn", build: { outDir, emptyOutDir: true, target: "es2022" } });
    await use(outDir);
  }, { scope: "worker", timeout: 120_000 }],

  nginx: [async ({}, use) => {
    const nginx = await startNginxRtmp({ recordUnique: true });
    await use(nginx);
    await nginx.dispose();
  }, { scope: "worker" }],

  bridge: [async ({ harnessDir, workDir }, use) => {
    await serveBridge(["--static-dir", harnessDir, "--record-dir", join(workDir, "recordings")], use);
  }, { scope: "worker", timeout: 60_000 }],

  demoBridge: async ({ workDir }, use) => {
    if (!existsSync("dist/web/index.html") || !existsSync("dist/web/golive.js")) throw new Error("dist/web is not built: run `npm run build` (npm test does it)");
    await serveBridge(["--record-dir", join(workDir, "demo-recordings")], use);
  },

  chromiumBrowser: [async ({ clip }, use) => {
    const browser = await chromium.launch({
      executablePath: requireBinary("chromium"),
      headless: true,
      args: [...CHROMIUM_ARGS, ...fakeMediaArgs({ fps: 30, clip })],
    });
    await use(browser);
    await browser.close();
  }, { scope: "worker" }],

  harnessPage: async ({ chromiumBrowser, bridge }, use) => {
    const context = await chromiumBrowser.newContext();
    const page = await context.newPage();
    const logs: string[] = [];
    page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(bridge.url);
    await page.waitForFunction(() => "harness" in window);
    await use(page);
    if (test.info().status !== test.info().expectedStatus) {
      await test.info().attach("browser console", { body: logs.join("\n"), contentType: "text/plain" });
      await test.info().attach("bridge log", { body: bridge.logs(), contentType: "text/plain" });
      console.log(logs.join("\n"));
    }
    await context.close();
  },
});

export { expect } from "@playwright/test";
