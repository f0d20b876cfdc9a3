/**
 * Playwright fixtures for testing a go-live flow end to end:
 *
 * - the browser gets fake media (the synthetic source by default) and, when
 *   Playwright's own Chromium is not installed, the system Chromium;
 * - `ingest` is a real RTMP server on 127.0.0.1 (one per worker) and
 *   `stream` a fresh URL + key on it for each test;
 * - `goliveBridge` is a golive bridge in the test process, for pages that
 *   embed `<go-live>` or the SDK and need one;
 * - `expect(stream).toBeValidStream({...})` checks what arrived.
 */
import { test as base, chromium, expect as baseExpect } from "@playwright/test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyzeRecording, type StreamReport } from "./analyze.js";
import { fakeMediaArgs, findChromium, QUIET_CHROMIUM_ARGS, syntheticMediaScript, type FakeMediaKind } from "./browser.js";
import { describeStream, streamProblems, type StreamExpectations } from "./checks.js";
import { makeTestClip, type TestClip } from "./clip.js";
import { startTestBridge, startTestIngest, type TestBridge, type TestIngest, type TestIngestServer, type TestStream } from "./test-ingest.js";

/** Options, set in `playwright.config.ts` (`use: { goliveMedia: "clip" }`) or with `test.use(...)`. */
export interface GoliveOptions {
  /** What getUserMedia gives the page (default "synthetic"). */
  goliveMedia: FakeMediaKind;
  /** Frame rate of the fake camera (default 30). */
  goliveFps: number;
  /** Which RTMP server the test ingest runs (default "auto"). */
  goliveIngestServer: TestIngestServer | "auto";
  /** Your app's pages, served at `/` by goliveBridge in front of golive's own build (default: golive's demo page). */
  goliveAppDir: string | undefined;
}

/** Per-worker fixtures. */
export interface GoliveWorkerFixtures extends GoliveOptions {
  /** The generated clip, when goliveMedia is "clip". */
  goliveClip: TestClip | undefined;
  /** The test ingest (started on first use, one per worker). */
  ingest: TestIngest;
  /** A golive bridge in the test process (started on first use, one per worker). */
  goliveBridge: TestBridge;
}

/** Per-test fixtures. */
export interface GoliveTestFixtures {
  /** A fresh stream URL + key on the ingest for this test. */
  stream: TestStream;
}

export const test = base.extend<GoliveTestFixtures, GoliveWorkerFixtures>({
  goliveMedia: ["synthetic", { scope: "worker", option: true }],
  goliveFps: [30, { scope: "worker", option: true }],
  goliveIngestServer: ["auto", { scope: "worker", option: true }],
  goliveAppDir: [undefined, { scope: "worker", option: true }],

  goliveClip: [async ({ goliveMedia, goliveFps }, use) => {
    if (goliveMedia !== "clip") return use(undefined);
    const dir = await mkdtemp(join(tmpdir(), "golive-clip-"));
    await use(await makeTestClip(dir, { fps: goliveFps }));
    await rm(dir, { recursive: true, force: true });
  }, { scope: "worker" }],

  launchOptions: [async ({ launchOptions, browserName, goliveMedia, goliveFps, goliveClip }, use) => {
    if (browserName !== "chromium") return use(launchOptions);
    const executablePath = launchOptions.executablePath ?? findChromium(chromium.executablePath());
    const args = [...(launchOptions.args ?? [])];
    for (const arg of [...QUIET_CHROMIUM_ARGS, ...fakeMediaArgs({ fps: goliveFps, ...(goliveMedia === "clip" && goliveClip && { clip: goliveClip }) })]) {
      if (!args.includes(arg)) args.push(arg);
    }
    await use({ ...launchOptions, args, ...(executablePath !== undefined && { executablePath }) });
  }, { scope: "worker" }],

  context: async ({ context, goliveMedia, goliveFps }, use) => {
    if (goliveMedia === "synthetic") await context.addInitScript({ content: syntheticMediaScript({ fps: goliveFps }) });
    await use(context);
  },

  ingest: [async ({ goliveIngestServer }, use) => {
    const ingest = await startTestIngest({ server: goliveIngestServer });
    await use(ingest);
    await ingest.close();
  }, { scope: "worker", timeout: 60_000 }],

  goliveBridge: [async ({ goliveAppDir }, use) => {
    const bridge = await startTestBridge(goliveAppDir === undefined ? {} : { staticDir: goliveAppDir });
    await use(bridge);
    await bridge.close();
  }, { scope: "worker" }],

  stream: async ({ ingest }, use, testInfo) => {
    const stream = await ingest.newStream();
    await use(stream);
    if (testInfo.status !== testInfo.expectedStatus) {
      const path = stream.recordingPath();
      const summary = path ? describeStream(await analyzeRecording(path).catch((e: unknown) => ({ path, bytes: 0, durationS: 0, truncatedBytes: 0, error: String(e) }))) : "nothing was recorded";
      await testInfo.attach("stream", { body: `${stream.publishUrl}\n${summary}`, contentType: "text/plain" });
      await testInfo.attach("ingest log", { body: ingest.logs().slice(-65536), contentType: "text/plain" });
    }
  },
});

/** A stream on the test ingest, or a report already made. */
type StreamLike = TestStream | StreamReport;

function isReport(value: StreamLike): value is StreamReport {
  return typeof (value as StreamReport).path === "string" && typeof (value as TestStream).analyze !== "function";
}

export const expect = baseExpect.extend({
  /**
   * Passes when what arrived meets `expected` (see StreamExpectations).
   * Given a TestStream, waits for the publish to end, then analyzes it
   * (measuring A/V sync when an expectation needs it).
   */
  async toBeValidStream(received: StreamLike, expected: StreamExpectations = {}) {
    const needsSync = expected.maxAvOffsetMs !== undefined || expected.maxAvDriftMs !== undefined || expected.maxAudioDropoutMs !== undefined;
    let report: StreamReport;
    try {
      if (isReport(received)) {
        report = received;
      } else {
        await received.waitForEnd();
        report = await received.analyze({ sync: needsSync });
      }
    } catch (error) {
      return { pass: false, name: "toBeValidStream", message: () => `the stream could not be checked: ${(error as Error).message}` };
    }
    const problems = streamProblems(report, expected);
    const pass = problems.length === 0;
    return {
      pass,
      name: "toBeValidStream",
      message: () =>
        pass
          ? `expected the stream not to be valid, but it was: ${describeStream(report)}`
          : `the stream that arrived is not right:\n${problems.map((p) => `  - ${p}`).join("\n")}\n(${describeStream(report)})`,
    };
  },
});
