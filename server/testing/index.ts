/**
 * golive/testing: test your own go-live flow end to end with Playwright.
 *
 *   import { test, expect } from "golive/testing";
 *
 *   test("Go live sends a valid, in-sync stream", async ({ page, stream }) => {
 *     await page.goto("/");
 *     await page.getByRole("textbox", { name: "Stream URL" }).fill(stream.url);
 *     await page.getByRole("textbox", { name: "Stream key" }).fill(stream.key);
 *     await page.getByRole("button", { name: "Go live" }).click();
 *     await stream.waitForPublish();
 *     await page.waitForTimeout(10_000);
 *     await page.getByRole("button", { name: "End stream" }).click();
 *     await expect(stream).toBeValidStream({ width: 1280, height: 720, maxAvOffsetMs: 80 });
 *   });
 *
 * See docs/testing.md.
 */
export { test, expect, type GoliveOptions, type GoliveTestFixtures, type GoliveWorkerFixtures } from "./fixtures.js";
export { analyzeRecording, type AnalyzeOptions, type AudioReport, type StreamReport, type SyncReport, type VideoReport } from "./analyze.js";
export { describeStream, streamProblems, type StreamExpectations } from "./checks.js";
export { fakeMediaArgs, findChromium, QUIET_CHROMIUM_ARGS, syntheticMediaScript, type FakeMediaArgsOptions, type FakeMediaKind, type SyntheticMediaOptions } from "./browser.js";
export { makeTestClip, type TestClip, type TestClipOptions } from "./clip.js";
export {
  goliveWebDir,
  startTestBridge,
  startTestIngest,
  type TestBridge,
  type TestBridgeOptions,
  type TestIngest,
  type TestIngestOptions,
  type TestIngestServer,
  type TestStream,
} from "./test-ingest.js";
