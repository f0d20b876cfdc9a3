// The browser SDK end to end: Debian Chromium's fake camera and microphone
// (an ffmpeg-made clip with a frame counter, a flash and a beep every second)
// -> WebCodecs H.264 + AAC (ffmpeg.wasm on Linux Chromium) -> golive serve ->
// nginx-rtmp; every check is made on what nginx recorded.
import { readdir } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { ffprobeFrames } from "../test/support/ingest.js";
import { analyzeRecording } from "../server/testing/analyze.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import { fakeMediaArgs, syntheticMediaScript } from "../server/testing/browser.js";
import { CHROMIUM_ARGS } from "../test/support/browser.js";
import { ThrottleProxy } from "../test/support/throttle-proxy.js";
import { launchCdpTab } from "./cdp-tab.js";
import { flipLatencies, flippingCanvasSource, median, startDecodingIngest } from "./glass.js";
import { expect, startServe, test } from "./fixtures.js";
import type { Browser, Page } from "@playwright/test";

async function broadcast(page: Page, rtmpUrl: string, key: string, source?: { kind: string }, audioEncoder?: string): Promise<void> {
  const state = await page.evaluate(async ({ url, key, source, audioEncoder }) => {
    return (window as unknown as { harness: { start(o: unknown): Promise<string> } }).harness.start({ destinations: [{ id: "nginx", url, key }], ...(source && { source }), ...(audioEncoder && { audioEncoder }) });
  }, { url: rtmpUrl, key, source, audioEncoder });
  expect(["starting", "live"]).toContain(state);
  await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 20_000 }).toBe("live");
}

async function stop(page: Page): Promise<void> {
  const state = await page.evaluate(() => (window as unknown as { harness: { stop(): Promise<string> } }).harness.stop());
  const events = await page.evaluate(() => (window as unknown as { harness: { events: Array<{ type: string }> } }).harness.events.filter((e) => e.type !== "stats"));
  expect(state, `SDK events: ${JSON.stringify(events).slice(0, 2000)}`).toBe("ended");
}

/** The one recording nginx made for `key` (record_unique: one file per publish). */
async function recordingOf(dir: string, key: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith(`${key}-`) && f.endsWith(".flv")).map((f) => join(dir, f));
}

test("10 s live from the fake camera: H.264 + AAC 1280x720 ~30 fps, keyframes <= 2.1 s apart", async ({ harnessPage, nginx }) => {
  await broadcast(harnessPage, nginx.rtmpUrl(), "cam10");
  await harnessPage.waitForTimeout(10_500);
  await stop(harnessPage);
  const files = await recordingOf(nginx.recordDir, "cam10");
  expect(files).toHaveLength(1);
  const probe = await ffprobeFrames(files[0]!);
  expect(probe.video?.codecName).toBe("h264");
  expect(probe.audio?.codecName).toBe("aac");
  expect([probe.video?.width, probe.video?.height]).toEqual([1280, 720]);
  const video = probe.packets.filter((p) => p.stream === "video");
  const duration = (video[video.length - 1]!.dtsMs - video[0]!.dtsMs) / 1000;
  expect(duration).toBeGreaterThanOrEqual(9);
  const fps = (video.length - 1) / duration;
  expect(fps).toBeGreaterThan(27);
  expect(fps).toBeLessThan(31);
  const keys = video.filter((p) => p.keyframe).map((p) => p.dtsMs);
  for (let i = 1; i < keys.length; i++) expect(keys[i]! - keys[i - 1]!, `keyframe interval ${i}`).toBeLessThanOrEqual(2100);
  const audio = probe.packets.filter((p) => p.stream === "audio");
  const audioDuration = (audio[audio.length - 1]!.dtsMs - audio[0]!.dtsMs) / 1000;
  expect(Math.abs(audioDuration - duration)).toBeLessThan(0.5);
});

/**
 * Picture and sound from one clock for `seconds`, through the AAC path
 * `audioEncoder` (undefined: the default), checked on nginx's recording:
 * continuous sound (no dropout past 2 ms), A/V offset and drift.
 */
async function syncRun(chromiumBrowser: Browser, bridgeUrl: string, nginx: { rtmpUrl(): string; recordDir: string }, key: string, seconds: number, audioEncoder?: "ffmpeg"): Promise<void> {
  // Picture and sound from one clock: the kit's synthetic camera and
  // microphone (Chromium's file-fed fake camera runs ~1 % slow against its
  // fake microphone, which would be measured as drift).
  const context = await chromiumBrowser.newContext();
  await context.addInitScript({ content: syntheticMediaScript() });
  const harnessPage = await context.newPage();
  await harnessPage.goto(bridgeUrl);
  await harnessPage.waitForFunction(() => "harness" in window);
  const caps = await harnessPage.evaluate(() => typeof AudioEncoder !== "undefined" && AudioEncoder.isConfigSupported({ codec: "mp4a.40.2", sampleRate: 48000, numberOfChannels: 2, bitrate: 128000 }).then((s) => s.supported === true, () => false));
  await broadcast(harnessPage, nginx.rtmpUrl(), key, undefined, audioEncoder);
  const encoder = await harnessPage.evaluate(() => (window as unknown as { harness: { stats(): { audioEncoder?: string } } }).harness.stats().audioEncoder);
  expect(encoder).toBe(audioEncoder ?? (caps ? "webcodecs" : "wasm"));
  await harnessPage.waitForTimeout(seconds * 1000 + 500);
  await stop(harnessPage);
  await context.close();
  const [file] = await recordingOf(nginx.recordDir, key);
  // Measured by the Playwright kit (golive/testing), as an app's test would.
  const report = await analyzeRecording(file!, { sync: true });
  const sync = report.sync!;
  // The synthetic source itself shows a flash up to two frames after its beep
  // (requestAnimationFrame + 30 fps canvas capture): hence 60 ms, and the
  // start/end medians of five pairs, so one late canvas frame does not decide.
  // A flash is seen on whole frames, so an offset is known to one frame
  // (33 ms): as the draw and capture phases wander, a pair's offset steps
  // between two values a frame apart (seen: -9 and -42 ms in one run). Drift
  // is therefore checked to one frame plus 10 ms; the durations below check
  // it to 50 ms over the whole run.
  expect(streamProblems(report, { minDurationS: seconds - 1, maxAvOffsetMs: 60, maxAvDriftMs: 1000 / 30 + 10, maxAudioDropoutMs: 2 }), `${describeStream(report)}; offsets ${sync.offsetsMs.join(" ")}`).toEqual([]);
  // Total audio within 50 ms of video (plus one frame of each for end effects).
  expect(Math.abs(report.audioMinusVideoS!), describeStream(report)).toBeLessThan(0.05 + 1 / 30 + 1024 / 48000);
  expect(report.audio!.frames).toBeGreaterThan(seconds * 46);
  expect(sync.flashes.length).toBeGreaterThanOrEqual(seconds - 2);
}

test("audio from the default AAC path (golive's wasm encoder here) is continuous and A/V stay in sync over 30 s", async ({ chromiumBrowser, bridge, nginx }) => {
  test.setTimeout(150_000);
  await syncRun(chromiumBrowser, bridge.url, nginx, "sync30", 30);
});

test("audioEncoder \"ffmpeg\" on request: ffmpeg.wasm's segments join seamlessly and A/V stay in sync over 12 s", async ({ chromiumBrowser, bridge, nginx }) => {
  test.setTimeout(120_000);
  await syncRun(chromiumBrowser, bridge.url, nginx, "syncff", 12, "ffmpeg");
});

test("a network drop is resumed: one continuous recording", async ({ harnessPage, nginx }) => {
  await broadcast(harnessPage, nginx.rtmpUrl(), "drop");
  await harnessPage.waitForTimeout(3000);
  await harnessPage.evaluate(() => (window as unknown as { harness: { drop(): void } }).harness.drop());
  await expect.poll(() => harnessPage.evaluate(() => (window as unknown as { harness: { events: Array<{ type: string; detail: unknown }> } }).harness.events.filter((e) => e.type === "statechange").map((e) => e.detail)), { timeout: 15_000 }).toContain("reconnecting");
  await expect.poll(() => harnessPage.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 15_000 }).toBe("live");
  await harnessPage.waitForTimeout(3000);
  await stop(harnessPage);
  const files = await recordingOf(nginx.recordDir, "drop");
  expect(files).toHaveLength(1);
  const probe = await ffprobeFrames(files[0]!);
  const video = probe.packets.filter((p) => p.stream === "video");
  expect((video[video.length - 1]!.dtsMs - video[0]!.dtsMs) / 1000).toBeGreaterThan(5);
  for (let i = 1; i < video.length; i++) expect(video[i]!.dtsMs).toBeGreaterThanOrEqual(video[i - 1]!.dtsMs);
});

test("the bridge restarts (close 1001): the SDK starts a new session with the same destinations", async ({ chromiumBrowser, harnessDir, workDir, nginx }) => {
  const args = ["--static-dir", harnessDir, "--record-dir", join(workDir, "restart-recordings")];
  const first = await startServe(args);
  const context = await chromiumBrowser.newContext();
  const page = await context.newPage();
  let second: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    await page.goto(first.url);
    await page.waitForFunction(() => "harness" in window);
    await broadcast(page, nginx.rtmpUrl(), "restart");
    await page.waitForTimeout(3000);
    await first.stop(); // SIGTERM: sessions end, WebSockets close with 1001
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 5_000 }).toBe("reconnecting");
    second = await startServe(args, first.port);
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 15_000 }).toBe("live");
    await page.waitForTimeout(3000);
    await stop(page);
  } finally {
    await context.close();
    await second?.stop();
  }
  // Two publishes of the key: before the shutdown and after it, both playable from a keyframe.
  const files = (await recordingOf(nginx.recordDir, "restart")).sort();
  expect(files).toHaveLength(2);
  for (const file of files) {
    const report = await analyzeRecording(file);
    expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 2 }), describeStream(report)).toEqual([]);
  }
});

test("fail-over behind a load balancer: the bridge is killed, the resume reaches another one (4004), the SDK starts a new session there at once, one session key on every URL", async ({ chromiumBrowser, harnessDir, workDir, nginx }) => {
  const args = ["--static-dir", harnessDir, "--record-dir", join(workDir, "failover-recordings")];
  const [a, b] = await Promise.all([startServe(args), startServe(args)]);
  // A stand-in for a load balancer: a TCP proxy to one bridge, then (the first one dead) to the other.
  let target = a.port;
  const requestLines: string[] = [];
  const open = new Set<Socket>();
  const lb = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => undefined);
    }
    client.once("data", (d: Buffer) => requestLines.push(d.toString("latin1").split("\r\n")[0]!));
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => lb.listen(0, "127.0.0.1", r));
  const lbUrl = `http://127.0.0.1:${(lb.address() as AddressInfo).port}/`;
  const context = await chromiumBrowser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(lbUrl);
    await page.waitForFunction(() => "harness" in window);
    await broadcast(page, nginx.rtmpUrl(), "failover");
    await page.waitForTimeout(3000);
    await a.kill();
    target = b.port;
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 10_000 }).toBe("live");
    await page.waitForTimeout(3000);
    await stop(page);
    const states = await page.evaluate(() => (window as unknown as { harness: { events: Array<{ type: string; detail: unknown }> } }).harness.events.filter((e) => e.type === "statechange").map((e) => JSON.stringify(e.detail)));
    expect(states.join(" ")).toContain("reconnecting");
  } finally {
    await context.close();
    for (const s of open) s.destroy();
    await new Promise((r) => lb.close(r));
    await b.stop();
  }
  // The WebSocket URLs: the same ?session= key on the first connection and on the ones after the kill.
  const keys = requestLines.filter((l) => l.startsWith("GET /ingest")).map((l) => /[?&]session=([\w-]+)/.exec(l)?.[1]);
  expect(keys.length).toBeGreaterThanOrEqual(2);
  expect(new Set(keys).size, requestLines.join("\n")).toBe(1);
  expect(keys[0]).toMatch(/^[\w-]{22}$/);
  // Two publishes at the ingest: before the kill, and the new session's, both playable.
  const files = (await recordingOf(nginx.recordDir, "failover")).sort();
  expect(files).toHaveLength(2);
  for (const file of files) {
    const report = await analyzeRecording(file);
    expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 2 }), describeStream(report)).toEqual([]);
  }
});

test("a bridge that goes silent (no FIN, no RST: a host gone): the SDK notices within 5 s of its last stats and resumes the same session", async ({ chromiumBrowser, bridge, nginx }) => {
  // A proxy whose open connections can be made to swallow everything, as a dead path does.
  const proxy = await ThrottleProxy.start({ targetPort: bridge.port });
  const context = await chromiumBrowser.newContext();
  const page = await context.newPage();
  const state = (): Promise<string> => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state());
  try {
    await page.goto(`http://127.0.0.1:${proxy.port}/`);
    await page.waitForFunction(() => "harness" in window);
    await broadcast(page, nginx.rtmpUrl(), "silent");
    await page.waitForTimeout(3000);
    const silentAt = await page.evaluate(() => performance.now());
    proxy.silence();
    // The resume through a fresh connection takes milliseconds: the SDK's events tell when it noticed.
    const noticedAt = (): Promise<number | undefined> => page.evaluate(() => (window as unknown as { harness: { events: Array<{ type: string; detail: unknown; at: number }> } }).harness.events
      .find((e) => e.type === "statechange" && JSON.stringify(e.detail).includes("reconnecting"))?.at);
    await expect.poll(noticedAt, { timeout: 10_000 }).toBeDefined();
    const noticedAfterMs = (await noticedAt())! - silentAt;
    console.log(`silent bridge noticed after ${noticedAfterMs.toFixed(0)} ms`);
    expect(noticedAfterMs).toBeLessThan(6500);
    await expect.poll(state, { timeout: 10_000 }).toBe("live");
    await page.waitForTimeout(2000);
    await stop(page);
  } finally {
    await context.close();
    await proxy.close();
  }
  // Resumed: the ingest saw one publish, with a hole where the frames sent into the dead path were lost.
  const files = await recordingOf(nginx.recordDir, "silent");
  expect(files).toHaveLength(1);
  const report = await analyzeRecording(files[0]!);
  expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 6, maxFrameGapMs: 8000, maxAudioGapMs: 8000, maxKeyframeIntervalS: 8 }), describeStream(report)).toEqual([]);
});

test("a background tab for 5 s mid-stream: encoding goes on, no frame gap over 500 ms", async ({ clip, bridge, nginx }) => {
  // Raw DevTools protocol: under Playwright a page never becomes hidden (see e2e/cdp-tab.ts).
  const tab = await launchCdpTab([...CHROMIUM_ARGS, ...fakeMediaArgs({ fps: 30, clip })]);
  try {
    await tab.navigate(bridge.url);
    await tab.evaluate(`new Promise((resolve) => { const t = setInterval(() => { if ("harness" in window) { clearInterval(t); resolve(true); } }, 50); })`);
    await tab.evaluate(`(window.visibility = [], document.addEventListener("visibilitychange", () => window.visibility.push([document.visibilityState, performance.now()])), true)`);
    const started = await tab.evaluate<string>(`harness.start({ destinations: [{ id: "nginx", url: ${JSON.stringify(nginx.rtmpUrl())}, key: "background" }] })`);
    expect(["starting", "live"]).toContain(started);
    await expect.poll(() => tab.evaluate<string>("harness.state()"), { timeout: 20_000 }).toBe("live");
    await new Promise((r) => setTimeout(r, 3000));
    await tab.openTabInFront();
    await expect.poll(() => tab.evaluate<string>("document.visibilityState"), { timeout: 5_000 }).toBe("hidden");
    await new Promise((r) => setTimeout(r, 5000));
    expect(await tab.evaluate<string>("document.visibilityState")).toBe("hidden");
    await tab.activate();
    await expect.poll(() => tab.evaluate<string>("document.visibilityState"), { timeout: 5_000 }).toBe("visible");
    await new Promise((r) => setTimeout(r, 2000));
    expect(await tab.evaluate<string>("harness.stop()")).toBe("ended");
    const visibility = await tab.evaluate<Array<[string, number]>>("window.visibility");
    expect(visibility.map(([state]) => state)).toEqual(["hidden", "visible"]);
    expect(visibility[1]![1] - visibility[0]![1]).toBeGreaterThanOrEqual(5000);
  } finally {
    await tab.close();
  }
  const [file] = await recordingOf(nginx.recordDir, "background");
  const report = await analyzeRecording(file!);
  // Hidden for 5 of ~10 s: the video must not freeze, the audio must not break.
  expect(streamProblems(report, { minDurationS: 9, maxFrameGapMs: 500, fps: { min: 25 } }), describeStream(report)).toEqual([]);
});

test("MediaRecorder fallback when VideoEncoder is missing: still H.264 + AAC that plays", async ({ chromiumBrowser, bridge, nginx }) => {
  const context = await chromiumBrowser.newContext();
  await context.addInitScript(() => {
    delete (window as unknown as { VideoEncoder?: unknown }).VideoEncoder;
  });
  const page = await context.newPage();
  await page.goto(bridge.url);
  await page.waitForFunction(() => "harness" in window);
  expect(await page.evaluate(() => typeof (window as unknown as { VideoEncoder?: unknown }).VideoEncoder)).toBe("undefined");
  await broadcast(page, nginx.rtmpUrl(), "mr");
  // Linux Chromium's MediaRecorder has H.264 but no AAC (video/mp4 with
  // mp4a.40.2 is refused): video from the recorder, sound as usual.
  const paths = await page.evaluate(() => {
    const s = (window as unknown as { harness: { stats(): { videoEncoder?: string; audioEncoder?: string; audioCapture?: string } } }).harness.stats();
    return [s.videoEncoder, s.audioEncoder, s.audioCapture];
  });
  expect(paths).toEqual(["mediarecorder", "wasm", "track-processor"]);
  await page.waitForTimeout(6000);
  await stop(page);
  await context.close();
  const [file] = await recordingOf(nginx.recordDir, "mr");
  const probe = await ffprobeFrames(file!);
  expect(probe.video?.codecName).toBe("h264");
  expect(probe.audio?.codecName).toBe("aac");
  expect(probe.counts.video).toBeGreaterThan(100);
  expect(probe.counts.audio).toBeGreaterThan(150);
  // Nothing lost at stop: the last video frame within 100 ms of the last audio frame.
  const report = await analyzeRecording(file!);
  expect(Math.abs(report.audioMinusVideoS!), describeStream(report)).toBeLessThanOrEqual(0.1 + 1 / 30);
  // It plays: ffmpeg decodes every frame without an error. On the stream's own
  // 1 ms time base: the recorder's frames come as captured, not on a 1/30 s grid
  // (two 20 ms apart can share a grid slot, which ffmpeg's default would report).
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { stderr } = await promisify(execFile)("ffmpeg", ["-v", "error", "-i", file!, "-enc_time_base:v", "-1", "-f", "null", "-"]);
  expect(stderr.trim()).toBe("");
});

test("MediaRecorder fallback: each frame reaches the ingest as it is recorded (video glass-to-ingest median <= 300 ms)", async ({ chromiumBrowser, bridge }) => {
  test.setTimeout(90_000);
  const ingest = await startDecodingIngest();
  const context = await chromiumBrowser.newContext();
  await context.addInitScript(() => {
    delete (window as unknown as { VideoEncoder?: unknown }).VideoEncoder;
  });
  const page = await context.newPage();
  try {
    await page.goto(bridge.url);
    await page.waitForFunction(() => "harness" in window);
    await page.evaluate(flippingCanvasSource, 700);
    const started = await page.evaluate((url) => {
      const canvas = (window as unknown as { __glassCanvas: HTMLCanvasElement }).__glassCanvas;
      return (window as unknown as { harness: { start(o: unknown): Promise<string> } }).harness.start({ destinations: [{ id: "glass", url, key: "glass" }], source: { kind: "canvas", canvas } });
    }, ingest.rtmpUrl);
    expect(["starting", "live"]).toContain(started);
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state()), { timeout: 20_000 }).toBe("live");
    await page.waitForTimeout(12_000);
    const flips = await page.evaluate(() => (window as unknown as { __flips: Array<{ atMs: number; white: boolean }> }).__flips);
    expect(await page.evaluate(() => (window as unknown as { harness: { stats(): { videoEncoder?: string } } }).harness.stats().videoEncoder)).toBe("mediarecorder");
    await page.evaluate(() => (window as unknown as { harness: { stop(): Promise<string> } }).harness.stop());
    // Flips from the first one the ingest could see (the stream starts at a keyframe).
    const firstSeen = ingest.changes[0]?.atMs ?? Infinity;
    const latencies = flipLatencies(flips.filter((f) => f.atMs >= firstSeen - 3000), ingest.changes).slice(1);
    console.log(`MediaRecorder glass-to-ingest, ms: ${latencies.map((l) => Math.round(l)).join(" ")}; median ${Math.round(median(latencies))}`);
    expect(latencies.length).toBeGreaterThanOrEqual(8);
    expect(median(latencies)).toBeLessThanOrEqual(300);
  } finally {
    await context.close();
    await ingest.stop();
  }
});
