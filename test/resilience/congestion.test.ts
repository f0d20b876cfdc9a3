// Congestion: one destination behind a slow link (the throttle proxy), one
// direct. On the slow one the bridge sheds non-key video past ~700 ms of
// real backlog (measured from the ingest's Acknowledgements), never audio or
// keyframes, counts every drop, and advises the client to lower its bitrate
// to what the link carries; its memory stays bounded; the direct destination
// gets everything. A link that stops delivering is reset (RST) after the
// stall timeout, what it held is counted as lost, and it reconnects.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, type AdviceMessage, type DestinationStats, type MediaFrame, type StatsMessage } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { parseAudioBody, parseVideoBody, readFlv } from "../support/flv-read.js";
import { startNginxRtmp, TEST_MEDIA_CACHE_DIR } from "../support/ingest.js";
import { exitStatus, run } from "../../server/testing/ingest/process.js";
import { requireBinary } from "../../server/testing/system.js";
import { ThrottleProxy } from "../support/throttle-proxy.js";
import { WireTestClient } from "../support/wire-client.js";

/** Input video bitrate: well above the slow link, so the ~4 MB loopback buffers fill in seconds. */
const VIDEO_BITRATE = 8_000_000;
let recordDir: string;
let media: FlvAsWire;
const cleanups: Array<() => Promise<void>> = [];

/**
 * A 12 s, 8 Mbit/s test FLV (cached next to cachedTestFlv's):
 *
 *     ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 \
 *       -t 12 -c:v libx264 -preset ultrafast -tune zerolatency -b:v 8M -maxrate 8M -bufsize 2M \
 *       -g 60 -keyint_min 60 -sc_threshold 0 -bf 0 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv out.flv
 *
 * Keyframes (~60 KB every 2 s) and audio come to ~0.4 Mbit/s: what is left when every inter frame is dropped.
 */
async function highBitrateFlv(): Promise<string> {
  const out = join(TEST_MEDIA_CACHE_DIR, "testsrc2-1280x720-30fps-12s-gop60-8M-v1.flv");
  if (((await stat(out).catch(() => undefined))?.size ?? 0) > 0) return out;
  await mkdir(TEST_MEDIA_CACHE_DIR, { recursive: true });
  const temp = `${out}.${process.pid}.tmp.flv`;
  const result = await run("ffmpeg (8 Mbit/s flv)", requireBinary("ffmpeg"), [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "2M",
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", temp,
  ], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`ffmpeg failed (status ${exitStatus(result)}):\n${result.output}`);
  await rename(temp, out);
  return out;
}

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-congestion-"));
  media = await flvAsWire(await highBitrateFlv());
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

async function startBridge(options: ConstructorParameters<typeof Bridge>[0]): Promise<Bridge> {
  const bridge = new Bridge(options);
  await bridge.listen();
  cleanups.push(() => bridge.close());
  return bridge;
}

interface Frame {
  key: boolean;
  payload: Uint8Array;
}

/** Video and audio frames of an FLV file (sequence headers left out). */
async function framesOf(path: string): Promise<{ video: Frame[]; audio: Frame[] }> {
  const flv = readFlv(new Uint8Array(await readFile(path)));
  const video: Frame[] = [];
  const audio: Frame[] = [];
  for (const tag of flv.tags) {
    if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind === "legacy" && v.avcPacketType === 1) video.push({ key: v.frameType === 1, payload: v.payload });
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind === "legacy" && a.aacPacketType === 1) audio.push({ key: true, payload: a.payload });
    }
  }
  return { video, audio };
}

const same = (a: Frame, b: MediaFrame): boolean => Buffer.compare(a.payload, b.payload) === 0;

/** Frame-for-frame equality with the input's frames of one track. */
function expectAll(got: Frame[], want: MediaFrame[], label: string): void {
  expect(got.length, `${label}: frame count`).toBe(want.length);
  const bad = want.findIndex((w, i) => !same(got[i]!, w));
  expect(bad, `${label}: first differing frame`).toBe(-1);
}

/** Stats of destination `id` from every stats message so far. */
function statsOf(client: WireTestClient, id: string): DestinationStats[] {
  return client.messages.filter((m): m is StatsMessage => m.type === "stats").flatMap((m) => m.destinations.filter((d) => d.id === id));
}

describe("congestion", () => {
  it("a slow link: non-key video is dropped until the next keyframe, audio and keyframes all arrive, the client is advised, memory stays bounded", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    // 3 Mbit/s: under half the input, seven times the keyframes and audio.
    // (Slower, and the ~4 MB the loopback kernel buffers, released only in
    // steps of a third, stall the socket for longer than the hard cap.)
    const proxy = await ThrottleProxy.start({ targetPort: nginx.port, bytesPerSecond: 375_000 });
    cleanups.push(() => proxy.close());
    const bridge = await startBridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      limits: { statsIntervalMs: 250, adviceCalmMs: 1000 },
    });

    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [
      { id: "slow", url: `rtmp://127.0.0.1:${proxy.port}/live/slow` },
      { id: "direct", url: `${nginx.rtmpUrl()}/direct` },
    ] });
    await client.waitFor("accepted");
    client.sendConfigs(media, VIDEO_BITRATE);
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 100);
    try {
      expect((await client.sendRealtime(media.frames)).next).toBe(media.frames.length);
    } finally {
      clearInterval(sampler);
    }

    // The link recovers: what is queued (the bridge's and ~4 MB in the
    // loopback socket buffers) drains, and the advice goes back up.
    proxy.setRate(Number.POSITIVE_INFINITY);
    const lowered = client.messages.filter((m): m is AdviceMessage => m.type === "advice" && m.reason === "congestion");
    expect(lowered.length).toBeGreaterThan(0);
    expect(Math.min(...lowered.map((a) => a.targetBitrate))).toBeGreaterThanOrEqual(VIDEO_BITRATE * 0.15);
    // Settled under what the 3 Mbit/s link carries (less its audio).
    expect(lowered.at(-1)!.targetBitrate).toBeLessThan(3_000_000 * 0.85);
    const recovered = await client.waitFor("advice", (m) => m.reason === "recovered", 10_000);
    expect(recovered.targetBitrate).toBeGreaterThan(lowered.at(-1)!.targetBitrate);

    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
    expect((await client.closed).code).toBe(CloseCode.Normal);
    expect(client.finalStates()).toEqual({ slow: "ended", direct: "ended" });

    const slowStats = statsOf(client, "slow");
    const final = slowStats.at(-1)!;
    expect(final.framesDropped).toBeGreaterThan(0);
    expect(final).toMatchObject({ reconnects: 0, framesLost: 0, audioLost: 0, keyframesLost: 0 });
    expect(slowStats.some((s) => s.backlogSource === "acks")).toBe(true);
    expect(Math.max(...slowStats.map((s) => s.queuedMs))).toBeGreaterThan(700);
    expect(Math.max(...slowStats.map((s) => s.queuedBytes))).toBeLessThan(16 * 1024 * 1024);
    expect(statsOf(client, "direct").at(-1)).toMatchObject({ framesDropped: 0, framesSent: media.frames.length });
    expect(rssMax - rssBefore).toBeLessThan(200 * 1024 * 1024);

    const inputVideo = media.frames.filter((f) => f.track === 0);
    const inputAudio = media.frames.filter((f) => f.track === 1);
    const slow = await framesOf(await nginx.waitForRecording("slow"));
    // Every audio frame, every keyframe.
    expectAll(slow.audio, inputAudio, "slow audio");
    expectAll(slow.video.filter((f) => f.key), inputVideo.filter((f) => f.keyframe), "slow keyframes");
    // Fewer video frames, exactly as many fewer as counted, and only whole
    // tails of GOPs missing: after a dropped frame nothing until the next
    // keyframe (a decoder never gets a frame whose reference is gone).
    expect(slow.video.length).toBe(inputVideo.length - final.framesDropped);
    let at = 0;
    let dropping = false;
    for (const want of inputVideo) {
      const got = slow.video[at];
      if (got && same(got, want)) {
        if (dropping && !want.keyframe) expect.fail(`inter frame at ${want.timestampUs / 1000} ms sent after a drop in its GOP`);
        dropping = false;
        at++;
      } else {
        expect(want.keyframe, `keyframe at ${want.timestampUs / 1000} ms missing`).toBe(false);
        dropping = true;
      }
    }
    expect(at).toBe(slow.video.length);

    const direct = await framesOf(await nginx.waitForRecording("direct"));
    expectAll(direct.video, inputVideo, "direct video");
    expectAll(direct.audio, inputAudio, "direct audio");
  });

  it("past the hard cap, whole GOPs queued before the newest keyframe are shed (keyframes too), never audio; what arrives still decodes GOP by GOP", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const proxy = await ThrottleProxy.start({ targetPort: nginx.port });
    cleanups.push(() => proxy.close());
    const bridge = await startBridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      limits: { statsIntervalMs: 250 },
      destination: { congestion: { maxQueuedMs: 2500, stallTimeoutMs: 60_000 } },
    });
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "gop", url: `rtmp://127.0.0.1:${proxy.port}/live/gop` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media, VIDEO_BITRATE);
    const sending = client.sendRealtime(media.frames);
    await client.waitFor("destination", (m) => m.state === "live");
    await new Promise((r) => setTimeout(r, 1000));
    proxy.pause(); // 6 s without delivery: 3 keyframes arrive meanwhile
    await new Promise((r) => setTimeout(r, 6000));
    proxy.resume();
    expect((await sending).next).toBe(media.frames.length);
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
    const final = statsOf(client, "gop").at(-1)!;
    expect(final).toMatchObject({ audioLost: 0, framesLost: 0, reconnects: 0 });
    expect(final.keyframesLost).toBeGreaterThan(0);

    const inputVideo = media.frames.filter((f) => f.track === 0);
    const inputAudio = media.frames.filter((f) => f.track === 1);
    const got = await framesOf(await nginx.waitForRecording("gop"));
    expectAll(got.audio, inputAudio, "audio");
    expect(got.video.length).toBe(inputVideo.length - final.framesDropped);
    // Decodable: a frame arrives only if every frame of its GOP before it did.
    let at = 0;
    let broken = false;
    let keyframesMissing = 0;
    for (const want of inputVideo) {
      const present = got.video[at] !== undefined && same(got.video[at]!, want);
      if (want.keyframe) broken = !present;
      if (present) {
        expect(broken, `frame at ${want.timestampUs / 1000} ms sent after a gap in its GOP`).toBe(false);
        at++;
      } else {
        broken = true;
        if (want.keyframe) keyframesMissing++;
      }
    }
    expect(at).toBe(got.video.length);
    expect(keyframesMissing).toBe(final.keyframesLost);
  });

  it("a stalled link: audio is never shed while it waits; after the stall timeout the connection is reset, what it held counts as lost, and it reconnects once the link is back", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const proxy = await ThrottleProxy.start({ targetPort: nginx.port });
    cleanups.push(() => proxy.close());
    const bridge = await startBridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      limits: { statsIntervalMs: 250 },
      destination: { congestion: { maxQueuedMs: 1500, stallTimeoutMs: 2000 }, reconnect: { initialDelayMs: 300, maxAttempts: 10 } },
    });
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [
      { id: "stalled", url: `rtmp://127.0.0.1:${proxy.port}/live/stalled` },
      { id: "direct", url: `${nginx.rtmpUrl()}/direct2` },
    ] });
    await client.waitFor("accepted");
    client.sendConfigs(media, VIDEO_BITRATE);
    const controller = new AbortController();
    const sending = client.sendRealtime(media.frames, { signal: controller.signal });
    await client.waitFor("destination", (m) => m.id === "stalled" && m.state === "live");
    proxy.pause();
    const pausedAt = performance.now();
    const reset = await client.waitFor("destination", (m) => m.id === "stalled" && m.state === "reconnecting", 15_000);
    expect(reset.code).toBe("DEST_STALLED");
    expect(reset.message).toMatch(/nothing reached/);
    // The stall timeout (2 s) counts from the last progress, which the
    // kernel's buffers (filling for a while after the pause) can delay.
    expect(performance.now() - pausedAt).toBeGreaterThanOrEqual(2000);
    const before = statsOf(client, "stalled");
    // While it waited, GOPs were shed (hard cap 1500 ms) but no audio.
    expect(before.at(-1)!.audioLost).toBe(0);
    expect(Math.max(...before.map((s) => s.queuedBytes))).toBeLessThan(16 * 1024 * 1024);
    expect(proxy.accepted).toBe(1);
    // What the reset connection held is reported as lost.
    const afterReset = await client.waitFor("stats", (m) => m.destinations.some((d) => d.id === "stalled" && d.reconnects === 1));
    const lost = afterReset.destinations.find((d) => d.id === "stalled")!;
    expect(lost.framesLost).toBeGreaterThan(0);
    expect(lost.audioLost).toBeGreaterThan(0);

    proxy.resume();
    const back = await client.waitFor("destination", (m) => m.id === "stalled" && m.state === "live" && client.messages.indexOf(m) > client.messages.indexOf(reset), 10_000);
    expect(back).toBeDefined();
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    controller.abort();
    await sending;
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
    expect(client.finalStates()).toEqual({ stalled: "ended", direct: "ended" });
    expect(statsOf(client, "direct").at(-1)?.framesDropped).toBe(0);
  });

  it("a reset connection is aborted (RST): its backlog does not keep the old publish alive, and the reconnect goes live over the same slow link", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    // 0.5 Mbit/s: what the kernel holds for the old socket (~4 MB) would take a minute to get through.
    const proxy = await ThrottleProxy.start({ targetPort: nginx.port, bytesPerSecond: 64_000 });
    cleanups.push(() => proxy.close());
    const bridge = await startBridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      limits: { statsIntervalMs: 250 },
      destination: { congestion: { stallTimeoutMs: 1500 }, reconnect: { initialDelayMs: 300, jitter: 0, maxAttempts: 3 } },
    });
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "slow", url: `rtmp://127.0.0.1:${proxy.port}/live/rst` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media, VIDEO_BITRATE);
    const controller = new AbortController();
    const sending = client.sendRealtime(media.frames, { signal: controller.signal });
    try {
      await client.waitFor("destination", (m) => m.state === "live");
      await new Promise((r) => setTimeout(r, 1500));
      // The link stops for longer than the stall timeout, then goes on as slowly as before.
      proxy.pause();
      const reset = await client.waitFor("destination", (m) => m.state === "reconnecting", 15_000);
      expect(reset.code).toBe("DEST_STALLED");
      proxy.resume();
      const resetAt = performance.now();
      // The old connection is gone at once, backlog and all: nginx unpublishes it.
      const deadline = Date.now() + 2000;
      while (!/\*1 disconnect/.test(nginx.logs()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(nginx.logs()).toMatch(/\*1 disconnect/); // nginx's first connection: the one reset
      expect(performance.now() - resetAt).toBeLessThan(2000);
      // So the new publish is not refused as "already publishing", and goes live.
      const back = await client.waitFor("destination", (m) => m.state === "live" && client.messages.indexOf(m) > client.messages.indexOf(reset), 5000);
      expect(back).toBeDefined();
      expect(nginx.logs().match(/publish: name='rst'/g)).toHaveLength(2);
    } finally {
      controller.abort();
      await sending;
    }
    proxy.setRate(Number.POSITIVE_INFINITY);
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
  });

  it("shutdown with a congested destination: what was sent is delivered, the publish ends with deleteStream, within the bound", async () => {
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const proxy = await ThrottleProxy.start({ targetPort: nginx.port, bytesPerSecond: 375_000 });
    cleanups.push(() => proxy.close());
    const bridge = new Bridge({ port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }), limits: { statsIntervalMs: 250 } });
    await bridge.listen();
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "slow", url: `rtmp://127.0.0.1:${proxy.port}/live/down` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media, VIDEO_BITRATE);
    const controller = new AbortController();
    const sending = client.sendRealtime(media.frames, { signal: controller.signal });
    await client.waitFor("destination", (m) => m.state === "live");
    await client.waitFor("stats", (m) => m.destinations.some((d) => d.queuedMs > 700), 10_000);
    const closing = performance.now();
    await bridge.close();
    const closeMs = performance.now() - closing;
    controller.abort();
    await sending;
    expect(closeMs).toBeLessThan(5000);
    const final = statsOf(client, "slow").at(-1)!;
    expect(final).toMatchObject({ state: "ended", framesLost: 0, audioLost: 0, keyframesLost: 0 });
    const got = await framesOf(await nginx.waitForRecording("down"));
    expect(got.video.length + got.audio.length).toBe(final.framesSent);
    const log = nginx.logs();
    expect(log.indexOf("deleteStream")).toBeGreaterThan(log.indexOf("publish: name='down'"));
  });
});
