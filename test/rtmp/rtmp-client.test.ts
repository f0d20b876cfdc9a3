/**
 * The RTMP publisher (RtmpPublisher over RtmpPublishClient) against the
 * scripted server: the exact messages on the wire, in order, with their
 * chunk streams, stream ids and AMF; the control-message duties
 * (Acknowledgement, Ping Response, Window Ack Size); backpressure counters;
 * and the stream key kept out of everything a person or a log can see.
 */
import { inspect } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { EcmaArray, MessageType, type Core } from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { RtmpError, RtmpErrorCode } from "../../server/rtmp/rtmp-errors.js";
import { RtmpPublisher, type RtmpPublisherOptions } from "../../server/rtmp/rtmp-connection.js";
import { ScriptedServer, ServerCsid, type ReceivedMessage, type ScriptedServerOptions } from "../support/scripted-server.js";

/** The stream key: a recognisable secret. */
const KEY = "live_8c1f0e77_secretKEY";

let core: Core;
const servers: ScriptedServer[] = [];
const publishers: RtmpPublisher[] = [];

beforeAll(async () => {
  core = await loadCoreNode();
});

afterEach(async () => {
  for (const p of publishers.splice(0)) p.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const s = await ScriptedServer.start(options);
  servers.push(s);
  return s;
}

function publisher(s: ScriptedServer, options: Partial<RtmpPublisherOptions> = {}): RtmpPublisher {
  const p = new RtmpPublisher({
    url: s.url(KEY),
    core,
    connectTimeoutMs: 2000,
    handshakeTimeoutMs: 2000,
    startTimeoutMs: 3000,
    ...options,
  });
  publishers.push(p);
  return p;
}

/** Publishes and returns the publisher, its server connection, and what it reported. */
async function live(serverOptions: ScriptedServerOptions = {}, options: Partial<RtmpPublisherOptions> = {}) {
  const s = await server(serverOptions);
  const p = publisher(s, options);
  const warnings: string[] = [];
  const errors: RtmpError[] = [];
  p.on("warning", (w) => warnings.push(w));
  p.on("error", (e) => errors.push(e));
  await p.publish();
  const c = await s.connection();
  return { s, p, c, warnings, errors };
}

function u32(payload: Uint8Array, offset = 0): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(offset);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A one-word description of a message for sequence assertions. */
function describeMsg(m: ReceivedMessage): string {
  switch (m.type) {
    case MessageType.SetChunkSize: return `SetChunkSize(${u32(m.payload)})`;
    case MessageType.WindowAckSize: return `WindowAckSize(${u32(m.payload)})`;
    case MessageType.Acknowledgement: return "Ack";
    case MessageType.UserControl: return "UserControl";
    case MessageType.Audio: return "audio";
    case MessageType.Video: return "video";
    default: return m.name ?? `type${m.type}`;
  }
}

const AVC_CONFIG = new Uint8Array([0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80]);
const AAC_CONFIG = new Uint8Array([0x12, 0x10]);

describe("the publish sequence on the wire", () => {
  it("SetChunkSize(4096) first, then connect, WindowAckSize, releaseStream, FCPublish, createStream, publish", async () => {
    const { p, c, warnings } = await live({ serverPeerBandwidth: 0 });
    expect(p.state).toBe("live");
    expect(c.received.map(describeMsg)).toEqual([
      "SetChunkSize(4096)", "connect", "WindowAckSize(16384)", "releaseStream", "FCPublish", "createStream", "publish",
    ]);
    // The very first bytes after C2: Set Chunk Size, fmt 0 on csid 2.
    expect([...c.chunkBytes().subarray(0, 16)]).toEqual([
      0x02, // fmt 0, csid 2
      0x00, 0x00, 0x00, // timestamp 0
      0x00, 0x00, 0x04, // length 4
      0x01, // type 1: Set Chunk Size
      0x00, 0x00, 0x00, 0x00, // stream id 0
      0x00, 0x00, 0x10, 0x00, // 4096
    ]);
    const [scs, connect, was, release, fcPublish, createStream, publish] = c.received;
    for (const m of [scs, was]) expect(m).toMatchObject({ csid: 2, streamId: 0 });
    for (const m of [connect, release, fcPublish, createStream]) {
      expect(m).toMatchObject({ csid: 3, streamId: 0, type: MessageType.CommandAmf0 });
    }
    expect(release!.amf).toEqual(["releaseStream", 2, null, KEY]);
    expect(fcPublish!.amf).toEqual(["FCPublish", 3, null, KEY]);
    expect(createStream!.amf).toEqual(["createStream", 4, null]);
    expect(publish).toMatchObject({ csid: 5, streamId: 1, type: MessageType.CommandAmf0 });
    expect(publish!.amf).toEqual(["publish", 5, null, KEY, "live"]);
    expect(warnings).toEqual([]);
    expect(c.protocolError).toBeUndefined();
  });

  it("connect carries app, tcUrl, flashVer 'FMLE/3.0 (compatible; ...', type nonprivate, and no fourCcList by default", async () => {
    const { s, c } = await live();
    const connect = c.command("connect")!;
    expect(connect.amf![0]).toBe("connect");
    expect(connect.amf![1]).toBe(1);
    const obj = connect.amf![2] as Record<string, unknown>;
    expect(obj.app).toBe("live");
    expect(obj.tcUrl).toBe(`rtmp://127.0.0.1:${s.port}/live`);
    expect(obj.type).toBe("nonprivate");
    expect(obj.flashVer).toMatch(/^FMLE\/3\.0 \(compatible;/);
    expect("fourCcList" in obj).toBe(false);
    expect(JSON.stringify(connect.amf)).not.toContain(KEY);
  });

  it("connect carries fourCcList when the option is set", async () => {
    const { c } = await live({}, { fourCcList: ["avc1", "hvc1", "Opus"] });
    const obj = c.command("connect")!.amf![2] as Record<string, unknown>;
    expect(obj.fourCcList).toEqual(["avc1", "hvc1", "Opus"]);
  });

  it("an empty fourCcList is left out", async () => {
    const { c } = await live({}, { fourCcList: [] });
    expect("fourCcList" in (c.command("connect")!.amf![2] as object)).toBe(false);
  });

  it("the app/instance form and a custom flashVer reach connect as given", async () => {
    const s = await server();
    const p = publisher(s, { url: `rtmp://127.0.0.1:${s.port}/app/inst/${KEY}`, flashVer: "FMLE/3.0 (compatible; test)" });
    await p.publish();
    const c = await s.connection();
    const obj = c.command("connect")!.amf![2] as Record<string, unknown>;
    expect(obj.app).toBe("app/inst");
    expect(obj.tcUrl).toBe(`rtmp://127.0.0.1:${s.port}/app/inst`);
    expect(obj.flashVer).toBe("FMLE/3.0 (compatible; test)");
    expect(c.command("publish")!.amf![3]).toBe(KEY);
  });

  it("WindowAckSize and the stream commands wait for connect's _result", async () => {
    const s = await server({ connect: "silent" });
    const p = publisher(s, { startTimeoutMs: 400 });
    const result = p.publish().catch((e: unknown) => e);
    const c = await s.connection();
    await c.waitForName("connect");
    await sleep(150);
    expect(c.received.map(describeMsg)).toEqual(["SetChunkSize(4096)", "connect"]);
    expect(await result).toMatchObject({ code: RtmpErrorCode.StartTimeout });
  });

  it("publish goes on the stream id createStream returned", async () => {
    const { c, p } = await live({ streamId: 7 });
    expect(c.command("publish")).toMatchObject({ streamId: 7, csid: 5 });
    p.sendVideo(0, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, AVC_CONFIG);
    expect(await c.waitFor((m) => m.type === MessageType.Video)).toMatchObject({ streamId: 7 });
    await p.close();
    expect(c.command("deleteStream")!.amf).toEqual(["deleteStream", 7, null, 7]);
  });

  it("a configured chunk size is announced and used", async () => {
    const { c, p } = await live({}, { chunkSize: 60000 });
    expect(describeMsg(c.received[0]!)).toBe("SetChunkSize(60000)");
    const frame = new Uint8Array(50000).map((_, i) => (i * 31) & 0xff);
    p.sendVideo(40, { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, frame);
    await c.waitFor((m) => m.type === MessageType.Video);
    // One chunk: the frame's bytes are contiguous on the wire.
    expect(Buffer.from(c.chunkBytes()).indexOf(Buffer.from(frame))).toBeGreaterThan(0);
  });
});

describe("media after live", () => {
  it("metadata as type 18 @setDataFrame onMetaData; audio and video on their own chunk streams, stream id 1", async () => {
    const { c, p } = await live();
    expect(p.sendMetadata({ width: 1280, height: 720, framerate: 30, videocodecid: 7, audiocodecid: 10 })).toBe(true);
    expect(p.sendVideo(0, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, AVC_CONFIG)).toBe(true);
    expect(p.sendAudio(0, { kind: "aac", packetType: 0 }, AAC_CONFIG)).toBe(true);
    const frame = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    expect(p.sendVideo(33, { kind: "avc", frameType: 1, packetType: 1, cts: 66 }, frame)).toBe(true);
    expect(p.sendAudio(23, { kind: "aac", packetType: 1 }, new Uint8Array([0x21, 0x00, 0x49]))).toBe(true);
    await c.waitFor((m) => m.type === MessageType.Audio && m.timestamp === 23);

    const media = c.received.slice(c.received.findIndex((m) => m.name === "publish") + 1);
    expect(media.map(describeMsg)).toEqual(["@setDataFrame", "video", "audio", "video", "audio"]);
    const [meta, avcC, asc, nalu, raw] = media;
    expect(meta).toMatchObject({ type: MessageType.DataAmf0, csid: 5, streamId: 1, timestamp: 0 });
    expect(meta!.amf).toEqual(["@setDataFrame", "onMetaData", new EcmaArray({ width: 1280, height: 720, framerate: 30, videocodecid: 7, audiocodecid: 10 })]);
    for (const v of [avcC, nalu]) expect(v).toMatchObject({ type: MessageType.Video, csid: 6, streamId: 1 });
    for (const a of [asc, raw]) expect(a).toMatchObject({ type: MessageType.Audio, csid: 4, streamId: 1 });
    expect([...avcC!.payload.subarray(0, 5)]).toEqual([0x17, 0x00, 0, 0, 0]); // keyframe AVC, sequence header, cts 0
    expect([...avcC!.payload.subarray(5)]).toEqual([...AVC_CONFIG]);
    expect([...asc!.payload]).toEqual([0xaf, 0x00, 0x12, 0x10]); // AAC 44k 16-bit stereo, sequence header
    expect(nalu!.timestamp).toBe(33);
    expect([...nalu!.payload.subarray(0, 5)]).toEqual([0x17, 0x01, 0x00, 0x00, 0x42]); // NALU, cts 66
    expect(nalu!.payload.length).toBe(5 + 3000);
    expect(raw).toMatchObject({ timestamp: 23, length: 5 });
  });

  it("media before live or after close is RTMP_NOT_LIVE", async () => {
    const s = await server({ publish: "silent" });
    const p = publisher(s, { startTimeoutMs: 300 });
    expect(() => p.sendAudio(0, { kind: "aac", packetType: 0 }, AAC_CONFIG)).toThrow(expect.objectContaining({ code: RtmpErrorCode.NotLive }) as Error);
    await expect(p.publish()).rejects.toMatchObject({ code: RtmpErrorCode.StartTimeout });
    const { p: p2 } = await live();
    await p2.close();
    expect(() => p2.sendVideo(0, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, AVC_CONFIG)).toThrow(RtmpError);
  });
});

describe("close()", () => {
  it("sends FCUnpublish + deleteStream, then ends the socket", async () => {
    const { c, p } = await live();
    const events: string[] = [];
    p.on("state", (st) => events.push(st));
    p.on("close", () => events.push("close-event"));
    await p.close();
    expect(c.received.slice(-2).map((m) => m.amf)).toEqual([
      ["FCUnpublish", 6, null, KEY],
      ["deleteStream", 7, null, 1],
    ]);
    expect(c.received.slice(-2).map((m) => [m.csid, m.streamId])).toEqual([[3, 0], [3, 0]]);
    await c.closed;
    expect(c.ended).toBe(true); // the client sent FIN
    expect(p.state).toBe("closed");
    expect(events).toEqual(["closing", "closed", "close-event"]);
    expect(p.error).toBeUndefined();
  });

  it("close() before live rejects publish() instead of leaving it pending", async () => {
    const s = await server({ connect: "silent" });
    const p = publisher(s, { startTimeoutMs: 5000 });
    const result = p.publish().then(() => "resolved", (e: unknown) => e);
    const c = await s.connection();
    await c.waitForName("connect");
    const t0 = performance.now();
    await p.close(1000);
    const outcome = await Promise.race([result, sleep(1000).then(() => "still pending")]);
    expect(outcome).toMatchObject({ code: RtmpErrorCode.NotLive });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(c.names()).not.toContain("FCUnpublish"); // nothing to unpublish
  });

  it("destroy() of a live publisher closes at once: no unpublish, no 'error' event", async () => {
    const { c, p, errors } = await live();
    const closed = new Promise<void>((resolve) => p.once("close", resolve));
    p.destroy();
    await closed;
    await c.closed;
    expect(errors).toEqual([]);
    expect(p.state).toBe("closed");
    expect(c.names()).not.toContain("FCUnpublish");
  });

  it("destroy() before live rejects publish() with RTMP_NOT_LIVE", async () => {
    const s = await server({ publish: "silent" });
    const p = publisher(s);
    const errors: unknown[] = [];
    p.on("error", (e) => errors.push(e));
    const result = p.publish().catch((e: unknown) => e);
    await (await s.connection()).waitForName("publish");
    p.destroy();
    expect(await result).toMatchObject({ code: RtmpErrorCode.NotLive });
    expect(errors).toEqual([]);
  });

  it("close() while the core is still loading: publish() rejects and never connects", async () => {
    const s = await server();
    const p = new RtmpPublisher({ url: s.url(KEY) }); // the shared core: loaded on publish()
    publishers.push(p);
    const result = p.publish().catch((e: unknown) => e);
    await p.close();
    expect(await result).toMatchObject({ code: RtmpErrorCode.NotLive });
    await sleep(50);
    expect(s.accepted).toHaveLength(0);
  });

  it("close() twice, and close() before publish(), are harmless", async () => {
    const { p } = await live();
    await p.close();
    await p.close();
    const s = await server();
    const idle = publisher(s);
    await idle.close();
    expect(idle.state).toBe("idle");
  });
});

describe("warnings, not failures", () => {
  it("releaseStream and FCPublish _error are warnings; the publish still goes live", async () => {
    const { p, warnings, errors } = await live({ releaseStream: "error", fcPublish: "error" });
    expect(p.state).toBe("live");
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/releaseStream failed.*NetConnection\.Call\.Failed.*tolerated/);
    expect(warnings[1]).toMatch(/FCPublish failed.*tolerated/);
    // The server's description names the key; the warning must not.
    for (const w of warnings) expect(w).not.toContain(KEY);
    expect(errors).toEqual([]);
  });

  it("servers that never answer releaseStream/FCPublish are fine too", async () => {
    const { p, warnings } = await live({ releaseStream: "silent", fcPublish: "silent" });
    expect(p.state).toBe("live");
    expect(warnings).toEqual([]);
  });

  it("an S2 that does not echo C1 is a warning", async () => {
    const { p, warnings } = await live({ echoC1: false });
    expect(p.state).toBe("live");
    expect(warnings).toEqual([expect.stringMatching(/S2 does not echo C1/)]);
  });
});

describe("control messages", () => {
  it("C2 echoes S1", async () => {
    const { c } = await live();
    expect(c.c0c1[0]).toBe(3);
    expect(Buffer.from(c.c2.subarray(8)).equals(Buffer.from(c.s1.subarray(8)))).toBe(true);
    expect([...c.c2.subarray(0, 4)]).toEqual([...c.s1.subarray(0, 4)]);
  });

  it("Ping Request -> Ping Response with the same timestamp, on csid 2 stream 0", async () => {
    const { c } = await live();
    c.pingRequest(0xdeadbeef);
    const pong = await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(pong).toMatchObject({ csid: 2, streamId: 0 });
    expect([...pong.payload]).toEqual([0x00, 0x07, 0xde, 0xad, 0xbe, 0xef]);
  });

  it("Ping Request before connect's _result is answered too", async () => {
    const s = await server({ afterHandshake: (c) => c.pingRequest(42) });
    const p = publisher(s);
    await p.publish();
    const c = await s.connection();
    const pong = c.received.find((m) => m.type === MessageType.UserControl)!;
    expect([...pong.payload]).toEqual([0, 7, 0, 0, 0, 42]);
  });

  it("other User Control events (Stream Begin, Stream EOF) are ignored", async () => {
    const { c, p } = await live();
    c.streamBegin(1);
    c.sendMessage(ServerCsid.Control, MessageType.UserControl, 0, 0, new Uint8Array([0, 1, 0, 0, 0, 1]));
    c.pingRequest(7);
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(c.received.filter((m) => m.type === MessageType.UserControl)).toHaveLength(1);
    expect(p.state).toBe("live");
  });

  it("Window Ack Size 5000 -> an Acknowledgement with the byte count once each 5000 bytes came in", async () => {
    const { c, p } = await live({ serverWindowAckSize: 5000 });
    const acks = (): number[] => c.received.filter((m) => m.type === MessageType.Acknowledgement).map((m) => u32(m.payload));
    expect(acks()).toEqual([]); // the handshake and replies so far are under 5000 bytes
    expect(c.bytesSent).toBeLessThan(5000);

    /**
     * Sends a padding message in three writes: up to one byte short of
     * `upTo` received bytes (no ack), the byte that makes it `upTo` (an ack
     * of exactly `upTo`), then the rest (no ack: the next window has not
     * filled).
     */
    async function crossTo(upTo: number): Promise<void> {
      // Just long enough to cross `upTo`, so that its tail stays far from the next window.
      const bytes = c.encodeMessage(ServerCsid.Command, MessageType.DataAmf0, 0, 0, new Uint8Array(upTo - c.bytesSent + 100));
      const split = upTo - 1 - c.bytesSent;
      expect(split).toBeGreaterThan(0);
      expect(split + 1).toBeLessThan(bytes.length);
      const before = acks().length;
      c.sendRaw(bytes.subarray(0, split));
      await sleep(60);
      expect(acks().length).toBe(before); // one byte short of the window: no ack
      c.sendRaw(bytes.subarray(split, split + 1));
      expect(c.bytesSent).toBe(upTo);
      await c.waitFor((m) => m.type === MessageType.Acknowledgement && u32(m.payload) === upTo);
      c.sendRaw(bytes.subarray(split + 1));
    }

    const first = 5000;
    await crossTo(first);
    expect(acks()).toEqual([first]); // everything received so far, handshake included
    await crossTo(first + 5000);
    c.pingRequest(1); // a round trip: the client has read everything
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(acks()).toEqual([first, first + 5000]);
    expect(p.stats().bytesReceived).toBe(c.bytesSent);
  });

  it("no Acknowledgement without a Window Ack Size from the server", async () => {
    const { c } = await live({ serverWindowAckSize: 0 });
    for (let i = 0; i < 10; i++) c.sendMessage(ServerCsid.Command, MessageType.DataAmf0, 0, 0, new Uint8Array(4000));
    c.pingRequest(1);
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(c.received.filter((m) => m.type === MessageType.Acknowledgement)).toEqual([]);
  });

  it("Set Peer Bandwidth does not change the window we announced (our backlog measure needs it small; FFmpeg does not answer either)", async () => {
    const { c } = await live({ serverPeerBandwidth: 0 });
    const windows = (): number[] => c.received.filter((m) => m.type === MessageType.WindowAckSize).map((m) => u32(m.payload));
    expect(windows()).toEqual([16_384]);
    c.setPeerBandwidth(2_500_000, 2);
    c.setPeerBandwidth(1_234_567, 0);
    c.pingRequest(9); // answered after everything before it
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(windows()).toEqual([16_384]);
    expect(c.received.find((m) => m.type === MessageType.WindowAckSize)).toMatchObject({ csid: 2, streamId: 0 });
  });

  it("nginx-rtmp's preamble (Window Ack Size, Set Peer Bandwidth, Set Chunk Size before _result) is handled", async () => {
    const { c, p } = await live({ serverWindowAckSize: 5_000_000, serverPeerBandwidth: 5_000_000, serverChunkSize: 4096 });
    expect(p.state).toBe("live");
    expect(c.received.filter((m) => m.type === MessageType.WindowAckSize).map((m) => u32(m.payload))).toEqual([16_384]);
  });

  it("the server's Set Chunk Size is applied to what it sends after", async () => {
    const { c, p } = await live({ serverChunkSize: 0 });
    c.setChunkSize(200);
    // A command longer than 200 bytes, chunked at 200: read back whole.
    c.sendCommand(["onStatus", 0, null, { level: "status", code: "NetStream.Info", description: "x".repeat(500) }], 1, ServerCsid.Status);
    c.pingRequest(3);
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(p.state).toBe("live");
  });
});

describe("the real backlog: the server's Acknowledgements", () => {
  const u32be = (n: number): Uint8Array => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n >>> 0);
    return b;
  };
  /** Ten 20 KB video messages at 0, 100, ... 900 ms; the byte offset (after the handshake) where each ends. */
  async function sendTen(p: RtmpPublisher): Promise<number[]> {
    const ends: number[] = [];
    for (let i = 0; i < 10; i++) {
      p.sendVideo(i * 100, { kind: "avc", frameType: i === 0 ? 1 : 2, packetType: 1, cts: 0 }, new Uint8Array(20_000));
      ends.push(p.sentBytes);
    }
    await sleep(50); // all of it reaches the server over loopback: the kernel's part of the backlog is 0
    return ends;
  }

  it("before the first Acknowledgement everything sent counts as backlog; after it, what the server has not acknowledged", async () => {
    const { c, p } = await live({ serverPeerBandwidth: 0 });
    const ends = await sendTen(p);
    // All of it is in the server's hands already, but nothing says so yet
    // beyond the first window (no Acknowledgement is due before that).
    expect(p.stats()).toMatchObject({ backlogSource: "pending", backlogMs: 900, backlogBytes: ends[9]! - 16_384, acksReceived: 0 });
    c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be(ends[3]!));
    await sleep(20);
    // Messages 0-3 delivered; 4 (at 400 ms) is the oldest not known to be.
    expect(p.backlogSource).toBe("acks");
    expect(p.backlogMs).toBe(900 - 400);
    expect(p.backlogBytes).toBeGreaterThan(ends[9]! - ends[3]! - 16_384);
    expect(p.backlogBytes).toBeLessThanOrEqual(ends[9]! - ends[3]!);
    await sleep(250);
    // A window (16 KiB) past the Acknowledgement counts as delivered after 200 ms: still inside message 4.
    expect(p.backlogBytes).toBe(ends[9]! - ends[3]! - 16_384);
    expect(p.backlogMs).toBe(500);
    c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be(ends[9]!));
    await sleep(20);
    expect(p.stats()).toMatchObject({ backlogMs: 0, backlogBytes: 0, acksReceived: 2 });
  });

  it("a stream that has not yet sent a window is not backlog: no Acknowledgement is due (a low-bitrate stream's first seconds)", async () => {
    const { p } = await live({ serverPeerBandwidth: 0 });
    for (let i = 0; i < 20; i++) p.sendVideo(i * 100, { kind: "avc", frameType: i === 0 ? 1 : 2, packetType: 1, cts: 0 }, new Uint8Array(500));
    await sleep(30);
    expect(p.sentBytes).toBeLessThan(16_384);
    expect(p.stats()).toMatchObject({ backlogSource: "pending", backlogMs: 0, backlogBytes: 0 });
  });

  it("a counter that starts again (nginx-rtmp's at 0xF0000000) or starts anywhere is followed from its next step, never ahead of what was sent", async () => {
    const { c, p } = await live({ serverPeerBandwidth: 0 });
    const ends = await sendTen(p);
    const ack = async (n: number): Promise<void> => {
      c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be(n));
      await sleep(20);
    };
    await ack(ends[3]!);
    expect(p.backlogMs).toBe(500);
    await ack(100); // started again from 0: nothing new is taken as delivered
    expect(p.backlogMs).toBe(500);
    await ack(100 + (ends[6]! - ends[3]!)); // its next step counts
    expect(p.backlogMs).toBe(900 - 700);
    // A counter far ahead of anything sent (counting from just under 2^32 here) is not believed...
    const q = await live({ serverPeerBandwidth: 0 });
    const ends2 = await sendTen(q.p);
    const base = 2 ** 32 - Math.round((ends2[2]! + ends2[5]!) / 2);
    q.c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be(base + ends2[2]!));
    await sleep(20);
    expect(q.p.backlogMs).toBe(900); // nothing taken as delivered (20 ms into the ramp: under message 0's 20 KB)
    // ...its steps are, across the 32-bit wrap.
    expect((base + ends2[5]!) % 2 ** 32).toBeLessThan(base);
    q.c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be((base + ends2[5]!) % 2 ** 32));
    await sleep(20);
    expect(q.p.progressBytes).toBe(ends2[5]! - ends2[2]!);
  });

  it("a server that sends no Acknowledgements: 1.5 s after a window went out, the socket's measure; one warning once 1 MiB went unacknowledged", async () => {
    const { p, warnings } = await live({ serverPeerBandwidth: 0 });
    for (let i = 0; i < 60; i++) p.sendVideo(i * 33, { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, new Uint8Array(20_000));
    await sleep(50);
    expect(p.stats()).toMatchObject({ backlogSource: "pending", acksReceived: 0, backlogMs: 59 * 33 });
    expect(warnings.filter((w) => /acknowledged none of the first 1 MiB/.test(w))).toHaveLength(1);
    await sleep(1500);
    expect(p.stats()).toMatchObject({ backlogSource: "socket", acksReceived: 0, backlogMs: 0, backlogBytes: 0 });
  });
});

describe("backpressure: queuedBytes, queuedMs, highWaterMark, drain", () => {
  it("a server that stops reading makes the queue grow; send* return false past highWaterMark; drain empties it", async () => {
    const highWaterMark = 256 * 1024;
    const { c, p } = await live({ recordMedia: false }, { highWaterMark });
    c.pause();
    const frame = new Uint8Array(64 * 1024);
    let ts = 0;
    let sent = 0;
    while (p.sendVideo(ts, { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame)) {
      ts += 33;
      sent++;
      if (sent > 4000) throw new Error("send never returned false");
    }
    expect(p.queuedBytes).toBeGreaterThanOrEqual(highWaterMark);
    const q1 = p.queuedMs;
    expect(q1).toBeGreaterThan(0);
    expect(q1).toBeLessThanOrEqual(ts);
    // More media while blocked: still false, and the queue's duration grows by exactly what was added.
    for (let i = 0; i < 10; i++) {
      ts += 33;
      expect(p.sendVideo(ts, { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame)).toBe(false);
    }
    expect(p.queuedMs).toBe(q1 + 330);
    expect(p.stats()).toMatchObject({ state: "live", queuedMs: q1 + 330 });
    expect(p.stats().queuedBytes).toBeGreaterThan(highWaterMark);

    const drained = new Promise<void>((resolve) => p.once("drain", resolve));
    c.resume();
    await drained;
    expect(p.queuedBytes).toBe(0);
    expect(p.queuedMs).toBe(0);
    await c.waitFor((m) => m.type === MessageType.Video && m.timestamp === ts, 10_000);
    expect(c.received.filter((m) => m.type === MessageType.Video)).toHaveLength(sent + 11);
  });

  it("a highWaterMark below the socket's own still gets a drain", async () => {
    const highWaterMark = 4096;
    const { c, p } = await live({ recordMedia: false }, { highWaterMark });
    c.pause();
    const frame = new Uint8Array(1000);
    let ts = 0;
    while (p.sendAudio(ts, { kind: "aac", packetType: 1 }, frame)) {
      ts += 21;
      if (ts > 21 * 200_000) throw new Error("send never returned false");
    }
    expect(p.queuedBytes).toBeGreaterThanOrEqual(highWaterMark);
    expect(p.queuedBytes).toBeLessThan(highWaterMark + 1100); // stopped at the first false
    const drained = new Promise<string>((resolve) => p.once("drain", () => resolve("drained")));
    c.resume();
    expect(await Promise.race([drained, sleep(3000).then(() => "no drain")])).toBe("drained");
    expect(p.queuedMs).toBe(0);
  });

  it("metadata sent while media is queued does not reset queuedMs", async () => {
    const { c, p } = await live({ recordMedia: false }, { highWaterMark: 64 * 1024 });
    c.pause();
    const frame = new Uint8Array(32 * 1024);
    let ts = 1000;
    while (p.sendVideo(ts, { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame)) ts += 40;
    for (let i = 0; i < 5; i++) p.sendVideo((ts += 40), { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame);
    const before = p.queuedMs;
    expect(before).toBeGreaterThanOrEqual(200);
    p.sendMetadata({ width: 1920, height: 1080 });
    expect(p.queuedMs).toBe(before);
    p.sendVideo((ts += 40), { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame);
    expect(p.queuedMs).toBe(before + 40);
    c.resume();
  });

  it("no 'drain' when send* never returned false", async () => {
    const { c, p } = await live({ recordMedia: false }); // highWaterMark 1 MiB
    c.pause();
    const frame = new Uint8Array(64 * 1024);
    let ts = 0;
    let drains = 0;
    p.on("drain", () => drains++);
    // Fill the kernel's buffers and queue a few hundred KiB: over the socket's own 16 KiB mark, under ours.
    while (p.queuedBytes < 300 * 1024) {
      expect(p.sendVideo((ts += 33), { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame)).toBe(true);
      if (ts > 33 * 4000) throw new Error("the queue never grew");
    }
    c.resume();
    await c.waitFor((m) => m.type === MessageType.Video && m.timestamp === ts, 10_000);
    await sleep(20);
    expect(p.queuedBytes).toBe(0);
    expect(drains).toBe(0);
  });

  it("highWaterMark must be a positive integer", () => {
    expect(() => new RtmpPublisher({ url: `rtmp://127.0.0.1/live/${KEY}`, highWaterMark: 0 })).toThrow(TypeError);
    expect(() => new RtmpPublisher({ url: `rtmp://127.0.0.1/live/${KEY}`, highWaterMark: 1.5 })).toThrow(TypeError);
  });

  it("queuedBytes and queuedMs are 0 when the server keeps up", async () => {
    const { c, p } = await live({ recordMedia: false });
    for (let i = 0; i < 50; i++) p.sendVideo(i * 33, { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, new Uint8Array(2000));
    await c.waitFor((m) => m.type === MessageType.Video && m.timestamp === 49 * 33);
    expect(p.queuedBytes).toBe(0);
    expect(p.queuedMs).toBe(0);
    expect(p.stats().bytesSent).toBe(c.bytesReceived);
  });
});

describe("the stream key stays secret", () => {
  it("not in the publish error, the warnings, the stats, or the publisher's printed form", async () => {
    const s = await server({ publish: "NetStream.Publish.BadName", fcPublish: "error", releaseStream: "error" });
    const p = publisher(s);
    const warnings: string[] = [];
    p.on("warning", (w) => warnings.push(w));
    const err = await p.publish().then(() => undefined, (e: unknown) => e as RtmpError);
    expect(err).toBeInstanceOf(RtmpError);
    expect(err!.code).toBe(RtmpErrorCode.PublishBadName);
    expect(warnings.length).toBe(2);
    const everything = [err!.message, String(err), inspect(err), ...warnings, JSON.stringify(p.stats()), inspect(p), JSON.stringify(p.url), String(p.url)].join("\n");
    expect(everything).not.toContain(KEY);
    // It did go to the server, where it belongs.
    expect((await s.connection()).command("publish")!.amf![3]).toBe(KEY);
  });

  it("not in an error built from a server's _error whose code and description both carry the key", async () => {
    const s = await server({
      onMessage: (c, m) => {
        if (m.name !== "createStream") return false;
        c.sendCommand(["_error", m.amf![1]!, null, { level: "error", code: `NetStream.Create.Failed.${KEY}`, description: `no stream for ${KEY}` }]);
        return true;
      },
    });
    const p = publisher(s);
    const err = (await p.publish().catch((e: unknown) => e)) as RtmpError;
    expect(err.code).toBe(RtmpErrorCode.CreateStreamFailed);
    expect(err.message).toContain("NetStream.Create.Failed.****");
    expect(err.message).not.toContain(KEY);
  });

  it("not in a warning from an onStatus error whose code carries the key", async () => {
    const { c, p, warnings } = await live();
    c.sendOnStatus(`NetStream.Weird.${KEY}`, "error", `something about ${KEY}`);
    c.pingRequest(5);
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(p.state).toBe("live");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain(KEY);
  });
});
