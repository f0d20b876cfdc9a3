// A browser that cannot go live is told so before anything happens: the
// widget shows why in plain words instead of a Go live button that would
// fail, Broadcaster.probe() says it, and start() fails in the browser
// without opening a session on the bridge (no publish upstream, no
// recording). Simulated in Chromium by taking WebCodecs' VideoEncoder and
// MediaRecorder's H.264 away before the page loads.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { analyzeRecording } from "../server/testing/analyze.js";
import { syntheticMediaScript } from "../server/testing/browser.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import type * as golive from "../web/golive.js";
import { expect, test } from "./fixtures.js";

type GoliveModule = typeof golive;

/** Runs in the page before its scripts: no H.264 encoder of any kind. */
function withoutH264(): void {
  delete (window as unknown as { VideoEncoder?: unknown }).VideoEncoder;
  if (typeof MediaRecorder !== "undefined") MediaRecorder.isTypeSupported = () => false;
}

test("no H.264 encoder: the widget says why and offers no Go live; probe() and start() say so and the bridge never hears of it", async ({ chromiumBrowser, demoBridge, workDir }) => {
  const context = await chromiumBrowser.newContext();
  await context.addInitScript(withoutH264);
  const page = await context.newPage();
  try {
    await page.goto(demoBridge.url);
    const alert = page.getByRole("alert");
    await expect(alert).toContainText("This browser cannot go live");
    await expect(alert).toContainText("H.264");
    await expect(page.getByRole("button", { name: "Go live" })).toBeDisabled();
    expect(await page.locator("go-live").getAttribute("data-support")).toBe("UNSUPPORTED_BROWSER");
    // The camera was never asked for.
    expect(await page.evaluate(() => document.querySelector("go-live")!.shadowRoot!.querySelector("video")!.srcObject)).toBeNull();

    // The SDK, as an app would use it on this page.
    const result = await page.evaluate(async () => {
      const url = "/golive.js";
      const { Broadcaster } = (await import(url)) as GoliveModule;
      const probe = await Broadcaster.probe();
      const b = new Broadcaster({ bridgeUrl: `ws://${location.host}/ingest` });
      const states: string[] = [];
      b.addEventListener("statechange", () => states.push(b.state));
      const canvas = document.createElement("canvas");
      canvas.width = 640;
      canvas.height = 360;
      canvas.getContext("2d")!.fillRect(0, 0, 640, 360);
      await b.setSource({ kind: "canvas", canvas });
      try {
        await b.start({ destinations: [], record: true });
        return { probe, states, started: true };
      } catch (err) {
        const e = err as Error & { code?: string };
        return { probe, states, code: e.code, message: e.message };
      }
    });
    expect(result.probe).toEqual({ canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: expect.stringContaining("H.264") as unknown });
    expect(result).toMatchObject({ code: "UNSUPPORTED_BROWSER", states: ["starting", "failed"] });
    expect(result.message).toContain("H.264");
  } finally {
    await context.close();
  }
  // Nothing reached the bridge: no session, so no publish and no recording.
  const metrics = await (await fetch(`${demoBridge.url}metrics`)).text();
  expect(metrics).toMatch(/^golive_sessions_started_total 0$/m);
  const recordings = join(workDir, "demo-recordings");
  expect(existsSync(recordings) ? await readdir(recordings) : []).toEqual([]);
});

test("probe() where everything is there (Linux Chromium): WebCodecs H.264 and sound from track processors, AAC from golive's wasm encoder", async ({ harnessPage }) => {
  expect(await harnessPage.evaluate(() => (window as unknown as { harness: { probe(): Promise<unknown> } }).harness.probe())).toEqual({
    canGoLive: true,
    video: { encoder: "webcodecs", capture: "track-processor" },
    audio: { encoder: "wasm", capture: "track-processor" },
  });
});

/**
 * Runs in the page: a Safari without WebCodecs whose MediaRecorder records
 * fragmented MP4 with H.264 and AAC (neither Linux Chromium's recorder, which
 * has no AAC, nor WebKitGTK's, which writes nothing without GStreamer's Rust
 * fMP4 muxer, can here). It plays `url` (an ffmpeg-made fMP4) out in real
 * time, `timeslice` ms at a time, as a recorder would.
 */
function fakeMp4Recorder(url: string): void {
  delete (window as unknown as { VideoEncoder?: unknown }).VideoEncoder;
  delete (window as unknown as { AudioEncoder?: unknown }).AudioEncoder;
  class FakeRecorder extends EventTarget {
    static isTypeSupported(type: string): boolean {
      return type.startsWith("video/mp4");
    }
    state: "inactive" | "recording" = "inactive";
    ondataavailable: ((e: { data: Blob }) => void) | null = null;
    onstop: (() => void) | null = null;
    onerror: (() => void) | null = null;
    readonly mimeType: string;
    #timer: ReturnType<typeof setInterval> | undefined;
    #bytes: Uint8Array | undefined;
    #sent = 0;
    constructor(_stream: MediaStream, options?: { mimeType?: string }) {
      super();
      this.mimeType = options?.mimeType ?? "video/mp4";
    }
    start(timeslice = 1000): void {
      this.state = "recording";
      const t0 = performance.now();
      void fetch(url).then((r) => r.arrayBuffer()).then((buf) => {
        this.#bytes = new Uint8Array(buf);
        const seconds = 6; // the clip's length
        this.#timer = setInterval(() => {
          const bytes = this.#bytes!;
          const upTo = Math.min(bytes.length, Math.floor((bytes.length * (performance.now() - t0)) / (seconds * 1000)));
          if (upTo > this.#sent) this.ondataavailable?.({ data: new Blob([bytes.slice(this.#sent, upTo)]) });
          this.#sent = upTo;
        }, timeslice);
      });
    }
    stop(): void {
      clearInterval(this.#timer);
      this.state = "inactive";
      const bytes = this.#bytes;
      if (bytes && this.#sent < bytes.length) this.ondataavailable?.({ data: new Blob([bytes.slice(this.#sent)]) });
      setTimeout(() => this.onstop?.(), 0);
    }
  }
  Object.defineProperty(window, "MediaRecorder", { value: FakeRecorder, configurable: true, writable: true });
}

test("a browser with no WebCodecs whose MediaRecorder records MP4 with AAC (older Safari): H.264 and AAC pass through untouched", async ({ chromiumBrowser, bridge, harnessDir, nginx }) => {
  // The "recording": 6 s of 640x360 H.264 and 44.1 kHz mono AAC in 100 ms fragments, as a recorder writes them.
  const clip = join(harnessDir, "recorded.mp4");
  await promisify(execFile)("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "6",
    "-c:v", "libx264", "-profile:v", "baseline", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "1",
    "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "100000", clip]);
  const context = await chromiumBrowser.newContext();
  await context.addInitScript({ content: syntheticMediaScript() });
  await context.addInitScript(fakeMp4Recorder, "/recorded.mp4");
  const page = await context.newPage();
  try {
    await page.goto(bridge.url);
    await page.waitForFunction(() => "harness" in window);
    expect(await page.evaluate(() => (window as unknown as { harness: { probe(): Promise<unknown> } }).harness.probe())).toEqual({
      canGoLive: true,
      video: { encoder: "mediarecorder", capture: "mediarecorder", mimeType: "video/mp4;codecs=avc1,mp4a.40.2" },
      audio: { encoder: "mediarecorder", capture: "mediarecorder" },
    });
    await page.evaluate((url) => (window as unknown as { harness: { start(o: unknown): Promise<string> } }).harness.start({ destinations: [{ id: "nginx", url, key: "mp4aac" }] }), nginx.rtmpUrl());
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 20_000 }).toBe("live");
    const paths = await page.evaluate(() => {
      const s = (window as unknown as { harness: { stats(): { videoEncoder?: string; audioEncoder?: string; audioCapture?: string } } }).harness.stats();
      return [s.videoEncoder, s.audioEncoder, s.audioCapture];
    });
    expect(paths).toEqual(["mediarecorder", "mediarecorder", "mediarecorder"]);
    await page.waitForTimeout(5000);
    expect(await page.evaluate(() => (window as unknown as { harness: { stop(): Promise<string> } }).harness.stop())).toBe("ended");
  } finally {
    await context.close();
  }
  const files = (await readdir(nginx.recordDir)).filter((f) => f.startsWith("mp4aac-"));
  expect(files).toHaveLength(1);
  const report = await analyzeRecording(join(nginx.recordDir, files[0]!));
  // The clip's own picture and sound, not anything the page captured: 640x360, 44.1 kHz mono.
  expect(streamProblems(report, { width: 640, height: 360, minDurationS: 4, fps: { min: 27, max: 31 }, maxKeyframeIntervalS: 1.1 }), describeStream(report)).toEqual([]);
  expect([report.audio?.sampleRate, report.audio?.channels], describeStream(report)).toEqual([44100, 1]);
});
