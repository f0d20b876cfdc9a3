// Upstream loss: an ingest dies mid-stream and comes back on the same port.
// That destination reconnects (with backoff) and restarts cleanly at a
// keyframe with onMetaData and sequence headers, stamped with that
// keyframe's time; the other destination never notices; /metrics counts
// exactly one reconnect.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import type { LookupFunction } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, type DestinationMessage, type StatsMessage } from "../../protocol/wire.js";
import { MessageType } from "../../wasm/host/index.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { parseAudioBody, parseVideoBody, readFlv } from "../support/flv-read.js";
import { cachedTestFlv, startNginxRtmp, waitForStableFile } from "../support/ingest.js";
import { ScriptedServer } from "../support/scripted-server.js";
import { WireTestClient } from "../support/wire-client.js";

let bridge: Bridge;
let recordDir: string;
let media: FlvAsWire;
const cleanups: Array<() => Promise<void>> = [];

/** First retry 800 ms after the loss, no jitter: the restarted ingest (about 50 ms) is up by then. */
const RECONNECT = { initialDelayMs: 800, jitter: 0, maxAttempts: 10 };

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-upstream-loss-"));
  bridge = new Bridge({
    port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
    limits: { statsIntervalMs: 250 },
    destination: { reconnect: RECONNECT },
  });
  await bridge.listen();
  media = await flvAsWire(await cachedTestFlv({ seconds: 12, gop: 60 }));
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  await bridge?.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** One audio or video frame of a recording (sequence headers apart). */
interface Tag {
  ts: number;
  key: boolean;
  payload: Uint8Array;
}

/** An FLV recording taken apart: leading tags, sequence headers, frames per track. */
async function readRecording(path: string): Promise<{ kinds: string[]; headerTs: number[]; video: Tag[]; audio: Tag[] }> {
  const flv = readFlv(new Uint8Array(await readFile(path)));
  const kinds: string[] = [];
  const headerTs: number[] = [];
  const video: Tag[] = [];
  const audio: Tag[] = [];
  for (const tag of flv.tags) {
    if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind !== "legacy") throw new Error("unexpected enhanced video tag");
      if (v.avcPacketType === 0) {
        kinds.push("avcHeader");
        headerTs.push(tag.timestamp);
      } else {
        kinds.push(v.frameType === 1 ? "keyframe" : "video");
        video.push({ ts: tag.timestamp, key: v.frameType === 1, payload: v.payload });
      }
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind !== "legacy") throw new Error("unexpected enhanced audio tag");
      if (a.aacPacketType === 0) {
        kinds.push("aacHeader");
        headerTs.push(tag.timestamp);
      } else {
        kinds.push("audio");
        audio.push({ ts: tag.timestamp, key: true, payload: a.payload });
      }
    } else {
      kinds.push(`script`);
    }
  }
  return { kinds, headerTs, video, audio };
}

/** The input's frames of one track, as recording tags (input time, ms). */
function inputTags(track: 0 | 1): Tag[] {
  return media.frames.filter((f) => f.track === track).map((f) => ({ ts: f.timestampUs / 1000, key: track === 1 || f.keyframe, payload: f.payload }));
}

/** Same frames in the same order, byte for byte, and timestamps within 1 ms of `offset` + the input's. */
function expectSameFrames(got: Tag[], want: Tag[], label: string, offset = 0): void {
  expect(got.length, `${label}: frame count`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g.key !== w.key || Buffer.compare(g.payload, w.payload) !== 0 || Math.abs(g.ts - (w.ts + offset)) > 1) {
      expect.fail(`${label}: frame ${i} differs: got ts ${g.ts} key ${g.key} ${g.payload.byteLength} bytes, want ts ${w.ts + offset} key ${w.key} ${w.payload.byteLength} bytes`);
    }
  }
}

async function scrape(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${bridge.address.port}/metrics`)).text();
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** The states one destination went through, in order. */
function statesOf(client: WireTestClient, id: string): DestinationMessage[] {
  return client.messages.filter((m): m is DestinationMessage => m.type === "destination" && m.id === id);
}

/** Resolves `ms` after media time 0 of a realtime send started at `originMs`. */
function atMediaTime(originMs: number, ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, originMs + ms - performance.now())));
}

describe("upstream loss", () => {
  it("an ingest restarting on the same port: that destination reconnects once and restarts at a keyframe; the other is untouched", async () => {
    const a = await startNginxRtmp({ recordUnique: true });
    cleanups.push(() => a.dispose());
    const b = await startNginxRtmp({ recordUnique: true });
    cleanups.push(() => b.dispose());
    const before = await scrape();

    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "a", url: `${a.rtmpUrl()}/loss-a` }, { id: "b", url: `${b.rtmpUrl()}/loss-b` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const originMs = performance.now();
    const sending = client.sendRealtime(media.frames, { originMs });
    await client.waitFor("destination", (m) => m.id === "a" && m.state === "live");
    await client.waitFor("destination", (m) => m.id === "b" && m.state === "live");

    // Mid-stream (4.5 s: between the keyframes at 4 s and 6 s), A dies and a
    // new nginx takes its port and record dir.
    await atMediaTime(originMs, 4500);
    await a.stop();
    const a2 = await startNginxRtmp({ recordUnique: true, port: a.port, recordDir: a.recordDir });
    cleanups.push(() => a2.dispose());
    const reconnecting = await client.waitFor("destination", (m) => m.id === "a" && m.state === "reconnecting");
    expect(reconnecting.code).toBe("RTMP_SERVER_CLOSED");
    expect(reconnecting.attempt).toBe(1);
    await client.waitFor("destination", (m) => m.id === "a" && m.state === "live" && statesOf(client, "a").indexOf(m) > statesOf(client, "a").indexOf(reconnecting));

    expect((await sending).next).toBe(media.frames.length);
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
    expect((await client.closed).code).toBe(CloseCode.Normal);

    expect(statesOf(client, "a").map((m) => m.state)).toEqual(["connecting", "live", "reconnecting", "live", "ended"]);
    expect(statesOf(client, "b").map((m) => m.state)).toEqual(["connecting", "live", "ended"]);
    const finalStats = client.messages.filter((m): m is StatsMessage => m.type === "stats").at(-1)!;
    const statsA = finalStats.destinations.find((d) => d.id === "a")!;
    const statsB = finalStats.destinations.find((d) => d.id === "b")!;
    expect(statsA.reconnects).toBe(1);
    expect(statsA.framesDropped).toBeGreaterThan(0);
    expect(statsB).toMatchObject({ reconnects: 0, framesDropped: 0, framesSent: media.frames.length });

    // A: two recordings, one per publish. The second starts with the
    // sequence headers and a keyframe, all at its time 0, and from there on
    // holds exactly the input from that keyframe on.
    const files = (await readdir(a.recordDir)).filter((f) => f.startsWith("loss-a-")).sort();
    expect(files).toHaveLength(2);
    const secondPath = join(a.recordDir, files[1]!);
    await waitForStableFile(secondPath);
    const second = await readRecording(secondPath);
    // (nginx-rtmp records no onMetaData, and writes the AAC header twice:
    // the next test checks what the bridge itself sends, message by message.)
    const firstFrame = second.kinds.findIndex((k) => k === "keyframe" || k === "video" || k === "audio");
    expect(new Set(second.kinds.slice(0, firstFrame))).toEqual(new Set(["avcHeader", "aacHeader"]));
    expect(second.kinds[firstFrame]).toBe("keyframe");
    expect(second.video[0]!.ts).toBe(0);
    expect(second.headerTs.every((t) => t === 0)).toBe(true);
    const restartKey = inputTags(0).findIndex((t) => Buffer.compare(t.payload, second.video[0]!.payload) === 0);
    expect(restartKey).toBeGreaterThan(0);
    const keyTs = inputTags(0)[restartKey]!.ts;
    expect(keyTs).toBeGreaterThanOrEqual(5000); // the first keyframe after the restart, not an old one
    expect(keyTs).toBeLessThanOrEqual(8000);
    expectSameFrames(second.video, inputTags(0).slice(restartKey), "A after the reconnect, video", -keyTs);
    expectSameFrames(second.audio, inputTags(1).filter((t) => t.ts >= keyTs), "A after the reconnect, audio", -keyTs);

    // B: the whole input, unbroken.
    const recB = await readRecording(await b.waitForRecording("loss-b"));
    expectSameFrames(recB.video, inputTags(0), "B video");
    expectSameFrames(recB.audio, inputTags(1), "B audio");
    expect(b.logs().match(/publish: name='loss-b'/g)).toHaveLength(1);

    const after = await scrape();
    expect(metric(after, "golive_destination_reconnects_total") - metric(before, "golive_destination_reconnects_total")).toBe(1);
  });

  it("after a reset, the new connection sends onMetaData, the AVC and AAC sequence headers and a keyframe first, all at the keyframe's time", async () => {
    const server = await ScriptedServer.start();
    cleanups.push(() => server.close());
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: server.url("loss-s") }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const originMs = performance.now();
    const sending = client.sendRealtime(media.frames, { originMs, to: media.frames.findIndex((f) => f.timestampUs >= 5_000_000) });
    const first = await server.connection(0);
    await atMediaTime(originMs, 2500);
    first.reset();
    const second = await server.connection(1, 5000);
    await second.waitFor((m) => m.type === MessageType.Video && m.payload[1] === 1, 5000);
    await sending;
    client.send({ type: "stop" });
    await client.waitFor("ended");
    await second.closed;

    const afterPublish = second.received.slice(second.received.findIndex((m) => m.name === "publish") + 1);
    const [meta, avc, aac, key] = afterPublish;
    expect(meta?.name).toBe("@setDataFrame");
    expect(meta?.amf?.[1]).toBe("onMetaData");
    expect(avc?.type).toBe(MessageType.Video);
    expect([avc?.payload[0], avc?.payload[1]]).toEqual([0x17, 0]); // keyframe, AVC, sequence header
    expect(aac?.type).toBe(MessageType.Audio);
    expect([aac!.payload[0]! >> 4, aac!.payload[1]]).toEqual([10, 0]); // AAC, sequence header
    expect(key?.type).toBe(MessageType.Video);
    expect([key?.payload[0], key?.payload[1]]).toEqual([0x17, 1]); // keyframe, AVC, NAL units
    expect(key!.timestamp).toBeGreaterThan(2500);
    expect(avc!.timestamp).toBe(key!.timestamp);
    expect(aac!.timestamp).toBe(key!.timestamp);
    // The new connection's media never goes back in time.
    const mediaTs = afterPublish.filter((m) => m.type === MessageType.Video || m.type === MessageType.Audio);
    for (const kind of [MessageType.Video, MessageType.Audio]) {
      const ts = mediaTs.filter((m) => m.type === kind).map((m) => m.timestamp);
      expect(ts, `type ${kind}`).toEqual([...ts].sort((x, y) => x - y));
    }
    expect(second.names().slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
  });

  it("a reconnect answered with BadName (the ingest still holds the dead publish) is retried, not given up", async () => {
    const connections: unknown[] = [];
    const server = await ScriptedServer.start({
      onMessage: (c, msg) => {
        if (!connections.includes(c)) connections.push(c);
        // The second connection's publish: nginx-rtmp's answer while the old publish lingers.
        if (msg.name !== "publish" || connections.indexOf(c) !== 1) return false;
        c.sendOnStatus("NetStream.Publish.BadName", "error", "Already publishing", msg.streamId);
        return true;
      },
    });
    cleanups.push(() => server.close());
    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: server.url("busy") }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const originMs = performance.now();
    const sending = client.sendRealtime(media.frames, { originMs, to: media.frames.findIndex((f) => f.timestampUs >= 5_000_000) });
    await client.waitFor("destination", (m) => m.state === "live");
    await atMediaTime(originMs, 1000);
    (await server.connection(0)).reset();
    const busy = await client.waitFor("destination", (m) => m.state === "reconnecting" && m.attempt === 2, 5000);
    expect(busy.code).toBe("PUBLISH_BAD_NAME");
    const third = await server.connection(2, 5000);
    await third.waitFor((m) => m.type === MessageType.Video && m.payload[1] === 1, 5000);
    await sending;
    client.send({ type: "stop" });
    await client.waitFor("ended");
    expect(statesOf(client, "s").map((m) => [m.state, m.code])).toEqual([
      ["connecting", undefined], ["live", undefined], ["reconnecting", "RTMP_SERVER_CLOSED"], ["reconnecting", "PUBLISH_BAD_NAME"], ["live", undefined], ["ended", undefined],
    ]);
  });

  it("a name that fails to resolve while the network is down is retried once it is back", async () => {
    const server = await ScriptedServer.start();
    cleanups.push(() => server.close());
    let dnsDown = false;
    // The ingest's name, resolved by a lookup the test controls (EAI_AGAIN: "try again later").
    const lookup = ((hostname: string, options: { all?: boolean }, callback: (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => void) => {
      if (dnsDown || hostname !== "ingest.test") {
        callback(Object.assign(new Error(`getaddrinfo EAI_AGAIN ${hostname}`), { code: "EAI_AGAIN" }), undefined);
        return;
      }
      if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
    }) as unknown as LookupFunction;
    const named = new Bridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      publisher: { lookup },
      destination: { reconnect: { initialDelayMs: 200, factor: 1, jitter: 0, maxAttempts: 10 } },
    });
    await named.listen();
    cleanups.push(() => named.close());
    const client = await WireTestClient.connect(named.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: `rtmp://ingest.test:${server.port}/live/dns` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const sending = client.sendRealtime(media.frames, { to: media.frames.findIndex((f) => f.timestampUs >= 4_000_000) });
    await client.waitFor("destination", (m) => m.state === "live");
    dnsDown = true;
    (await server.connection(0)).reset();
    const down = await client.waitFor("destination", (m) => m.state === "reconnecting" && m.code === "RTMP_DNS_FAILED", 5000);
    expect(down.attempt).toBeGreaterThanOrEqual(2);
    dnsDown = false;
    await client.waitFor("destination", (m) => m.state === "live" && client.messages.indexOf(m) > client.messages.indexOf(down), 5000);
    await sending;
    client.send({ type: "stop" });
    await client.waitFor("ended");
    expect(client.finalStates()).toEqual({ s: "ended" });
  });

  it("gives up after maxAttempts: the destination fails and, as the only one, fails the session", async () => {
    const limited = new Bridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      destination: { reconnect: { initialDelayMs: 100, factor: 1.5, jitter: 0, maxAttempts: 3 } },
    });
    await limited.listen();
    cleanups.push(() => limited.close());
    const server = await ScriptedServer.start();
    const client = await WireTestClient.connect(limited.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: server.url("gone") }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const sending = client.sendRealtime(media.frames);
    await client.waitFor("destination", (m) => m.state === "live");
    await server.close(); // the listener too: every retry is refused
    const failed = await client.waitFor("destination", (m) => m.state === "failed", 10_000);
    expect(failed.code).toBe("RTMP_CONNECTION_REFUSED");
    const attempts = statesOf(client, "s").filter((m) => m.state === "reconnecting").map((m) => m.attempt);
    expect(attempts).toEqual([1, 2, 3]);
    expect((await client.waitFor("error")).code).toBe("ALL_DESTINATIONS_FAILED");
    expect((await client.closed).code).toBe(CloseCode.AllDestinationsFailed);
    await sending;
    expect(limited.sessions.size).toBe(0);
  });

  it("backoff grows to its cap, each reconnecting message says when the next try is, and after retryForMs the destination gives up", async () => {
    const limited = new Bridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      destination: { reconnect: { initialDelayMs: 100, factor: 2, maxDelayMs: 300, jitter: 0, retryForMs: 1500, probeIntervalMs: 0 } },
    });
    await limited.listen();
    cleanups.push(() => limited.close());
    const server = await ScriptedServer.start();
    const client = await WireTestClient.connect(limited.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: server.url("capped") }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const controller = new AbortController();
    const sending = client.sendRealtime(media.frames, { signal: controller.signal });
    await client.waitFor("destination", (m) => m.state === "live");
    await server.close();
    const lostAt = performance.now();
    const failed = await client.waitFor("destination", (m) => m.state === "failed", 10_000);
    const waited = performance.now() - lostAt;
    controller.abort();
    await sending;
    const retries = statesOf(client, "s").filter((m) => m.state === "reconnecting");
    expect(retries.map((m) => m.retryInMs)).toEqual([100, 200, 300, 300, 300].slice(0, retries.length));
    expect(retries.map((m) => m.attempt)).toEqual(retries.map((_, i) => i + 1));
    expect(retries.length).toBeGreaterThanOrEqual(4);
    expect(failed.code).toBe("RTMP_CONNECTION_REFUSED");
    expect(failed.message).toMatch(/gave up after \d+ attempts over \d+ s/);
    expect(waited).toBeGreaterThan(1000);
    expect(waited).toBeLessThan(3000);
  });

  it("while the ingest is down its port is probed: once it answers again the destination republishes at once, not after the backoff", async () => {
    const a = await startNginxRtmp({ recordUnique: true });
    cleanups.push(() => a.dispose());
    const probing = new Bridge({
      port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "silent" }),
      destination: { reconnect: { initialDelayMs: 20_000, maxDelayMs: 20_000, jitter: 0, probeIntervalMs: 100 } },
    });
    await probing.listen();
    cleanups.push(() => probing.close());
    const client = await WireTestClient.connect(probing.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "a", url: `${a.rtmpUrl()}/probe-a` }] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const controller = new AbortController();
    const sending = client.sendRealtime(media.frames, { signal: controller.signal });
    try {
      await client.waitFor("destination", (m) => m.state === "live");
      await a.stop();
      const reconnecting = await client.waitFor("destination", (m) => m.state === "reconnecting");
      expect(reconnecting).toMatchObject({ attempt: 1, retryInMs: 20_000 });
      await new Promise((r) => setTimeout(r, 1500)); // down for a while: probes are refused
      const a2 = await startNginxRtmp({ recordUnique: true, port: a.port, recordDir: a.recordDir });
      cleanups.push(() => a2.dispose());
      const upAt = performance.now();
      await client.waitFor("destination", (m) => m.state === "live" && client.messages.indexOf(m) > client.messages.indexOf(reconnecting), 5000);
      const republishMs = performance.now() - upAt;
      expect(republishMs).toBeLessThan(1000);
      expect(statesOf(client, "a").filter((m) => m.state === "reconnecting")).toHaveLength(1);
    } finally {
      controller.abort();
      await sending;
    }
    client.send({ type: "stop" });
    await client.waitFor("ended", () => true, 20_000);
  });
});
