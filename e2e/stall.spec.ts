// A busy page must not break lip sync: the page's main thread is blocked for
// 400 ms and then for 1500 ms mid-broadcast (app work, GC, layout), and every
// flash/beep pair that arrives at the ingest must still line up, before and
// after each stall. Chromium with the kit's synthetic source (picture and
// sound from one clock).
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { analyzeRecording } from "../server/testing/analyze.js";
import { syntheticMediaScript } from "../server/testing/browser.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import { expect, test } from "./fixtures.js";
import { syncPairs, videoFreezes } from "./sync-pairs.js";

interface Harness {
  start(o: unknown): Promise<string>;
  state(): string;
  stop(): Promise<string>;
}

test("main thread blocked 400 ms, then 1500 ms: every flash's beep within 60 ms, audio as long as video", async ({ chromiumBrowser, bridge, nginx }) => {
  test.setTimeout(120_000);
  const context = await chromiumBrowser.newContext();
  await context.addInitScript({ content: syntheticMediaScript() });
  const page = await context.newPage();
  const block = (ms: number): Promise<void> => page.evaluate((ms) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: the page's main thread does nothing else
    }
  }, ms);
  try {
    await page.goto(bridge.url);
    await page.waitForFunction(() => "harness" in window);
    await page.evaluate((url) => (window as unknown as { harness: Harness }).harness.start({ destinations: [{ id: "nginx", url, key: "stall-chromium" }] }), nginx.rtmpUrl());
    await expect.poll(() => page.evaluate(() => (window as unknown as { harness: Harness }).harness.state()), { timeout: 20_000 }).toBe("live");
    await page.waitForTimeout(4500);
    await block(400);
    await page.waitForTimeout(4500);
    await block(1500);
    await page.waitForTimeout(6000);
    expect(await page.evaluate(() => (window as unknown as { harness: Harness }).harness.stop())).toBe("ended");
  } finally {
    await context.close();
  }
  const files = (await readdir(nginx.recordDir)).filter((f) => f.startsWith("stall-chromium-"));
  expect(files).toHaveLength(1);
  const report = await analyzeRecording(join(nginx.recordDir, files[0]!), { sync: true });
  const offsets = report.sync!.offsetsMs;
  console.log(`stall: ${describeStream(report)}; offsets ${offsets.join(" ")}`);
  // Every pair, not just medians, except those the source itself spoiled: the
  // synthetic camera is drawn on the main thread, so a flash due during a
  // stall is drawn late or not at all (e2e/sync-pairs.ts).
  const { all, clear } = syncPairs(report, await videoFreezes(join(nginx.recordDir, files[0]!)));
  // 17 s of flashes, one a second; the two stalls and 0.5 s after each
  // freeze leave out 2-5 of them (seen: 11 clear of 15 in a fresh-clone CI run).
  expect(clear.length, JSON.stringify(all)).toBeGreaterThanOrEqual(10);
  // A flash is seen on whole frames, so each pair's offset is known to one
  // frame (33 ms at 30 fps), as in e2e/engines.spec.ts: every pair within
  // 60 ms plus that frame, their mean within 60 ms. (Seen in CI: pairs of
  // -62 and -63 ms among others around -35 ms, before any stall.)
  const frameMs = 1000 / (report.video?.fps ?? 30);
  for (const p of clear) expect(Math.abs(p.offsetMs), `flash at ${p.flash.toFixed(2)} s: ${JSON.stringify(all)}`).toBeLessThanOrEqual(60 + frameMs);
  const mean = clear.reduce((n, p) => n + p.offsetMs, 0) / clear.length;
  expect(Math.abs(mean), `mean of ${clear.length} pairs: ${JSON.stringify(all)}`).toBeLessThanOrEqual(60);
  // The synthetic camera is drawn on the page's main thread, so it gives no
  // frames while the page is blocked (a real camera would): a 1.5 s freeze is
  // the source's. The sound comes from the audio thread and must have no hole.
  // No frames during the freeze, so the keyframe due in it comes with the first frame after:
  // up to 2.1 s plus the freeze (as the engines' stall test allows; seen: 2.5 s).
  expect(streamProblems(report, { minDurationS: 15, maxAvOffsetMs: 60, maxFrameGapMs: 1600, maxKeyframeIntervalS: 2.1 + 1.6 }), describeStream(report)).toEqual([]);
  // Audio as long as video (to 50 ms, plus a frame of each for the ends).
  expect(Math.abs(report.audioMinusVideoS!), describeStream(report)).toBeLessThan(0.05 + 1 / 30 + 1024 / 48000);
});
