/**
 * The ffmpeg.wasm AAC path in Debian's Chromium (whose WebCodecs has no AAC
 * encoder). A test page (test/web/pages/aac) is built with Vite's
 * programmatic build: @ffmpeg/ffmpeg's Worker is emitted as an asset, the
 * 31 MB core is not (it is the optional @ffmpeg/core package's, served at
 * ffmpeg-core/ next to the page's scripts, as a bridge serves it), and all of
 * it comes from the page's own origin (no CDN: every request is checked). The page synthesises a 440 Hz
 * (left) / 660 Hz (right) tone as WebCodecs AudioData, encodes it through the
 * SDK in small segments so there are many joins, and returns the kept frames
 * as ADTS with their timestamps. Node decodes them with the system's ffmpeg
 * and judges them block by block (pages/aac/analysis.ts, thresholds in
 * SEAMLESS): length, exact sample-count timestamps, and no gap, repeat or
 * click at any join; the naive segmenting fails the same checks. A soak of
 * 400 jobs shows the recycling runner outliving ffmpeg.wasm's ~150-exec limit.
 * Encode speed is printed, not asserted (STYLE.md 11).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "vite";
import { cp, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { ffmpegCoreDir } from "../../server/web-root.js";
import { launchChromium } from "../support/browser.js";
import { serveStatic, type StaticServer } from "../support/static-server.js";
import { analyseTone, describeReport, seamlessViolations, TONE_RATE } from "./pages/aac/analysis.js";
import type { NaiveResult, RunOptions, RunResult, SoakResult } from "./pages/aac/main.js";
import { decodeAdts } from "./pages/aac/native-ffmpeg.js";

const F = 1024;
const PAGE_ROOT = fileURLToPath(new URL("./pages/aac/", import.meta.url));

/** First frame of every job but the first, for jobs of `segmentMs`. */
function joinFrames(frames: number, segmentMs: number): number[] {
  const seg = Math.round((segmentMs * TONE_RATE) / 1000 / F);
  const joins: number[] = [];
  for (let k = seg; k < frames; k += seg) joins.push(k);
  return joins;
}

const bytes = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, "base64"));

describe("AAC through ffmpeg.wasm in Chromium", { timeout: 60_000 }, () => {
  let outDir: string;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), "golive-aac-"));
    await build({ configFile: false, root: PAGE_ROOT, base: "./", logLevel: "silent", build: { outDir, emptyOutDir: true, target: "es2022" } });
    // Where the SDK looks for the core by default: ffmpeg-core/ beside assets/.
    const core = ffmpegCoreDir();
    if (!core) throw new Error("@ffmpeg/core is not installed (a devDependency): run npm ci");
    await cp(core, join(outDir, "ffmpeg-core"), { recursive: true });
    server = await serveStatic(outDir);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) foreignRequests.push(r.url());
    });
    page.on("worker", (w) => {
      if (!w.url().startsWith(server.url) && !w.url().startsWith("blob:")) foreignRequests.push(w.url());
    });
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready", undefined, { timeout: 10_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  const run = (o: RunOptions): Promise<RunResult> => page.evaluate((opts) => window.aacTest.run(opts), o);

  it("emits ffmpeg's Worker as an asset, not the 31 MB core (the optional @ffmpeg/core package's, served beside it)", async () => {
    const assets = await readdir(join(outDir, "assets"));
    expect(assets.filter((f) => f.includes("ffmpeg-core"))).toEqual([]);
    expect(assets.some((f) => /^worker-.*\.js$/.test(f))).toBe(true);
    expect((await stat(join(outDir, "ffmpeg-core", "ffmpeg-core.wasm"))).size).toBeGreaterThan(30_000_000);
  });

  it("createAacEncoder takes golive's wasm encoder where WebCodecs has no AAC (this Chromium): a worker in the bundle, frames stamped by their first decoded sample, the tone continuous", async () => {
    const t0 = 2_000_000;
    const r = await run({ path: "auto", seconds: 3, channels: 2, dataChannels: 2, format: "f32-planar", piece: 480, segmentMs: 500, firstTimestampUs: t0 });
    expect(r.errors).toEqual([]);
    expect(r.webCodecsAac, "this Chromium has a WebCodecs AAC encoder now: the ffmpeg.wasm tests below still force that path").toBe(false);
    expect(r.kind).toBe("wasm");
    expect(r.description).toEqual([0x11, 0x90]);
    // One frame per 1024 input samples and the decoder's priming frame first: frame k decodes to the input from sample (k - 1) * 1024.
    const frames = Math.ceil(r.inputSamples / F) + 1;
    expect(r.timestamps).toEqual(Array.from({ length: frames }, (_, k) => t0 + Math.round(((k - 1) * F * 1e6) / TONE_RATE)));
    const decoded = await decodeAdts(bytes(r.adtsBase64), 2);
    expect(decoded.length / 2).toBe(frames * F);
    const report = analyseTone(decoded.subarray(2 * F), 2, r.inputSamples, []);
    console.log(`wasm AAC encoder: ${describeReport(report)}; load ${r.loadMs.toFixed(0)} ms`);
    expect(seamlessViolations(report)).toEqual([]);
  });

  it("encodes 10 s of stereo in 0.5 s segments that decode to the continuous tone (20 joins)", async () => {
    const segmentMs = 500;
    const t0 = 2_000_000;
    const r = await run({ path: "ffmpeg", seconds: 10, channels: 2, dataChannels: 2, format: "f32-planar", piece: 480, segmentMs, firstTimestampUs: t0 });
    expect(r.errors).toEqual([]);
    expect(r.kind).toBe("ffmpeg");
    expect(r.codec).toBe("mp4a.40.2");
    expect(r.description).toEqual([0x11, 0x90]); // AAC-LC, 48 kHz, stereo
    const frames = Math.ceil(r.inputSamples / F);
    // Timestamps count samples: frame k at t0 + round(k * 1024 * 1e6 / 48000), strictly increasing by 1024 samples.
    expect(r.timestamps).toEqual(Array.from({ length: frames }, (_, k) => t0 + Math.round((k * F * 1e6) / TONE_RATE)));
    r.durations.forEach((d, k) => expect(d).toBe(Math.round(((k + 1) * F * 1e6) / TONE_RATE) - Math.round((k * F * 1e6) / TONE_RATE)));
    const decoded = await decodeAdts(bytes(r.adtsBase64), 2);
    expect(decoded.length / 2).toBe(frames * F); // within one frame of the input
    expect(decoded.length / 2 - r.inputSamples).toBeLessThan(F);
    const joins = joinFrames(frames, segmentMs);
    expect(joins).toHaveLength(20);
    const report = analyseTone(decoded, 2, r.inputSamples, joins);
    const speed = (r.inputSamples / TONE_RATE) * 1000 / r.encodeMs;
    console.log(`ffmpeg.wasm, 0.5 s segments: ${describeReport(report)}`);
    console.log(`ffmpeg.wasm speed: 10 s of 48 kHz stereo in ${r.encodeMs.toFixed(0)} ms = ${speed.toFixed(1)}x real time (${Math.ceil(frames / 23)} jobs, ${(r.encodeMs / Math.ceil(frames / 23)).toFixed(0)} ms each); load ${r.loadMs.toFixed(0)} ms`);
    expect(seamlessViolations(report)).toEqual([]);
  });

  it("takes s16 mono AudioData into a mono encoder, and interleaved f32 mono into a stereo one", async () => {
    for (const o of [
      { channels: 1, dataChannels: 1, format: "s16", piece: 1024, segmentMs: 250, seconds: 3 },
      { channels: 2, dataChannels: 1, format: "f32", piece: 441, segmentMs: 1000, seconds: 11 },
    ] as const) {
      const r = await run({ path: "ffmpeg", firstTimestampUs: 0, ...o });
      expect(r.errors).toEqual([]);
      expect(r.description).toEqual(o.channels === 1 ? [0x11, 0x88] : [0x11, 0x90]);
      const decoded = await decodeAdts(bytes(r.adtsBase64), o.channels);
      const frames = Math.ceil(r.inputSamples / F);
      expect(decoded.length / o.channels).toBe(frames * F);
      // Mono data in a stereo encoder: both channels carry the left (440 Hz) tone; judge the left one.
      const left = o.channels === 2 ? decoded.filter((_, i) => i % 2 === 0) : decoded;
      const report = analyseTone(left, 1, r.inputSamples, joinFrames(frames, o.segmentMs));
      expect(report.joins).toBeGreaterThanOrEqual(10);
      console.log(`ffmpeg.wasm, ${o.format} ${o.dataChannels} -> ${o.channels} ch, ${o.segmentMs} ms segments: ${describeReport(report)}`);
      expect(seamlessViolations(report)).toEqual([]);
      if (o.channels === 2) {
        // The right channel carries the same tone (compared as a number: a typed-array diff of 500k samples would take minutes to print).
        let maxDiff = 0;
        for (let i = 0; i < left.length; i++) maxDiff = Math.max(maxDiff, Math.abs(decoded[i * 2 + 1]! - left[i]!));
        console.log(`  left - right: max |difference| ${maxDiff.toExponential(2)}`);
        expect(maxDiff).toBeLessThan(1e-3);
      }
    }
  });

  it("the naive segmenting (each segment encoded alone) fails the join checks", async () => {
    const n: NaiveResult = await page.evaluate(() => window.aacTest.runNaive(5, 500));
    const decoded = await decodeAdts(bytes(n.adtsBase64), 2);
    const report = analyseTone(decoded, 2, n.inputSamples, joinFrames(decoded.length / 2 / F, 500));
    console.log(`ffmpeg.wasm, naive segmenting: ${describeReport(report)}`);
    expect(seamlessViolations(report)).toContainEqual(expect.stringMatching(/^median join/));
  });

  it("outlives ffmpeg.wasm's exec() stack leak: 400 jobs through the recycling runner", async () => {
    // One ffmpeg.wasm 0.12 instance traps ("memory access out of bounds") after ~148 exec() calls
    // (ffmpegwasm/ffmpeg.wasm#820): printed as a canary, asserted only to be under 400.
    const soak = (jobs: number, recycling: boolean): Promise<SoakResult> => page.evaluate(([n, r]) => window.aacTest.soak(n, 2, r), [jobs, recycling] as const);
    const single = await soak(400, false);
    console.log(`one ffmpeg.wasm instance: ${single.ok} jobs, then ${single.error ?? "no failure"}`);
    const recycled = await soak(400, true);
    console.log(`recycling runner: ${recycled.ok} jobs on ${recycled.instances} instances in ${recycled.ms.toFixed(0)} ms${recycled.error ? `, then ${recycled.error}` : ""}`);
    expect(recycled).toMatchObject({ ok: 400, instances: 4 });
    expect(recycled.error).toBeUndefined();
    expect(single.ok, "ffmpeg.wasm no longer breaks after ~150 jobs: recycling-runner.ts may be retired").toBeLessThan(400);
  });

  it("loaded everything from the page's own origin", () => {
    expect(foreignRequests).toEqual([]);
  });
});
