// Going live from every engine golive supports, each as Debian ships it:
// Chromium (Playwright), Firefox ESR (puppeteer-core over WebDriver BiDi) and
// WebKitGTK, Safari's engine (WebKitWebDriver + MiniBrowser under Xvfb).
// For each: the SDK's documented API with a canvas + WebAudio source drawn
// from one clock (so the A/V offset that arrives is golive's alone), and the
// <go-live> widget on the demo page with the engine's own fake camera and
// microphone, both live to nginx-rtmp; every check is made on what nginx
// recorded.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { analyzeRecording, type StreamReport } from "../server/testing/analyze.js";
import { syncPairs, videoFreezes } from "./sync-pairs.js";
import { syntheticMediaScript } from "../server/testing/browser.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import { ENGINES, openEngine, waitFor, type EngineName, type EnginePage } from "./engines.js";
import { beepPlacementMs, engineSteps, inputProbeScript, longestEngineDropoutMs, withoutEngineDelay, type InputProbeReport } from "./input-probe.js";
import { expect, test } from "./fixtures.js";

/** What each engine is expected to use here (Broadcaster.probe() and the stats agree). */
const EXPECTED_PATHS: Record<EngineName, { videoCapture: string; audioCapture: string; audioEncoder: string }> = {
  // No MediaStreamTrackProcessor anywhere; no AAC in WebCodecs.
  firefox: { videoCapture: "video-element", audioCapture: "audio-worklet", audioEncoder: "wasm" },
  // No MediaStreamTrackProcessor (on the page or in workers); AAC in WebCodecs.
  webkit: { videoCapture: "video-element", audioCapture: "audio-worklet", audioEncoder: "webcodecs" },
};

async function recordingOf(dir: string, key: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${key}-`) && f.endsWith(".flv"));
  expect(files, `recordings of ${key}`).toHaveLength(1);
  return join(dir, files[0]!);
}

async function withEngine(engine: EngineName, body: (page: EnginePage) => Promise<void>): Promise<void> {
  const page = await openEngine(engine);
  try {
    test.info().annotations.push({ type: "browser", description: await page.version() });
    await body(page);
  } finally {
    await page.close();
  }
}

/** Start, `seconds` live, stop; returns the SDK's events (stats left out). */
async function broadcast(page: EnginePage, rtmpUrl: string, key: string, seconds: number): Promise<Array<{ type: string; detail: unknown }>> {
  const started = await page.evaluate<string>(`harness.start({ destinations: [{ id: "nginx", url: ${JSON.stringify(rtmpUrl)}, key: ${JSON.stringify(key)} }] })`);
  expect(["starting", "live"]).toContain(started);
  await waitFor(page, `harness.state() === "live"`).catch(async (err: Error) => {
    throw new Error(`${err.message}; SDK events: ${JSON.stringify(await page.evaluate("harness.events.filter((e) => e.type !== 'stats')")).slice(0, 3000)}`);
  });
  await sleep(seconds * 1000);
  const stats = await page.evaluate<{ videoEncoder?: string; videoCapture?: string; audioEncoder?: string; audioCapture?: string; audioEncoderDelayMs?: number }>("harness.stats()");
  expect(stats).toMatchObject({ videoEncoder: "webcodecs", videoCapture: EXPECTED_PATHS[page.engine].videoCapture, audioEncoder: EXPECTED_PATHS[page.engine].audioEncoder, audioCapture: EXPECTED_PATHS[page.engine].audioCapture });
  // The encoder's delay is known: golive's wasm encoder's one frame, or the
  // platform encoder's, measured before going live (WebKitGTK: 1600 frames).
  if (stats.audioEncoder === "wasm") expect(stats.audioEncoderDelayMs).toBe(21.3);
  else expect(stats.audioEncoderDelayMs, "the platform AAC encoder's delay, measured").toBeGreaterThan(0);
  test.info().annotations.push({ type: "audio encoder delay", description: `${stats.audioEncoderDelayMs} ms` });
  expect(await page.evaluate<string>("harness.stop()")).toBe("ended");
  const events = await page.evaluate<Array<{ type: string; detail: unknown }>>("harness.events.filter((e) => e.type !== 'stats')");
  // State honesty: starting -> live -> ended, nothing failed on the way.
  expect(events.filter((e) => e.type === "statechange").map((e) => e.detail), JSON.stringify(events).slice(0, 2000)).toEqual(["starting", "live", "ended"]);
  return events;
}

/**
 * What the input probe saw, for the log: the engine's steps (ms added by the
 * last beep, and how many), its runs of zeros, and golive's own error: where
 * each beep is in the recording against where the probe saw it on golive's
 * timeline (AAC's delay, the timeline's anchor), median and range.
 */
function describeEngine(recorded: StreamReport, probe: InputProbeReport): string {
  const steps = engineSteps(probe);
  const added = steps.map((s) => Math.round(s.addedMs));
  const changes = added.filter((a, i) => i > 0 && a !== added[i - 1]).length;
  const own = beepPlacementMs(recorded, probe);
  return `engine: ${added[added.length - 1] ?? 0} ms added by the last of ${steps.length} beeps in ${changes} step(s) (${added.join(" ")}), ${probe.zeroRuns.length} run(s) of zeros (longest ${longestEngineDropoutMs(probe).toFixed(1)} ms); golive's own beep placement ${own[Math.floor(own.length / 2)] ?? "?"} ms (${own[0] ?? "?"}..${own[own.length - 1] ?? "?"})`;
}

/**
 * The engines tested here beyond Chromium, whose SDK and widget flows
 * e2e/sdk.spec.ts and e2e/widget.spec.ts already cover (fake camera 10 s,
 * A/V sync over 30 s, the widget through its UI).
 */
for (const engine of ENGINES) {
  test.describe(engine, () => {
    // WebKitGTK's mock microphone under Xvfb sometimes underruns before the
    // worklet: tens of ms of silence in the captured sound, and everything
    // after it that much later (seen: a 71 ms dropout and a +90 ms step in
    // one fresh-clone CI run of five; the worklet's sample clock runs on, so
    // no capture code can see it). One retry, for this engine only; a second
    // failure is a failure.
    if (engine === "webkit") test.describe.configure({ retries: 1 });
    test(`${engine}: the SDK goes live for 10 s from the engine's fake camera and microphone: H.264 + AAC 1280x720, >= 27 fps, keyframes <= 2.1 s, continuous audio`, async ({ bridge, nginx }) => {
      test.setTimeout(90_000);
      const key = `sdk-${engine}`;
      await withEngine(engine, async (page) => {
        await page.goto(bridge.url);
        await waitFor(page, `"harness" in window`);
        const probe = await page.evaluate<unknown>("harness.probe()");
        expect(probe).toMatchObject({ canGoLive: true, video: { encoder: "webcodecs", capture: EXPECTED_PATHS[engine].videoCapture }, audio: { encoder: EXPECTED_PATHS[engine].audioEncoder, capture: EXPECTED_PATHS[engine].audioCapture } });
        await broadcast(page, nginx.rtmpUrl(), key, 10.5);
      });
      const report = await analyzeRecording(await recordingOf(nginx.recordDir, key));
      expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 9.5, fps: { min: 27, max: 31 }, maxKeyframeIntervalS: 2.1, maxAudioGapMs: 0 }), describeStream(report)).toEqual([]);
      // Nothing lost at stop: the last video frame within 100 ms of the last audio frame.
      expect(Math.abs(report.audioMinusVideoS!), describeStream(report)).toBeLessThan(0.1 + 1 / 30 + 1024 / 48000);
    });

    test(`${engine}: A/V in sync over 10 s from a canvas + WebAudio source on one clock (offset <= 60 ms)`, async ({ bridge, nginx }) => {
      test.setTimeout(90_000);
      const key = `sync-${engine}`;
      let probe: InputProbeReport | undefined;
      await withEngine(engine, async (page) => {
        await page.goto(bridge.url);
        await waitFor(page, `"harness" in window`);
        await page.evaluate(syntheticMediaScript());
        await page.evaluate(inputProbeScript());
        await broadcast(page, nginx.rtmpUrl(), key, 10.5);
        probe = await page.evaluate<InputProbeReport>("window.__inputProbe.report()");
      });
      const recorded = await analyzeRecording(await recordingOf(nginx.recordDir, key), { sync: true });
      // The engine's own delay steps before golive's worklet (e2e/input-probe.ts) are taken off.
      const report = withoutEngineDelay(recorded, engineSteps(probe!));
      console.log(`${engine}: ${describeStream(recorded)}; offsets ${recorded.sync?.offsetsMs.join(" ")}; ${describeEngine(recorded, probe!)}`);
      // Frame rate: what this engine's canvas capture gives (headless Firefox: ~22 fps however the canvas is drawn).
      const fps = engine === "firefox" ? { min: 18, max: 31 } : { min: 27, max: 31 };
      // A flash is seen on whole frames, so each pair's offset is known to one
      // frame (45 ms at Firefox's 22 fps): the mean over all pairs must be
      // within 60 ms, the start and end medians of five pairs within 60 ms
      // plus that frame, and the drift within a frame plus 10 ms. A dropout
      // in the sound may be as long as the engine's own (runs of zeros golive
      // was given) plus 2 ms.
      const frameMs = 1000 / report.video!.fps;
      const offsets = report.sync?.offsetsMs ?? [];
      const mean = offsets.reduce((a, b) => a + b, 0) / Math.max(1, offsets.length);
      expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 9.5, fps, maxKeyframeIntervalS: 2.1, maxAvOffsetMs: 60 + frameMs, maxAvDriftMs: frameMs + 10, maxAudioGapMs: 0, maxAudioDropoutMs: 2 + longestEngineDropoutMs(probe!) }), `${describeStream(report)}; offsets less the engine's steps ${offsets.join(" ")}`).toEqual([]);
      expect(Math.abs(mean), `mean A/V offset over ${offsets.length} pairs, less the engine's steps; ${describeStream(report)}`).toBeLessThanOrEqual(60);
      expect(report.sync!.flashes.length).toBeGreaterThanOrEqual(8);
      // golive's own part, with the engine left out: each beep lands in the
      // recording where the probe saw it on golive's timeline (the capture
      // clock, the AAC encoder's delay, the bridge's time 0), to within 20 ms
      // at the median. Before the platform encoder's delay was measured and
      // its chunks stamped by sample count, WebKitGTK's sat at +48 ms.
      const own = beepPlacementMs(recorded, probe!);
      expect(own.length, describeEngine(recorded, probe!)).toBeGreaterThanOrEqual(8);
      expect(Math.abs(own[Math.floor(own.length / 2)]!), `golive's own beep placement, median; ${describeEngine(recorded, probe!)}`).toBeLessThanOrEqual(20);
    });

    test(`${engine}: lip sync survives the page's main thread blocked for 400 ms, then 1500 ms`, async ({ bridge, nginx }) => {
      test.setTimeout(120_000);
      const key = `stall-${engine}`;
      let audioClock: unknown;
      let probe: InputProbeReport | undefined;
      await withEngine(engine, async (page) => {
        await page.goto(bridge.url);
        await waitFor(page, `"harness" in window`);
        await page.evaluate(syntheticMediaScript());
        await page.evaluate(inputProbeScript());
        const block = (ms: number): Promise<unknown> => page.evaluate(`(() => { const until = performance.now() + ${ms}; while (performance.now() < until); return true; })()`);
        const started = await page.evaluate<string>(`harness.start({ destinations: [{ id: "nginx", url: ${JSON.stringify(nginx.rtmpUrl())}, key: ${JSON.stringify(key)} }] })`);
        expect(["starting", "live"]).toContain(started);
        await waitFor(page, `harness.state() === "live"`);
        await sleep(4500);
        await block(400);
        await sleep(4500);
        await block(1500);
        await sleep(6000);
        audioClock = await page.evaluate<unknown>("harness.stats().audioClock");
        expect(await page.evaluate<string>("harness.stop()")).toBe("ended");
        probe = await page.evaluate<InputProbeReport>("window.__inputProbe.report()");
      });
      const recorded = await analyzeRecording(await recordingOf(nginx.recordDir, key), { sync: true });
      console.log(`${engine} stall: ${describeStream(recorded)}; offsets ${recorded.sync?.offsetsMs.join(" ")}; audio clock ${JSON.stringify(audioClock)}; ${describeEngine(recorded, probe!)}`);
      // The engine's own delay steps before golive's worklet (e2e/input-probe.ts) are taken off.
      const report = withoutEngineDelay(recorded, engineSteps(probe!));
      // What a stall must not do is move the sound against the picture: every
      // pair within 60 ms (plus the frame it is measured to) of where this
      // engine's pairs sat before the first stall. (Where that is, absolutely,
      // is the sync test's business: the engines' own capture pipelines differ
      // by ~40 ms either way.) From the third pair: Firefox's mock audio
      // device runs 2-5 % slow (see e2e/engines.ts) and the drift correction
      // needs the first two seconds to learn it.
      const frameMs = 1000 / report.video!.fps;
      // Pairs around the stalls are left out (e2e/sync-pairs.ts): seen, one
      // flash 428 ms late in Firefox, whose frames are taken on the main thread.
      const file = await recordingOf(nginx.recordDir, key);
      const freezes = await videoFreezes(file);
      expect(freezes.length, `video freezes ${JSON.stringify(freezes)}`).toBeGreaterThanOrEqual(1);
      const { all: pairs, clear: clearAll } = syncPairs(report, freezes);
      const clear = clearAll.filter((p) => p.flash >= pairs[2]!.flash);
      const before = [...clear.slice(0, 3).map((p) => p.offsetMs)].sort((x, y) => x - y)[1] ?? 0;
      expect(clear.length, JSON.stringify(pairs)).toBeGreaterThanOrEqual(8);
      for (const p of clear) expect(Math.abs(p.offsetMs - before), `flash at ${p.flash.toFixed(2)} s against ${before} ms before the stalls: ${JSON.stringify(pairs)}`).toBeLessThanOrEqual(60 + frameMs);
      expect(report.sync!.flashes.length).toBeGreaterThanOrEqual(14);
      // The decoded sound may dip (seen in WebKitGTK: 5 ms once in four runs,
      // 23 ms once in five on an idle machine, 8 and 49 ms at load 6): these
      // engines' MediaStream audio runs short while the main thread is
      // blocked, before it reaches the worklet (the input probe sees the
      // zeros), so up to 60 ms, or the engine's longest run of zeros plus
      // 2 ms. The timeline that reaches the ingest has no hole (maxAudioGapMs 0).
      expect(streamProblems(report, { minDurationS: 15, maxAvOffsetMs: 60 + frameMs, maxFrameGapMs: 1600, maxKeyframeIntervalS: 2.1 + 1.6, maxAudioGapMs: 0, maxAudioDropoutMs: Math.max(60, 2 + longestEngineDropoutMs(probe!)) }), describeStream(report)).toEqual([]);
      expect(Math.abs(report.audioMinusVideoS!), describeStream(report)).toBeLessThan(0.05 + frameMs / 1000 + 1024 / 48000);
    });

    test(`${engine}: the widget goes live with the engine's fake camera and microphone, and ends`, async ({ demoBridge, nginx }) => {
      test.setTimeout(90_000);
      const key = `widget-${engine}`;
      await withEngine(engine, async (page) => {
        await page.goto(demoBridge.url);
        await page.evaluate("localStorage.clear()");
        await page.goto(demoBridge.url);
        const root = `document.querySelector("go-live").shadowRoot`;
        // The demo page's Content-Security-Policy must not block anything going live needs (workers, the worklet, WASM, the WebSocket).
        await page.evaluate(`(() => { window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI)); return true; })()`);
        await waitFor(page, `document.querySelector("go-live")?.dataset.support === "ok" && ${root}.querySelector("video").srcObject !== null`);
        await page.evaluate(`(() => {
          const r = ${root};
          const set = (el, v) => { el.value = v; el.dispatchEvent(new Event("input", { bubbles: true })); el.dispatchEvent(new Event("change", { bubbles: true })); };
          set(r.querySelector('input[aria-label="Stream URL"]'), ${JSON.stringify(nginx.rtmpUrl())});
          set(r.querySelector('input[aria-label="Stream key"]'), ${JSON.stringify(key)});
          const rec = [...r.querySelectorAll('input[type="checkbox"]')][0];
          if (rec.checked) rec.click();
          return true;
        })()`);
        await page.clickInShadow("go-live", "button.go");
        await waitFor(page, `!${root}.querySelector(".live").hidden && ${root}.querySelector(".status").textContent === "Live"`, 30_000);
        await sleep(8000);
        const shown = await page.evaluate<string>(`${root}.querySelector(".stats").textContent`);
        expect(shown).toMatch(/Mbit\/s · \d+ fps · \d+ dropped/);
        await page.clickInShadow("go-live", "button.go");
        await waitFor(page, `${root}.querySelector("button.go").textContent === "Go live" && ${root}.querySelector(".status").textContent === "Ended"`, 30_000);
        expect(await page.evaluate<string>(`${root}.querySelector(".error").textContent`)).toBe("");
        expect(await page.evaluate<string[]>("window.cspViolations")).toEqual([]);
      });
      const report = await analyzeRecording(await recordingOf(nginx.recordDir, key));
      // The widget's page also paints a 1280x720 preview: WebKitGTK, rendering
      // in software under Xvfb on this 2-core machine, then calls
      // requestVideoFrameCallback 25-30 times a second (26.9 fps seen in one
      // CI run). The SDK test above holds the >= 27 fps the ingests want.
      expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 7, fps: { min: 24, max: 31 }, maxKeyframeIntervalS: 2.1 }), describeStream(report)).toEqual([]);
    });
  });
}
