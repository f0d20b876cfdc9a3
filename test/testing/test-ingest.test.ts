/**
 * golive/testing's startTestIngest on each real RTMP server (nginx-rtmp,
 * `ffmpeg -listen 1`, node-media-server) with ffmpeg as the publisher
 * (`ffmpeg -re -i FILE -c copy -f flv URL`): waitForPublish resolves while
 * the publish runs, waitForEnd and analyze() report exactly what was sent,
 * two streams stay apart, close() stops the server process (checked by the
 * PID that held the listening socket) and frees the port. Plus
 * startTestBridge: healthz, the ingest URL, close().
 */
import { existsSync } from "node:fs";
import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { SUBPROTOCOL } from "../../protocol/wire.js";
import { analyzeRecording, startTestBridge, startTestIngest, streamProblems, type StreamReport, type TestIngest, type TestIngestServer, type TestStream } from "../../server/testing/index.js";
import { makeTempDir, removeTempDir } from "../../server/testing/ingest/dirs.js";
import { cachedTestFlv, publishFile } from "../../server/testing/ingest/media.js";
import { pidIsRunning } from "../../server/testing/ingest/process.js";
import { listeningSockets } from "../../server/testing/ports.js";
import { requireBinary, requireNginxModule } from "../../server/testing/system.js";

const SERVERS: readonly TestIngestServer[] = ["nginx", "ffmpeg", "node-media-server"];
const keepDirs = process.env.GOLIVE_KEEP_TEST_DIRS === "1";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Starts an ingest that is closed after the test even if the test fails first (close() is idempotent enough to call twice). */
async function ingestFor(server: TestIngestServer): Promise<TestIngest> {
  const ingest = await startTestIngest({ server });
  let closed = false;
  const close = ingest.close.bind(ingest);
  cleanups.push(async () => {
    if (!closed) await close();
  });
  return {
    ...ingest,
    server: ingest.server,
    close: async () => {
      closed = true;
      await close();
    },
  };
}

/** The port of an rtmp:// or http:// URL. */
const portOf = (url: string): number => Number(new URL(url).port);

/** PIDs of this worker's child processes (from /proc/PID/stat: the field after the parenthesised name is the state, then the ppid). */
async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[1]) === process.pid) pids.push(Number(entry));
  }
  return pids;
}

/** The child process that holds the LISTEN socket on `port` (the RTMP server itself), with its command line. */
async function listenerOf(port: number): Promise<{ pid: number; cmdline: string }> {
  const inodes = new Set((await listeningSockets(port)).map((s) => s.inode));
  for (const pid of await childPids()) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) {
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0").join(" ");
        return { pid, cmdline };
      }
    }
  }
  throw new Error(`no child process of this test worker (pid ${process.pid}) listens on 127.0.0.1:${port}`);
}

/** What the server's command line must contain. */
const COMMAND: Record<TestIngestServer, RegExp> = {
  nginx: /nginx -p /,
  ffmpeg: /ffmpeg .*-listen 1 -i rtmp:\/\/127\.0\.0\.1:\d+\/live\/golive-test-/,
  "node-media-server": /node-media-server\/bin\/app\.js -c /,
};

/**
 * The report of a recording is the report of the file that was published:
 * same codecs, size, frames, keyframes, timeline. One measured exception:
 * `ffmpeg -listen` on a busy machine loses the last AAC frames the publisher
 * sent (after the last video frame; 2 of 174 here with both cores loaded,
 * none when idle): the publisher's close arrives before it has read them.
 * For it, up to `tailAudioFrames` frames may be missing at the end, never a hole.
 */
function expectSameStream(got: StreamReport, sent: StreamReport, tailAudioFrames = 0): void {
  expect(got.error, got.error).toBeUndefined();
  expect(got.truncatedBytes).toBe(0);
  const { video, audio } = got;
  expect(video).toMatchObject({ codec: "h264", codecString: sent.video!.codecString, width: 640, height: 360, frames: sent.video!.frames, keyframes: sent.video!.keyframes, startsWithKeyframe: true, nonMonotonic: 0 });
  expect(video!.durationS).toBeCloseTo(sent.video!.durationS, 2);
  expect(video!.fps).toBeCloseTo(sent.video!.fps, 0);
  expect(video!.keyframeIntervalsS).toEqual(sent.video!.keyframeIntervalsS);
  expect(audio).toMatchObject({ codec: "aac", codecString: "mp4a.40.2", sampleRate: 44100, channels: 1, gapsMs: [], overlaps: 0 });
  const missing = sent.audio!.frames - audio!.frames;
  expect(missing, `audio frames: ${audio!.frames} arrived, ${sent.audio!.frames} sent`).toBeGreaterThanOrEqual(0);
  expect(missing, `audio frames: ${audio!.frames} arrived, ${sent.audio!.frames} sent`).toBeLessThanOrEqual(tailAudioFrames);
  // No hole (gapsMs is empty), so what is missing is at the end: the duration is short by exactly those frames.
  expect(Math.abs(audio!.durationS - (sent.audio!.durationS - (missing * sent.audio!.frameMs) / 1000))).toBeLessThanOrEqual(0.003);
  // The audio is still at least as long as the video.
  expect(audio!.durationS).toBeGreaterThanOrEqual(video!.durationS);
}

/** See expectSameStream. */
const tailLoss = (server: TestIngestServer): number => (server === "ffmpeg" ? 3 : 0);

let input4s: string;
let sent4s: StreamReport;

beforeAll(async () => {
  requireBinary("ffmpeg");
  requireBinary("ffprobe");
  input4s = await cachedTestFlv({ seconds: 4, gop: 60 });
  sent4s = await analyzeRecording(input4s);
  // The input is what we think: 4 s of 640x360 at 30 fps, a keyframe every 2 s.
  expect(sent4s.video).toMatchObject({ width: 640, height: 360, frames: 120, keyframes: 2, keyframeIntervalsS: [2] });
  expect(sent4s.durationS).toBeGreaterThan(3.9);
}, 60_000);

describe.each(SERVERS)("startTestIngest({ server: %j })", (server) => {
  beforeAll(() => {
    // A missing server fails here with the package to install.
    if (server === "nginx") {
      requireBinary("nginx");
      requireNginxModule("ngx_rtmp_module");
    }
  });

  it("records a publish: waitForPublish while it runs, waitForEnd, analyze() = what was sent; close() stops the server", async () => {
    const ingest = await ingestFor(server);
    expect(ingest.server).toBe(server);
    const stream = await ingest.newStream();
    expect(stream.key).toMatch(/^golive-test-[0-9a-f]{12}$/);
    expect(stream.url).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+\/live$/);
    expect(stream.publishUrl).toBe(`${stream.url}/${stream.key}`);
    expect(stream.recordingPath()).toBeUndefined();

    const port = portOf(stream.url);
    const listener = await listenerOf(port);
    expect(listener.cmdline).toMatch(COMMAND[server]);
    expect(pidIsRunning(listener.pid)).toBe(true);

    let publishDone = false;
    const publishing = publishFile(input4s, stream.publishUrl, { timeoutMs: 30_000 }).finally(() => {
      publishDone = true;
    });
    const started = Date.now();
    await stream.waitForPublish({ timeoutMs: 20_000 });
    const publishSeenAfterMs = Date.now() - started;
    expect(publishDone, `waitForPublish resolved only after the 4 s publish had ended (${publishSeenAfterMs} ms)`).toBe(false);
    expect(stream.recordingPath(), "a recording exists once media arrived").toBeDefined();

    const published = await publishing;
    expect(published.status, `ffmpeg publish failed:\n${published.stderr}\n--- ingest ---\n${ingest.logs()}`).toBe(0);
    expect(published.elapsedMs).toBeGreaterThan(3500); // -re: real time

    const path = await stream.waitForEnd({ timeoutMs: 20_000 });
    expect(path).toBe(stream.recordingPath());
    const report = await stream.analyze();
    expect(report.path).toBe(path);
    expectSameStream(report, sent4s, tailLoss(server));
    expect(streamProblems(report, { width: 640, height: 360, fps: 30, minDurationS: 3.9 })).toEqual([]);
    expect(ingest.logs().length).toBeGreaterThan(0);

    await ingest.close();
    expect(pidIsRunning(listener.pid), `${server} (pid ${listener.pid}) still runs after close()`).toBe(false);
    expect(await listeningSockets(port), `port ${port} still listening after close()`).toEqual([]);
    if (!keepDirs) expect(existsSync(path), "close() removes the recordings").toBe(false);
  }, 60_000);

  it("waitForPublish rejects naming the URL when nothing is published; so does waitForEnd", async () => {
    const ingest = await ingestFor(server);
    const stream = await ingest.newStream();
    const started = Date.now();
    const error = await stream.waitForPublish({ timeoutMs: 1000 }).then(() => undefined, (e: unknown) => e as Error);
    const elapsed = Date.now() - started;
    expect(error, "waitForPublish resolved with nothing published").toBeInstanceOf(Error);
    expect(error!.message).toContain(`no media arrived at ${stream.publishUrl} within 1 s (did the app go live to this URL and key?)`);
    expect(error!.message).toContain("--- ingest log (last 4 KB) ---");
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(5000);

    const endError = await stream.waitForEnd({ timeoutMs: 500 }).then(() => undefined, (e: unknown) => e as Error);
    expect(endError, "waitForEnd resolved with nothing published").toBeInstanceOf(Error);
    expect(endError!.message).toContain(`the publish to ${stream.publishUrl} did not end within 0.5 s`);
    expect(stream.recordingPath()).toBeUndefined();
  }, 30_000);

  it("two streams on one ingest get different keys and separate recordings", async () => {
    const ingest = await ingestFor(server);
    const [inputA, inputB] = await Promise.all([cachedTestFlv({ seconds: 3, gop: 30 }), cachedTestFlv({ seconds: 2, gop: 60 })]);
    const [sentA, sentB] = await Promise.all([analyzeRecording(inputA), analyzeRecording(inputB)]);
    const a = await ingest.newStream();
    const b = await ingest.newStream();
    expect(a.key).not.toBe(b.key);
    expect(a.publishUrl).not.toBe(b.publishUrl);
    // nginx and NMS: one server, a fresh key; ffmpeg -listen: a listener per stream.
    if (server === "ffmpeg") expect(portOf(a.url)).not.toBe(portOf(b.url));
    else expect(a.url).toBe(b.url);

    const publishes = await Promise.all([publishFile(inputA, a.publishUrl), publishFile(inputB, b.publishUrl)]);
    for (const p of publishes) expect(p.status, p.stderr).toBe(0);
    const [pathA, pathB] = await Promise.all([a.waitForEnd({ timeoutMs: 20_000 }), b.waitForEnd({ timeoutMs: 20_000 })]);
    expect(pathA).not.toBe(pathB);
    const check = async (stream: TestStream, sent: StreamReport, frames: number, keyframes: number): Promise<void> => {
      expect(sent.video).toMatchObject({ frames, keyframes });
      expectSameStream(await stream.analyze(), sent, tailLoss(server));
    };
    await check(a, sentA, 90, 3);
    await check(b, sentB, 60, 1);
  }, 60_000);
});

describe("startTestIngest options", () => {
  it("rejects an unknown server by name", async () => {
    await expect(startTestIngest({ server: "srs" as TestIngestServer })).rejects.toThrow("startTestIngest: unknown server srs (nginx, ffmpeg or node-media-server)");
  });
});

describe("startTestBridge", () => {
  it("serves healthz and a WebSocket ingest on 127.0.0.1; close() stops listening and removes its temp dir", async () => {
    const bridge = await startTestBridge();
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await bridge.close();
    });
    expect(bridge.url).toBe(`http://127.0.0.1:${bridge.port}/`);
    expect(bridge.ingestUrl.startsWith("ws://127.0.0.1")).toBe(true);
    expect(bridge.ingestUrl).toBe(`ws://127.0.0.1:${bridge.port}/ingest`);
    expect(existsSync(bridge.recordDir)).toBe(true);

    const res = await fetch(`${bridge.url}healthz`);
    expect(res.ok).toBe(true);
    expect(await res.json()).toEqual({ status: "ok", sessions: 0 });
    expect(await listeningSockets(bridge.port)).not.toEqual([]);

    // The ingest URL really is the bridge's WebSocket endpoint: the golive subprotocol is accepted.
    const ws = new WebSocket(bridge.ingestUrl, SUBPROTOCOL);
    const protocol = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => resolve(ws.protocol));
      ws.once("error", reject);
    });
    expect(protocol).toBe(SUBPROTOCOL);
    ws.terminate();
    expect(bridge.logs()).toContain("golive bridge listening");

    await bridge.close();
    closed = true;
    await expect(fetch(`${bridge.url}healthz`)).rejects.toThrow();
    expect(await listeningSockets(bridge.port)).toEqual([]);
    if (!keepDirs) expect(existsSync(bridge.recordDir)).toBe(false);
  }, 30_000);

  it("keeps a recordDir it was given", async () => {
    const dir = await makeTempDir("testing-bridge-records");
    cleanups.push(() => removeTempDir(dir));
    const bridge = await startTestBridge({ recordDir: dir });
    expect(bridge.recordDir).toBe(dir);
    await bridge.close();
    expect(existsSync(join(dir))).toBe(true);
  }, 30_000);
});
