/**
 * The replay session (server/replay/replay-client.ts) against a scripted
 * bridge: a `ws` server that records what the client sends and answers as a
 * test tells it to. Checks the wire protocol sequence byte for byte, loops,
 * holding media until live, backpressure, and every way a session can end
 * (timeouts, the bridge closing or failing, frames too large, interruption).
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { decodeMediaFrame, fromBase64, SUBPROTOCOL, type BridgeMessage, type ClientMessage, type MediaFrame } from "../../protocol/wire.js";
import { destinationsFor, normalizeBridgeUrl, replayMany } from "../../server/replay/index.js";
import { replayMediaFromFlv, type ReplayMedia } from "../../server/replay/media.js";
import { Pacer } from "../../server/replay/pacer.js";
import { ReplaySession, type ReplaySessionOptions, type SessionResult } from "../../server/replay/replay-client.js";
import { WireFeed } from "../../server/replay/wire-feed.js";
import { cachedTestFlv } from "../support/ingest.js";
import { freePort } from "../../server/testing/ports.js";

let media: ReplayMedia;

beforeAll(async () => {
  media = replayMediaFromFlv(new Uint8Array(await readFile(await cachedTestFlv({ seconds: 3, gop: 60 }))), "3s.flv");
});

/** What the scripted bridge saw on one connection. */
interface Seen {
  ws: WebSocket;
  control: ClientMessage[];
  frames: MediaFrame[];
  /** Index in `frames` at the time each control message arrived. */
  controlAt: number[];
  protocol: string;
}

/** A scripted bridge: `script` is told each control message and answers through `send`. */
async function fakeBridge(script: (msg: ClientMessage, seen: Seen, send: (m: BridgeMessage) => void) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  await once(wss, "listening");
  const seen: Seen[] = [];
  wss.on("connection", (ws) => {
    const s: Seen = { ws, control: [], frames: [], controlAt: [], protocol: ws.protocol };
    seen.push(s);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        s.frames.push(decodeMediaFrame(new Uint8Array(data)));
        return;
      }
      const msg = JSON.parse(data.toString()) as ClientMessage;
      s.control.push(msg);
      s.controlAt.push(s.frames.length);
      script(msg, s, (m) => ws.send(JSON.stringify(m)));
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/ingest`,
    seen,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const ACCEPTED: BridgeMessage = {
  type: "accepted", session: "s_test", resumeToken: "r", resumed: false,
  destinations: [{ id: "d1", url: "rtmp://ingest.example/live/****" }], limits: { maxFrameBytes: 4 * 1024 * 1024, maxDestinations: 4 },
};

/** The normal bridge: accept, go live, and on "stop" end the destination and the session. */
function normalBridge(options: { live?: boolean; accepted?: BridgeMessage } = {}) {
  return (msg: ClientMessage, seen: Seen, send: (m: BridgeMessage) => void): void => {
    if (msg.type === "start") {
      send(options.accepted ?? ACCEPTED);
      send({ type: "destination", id: "d1", state: "connecting" });
      if (options.live ?? true) send({ type: "destination", id: "d1", state: "live" });
    } else if (msg.type === "stop") {
      send({ type: "destination", id: "d1", state: "ended" });
      send({ type: "ended", reason: "stopped" });
      seen.ws.close(1000, "stopped");
    }
  };
}

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

function session(url: string, options: Partial<ReplaySessionOptions> = {}): ReplaySession {
  return new ReplaySession({
    bridge: url,
    destinations: [{ id: "d1", url: "rtmp://ingest.example/live/secret-key" }],
    feed: new WireFeed(media),
    pacer: new Pacer(),
    pacing: "fast",
    ...options,
  });
}

describe("replay session: the wire protocol", () => {
  it("start, accepted, one config per track, every frame in order, stop, ended: completed", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const result = await session(bridge.url, { record: false, client: "replay-test" }).start();
    expect(result).toMatchObject({ ok: true, session: "s_test", framesSent: media.frames.length, passesSent: 1, closeCode: 1000, interrupted: false });
    expect(result.destinations).toEqual([
      { id: "d1", kind: "rtmp", target: "rtmp://ingest.example/live/****", outcome: "completed", state: "ended", wentLive: true },
    ]);
    const [seen] = bridge.seen;
    expect(seen!.protocol).toBe(SUBPROTOCOL);
    expect(seen!.control).toEqual([
      { type: "start", version: 1, destinations: [{ id: "d1", url: "rtmp://ingest.example/live/secret-key" }], record: false, client: "replay-test", interleaved: true, backpressure: true },
      { type: "config", track: 0, kind: "video", codec: media.video!.codec, description: expect.any(String) as unknown, ...(media.video!.frameRate !== undefined && { framerate: media.video!.frameRate }) },
      { type: "config", track: 1, kind: "audio", codec: "mp4a.40.2", description: expect.any(String) as unknown, sampleRate: 44100, channels: 1 },
      { type: "stop" },
    ]);
    expect(media.video!.codec).toMatch(/^avc1\.42c0/); // Constrained Baseline, from the avcC
    const [, video, audio] = seen!.control as [unknown, { description: string }, { description: string }];
    expect(fromBase64(video.description)).toEqual(media.video!.description);
    expect(fromBase64(audio.description)).toEqual(media.audio!.description);
    expect(seen!.controlAt).toEqual([0, 0, 0, media.frames.length]); // configs before media, stop after it
    expect(seen!.frames.map((f) => [f.track, f.keyframe, f.timestampUs, f.compositionUs, f.payload.byteLength])).toEqual(
      media.frames.map((f) => [f.track === "video" ? 0 : 1, f.keyframe, f.dtsUs, f.ctsUs, f.data.byteLength]),
    );
  });

  it("loop 3: three passes, timestamps going on by the pass length; passes freed afterwards", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const feed = new WireFeed(media);
    const result = await session(bridge.url, { loop: 3, feed }).start();
    expect(result).toMatchObject({ ok: true, passesSent: 3, framesSent: 3 * media.frames.length });
    const frames = bridge.seen[0]!.frames;
    const n = media.frames.length;
    for (let k = 0; k < 3; k++) {
      for (const i of [0, 1, n - 1]) expect(frames[k * n + i]!.timestampUs).toBe(media.frames[i]!.dtsUs + k * media.durationUs);
    }
    expect(feed.builtPasses).toBe(1);
  });

  it("fast pacing holds media until a destination is live", async () => {
    let sendLive: (() => void) | undefined;
    const bridge = await fakeBridge((msg, seen, send) => {
      if (msg.type === "start") {
        send(ACCEPTED);
        send({ type: "destination", id: "d1", state: "connecting" });
        sendLive = () => send({ type: "destination", id: "d1", state: "live" });
      } else {
        normalBridge()(msg, seen, send);
      }
    });
    servers.push(bridge);
    const s = session(bridge.url);
    const done = s.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(s.state).toBe("waitingLive");
    expect(bridge.seen[0]!.frames).toHaveLength(0);
    sendLive!();
    expect((await done).ok).toBe(true);
    expect(bridge.seen[0]!.frames).toHaveLength(media.frames.length);
  });

  it("realtime pacing sends each frame when it is due", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const arrivals: number[] = [];
    const start = Date.now();
    const s = session(bridge.url, { pacing: "realtime" });
    const done = s.start();
    const poll = setInterval(() => arrivals.push(bridge.seen[0]?.frames.length ?? 0), 500);
    const result = await done;
    clearInterval(poll);
    expect(result.ok).toBe(true);
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThan(media.durationUs / 1000 - 100);
    expect(elapsed).toBeLessThan(media.durationUs / 1000 + 1500);
    // At 1 s and 2 s about a third and two thirds had arrived, not everything.
    expect(arrivals[1]! / media.frames.length).toBeGreaterThan(0.2);
    expect(arrivals[1]! / media.frames.length).toBeLessThan(0.5);
    expect(arrivals[3]! / media.frames.length).toBeLessThan(0.8);
  });

  it("backpressure: a bridge that stops reading stalls the client at the high-water mark; it resumes when reading resumes", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const s = session(bridge.url, { loop: 40, highWaterBytes: 256 * 1024 }); // 40 x 0.8 MB: more than socket buffers hold
    const done = s.start();
    while (bridge.seen[0]?.frames.length === undefined || bridge.seen[0].frames.length < 10) await new Promise((r) => setTimeout(r, 10));
    bridge.seen[0].ws.pause();
    await new Promise((r) => setTimeout(r, 500));
    const stalled = s.progress.bytesSent;
    await new Promise((r) => setTimeout(r, 500));
    expect(s.progress.bytesSent).toBe(stalled); // nothing more written while the bridge does not read
    expect(stalled).toBeLessThan(40 * new WireFeed(media).passBytes / 2);
    bridge.seen[0].ws.resume();
    const result = await done;
    expect(result).toMatchObject({ ok: true, passesSent: 40 });
    expect(bridge.seen[0].frames).toHaveLength(40 * media.frames.length);
  });

  it("maxBitrate caps the average sending rate of fast pacing", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const bits = new WireFeed(media).passBytes * 8;
    const started = Date.now();
    const result = await session(bridge.url, { maxBitrate: bits * 2 }).start(); // the whole file in about 0.5 s
    const elapsed = Date.now() - started;
    expect(result.ok).toBe(true);
    expect(elapsed).toBeGreaterThan(400);
    expect(elapsed).toBeLessThan(1500);
    expect(() => session(bridge.url, { maxBitrate: 0 })).toThrow(TypeError);
  });
});

describe("replayMany and its helpers", () => {
  it("n sessions share one feed and one pacer; aborting stops every session cleanly", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 400);
    const result = await replayMany(3, { file: media, bridge: bridge.url, to: ["rtmp://ingest.example/live/key-{session}"], pacing: "realtime", signal: controller.signal, zeroMask: true });
    expect(result.sessions).toHaveLength(3);
    expect(result.sessions.map((s) => [s.ok, s.interrupted])).toEqual([[true, true], [true, true], [true, true]]);
    expect(bridge.seen.map((s) => (s.control[0] as { destinations: unknown[] }).destinations)).toEqual(
      [1, 2, 3].map((i) => [{ id: "d1", url: `rtmp://ingest.example/live/key-${i}` }]),
    );
    for (const s of bridge.seen) expect(s.control.at(-1)).toEqual({ type: "stop" });
    // Realtime sessions started together send the same frames at the same times.
    const counts = bridge.seen.map((s) => s.frames.length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThan(10);
  });

  it("normalizeBridgeUrl: ws(s) as is, http(s) as ws(s), /ingest for a bare host; anything else is a TypeError", () => {
    expect(normalizeBridgeUrl("ws://127.0.0.1:8080/ingest")).toBe("ws://127.0.0.1:8080/ingest");
    expect(normalizeBridgeUrl("http://bridge.example:8080")).toBe("ws://bridge.example:8080/ingest");
    expect(normalizeBridgeUrl("https://bridge.example/")).toBe("wss://bridge.example/ingest");
    expect(normalizeBridgeUrl(" wss://b.example/custom/path ")).toBe("wss://b.example/custom/path");
    expect(() => normalizeBridgeUrl("rtmp://x/app")).toThrow(/must be ws:\/\/ or wss:\/\//);
    expect(() => normalizeBridgeUrl("not a url")).toThrow(/is not a URL/);
  });

  it("destinationsFor: ids d1.., {session} replaced in URLs and keys, or a function of the session", () => {
    expect(destinationsFor(["rtmp://h/live/a-{session}", { id: "yt", url: "rtmp://h/live2", key: "k{session}" }], 7)).toEqual([
      { id: "d1", url: "rtmp://h/live/a-7" },
      { id: "yt", url: "rtmp://h/live2", key: "k7" },
    ]);
    expect(destinationsFor((n) => [`rtmp://h${n}/live/k`], 2)).toEqual([{ id: "d1", url: "rtmp://h2/live/k" }]);
    expect(destinationsFor(undefined, 1)).toEqual([]);
  });
});

describe("replay session: how it can end", () => {
  it("REPLAY_TIMEOUT: no \"accepted\"", async () => {
    const bridge = await fakeBridge(() => undefined);
    servers.push(bridge);
    const result = await session(bridge.url, { acceptTimeoutMs: 200 }).start();
    expect(result.ok).toBe(false);
    expect(result.error).toEqual({ code: "REPLAY_TIMEOUT", message: "the bridge did not accept the session within 200 ms" });
    expect(result.destinations[0]).toMatchObject({ outcome: "failed", code: "REPLAY_TIMEOUT", state: "unknown" });
  });

  it("REPLAY_TIMEOUT: no \"ended\" after \"stop\"", async () => {
    const bridge = await fakeBridge((msg, seen, send) => {
      if (msg.type !== "stop") normalBridge()(msg, seen, send);
    });
    servers.push(bridge);
    const result = await session(bridge.url, { endTimeoutMs: 200 }).start();
    expect(result.error).toEqual({ code: "REPLAY_TIMEOUT", message: "the bridge did not end the session within 200 ms of \"stop\" (or of its last \"stats\")" });
    expect(result.destinations[0]).toMatchObject({ outcome: "failed", wentLive: true, state: "live" });
  });

  it("BRIDGE_CLOSED: the bridge drops the connection mid-stream", async () => {
    const bridge = await fakeBridge((msg, seen, send) => {
      normalBridge()(msg, seen, send);
      if (msg.type === "start") setTimeout(() => seen.ws.close(4500, "bridge error"), 50);
    });
    servers.push(bridge);
    // Without reconnecting (with it, test/resilience/drain.test.ts): the close is the session's end.
    const result = await session(bridge.url, { pacing: "realtime", reconnect: false }).start();
    expect(result.error).toEqual({ code: "BRIDGE_CLOSED", message: "the bridge closed the connection in the middle of the session (close code 4500)" });
    expect(result.closeCode).toBe(4500);
    expect(result.destinations[0]).toMatchObject({ outcome: "failed", code: "BRIDGE_CLOSED" });
  });

  it("a fatal \"error\" from the bridge is the session's error; destinations keep their own failures", async () => {
    const bridge = await fakeBridge((msg, seen, send) => {
      if (msg.type !== "start") return;
      send(ACCEPTED);
      send({ type: "destination", id: "d1", state: "failed", code: "PUBLISH_BAD_NAME", message: "the server rejected the stream key" });
      send({ type: "error", code: "ALL_DESTINATIONS_FAILED", message: "every destination failed", fatal: true });
      seen.ws.close(4010, "ALL_DESTINATIONS_FAILED");
    });
    servers.push(bridge);
    const result = await session(bridge.url).start();
    expect(result.error).toEqual({ code: "ALL_DESTINATIONS_FAILED", message: "every destination failed" });
    expect(result.destinations[0]).toMatchObject({ outcome: "failed", code: "PUBLISH_BAD_NAME", message: "the server rejected the stream key" });
    expect(result.framesSent).toBe(0);
  });

  it("non-fatal errors are warnings; a destination that never went live is DESTINATION_NEVER_LIVE", async () => {
    const bridge = await fakeBridge((msg, seen, send) => {
      if (msg.type === "start") send({ type: "error", code: "SLOW", message: "just so you know", fatal: false });
      normalBridge({ live: false })(msg, seen, send);
    });
    servers.push(bridge);
    const result = await session(bridge.url, { waitForLive: false }).start();
    expect(result.error).toBeUndefined();
    expect(result.warnings).toEqual([{ code: "SLOW", message: "just so you know" }]);
    expect(result.ok).toBe(false);
    expect(result.destinations[0]).toMatchObject({ outcome: "failed", code: "DESTINATION_NEVER_LIVE", state: "ended" });
  });

  it("REPLAY_FRAME_TOO_LARGE: the bridge's limit is below the largest frame; nothing is sent but \"stop\"", async () => {
    const accepted = { ...ACCEPTED, limits: { maxFrameBytes: 1000, maxDestinations: 4 } } as BridgeMessage;
    const bridge = await fakeBridge(normalBridge({ accepted }));
    servers.push(bridge);
    const result = await session(bridge.url).start();
    expect(result.error?.code).toBe("REPLAY_FRAME_TOO_LARGE");
    expect(result.error?.message).toBe(`3s.flv has a ${media.largestFrameBytes}-byte frame; the bridge accepts at most 1000 bytes`);
    expect(bridge.seen[0]!.control.map((m) => m.type)).toEqual(["start", "stop"]);
    expect(bridge.seen[0]!.frames).toHaveLength(0);
  });

  it("stop(): ends early and cleanly, marked interrupted", async () => {
    const bridge = await fakeBridge(normalBridge());
    servers.push(bridge);
    const s = session(bridge.url, { pacing: "realtime" });
    const done = s.start();
    await new Promise((r) => setTimeout(r, 500));
    s.stop();
    const result = await done;
    expect(result).toMatchObject({ ok: true, interrupted: true });
    expect(result.framesSent).toBeGreaterThan(0);
    expect(result.framesSent).toBeLessThan(media.frames.length / 2);
    expect(bridge.seen[0]!.control.at(-1)).toEqual({ type: "stop" });
  });

  it("BRIDGE_UNREACHABLE: nothing listening, an HTTP refusal (no subprotocol), a URL that is not ws://", async () => {
    const closed = await freePort();
    const refused = await session(`ws://127.0.0.1:${closed}/ingest`).start();
    expect(refused.error?.code).toBe("BRIDGE_UNREACHABLE");
    expect(refused.error?.message).toMatch(new RegExp(`cannot reach the bridge at ws://127\\.0\\.0\\.1:${closed}/ingest: connect ECONNREFUSED`));
    expect(refused.closeCode).toBeUndefined();

    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", verifyClient: (_info, cb) => cb(false, 400, "WebSocket subprotocol golive.v1 required") });
    await once(wss, "listening");
    servers.push({ close: () => new Promise((r) => wss.close(() => r())) });
    const http = await session(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ingest`).start();
    expect(http.error?.message).toMatch(/Unexpected server response: 400/);

    const bad: SessionResult = await session("ftp://example/").start();
    expect(bad.error?.code).toBe("BRIDGE_UNREACHABLE");
    expect(bad.error?.message).toMatch(/^ftp:\/\/example\/ is not a bridge URL/);
  });
});
