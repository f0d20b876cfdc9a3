// Every limit that keeps one client from taking the bridge down: each test
// trips one limit and checks its code and close code, while another session
// on the same bridge records the whole clip in real time (faster than real
// time, paced) and finishes intact: its recording is probed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Bridge, type BridgeOptions } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, decodeBridgeMessage, encodeMessage, MEDIA_HEADER_SIZE, SUBPROTOCOL, type BridgeMessage, type MediaFrame } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

/** The good session plays the clip at this many times real time. */
const SPEED = 2;

let media: FlvAsWire;
let recordDir: string;
let trap: Server;
let trapPort: number;
let trapConnections = 0;
const bridges: Bridge[] = [];

beforeAll(async () => {
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
  recordDir = await mkdtemp(join(tmpdir(), "golive-security-limits-"));
  trap = createServer((socket) => {
    trapConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  trapPort = (trap.address() as { port: number }).port;
});

afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.close()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => (trap ? trap.close(() => resolve()) : resolve()));
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

async function bridgeWith(options: Omit<BridgeOptions, "logger">): Promise<Bridge> {
  const bridge = new Bridge({ port: 0, recordDir, logger: createLogger({ level: "silent" }), ...options, limits: { statsIntervalMs: 200, ...options.limits } });
  bridges.push(bridge);
  await bridge.listen();
  return bridge;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `frames` at their timestamps, `speed` times real time. */
async function sendPaced(c: WireTestClient, frames: readonly MediaFrame[], speed: number): Promise<void> {
  const t0 = performance.now();
  const base = frames[0]!.timestampUs;
  for (const f of frames) {
    const wait = (f.timestampUs - base) / 1000 / speed - (performance.now() - t0);
    if (wait > 1) await sleep(wait);
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.sendFrame(f);
  }
}

interface GoodSession {
  /** False until every frame was sent. */
  readonly sent: () => boolean;
  /** Stops it and checks it ended normally with a complete recording. */
  finish(): Promise<void>;
}

/** A recording-only session that plays the clip paced; the limit under test must not touch it. */
async function startGood(bridge: Bridge): Promise<GoodSession> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  c.send({ type: "start", version: 1, destinations: [], record: true });
  const accepted = await c.waitFor("accepted");
  c.sendConfigs(media);
  let sent = false;
  const sending = sendPaced(c, media.frames, SPEED).then(() => {
    sent = true;
  });
  return {
    sent: () => sent,
    async finish() {
      await sending;
      c.send({ type: "stop" });
      await c.waitFor("ended", () => true, 30_000);
      expect((await c.closed).code).toBe(CloseCode.Normal);
      expect(c.messages.filter((m) => m.type === "error")).toEqual([]);
      expect(c.finalStates()).toEqual({ recording: "ended" });
      const probe = await ffprobeFrames(join(recordDir, accepted.recording!));
      expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
    },
  };
}

/** Waits for the fatal error `code` and the close `closeCode`; checks the good session was still sending then. */
async function expectFatal(c: WireTestClient, code: string, closeCode: number, good: GoodSession): Promise<string> {
  const err = await c.waitFor("error");
  expect(good.sent(), "the good session was still sending when the limit hit").toBe(false);
  expect(err).toMatchObject({ code, fatal: true });
  expect((await c.closed).code).toBe(closeCode);
  return err.message;
}

/** A bare client that can connect from another loopback address (127.0.0.2). */
async function rawClient(url: string, localAddress: string): Promise<{ messages: BridgeMessage[]; closed: Promise<number>; send(m: object): void; ws: WebSocket }> {
  const ws = new WebSocket(url, [SUBPROTOCOL], { localAddress });
  const messages: BridgeMessage[] = [];
  ws.on("message", (data: Buffer, binary: boolean) => {
    if (!binary) messages.push(decodeBridgeMessage(data.toString("utf8")));
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { messages, closed, ws, send: (m) => ws.send(encodeMessage(m as never)) };
}

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** A recording-only session that started: for filling session slots. */
async function filler(bridge: Bridge): Promise<WireTestClient> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  c.send({ type: "start", version: 1, destinations: [], record: true });
  await c.waitFor("accepted");
  return c;
}

async function stopped(c: WireTestClient): Promise<void> {
  c.send({ type: "stop" });
  expect((await c.closed).code).toBe(CloseCode.Normal);
}

describe("limits", () => {
  it("maxSessions: a connection past the limit gets SESSION_LIMIT, close 4009; so does the loser of a race to start", async () => {
    const bridge = await bridgeWith({ maxSessions: 2 });
    const good = await startGood(bridge);
    const second = await filler(bridge);
    const third = await WireTestClient.connect(bridge.ingestUrl);
    const message = await expectFatal(third, "SESSION_LIMIT", CloseCode.LimitExceeded, good);
    expect(message).toMatch(/at most 2 sessions/);
    expect(bridge.sessions.size).toBe(2);
    // One slot free; two clients connect before either starts: only one may get it.
    await stopped(second);
    const a = await WireTestClient.connect(bridge.ingestUrl);
    const b = await WireTestClient.connect(bridge.ingestUrl);
    for (const c of [a, b]) c.send({ type: "start", version: 1, destinations: [], record: true });
    await until(() => [a, b].every((c) => c.messages.some((m) => m.type === "accepted" || m.type === "error")));
    const outcomes = [a, b].map((c) => c.messages.find((m) => m.type === "accepted" || m.type === "error")!);
    expect(outcomes.map((m) => (m.type === "error" ? m.code : m.type)).sort()).toEqual(["SESSION_LIMIT", "accepted"]);
    expect(bridge.sessions.size).toBe(2);
    const loser = outcomes[0]!.type === "error" ? a : b;
    expect((await loser.closed).code).toBe(CloseCode.LimitExceeded);
    await stopped(loser === a ? b : a);
    await good.finish();
  });

  it("maxSessionsPerIp: a third session from 127.0.0.1 gets SESSION_LIMIT_PER_IP, close 4009; 127.0.0.2 is still welcome", async () => {
    const bridge = await bridgeWith({ maxSessionsPerIp: 2 });
    const good = await startGood(bridge);
    const second = await filler(bridge);
    const third = await WireTestClient.connect(bridge.ingestUrl);
    third.send({ type: "start", version: 1, destinations: [], record: true }); // sessions count, not sockets: refused at start
    const message = await expectFatal(third, "SESSION_LIMIT_PER_IP", CloseCode.LimitExceeded, good);
    expect(message).toMatch(/at most 2 sessions per address/);
    const other = await rawClient(bridge.ingestUrl, "127.0.0.2");
    other.send({ type: "start", version: 1, destinations: [], record: true });
    await until(() => other.messages.length > 0);
    expect(other.messages[0]!.type).toBe("accepted");
    other.send({ type: "stop" });
    expect(await other.closed).toBe(CloseCode.Normal);
    await stopped(second);
    await good.finish();
  });

  it("maxDestinations: one too many -> TOO_MANY_DESTINATIONS, close 4009, and no destination is connected to", async () => {
    const bridge = await bridgeWith({ allowPrivate: true, limits: { maxDestinations: 2 } });
    const good = await startGood(bridge);
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [1, 2, 3].map((i) => ({ id: `d${i}`, url: `rtmp://127.0.0.1:${trapPort}/live/k${i}` })) });
    const message = await expectFatal(c, "TOO_MANY_DESTINATIONS", CloseCode.LimitExceeded, good);
    expect(message).toMatch(/at most 2 destinations/);
    await sleep(100);
    expect(trapConnections).toBe(0);
    await good.finish();
  });

  it("maxMessageBytes: a bigger WebSocket message is refused by the WebSocket layer (close 1009)", async () => {
    const biggest = Math.max(...media.frames.map((f) => f.payload.byteLength)) + MEDIA_HEADER_SIZE;
    const maxMessageBytes = biggest + 16 * 1024;
    const bridge = await bridgeWith({ maxMessageBytes });
    const good = await startGood(bridge);
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], record: true });
    await c.waitFor("accepted");
    c.sendRaw(new Uint8Array(maxMessageBytes + 1));
    expect((await c.closed).code).toBe(1009);
    expect(good.sent()).toBe(false);
    await good.finish();
  });

  it("maxBitrate: media well above the limit -> BITRATE_EXCEEDED, close 4009", async () => {
    // The good session's busiest second (paced at SPEED), with 3x headroom, is the limit.
    const windowMs = 1000;
    let peak = 0;
    const frames = media.frames;
    for (let i = 0, j = 0, bytes = 0; i < frames.length; i++) {
      bytes += frames[i]!.payload.byteLength + MEDIA_HEADER_SIZE;
      while (frames[i]!.timestampUs - frames[j]!.timestampUs >= windowMs * 1000 * SPEED) bytes -= frames[j++]!.payload.byteLength + MEDIA_HEADER_SIZE;
      peak = Math.max(peak, bytes);
    }
    const maxBitrate = Math.ceil(peak * 8 * 3 * (1000 / windowMs));
    const bridge = await bridgeWith({ limits: { maxBitrate, bitrateWindowMs: windowMs } });
    const good = await startGood(bridge);
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], record: true });
    await c.waitFor("accepted");
    c.sendConfigs(media);
    // The clip over and over, as fast as the socket takes it.
    const clipUs = frames[frames.length - 1]!.timestampUs + 100_000;
    for (let round = 0; round < 20 && c.ws.readyState === WebSocket.OPEN; round++) {
      await c.sendFrames(frames.map((f) => ({ ...f, timestampUs: f.timestampUs + round * clipUs })));
      if (c.messages.some((m) => m.type === "error")) break;
    }
    const message = await expectFatal(c, "BITRATE_EXCEEDED", CloseCode.LimitExceeded, good);
    expect(message).toMatch(/Mbit\/s sustained/);
    await good.finish();
  });

  it("firstMediaTimeoutMs: started but no media -> TIMEOUT_NO_MEDIA, close 4008", async () => {
    const bridge = await bridgeWith({ limits: { firstMediaTimeoutMs: 500 } });
    const good = await startGood(bridge);
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], record: true });
    await c.waitFor("accepted");
    const startedAt = performance.now();
    c.sendConfigs(media); // configs are not media
    const message = await expectFatal(c, "TIMEOUT_NO_MEDIA", CloseCode.Timeout, good);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(400);
    expect(message).toMatch(/no media within 500 ms/);
    await good.finish();
  });

  it("idleTimeoutMs: a client that goes silent while live -> TIMEOUT_IDLE, close 4008", async () => {
    const bridge = await bridgeWith({ limits: { idleTimeoutMs: 500 } });
    const good = await startGood(bridge);
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], record: true });
    await c.waitFor("accepted");
    c.sendConfigs(media);
    for (const f of media.frames.slice(0, 10)) c.sendFrame(f);
    const silentFrom = performance.now();
    const message = await expectFatal(c, "TIMEOUT_IDLE", CloseCode.Timeout, good);
    expect(performance.now() - silentFrom).toBeGreaterThanOrEqual(400);
    expect(message).toMatch(/no message from the client for 500 ms/);
    await good.finish();
  });

  it("startTimeoutMs: a connection that never sends start -> TIMEOUT_NO_START, close 4008", async () => {
    const bridge = await bridgeWith({ limits: { startTimeoutMs: 300 } });
    const good = await startGood(bridge);
    const connectedAt = performance.now();
    const c = await WireTestClient.connect(bridge.ingestUrl);
    const message = await expectFatal(c, "TIMEOUT_NO_START", CloseCode.Timeout, good);
    expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(250);
    expect(message).toMatch(/no start message within 300 ms/);
    await good.finish();
  });

  it("idle sockets from one address do not lock it out: 10 that never start, then a legitimate start is accepted", async () => {
    const bridge = await bridgeWith({ maxSessionsPerIp: 2 });
    const idle = await Promise.all(Array.from({ length: 10 }, () => WireTestClient.connect(bridge.ingestUrl)));
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], record: true });
    expect((await c.waitFor("accepted")).type).toBe("accepted");
    c.send({ type: "stop" });
    expect((await c.closed).code).toBe(CloseCode.Normal);
    for (const i of idle) i.ws.close();
  });

  it("past maxPendingPerIp sockets waiting to start, the upgrade itself is refused (503): cheap for the bridge", async () => {
    const bridge = await bridgeWith({ maxPendingPerIp: 3 });
    const idle = await Promise.all(Array.from({ length: 3 }, () => WireTestClient.connect(bridge.ingestUrl)));
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(bridge.ingestUrl, [SUBPROTOCOL]);
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("open", () => resolve(101));
      ws.once("error", () => undefined);
    });
    expect(refused).toBe(503);
    // Another address is not held back by this one's.
    const other = await rawClient(bridge.ingestUrl, "127.0.0.2");
    other.send({ type: "start", version: 1, destinations: [], record: true });
    await until(() => other.messages.length > 0);
    expect(other.messages[0]!.type).toBe("accepted");
    other.send({ type: "stop" });
    expect(await other.closed).toBe(CloseCode.Normal);
    // Once one of them starts, a slot is free again.
    idle[0]!.send({ type: "start", version: 1, destinations: [], record: true });
    await idle[0]!.waitFor("accepted");
    const again = await WireTestClient.connect(bridge.ingestUrl);
    again.ws.close();
    idle[0]!.send({ type: "stop" });
    for (const i of idle.slice(1)) i.ws.close();
  });

  it("start-and-drop churn from one address: a dropped session waiting for its resume still counts, so the address stays within its limit", async () => {
    const bridge = await bridgeWith({ maxSessionsPerIp: 3, limits: { resumeGraceMs: 10_000 } });
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await WireTestClient.connect(bridge.ingestUrl);
      c.send({ type: "start", version: 1, destinations: [], record: true });
      const first = await c.waitFor("accepted", () => true).catch(() => undefined);
      if (first) {
        codes.push("accepted");
        c.sendConfigs(media);
        await c.sendFrames(media.frames.slice(0, 5));
        await sleep(50);
        c.ws.terminate(); // dropped: the session waits for a resume
      } else {
        const err = c.messages.find((m) => m.type === "error");
        codes.push(err?.type === "error" ? err.code : "none");
      }
      await sleep(50);
    }
    expect(codes).toEqual(["accepted", "accepted", "accepted", "SESSION_LIMIT_PER_IP", "SESSION_LIMIT_PER_IP", "SESSION_LIMIT_PER_IP"]);
    expect(bridge.sessions.size).toBe(3);
  });

  it("a socket that sends more than a start message can be before starting is cut at once (START_TOO_LARGE), not buffered to 4 MiB", async () => {
    const bridge = await bridgeWith({});
    const good = await startGood(bridge);
    const ws = new WebSocket(bridge.ingestUrl, [SUBPROTOCOL]);
    await new Promise<void>((resolve, reject) => ws.once("open", () => resolve()).once("error", reject));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    ws.send(Buffer.alloc(4 * 1024 * 1024 - 1));
    expect(await closed).toBe(1006); // terminated, no close handshake
    const text = await (await fetch(bridge.ingestUrl.replace(/^ws/, "http").replace(/\/ingest$/, "/metrics"))).text();
    expect(text).toMatch(/golive_refusals_total\{code="START_TOO_LARGE"\} 1/);
    await good.finish();
  });
});
