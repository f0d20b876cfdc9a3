/**
 * `npm run bench:latency`: glass-to-ingest latency of a browser broadcast,
 * per engine and per audio path, end to end through the real SDK, the real
 * bridge and a real ingest.
 *
 * Each row: a fresh page loads the SDK from the bridge (through a proxy that
 * counts the bytes it downloads), makes a canvas that flips black/white and
 * a 1 kHz tone that switches on/off at the same instants
 * (bench/latency-page.ts says how the two are put on one instant), goes
 * live with the Broadcaster (option `audioEncoder` = the row's path) to an
 * `ffmpeg -listen 1` that decodes video and audio as they arrive
 * (e2e/glass.ts), and times every flip from the page's instant to the
 * arrival of the decoded frame that shows it. Page and ingest share one
 * clock (the epoch). docs/benchmarks.md ("Glass-to-ingest latency") has the
 * method and the results.
 *
 * Rows: engines chromium (Debian's, through playwright-core), firefox
 * (Firefox ESR) and webkit (WebKitGTK's MiniBrowser), both through
 * e2e/engines.ts; audio paths `none` (a video-only session: the floor),
 * `webcodecs` (the platform's AAC AudioEncoder), `wasm` (golive's own AAC
 * encoder) and `ffmpeg` (ffmpeg.wasm); `auto` on request (the option left
 * out: the SDK's default). A path the browser or this build of the SDK does
 * not have is a skipped row with the reason, never a failure of the run.
 *
 * Usage:
 *   npm run bench:latency                                 every engine, every path, 20 flips
 *   npm run bench:latency -- --flips 5 --engines chromium --paths ffmpeg,none
 *   npm run bench:latency -- --paths auto --engines chromium,webkit   the SDK's default path
 *   npm run bench:latency -- --period 1500 --json .tmp/bench/latency.json
 *
 * Prints a line per row as it finishes, then a Markdown table; the raw
 * per-flip latencies go to --json (default .tmp/bench/latency.json).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ENGINES, openEngine, type EngineName } from "../e2e/engines.js";
import { matchInOrder, startDecodingIngest, type DecodingIngest } from "../e2e/glass.js";
import { fakeMediaArgs, QUIET_CHROMIUM_ARGS } from "../server/testing/browser.js";
import { retryOnAddressInUse, spawnManaged, waitForListening, type ManagedProcess } from "../server/testing/ingest/process.js";
import { freePort, LOOPBACK } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";
import { GOLIVE_BIN, ROOT } from "./capacity/paths.js";
import { machine } from "./capacity/proc.js";
import { installLatencyPage, type LatencyStart, type LatencyStartResult, type LatencyStatus, type PageFlip } from "./latency-page.js";
import { startCountingProxy, type CountingProxy } from "./latency-proxy.js";
import { percentile } from "./stats.js";

/**
 * The audio paths a row can ask the SDK for; `none` is a video-only session,
 * `auto` leaves the option out (whatever the SDK picks by default: not in the
 * default list, as it is one of the others).
 */
const PATHS = ["none", "webcodecs", "wasm", "ffmpeg", "auto"] as const;
type AudioPath = (typeof PATHS)[number];
const DEFAULT_PATHS: readonly AudioPath[] = ["none", "webcodecs", "wasm", "ffmpeg"];
type BenchEngine = "chromium" | EngineName;
const ALL_ENGINES: readonly BenchEngine[] = ["chromium", ...ENGINES];

const { values: args } = parseArgs({
  options: {
    flips: { type: "string", default: "20" },
    period: { type: "string", default: "1000" },
    engines: { type: "string", default: ALL_ENGINES.join(",") },
    paths: { type: "string", default: DEFAULT_PATHS.join(",") },
    json: { type: "string", default: ".tmp/bench/latency.json" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log("npm run bench:latency -- [--flips 20] [--period 1000] [--engines chromium,firefox,webkit] [--paths none,webcodecs,wasm,ffmpeg,auto] [--json .tmp/bench/latency.json]");
  process.exit(0);
}

const FLIPS = Number(args.flips);
const PERIOD_MS = Number(args.period);
if (!Number.isInteger(FLIPS) || FLIPS < 2) throw new TypeError(`--flips must be an integer >= 2, got ${args.flips}`);
if (!(PERIOD_MS >= 300)) throw new TypeError(`--period must be >= 300 ms, got ${args.period}`);
const engines = list(args.engines, ALL_ENGINES, "--engines");
const paths = list(args.paths, PATHS, "--paths");

/** One row of the result. */
interface Row {
  engine: BenchEngine;
  browser: string;
  path: AudioPath;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  /** What the SDK reported using. */
  audioEncoder?: string;
  audioCapture?: string;
  videoCapture?: string;
  flips: number;
  /** Latency of each flip that the ingest saw, ms. */
  videoMs: number[];
  audioMs: number[];
  /** Per flip, the page's paint minus its sound instant, ms (how well the two coincided). */
  pageSkewMs: number[];
  goLiveToFirstFrameMs?: number;
  goLiveToFirstAudioMs?: number;
  goLiveToLiveMs?: number;
  bytesBeforeLive?: number;
  /** The largest downloads before live. */
  downloads?: Array<{ path: string; bytes: number }>;
}

/** A page, whatever drives it. */
interface BenchPage {
  goto(url: string): Promise<void>;
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
  /** The browser's console (Chromium only), for a failed row's reason. */
  logs(): string;
}

async function main(): Promise<void> {
  const host = machine();
  console.log(`bench:latency ${new Date().toISOString()}: ${host.cpu}, ${host.cores} cores, ${host.memGiB.toFixed(1)} GiB, Linux ${host.kernel}, Node ${process.version}`);
  console.log(`flips ${FLIPS} per row, ${PERIOD_MS} ms apart; engines ${engines.join(", ")}; audio paths ${paths.join(", ")}`);
  const staticDir = await mkdtemp(join(tmpdir(), "golive-latency-page-"));
  await writeFile(join(staticDir, "index.html"), '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>golive latency bench</title></head><body><p>golive bench:latency</p></body></html>\n');
  const bridge = await startServe(staticDir);
  const proxy = await startCountingProxy(bridge.port);
  const rows: Row[] = [];
  let chromium: ChromiumDriver | undefined;
  try {
    for (const engine of engines) {
      let launchError: string | undefined;
      if (engine === "chromium") chromium = await launchChromium().catch((err: Error) => void (launchError = err.message.split("\n")[0]));
      for (const path of paths) {
        if (launchError !== undefined) {
          rows.push(fail({ engine, browser: engine, path, status: "ok", flips: FLIPS, videoMs: [], audioMs: [], pageSkewMs: [] }, `Chromium did not launch: ${launchError}`));
          console.log(rowLine(rows[rows.length - 1]!));
          continue;
        }
        const row = await measureRow(engine, path, { bridge, proxy, chromium });
        rows.push(row);
        console.log(rowLine(row));
      }
      if (engine === "chromium") await chromium?.close();
      chromium = undefined;
    }
  } finally {
    await chromium?.close().catch(() => undefined);
    await proxy.stop();
    await bridge.stop();
    await rm(staticDir, { recursive: true, force: true });
  }
  console.log("");
  console.log(markdownTable(rows));
  const out = resolve(ROOT, args.json);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), machine: { ...host, load1: loadavg()[0] }, flips: FLIPS, periodMs: PERIOD_MS, rows }, null, 2));
  console.log(`\nraw latencies: ${out}`);
}

interface Rig {
  bridge: ServedBridge;
  proxy: CountingProxy;
  chromium: ChromiumDriver | undefined;
}

/** One engine x one audio path: never throws; a failure is a row saying why. */
async function measureRow(engine: BenchEngine, path: AudioPath, rig: Rig): Promise<Row> {
  const row: Row = { engine, browser: engine, path, status: "ok", flips: FLIPS, videoMs: [], audioMs: [], pageSkewMs: [] };
  const withAudio = path !== "none";
  let page: BenchPage | undefined;
  let ingest: DecodingIngest | undefined;
  try {
    rig.proxy.reset();
    if (engine === "chromium") {
      if (!rig.chromium) throw new Error("chromium not launched");
      row.browser = rig.chromium.version;
      page = await rig.chromium.newPage();
    } else {
      const p = await openEngine(engine);
      row.browser = await p.version();
      page = { goto: (u) => p.goto(u), evaluate: (e) => p.evaluate(e), close: () => p.close(), logs: () => "" };
    }
    await page.goto(rig.proxy.url);
    await page.evaluate(`(${installLatencyPage.toString()})()`);
    const setup = await page.evaluate<string>(`__latency.setup(${withAudio})`);
    if (setup !== "ok") return skip(row, setup);
    if (path === "webcodecs" && !(await page.evaluate<boolean>("__latency.webcodecsAac()"))) return skip(row, "this browser's AudioEncoder has no AAC");

    ingest = await startDecodingIngest({ audio: withAudio });
    const start: LatencyStart = { bridgeUrl: rig.bridge.ingest, rtmpUrl: ingest.rtmpUrl, key: "glass", ...(withAudio && path !== "auto" && { audioEncoder: path }) };
    const started = await page.evaluate<LatencyStartResult>(`__latency.start(${JSON.stringify(start)})`);
    if (!started.ok) {
      // An SDK that refuses the option, or the path, is telling us this row cannot run here.
      const why = `${started.code ?? started.name}: ${started.message}`;
      const refused = started.name === "TypeError" || started.code === "AAC_UNSUPPORTED" || /audioEncoder/.test(started.message);
      return refused ? skip(row, `start() refused: ${why}`) : fail(row, `start() failed: ${why}`);
    }
    let status = await waitForStatus(page, (s) => s.state === "live" || s.state === "failed" || s.state === "ended", 45_000);
    Object.assign(row, pick(status, ["audioEncoder", "audioCapture", "videoCapture"]));
    if (status.state !== "live") return fail(row, `state ${status.state}; ${status.errors.join("; ")}`);
    if (withAudio && path !== "auto" && status.audioEncoder !== path) return skip(row, `asked for audioEncoder "${path}", the SDK used "${status.audioEncoder ?? "none"}" (this build has no such option, or not that path here)`);
    if (!withAudio && status.audioEncoder !== undefined) return fail(row, `a video-only session reported audio (${status.audioEncoder})`);

    // Flip once the ingest decodes (a publish starts at a keyframe), then wait for the last flip to arrive.
    const ing = ingest;
    await until(() => ing.firstFrameAtMs !== undefined && (!withAudio || ing.firstAudioAtMs !== undefined), 20_000, "the ingest decoded no frame");
    await sleep(1000);
    const lastAtMs = await page.evaluate<number>(`__latency.flip(${FLIPS}, ${PERIOD_MS})`);
    await sleep(Math.max(0, lastAtMs - now()) + 1000);
    await until(() => ing.changes.length >= FLIPS && (!withAudio || ing.audioEdges.length >= FLIPS), 5000, "").catch(() => undefined);
    const flips = await page.evaluate<PageFlip[]>("__latency.flips()");
    status = await page.evaluate<LatencyStatus>("__latency.status()");
    const video = matchInOrder(flips.map((f) => ({ atMs: f.videoAtMs, white: f.white })), ingest.changes);
    row.videoMs = video.filter((v): v is number => v !== undefined);
    if (withAudio) {
      const audio = matchInOrder(flips.map((f) => ({ atMs: f.audioAtMs ?? Number.NaN, white: f.white })), ingest.audioEdges.map((e) => ({ atMs: e.atMs, white: e.on })));
      row.audioMs = audio.filter((v): v is number => v !== undefined);
      row.pageSkewMs = flips.filter((f) => f.audioAtMs !== undefined).map((f) => f.videoAtMs - f.audioAtMs!);
    }
    if (status.goLiveAtMs !== undefined) {
      if (ingest.firstFrameAtMs !== undefined) row.goLiveToFirstFrameMs = ingest.firstFrameAtMs - status.goLiveAtMs;
      if (ingest.firstAudioAtMs !== undefined) row.goLiveToFirstAudioMs = ingest.firstAudioAtMs - status.goLiveAtMs;
      if (status.liveAtMs !== undefined) row.goLiveToLiveMs = status.liveAtMs - status.goLiveAtMs;
    }
    if (status.liveAtMs !== undefined) {
      const { total, byPath } = rig.proxy.bytesBefore(status.liveAtMs);
      row.bytesBeforeLive = total;
      row.downloads = [...byPath].map(([p, bytes]) => ({ path: p, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, 5);
    }
    if (row.videoMs.length < FLIPS || (withAudio && row.audioMs.length < FLIPS)) {
      // Say what the page and the ingest saw: a session that ended early, an encoder error, ffmpeg's complaint.
      const lastSeen = Math.max(ingest.changes.at(-1)?.atMs ?? 0, ingest.audioEdges.at(-1)?.atMs ?? 0);
      row.reason = [
        `seen: video ${row.videoMs.length}/${FLIPS}, audio ${withAudio ? `${row.audioMs.length}/${FLIPS}` : "-"}`,
        `page state ${status.state}${status.errors.length ? ` (${status.errors.join("; ")})` : ""}`,
        `ingest's last change ${lastSeen ? `${Math.round((lastSeen - flips[0]!.videoAtMs) / 1000)} s after the first flip` : "none"}`,
        ...(ingest.log().trim() ? [`ffmpeg: ${ingest.log().trim().split("\n").slice(-3).join(" / ")}`] : []),
      ].join("; ");
    }
    if (row.videoMs.length === 0) return fail(row, `the ingest saw no flip (${ingest.changes.length} changes, ${ingest.audioEdges.length} tone edges); ffmpeg: ${ingest.log().slice(-300)}`);
    return row;
  } catch (err) {
    return fail(row, `${(err as Error).message.split("\n")[0]}${page?.logs() ? `; console: ${page.logs().slice(-500)}` : ""}`);
  } finally {
    if (page) {
      await Promise.race([page.evaluate("__latency.stop()"), sleep(15_000)]).catch(() => undefined);
      await page.close().catch(() => undefined);
    }
    await ingest?.stop().catch(() => undefined);
  }
}

function skip(row: Row, reason: string): Row {
  return Object.assign(row, { status: "skipped" as const, reason });
}

function fail(row: Row, reason: string): Row {
  return Object.assign(row, { status: "failed" as const, reason });
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

async function waitForStatus(page: BenchPage, done: (s: LatencyStatus) => boolean, timeoutMs: number): Promise<LatencyStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await page.evaluate<LatencyStatus>("__latency.status()");
    if (done(s) || Date.now() > deadline) return s;
    await sleep(50);
  }
}

async function until(cond: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(message);
    await sleep(20);
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

// --- Chromium, through playwright-core ---------------------------------------

interface ChromiumDriver {
  readonly version: string;
  /** A page in a fresh context (an empty cache: every row downloads what a first visit does). */
  newPage(): Promise<BenchPage>;
  close(): Promise<void>;
}

async function launchChromium(): Promise<ChromiumDriver> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: requireBinary("chromium"),
    headless: true,
    args: [...QUIET_CHROMIUM_ARGS, "--disable-quic", ...fakeMediaArgs({ fps: 30 })],
  });
  return {
    version: `Chromium ${browser.version()}`,
    async newPage() {
      const context = await browser.newContext();
      const page = await context.newPage();
      const logs: string[] = [];
      page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
      page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
      return {
        goto: async (url) => void (await page.goto(url, { waitUntil: "load" })),
        evaluate: <T>(expression: string): Promise<T> => page.evaluate<T>(expression),
        close: () => context.close(),
        logs: () => logs.join("\n"),
      };
    },
    close: () => browser.close(),
  };
}

// --- the bridge ---------------------------------------------------------------

interface ServedBridge {
  port: number;
  /** ws://127.0.0.1:PORT/ingest */
  ingest: string;
  stop(): Promise<void>;
}

/** `golive serve` as an operator runs it, serving the bench's blank page in front of golive's build. */
async function startServe(staticDir: string): Promise<ServedBridge> {
  const recordDir = join(staticDir, "..", `${staticDir.split("/").pop() ?? "x"}-rec`);
  const { proc, port } = await retryOnAddressInUse(async (): Promise<{ proc: ManagedProcess; port: number }> => {
    const port = await freePort();
    const proc = await spawnManaged("golive serve", process.execPath, [
      GOLIVE_BIN, "serve", "--host", LOOPBACK, "--port", String(port), "--allow-private",
      "--static-dir", staticDir, "--record-dir", recordDir, "--log-level", "warn",
      // One process, as every earlier run measured (the default is one worker per CPU).
      "--workers", "1",
    ]);
    await waitForListening(proc, [port], { timeoutMs: 20_000 });
    return { proc, port };
  });
  return {
    port,
    ingest: `ws://${LOOPBACK}:${port}/ingest`,
    async stop() {
      await proc.stop("SIGINT", 10_000);
      await rm(recordDir, { recursive: true, force: true });
    },
  };
}

// --- report -------------------------------------------------------------------

function stat(xs: readonly number[]): string {
  return xs.length === 0 ? "-" : `${Math.round(percentile(xs, 50))} / ${Math.round(percentile(xs, 95))}`;
}

function ms(x: number | undefined): string {
  return x === undefined ? "-" : String(Math.round(x));
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? "-" : `${(bytes / 1e6).toFixed(2)} MB`;
}

function rowLine(r: Row): string {
  const head = `${r.engine.padEnd(8)} ${label(r).padEnd(9)}`;
  if (r.status !== "ok") return `${head} ${r.status}: ${r.reason ?? ""}`;
  return [
    head,
    `video ${stat(r.videoMs)} ms (median / p95, ${r.videoMs.length}/${r.flips})`,
    r.path === "none" ? "audio -" : `audio ${stat(r.audioMs)} ms (${r.audioMs.length}/${r.flips}; ${r.audioEncoder}, ${r.audioCapture})`,
    `go live -> first frame ${ms(r.goLiveToFirstFrameMs)} ms`,
    `bytes before live ${mb(r.bytesBeforeLive)}`,
    r.pageSkewMs.length ? `page paint - sound ${stat(r.pageSkewMs.map(Math.abs))} ms` : "",
    r.reason ?? "",
  ].filter(Boolean).join("; ");
}

function label(r: Row): string {
  return r.path === "auto" ? `auto (${r.audioEncoder ?? "?"})` : r.path;
}

function markdownTable(rows: readonly Row[]): string {
  const lines = [
    "| engine | audio path | video median / p95 ms | audio median / p95 ms | flips seen (v / a) | go live -> first frame ms | bytes before live | note |",
    "|---|---|--:|--:|--:|--:|--:|---|",
  ];
  for (const r of rows) {
    const path = r.path === "none" ? "none (video only)" : label(r);
    if (r.status !== "ok") {
      lines.push(`| ${r.browser} | ${path} | | | | | | ${r.status}: ${(r.reason ?? "").replaceAll("|", "/")} |`);
      continue;
    }
    const seen = `${r.videoMs.length} / ${r.path === "none" ? "-" : r.audioMs.length} of ${r.flips}`;
    lines.push(`| ${r.browser} | ${path} | ${stat(r.videoMs)} | ${r.path === "none" ? "-" : stat(r.audioMs)} | ${seen} | ${ms(r.goLiveToFirstFrameMs)} | ${mb(r.bytesBeforeLive)} | capture: video ${r.videoCapture ?? "?"}${r.audioCapture ? `, audio ${r.audioCapture}` : ""}${r.reason ? `; ${r.reason.replaceAll("|", "/")}` : ""} |`);
  }
  return lines.join("\n");
}

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!allowed.includes(item as T)) throw new TypeError(`${flag}: unknown "${item}" (one of ${allowed.join(", ")})`);
  return items as T[];
}

await main();
