// One session fanned out to several real ingests and a recording at once;
// one destination failing never disturbs the others; /metrics counts it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames, startFfmpegListen, startHttpStatusServer, startNginxRtmp, type ProbeResult } from "../support/ingest.js";
import { freePort } from "../../server/testing/ports.js";
import { WireTestClient } from "../support/wire-client.js";

let bridge: Bridge;
let recordDir: string;
let media: FlvAsWire;
let input: ProbeResult;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-fanout-"));
  bridge = new Bridge({ port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }), limits: { statsIntervalMs: 250 } });
  await bridge.listen();
  const path = await cachedTestFlv({ seconds: 10, gop: 60 });
  media = await flvAsWire(path);
  input = await ffprobeFrames(path);
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  await bridge?.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** Same frames, timestamps and keyframes as the input. */
function expectSameMedia(recorded: ProbeResult, label: string): void {
  expect(recorded.counts, label).toEqual(input.counts);
  expect([recorded.video?.width, recorded.video?.height], label).toEqual([640, 360]);
  for (const kind of ["video", "audio"] as const) {
    const got = recorded.packets.filter((p) => p.stream === kind);
    const want = input.packets.filter((p) => p.stream === kind);
    const worst = Math.max(...want.map((w, i) => Math.abs(w.dtsMs - got[i]!.dtsMs)));
    expect(worst, `${label} ${kind} dts`).toBeLessThanOrEqual(1);
  }
  const keys = (r: ProbeResult): number[] => r.packets.filter((p) => p.stream === "video" && p.keyframe).map((p) => p.ptsMs);
  expect(keys(recorded), label).toEqual(keys(input));
}

async function publish(destinations: Array<{ id: string; url: string }>, record: boolean): Promise<{ client: WireTestClient; recording?: string }> {
  const client = await WireTestClient.connect(bridge.ingestUrl);
  client.send({ type: "start", version: 1, destinations, record });
  const accepted = await client.waitFor("accepted");
  client.sendConfigs(media);
  await client.sendFrames(media.frames);
  client.send({ type: "stop" });
  await client.waitFor("ended", () => true, 30_000);
  expect((await client.closed).code).toBe(CloseCode.Normal);
  return { client, ...(accepted.recording && { recording: join(recordDir, accepted.recording) }) };
}

describe("bridge fan-out", () => {
  it("multistream: nginx-rtmp + ffmpeg -listen + recording, all complete and identical", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const ffmpeg = await startFfmpegListen({ app: "live", key: "multi" });
    cleanups.push(() => ffmpeg.dispose());
    const { client, recording } = await publish([
      { id: "nginx", url: `${nginx.rtmpUrl()}/multi` },
      { id: "ffmpeg", url: ffmpeg.url },
    ], true);
    expect(client.finalStates()).toEqual({ nginx: "ended", ffmpeg: "ended", recording: "ended" });
    for (const id of ["nginx", "ffmpeg", "recording"]) {
      expect(client.messages.some((m) => m.type === "destination" && m.id === id && m.state === "live"), id).toBe(true);
    }
    expect(await ffmpeg.waitForExit(15_000)).toBe(0);
    expectSameMedia(await ffprobeFrames(await nginx.waitForRecording("multi")), "nginx");
    expectSameMedia(await ffprobeFrames(ffmpeg.outPath), "ffmpeg");
    expectSameMedia(await ffprobeFrames(recording!), "recording");
  });

  it("isolation: a refused port and a rejected key fail alone; the other two complete", async () => {
    const auth = await startHttpStatusServer(403);
    cleanups.push(() => auth.close());
    const strict = await startNginxRtmp({ onPublish: `${auth.url}/on_publish` });
    cleanups.push(() => strict.dispose());
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const ffmpeg = await startFfmpegListen({ app: "live", key: "iso" });
    cleanups.push(() => ffmpeg.dispose());
    const closedPort = await freePort();
    const bridgeWide = new Bridge({ port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }), limits: { maxDestinations: 4 } });
    await bridgeWide.listen();
    cleanups.push(() => bridgeWide.close());
    const client = await WireTestClient.connect(bridgeWide.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [
      { id: "refused", url: `rtmp://127.0.0.1:${closedPort}/live/k` },
      { id: "rejected", url: `${strict.rtmpUrl()}/wrong-key` },
      { id: "nginx", url: `${nginx.rtmpUrl()}/iso` },
      { id: "ffmpeg", url: ffmpeg.url },
    ] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    await client.sendFrames(media.frames);
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 30_000);
    expect(client.finalStates()).toEqual({ refused: "failed", rejected: "failed", nginx: "ended", ffmpeg: "ended" });
    const refused = await client.waitFor("destination", (m) => m.id === "refused" && m.state === "failed");
    expect(refused.code).toBe("RTMP_CONNECTION_REFUSED");
    expect(refused.message).toMatch(/nothing accepts RTMP connections/);
    const rejected = await client.waitFor("destination", (m) => m.id === "rejected" && m.state === "failed");
    expect(rejected.code).toBe("PUBLISH_REJECTED");
    expect(rejected.message).toMatch(/rejected the stream key/);
    expect(rejected.message).not.toContain("wrong-key");
    expect(await ffmpeg.waitForExit(15_000)).toBe(0);
    expectSameMedia(await ffprobeFrames(await nginx.waitForRecording("iso")), "nginx");
    expectSameMedia(await ffprobeFrames(ffmpeg.outPath), "ffmpeg");
  });

  it("every destination failing ends the session with ALL_DESTINATIONS_FAILED (4010)", async () => {
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, destinations: [{ id: "a", url: `rtmp://127.0.0.1:${await freePort()}/live/k` }, { id: "b", url: "not a url" }] });
    const err = await client.waitFor("error");
    expect(err.code).toBe("ALL_DESTINATIONS_FAILED");
    expect((await client.closed).code).toBe(CloseCode.AllDestinationsFailed);
    const bad = await client.waitFor("destination", (m) => m.id === "b");
    expect(bad.code).toBe("RTMP_BAD_URL");
  });

  it("/metrics counts sessions, bytes in and out, and frames per sink", async () => {
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${bridge.address.port}/metrics`)).text();
    const value = (text: string, name: string): number => {
      const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{") && l.includes(name));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const before = await scrape();
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    await publish([{ id: "n", url: `${nginx.rtmpUrl()}/metrics` }], true);
    const after = await scrape();
    const delta = (name: string): number => value(after, name) - value(before, name);
    expect(delta("golive_sessions_started_total")).toBe(1);
    expect(delta('golive_sessions_ended_total{outcome="stopped"}')).toBe(1);
    expect(delta('golive_frames_in_total{kind="video"}')).toBe(media.counts.video);
    expect(delta('golive_frames_in_total{kind="audio"}')).toBe(media.counts.audio);
    expect(delta('golive_frames_out_total{sink="rtmp",kind="video"}')).toBe(media.counts.video);
    expect(delta('golive_frames_out_total{sink="recording",kind="audio"}')).toBe(media.counts.audio);
    const payload = media.frames.reduce((n, f) => n + f.payload.byteLength, 0);
    expect(delta("golive_bytes_in_total")).toBe(payload + 16 * media.frames.length);
    expect(delta('golive_bytes_out_total{sink="rtmp"}')).toBeGreaterThan(payload);
    expect(delta('golive_bytes_out_total{sink="recording"}')).toBeGreaterThan(payload);
    expect(value(after, "golive_sessions_active")).toBe(0);
    const health = (await (await fetch(`http://127.0.0.1:${bridge.address.port}/healthz`)).json()) as { status: string };
    expect(health.status).toBe("ok");
  });
});
