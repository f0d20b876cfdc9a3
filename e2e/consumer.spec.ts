// golive as an app gets it: `npm pack`, then apps in a folder outside the
// repository that install the tarball (npm's cache, filled by `npm ci`,
// supplies the other packages).
// (a) examples/embed-http and examples/embed-express: the bridge on the app's
//     own server, compiled with tsc against the package's types; a
//     `golive replay` session (the package's own CLI) goes through each to
//     nginx-rtmp, checked with ffprobe;
// (b) examples/vite-app: imports golive/web, type-checks, `vite build`s, and
//     Chromium goes live through its widget, served by `vite preview`, to
//     nginx-rtmp through the embed-http app's bridge.
// The packed and unpacked sizes go to test-artifacts/pack.json (the README
// quotes them).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { analyzeRecording } from "../server/testing/analyze.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import { freePort } from "../server/testing/ports.js";
import { cachedTestFlv, waitForStableFile } from "../test/support/ingest.js";
import { expect, test } from "./fixtures.js";

const exec = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

interface Pack {
  tarball: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
}

interface App {
  dir: string;
  url: string;
  output(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

let root: string;
let pack: Pack;

test.describe.configure({ mode: "serial" });

test.beforeAll(async () => {
  test.setTimeout(180_000);
  root = await mkdtemp(join(tmpdir(), "golive-consumer-"));
  const { stdout } = await exec(npm, ["pack", "--json", "--pack-destination", root], { maxBuffer: 16 << 20 });
  const [info] = JSON.parse(stdout) as Array<{ filename: string; size: number; unpackedSize: number; entryCount: number; files: Array<{ path: string }> }>;
  pack = { tarball: join(root, info!.filename), size: info!.size, unpackedSize: info!.unpackedSize, entryCount: info!.entryCount };
  await mkdir("test-artifacts", { recursive: true });
  await writeFile("test-artifacts/pack.json", `${JSON.stringify({ ...pack, tarball: info!.filename, node: process.version }, null, 2)}\n`);
  // What the package holds: its builds, never sources, tests or maps.
  const paths = info!.files.map((f) => f.path);
  expect(paths).toContain("dist/server/index.js");
  expect(paths).toContain("dist/browser/web/lib.js");
  expect(paths).toContain("dist/web/golive.js");
  expect(paths.filter((p) => /^(test|e2e|bench|web|server|examples)\//.test(p) || p.endsWith(".map") || p.endsWith(".wat"))).toEqual([]);
  // ffmpeg.wasm's core is not in it (the optional @ffmpeg/core package is its one copy).
  expect(paths.filter((p) => p.includes("ffmpeg-core"))).toEqual([]);
  // Install the three apps at once.
  await Promise.all(["embed-http", "embed-express", "vite-app"].map(async (name) => {
    const dir = join(root, name);
    await cp(join("examples", name), dir, { recursive: true });
    await exec(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error", pack.tarball], { cwd: dir, maxBuffer: 16 << 20 });
  }));
});

test.afterAll(async () => {
  if (root && !process.env.GOLIVE_KEEP_TEST_DIRS) await rm(root, { recursive: true, force: true });
});

/** Every package in an app's node_modules (scoped ones as @scope/name). */
async function installed(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(join(dir, "node_modules"))) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) for (const sub of await readdir(join(dir, "node_modules", entry))) names.push(`${entry}/${sub}`);
    else names.push(entry);
  }
  return names;
}

/** Starts an app's compiled server on a free port; resolves once it says where it listens. */
async function startApp(dir: string, env: Record<string, string>): Promise<App> {
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["build/server.js"], { cwd: dir, env: { ...process.env, PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${dir} did not start:\n${output}`)), 15_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", () => reject(new Error(`${dir} exited:\n${output}`)));
  });
  return {
    dir, url,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** `golive replay` from the app's install (the package's bin). */
async function replay(dir: string, args: string[]): Promise<{ code: number; out: string }> {
  const bin = join(dir, "node_modules", ".bin", "golive");
  return exec(bin, ["replay", ...args], { cwd: dir, maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` }),
  );
}

async function recordingOf(dir: string, key: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${key}-`));
  expect(files, `recordings of ${key} in ${dir}`).toHaveLength(1);
  const path = join(dir, files[0]!);
  await waitForStableFile(path);
  return path;
}

test("a bridge-only install brings no Playwright, node-media-server or ffmpeg.wasm core", async () => {
  const names = await installed(join(root, "embed-http"));
  expect(names).toContain("golive");
  expect(names).toContain("ws");
  expect(names.filter((n) => /playwright|node-media-server|^@ffmpeg\/core$/.test(n))).toEqual([]);
  expect(pack.size).toBeLessThan(2 * 1024 * 1024);
  // The README says how big it is: within 25 % of what npm pack measured now.
  const said = /(\d+) kB packed, ([\d.]+) MB unpacked/.exec(await readFile("README.md", "utf8"));
  expect(said, "README.md states the packed and unpacked size").not.toBeNull();
  expect(Math.abs(Number(said![1]) * 1000 / pack.size - 1), `README says ${said![1]} kB packed; npm pack: ${pack.size} B`).toBeLessThan(0.25);
  expect(Math.abs(Number(said![2]) * 1e6 / pack.unpackedSize - 1), `README says ${said![2]} MB unpacked; npm pack: ${pack.unpackedSize} B`).toBeLessThan(0.25);
});

test("(a) the bridge on an app's own http.Server: tsc against the package's types, authorize, events, a replay to nginx-rtmp", async ({ nginx }) => {
  const dir = join(root, "embed-http");
  await exec(join(dir, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: dir });
  const app = await startApp(dir, { ALLOW_PRIVATE: "1", ALLOWED_INGEST: nginx.rtmpUrl() });
  try {
    const base = new URL(app.url);
    // The bridge's endpoints under /golive/, the app's own routes beside them.
    const health = await fetch(new URL("/golive/healthz", base));
    expect([health.status, await health.json()]).toEqual([200, { status: "ok", sessions: 0 }]);
    const js = await fetch(new URL("/golive/golive.js", base));
    expect(js.status).toBe(200);
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await (await fetch(new URL("/somewhere", base))).text()).toBe("the app's own page\n");
    const ingest = new URL("/golive/ingest", base).href.replace(/^http/, "ws");
    const flv = await cachedTestFlv({ seconds: 3 });
    // No session of the app: refused by its authorize hook, with its reason.
    const refused = await replay(dir, [flv, "--bridge", ingest, "--to", `${nginx.rtmpUrl()}/refused`, "--fast"]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/AUTH_REFUSED.*sign in to go live/);
    // The app's user: published, checked at nginx-rtmp.
    const ok = await replay(dir, [flv, "--bridge", ingest, "--to", `${nginx.rtmpUrl()}/embedded-http`, "--token", "demo-session"]);
    expect(ok.code, ok.out).toBe(0);
    const report = await analyzeRecording(await recordingOf(nginx.recordDir, "embedded-http"));
    expect(streamProblems(report, { minDurationS: 2.5 }), describeStream(report)).toEqual([]);
    // The app heard of it through the bridge's events.
    await expect.poll(() => app.output()).toMatch(/session \S+ stopped/);
    expect(app.output()).toMatch(/session \S+ by alice/);
    expect(app.output()).toMatch(/destination \S+: live/);
  } finally {
    expect(await app.stop()).toBe(0);
  }
});

test("(a) the bridge in an Express app: middleware under /golive, a replay to nginx-rtmp, a clean exit", async ({ nginx }) => {
  const dir = join(root, "embed-express");
  expect(await installed(dir)).toContain("express");
  await exec(join(dir, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: dir });
  const app = await startApp(dir, { ALLOW_PRIVATE: "1" });
  try {
    const base = new URL(app.url);
    expect(await (await fetch(base)).text()).toContain("<go-live");
    const js = await fetch(new URL("/golive/golive.js", base));
    expect([js.status, js.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    // Not the bridge's: Express answers (its own 404).
    expect((await fetch(new URL("/golive/nothing-here", base))).status).toBe(404);
    const ingest = new URL("/golive/ingest", base).href.replace(/^http/, "ws");
    const ok = await replay(dir, [await cachedTestFlv({ seconds: 3 }), "--bridge", ingest, "--to", `${nginx.rtmpUrl()}/embedded-express`, "--token", "demo-session"]);
    expect(ok.code, ok.out).toBe(0);
    const report = await analyzeRecording(await recordingOf(nginx.recordDir, "embedded-express"));
    expect(streamProblems(report, { minDurationS: 2.5 }), describeStream(report)).toEqual([]);
    expect(app.output()).toMatch(/destination \S+: ended/);
  } finally {
    expect(await app.stop()).toBe(0);
  }
});

test("(b) a Vite app imports golive/web: tsc, vite build emits the workers and WASM, and it goes live through the widget", async ({ chromiumBrowser, nginx }) => {
  const dir = join(root, "vite-app");
  await exec(join(dir, "node_modules", ".bin", "tsc"), ["--noEmit"], { cwd: dir });
  await exec(join(dir, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], { cwd: dir });
  // Bundled with the app's assets: the H.264 worker, the AAC worker and its WASM.
  const assets = await readdir(join(dir, "dist", "assets"));
  expect(assets.filter((a) => /^video-worker-.*\.js$/.test(a))).toHaveLength(1);
  expect(assets.filter((a) => /^wasm-aac-worker-.*\.js$/.test(a))).toHaveLength(1);
  expect(assets.filter((a) => /^aac-.*\.wasm$/.test(a))).toHaveLength(1);
  expect(await readFile(join(dir, "dist", "index.html"), "utf8")).toMatch(/assets\/index-[^"]+\.js/);

  const bridgeApp = await startApp(join(root, "embed-http"), { ALLOW_PRIVATE: "1", ALLOWED_INGEST: nginx.rtmpUrl() });
  const port = await freePort();
  const preview = spawn(join(dir, "node_modules", ".bin", "vite"), ["preview", "--port", String(port), "--strictPort", "--host", "127.0.0.1"], { cwd: dir, stdio: "ignore" });
  try {
    const appUrl = `http://127.0.0.1:${port}/`;
    await expect.poll(() => fetch(appUrl).then((r) => r.status, () => 0), { timeout: 15_000 }).toBe(200);
    const ingest = new URL("/golive/ingest", bridgeApp.url).href.replace(/^http/, "ws");
    const page = await chromiumBrowser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${appUrl}?bridge=${encodeURIComponent(ingest)}&session=demo-session`);
    await expect(page.locator("#support")).toHaveText("This browser can go live.");
    await page.getByRole("textbox", { name: "Stream URL" }).fill(nginx.rtmpUrl());
    await page.getByRole("textbox", { name: "Stream key" }).fill("vite-app");
    // The app's hook allows no recording on the bridge: asked anyway, the widget shows its reason.
    await page.getByRole("button", { name: "Go live" }).click();
    await expect(page.getByRole("alert")).toHaveText("The app does not allow recording on the bridge");
    await page.getByRole("checkbox", { name: "Record on this machine" }).uncheck();
    await page.getByRole("button", { name: "Go live" }).click();
    await expect(page.getByText("LIVE", { exact: true })).toBeVisible({ timeout: 20_000 });
    await page.waitForTimeout(5000);
    await page.getByRole("button", { name: "End stream" }).click();
    await expect(page.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
    await page.close();
    expect(errors).toEqual([]);
  } finally {
    preview.kill("SIGTERM");
    await bridgeApp.stop();
  }
  const report = await analyzeRecording(await recordingOf(nginx.recordDir, "vite-app"));
  expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 3 }), describeStream(report)).toEqual([]);
  expect(report.audio?.codecString).toBe("mp4a.40.2");
});

