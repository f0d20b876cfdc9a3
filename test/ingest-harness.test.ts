/**
 * Proves the ingest harness with the real servers and ffmpeg as the publisher
 * (no golive code involved): each server receives a 3 s test FLV and what it
 * recorded must match the input frame for frame.
 */
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  cachedTestFlv,
  ffprobeFrames,
  IngestStartError,
  makeTempDir,
  makeTestFlv,
  pidIsRunning,
  publishFile,
  pullToFile,
  removeTempDir,
  startFfmpegListen,
  startHttpStatusServer,
  startNginxRtmp,
  startNginxRtmps,
  startNodeMediaServer,
  waitForStableFile,
  type ProbeResult,
} from "./support/ingest.js";
import { freePort, freePorts, isListeningBy, LOOPBACK } from "../server/testing/ports.js";
import { makeTestPki, type TestPki } from "../server/testing/tls.js";

let input: string;
let source: ProbeResult;
let scratch: string;
let pki: TestPki;

beforeAll(async () => {
  scratch = await makeTempDir("ingest-harness-test");
  input = await makeTestFlv(join(scratch, "test.flv"), { seconds: 3, gop: 60 });
  source = await ffprobeFrames(input);
  pki = await makeTestPki(join(scratch, "pki"));
});

afterAll(async () => {
  await removeTempDir(scratch);
});

/** Video dts relative to the first video packet: the timeline shape, whatever offset a server applies. */
function videoTimeline(probe: ProbeResult): number[] {
  const video = probe.packets.filter((p) => p.stream === "video");
  const first = video[0]?.dtsMs ?? 0;
  return video.map((p) => p.dtsMs - first);
}

/** What arrived is exactly what was sent: codecs, size, every frame, every keyframe. */
function expectSameMedia(actual: ProbeResult): void {
  expect(actual.video?.codecName).toBe("h264");
  expect(actual.video?.width).toBe(640);
  expect(actual.video?.height).toBe(360);
  expect(actual.audio?.codecName).toBe("aac");
  expect(actual.counts).toEqual(source.counts);
  expect(actual.packets.filter((p) => p.keyframe && p.stream === "video").length).toBe(source.packets.filter((p) => p.keyframe && p.stream === "video").length);
  expect(videoTimeline(actual)).toEqual(videoTimeline(source));
}

describe("test media", () => {
  it("makeTestFlv makes 3 s of H.264 640x360 30 fps (keyframe every 60) + AAC, and caches it", async () => {
    expect(source.video).toMatchObject({ codecName: "h264", width: 640, height: 360, profile: "Constrained Baseline" });
    expect(source.audio).toMatchObject({ codecName: "aac", sampleRate: 44100 });
    expect(source.counts.video).toBe(90);
    expect(source.counts.audio).toBeGreaterThanOrEqual(129);
    const keyframes = source.packets.filter((p) => p.stream === "video" && p.keyframe).map((p) => p.dtsMs);
    expect(keyframes).toHaveLength(2);
    // No B-frames: pts == dts for every video packet.
    expect(source.packets.every((p) => p.stream !== "video" || p.ptsMs === p.dtsMs)).toBe(true);
    const started = Date.now();
    expect(await cachedTestFlv({ seconds: 3, gop: 60 })).toBe(await cachedTestFlv({ seconds: 3 }));
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe("ports", () => {
  it("freePort and freePorts give bindable, distinct loopback ports", async () => {
    const ports = [await freePort(), ...(await freePorts(3))];
    expect(new Set(ports).size).toBe(4);
    const server = createServer();
    const port = ports[0] ?? 0;
    await new Promise<void>((resolve) => server.listen(port, LOOPBACK, resolve));
    try {
      expect(await isListeningBy(process.pid, port)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(await isListeningBy(process.pid, port)).toBe(false);
  });
});

describe("nginx-rtmp", () => {
  it("records an ffmpeg publish frame for frame; stop() leaves no process", async () => {
    const nginx = await startNginxRtmp();
    try {
      expect(pidIsRunning(nginx.pid)).toBe(true);
      const published = await publishFile(input, `${nginx.rtmpUrl()}/harness-key`);
      expect(published.status, published.stderr).toBe(0);
      const recording = await nginx.waitForRecording("harness-key");
      expect(recording).toBe(join(nginx.recordDir, "harness-key.flv"));
      expectSameMedia(await ffprobeFrames(recording));
      expect(nginx.logs()).toMatch(/publish: name='harness-key'/);
    } finally {
      await nginx.dispose();
    }
    expect(pidIsRunning(nginx.pid)).toBe(false);
  });

  it("rejects the publish when on_publish answers 403, and the hook saw the call", async () => {
    const hook = await startHttpStatusServer(403);
    const nginx = await startNginxRtmp({ onPublish: `${hook.url}/on_publish` });
    try {
      const published = await publishFile(input, `${nginx.rtmpUrl()}/denied-key`, { timeoutMs: 15_000 });
      expect(published.status).not.toBe(0);
      expect(hook.requests).toHaveLength(1);
      const [request] = hook.requests;
      expect(request?.method).toBe("POST");
      expect(request?.url).toBe("/on_publish");
      expect(request?.form.get("call")).toBe("publish");
      expect(request?.form.get("app")).toBe("live");
      expect(request?.form.get("name")).toBe("denied-key");
      expect(published.elapsedMs).toBeLessThan(3000);
    } finally {
      await nginx.dispose();
      await hook.close();
    }
  });

  it("stop() in the middle of a publish exits at once and leaves a readable recording", async () => {
    const nginx = await startNginxRtmp();
    try {
      const publishing = publishFile(input, `${nginx.rtmpUrl()}/cut-key`);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const stopping = Date.now();
      await nginx.stop();
      expect(Date.now() - stopping).toBeLessThan(1000);
      expect(pidIsRunning(nginx.pid)).toBe(false);
      expect((await publishing).status).not.toBe(0);
      const cut = await ffprobeFrames(nginx.recordingPath("cut-key"));
      expect(cut.counts.video).toBeGreaterThan(20);
      expect(cut.counts.video).toBeLessThan(90);
      expect(cut.video).toMatchObject({ codecName: "h264", width: 640, height: 360 });
    } finally {
      await nginx.dispose();
    }
  });

  it("record_unique on names the recording KEY-<unix time>.flv", async () => {
    const nginx = await startNginxRtmp({ recordUnique: true });
    try {
      expect(() => nginx.recordingPath("unique-key")).toThrow(/no recording/);
      const before = Math.floor(Date.now() / 1000);
      const published = await publishFile(input, `${nginx.rtmpUrl()}/unique-key`, { realtime: false });
      expect(published.status, published.stderr).toBe(0);
      const recording = await nginx.waitForRecording("unique-key");
      const match = /unique-key-(\d+)\.flv$/.exec(recording);
      expect(Number(match?.[1])).toBeGreaterThanOrEqual(before);
      expect((await ffprobeFrames(recording)).counts).toEqual(source.counts);
    } finally {
      await nginx.dispose();
    }
  });

  it("a config nginx refuses fails start-up with nginx's own error", async () => {
    const error: unknown = await startNginxRtmp({ liveDirectives: ["no_such_directive on"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IngestStartError);
    expect((error as IngestStartError).code).toBe("INGEST_EXITED");
    expect((error as Error).message).toMatch(/unknown directive "no_such_directive"/);
  });
});

describe("nginx RTMPS (stream TLS in front of rtmp)", () => {
  it("ffmpeg publishes over rtmps://localhost with -tls_verify against the test CA", async () => {
    const nginx = await startNginxRtmps({ pki });
    try {
      expect(nginx.rtmpUrl()).toBe(`rtmps://localhost:${nginx.port}/live`);
      expect(nginx.caPem).toContain("BEGIN CERTIFICATE");
      const published = await publishFile(input, `${nginx.rtmpUrl()}/tls-key`, { caFile: nginx.caPath });
      expect(published.status, published.stderr).toBe(0);
      expectSameMedia(await ffprobeFrames(await nginx.waitForRecording("tls-key")));
    } finally {
      await nginx.dispose();
    }
    expect(pidIsRunning(nginx.pid)).toBe(false);
  });

  it("with the wrong-host certificate, ffmpeg's verification refuses the server", async () => {
    const nginx = await startNginxRtmps({ pki, cert: "wrongHost" });
    try {
      const published = await publishFile(input, `${nginx.rtmpUrl()}/wrong-key`, { caFile: nginx.caPath, timeoutMs: 15_000 });
      expect(published.status).not.toBe(0);
      expect(published.stderr).toMatch(/does not match hostname|certificate/i);
      expect(existsSync(nginx.recordingPath("wrong-key"))).toBe(false);
      expect(nginx.logs()).not.toMatch(/publish: name='wrong-key'/);
    } finally {
      await nginx.dispose();
    }
  });
});

describe("ffmpeg -listen", () => {
  it("receives an ffmpeg publish frame for frame and exits by itself", async () => {
    const listener = await startFfmpegListen({ app: "live", key: "listen-key" });
    try {
      expect(listener.url).toBe(`rtmp://127.0.0.1:${listener.port}/live/listen-key`);
      const published = await publishFile(input, listener.url);
      expect(published.status, published.stderr).toBe(0);
      expect(await listener.waitForExit(5000)).toBe(0);
      expectSameMedia(await ffprobeFrames(listener.outPath));
    } finally {
      await listener.dispose();
    }
    expect(pidIsRunning(listener.pid)).toBe(false);
  });
});

describe("node-media-server", () => {
  it("records an ffmpeg publish frame for frame (and a player can pull it back)", async () => {
    const nms = await startNodeMediaServer();
    const pulled = join(scratch, "nms-pull.flv");
    try {
      const puller = await pullToFile(`${nms.rtmpUrl()}/nms-key`, pulled);
      // The player must be attached before the publish starts, or it joins
      // late and misses the first frames (ffmpeg's start-up is slow under load).
      await vi.waitFor(() => expect(nms.logs()).toContain("start play /live/nms-key"), { timeout: 15_000, interval: 50 });
      const published = await publishFile(input, `${nms.rtmpUrl()}/nms-key`);
      expect(published.status, published.stderr).toBe(0);
      const recording = await nms.waitForRecording("nms-key");
      expect(nms.recordings("nms-key")).toHaveLength(1);
      expectSameMedia(await ffprobeFrames(recording));
      // The player takes what NMS sends at its own pace (slowly, under load):
      // stop it once its file has stopped growing, not as soon as NMS is done.
      await waitForStableFile(pulled, { quietMs: 500, timeoutMs: 15_000 });
      // 255: ffmpeg's "exiting normally, received signal" (not 137, a SIGKILL).
      expect(await puller.stop()).toBe(255);
      // The player's copy is exact for video but ends a little early for audio:
      // the last two AAC frames (after the last video frame) do not make it, so
      // the recording, not a pull, is what the integration tests compare.
      const pull = await ffprobeFrames(pulled);
      expect(pull.counts.video).toBe(source.counts.video);
      expect(pull.counts.audio).toBeGreaterThanOrEqual(source.counts.audio - 3);
      expect(pidIsRunning(puller.pid)).toBe(false);
    } finally {
      await nms.dispose();
    }
    expect(pidIsRunning(nms.pid)).toBe(false);
  });
});
