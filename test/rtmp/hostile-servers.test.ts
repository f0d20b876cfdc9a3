/**
 * Servers that lie, stall, flood or hang up, against RtmpPublisher. Each one
 * must end in the right error code (publish() rejects, or an "error" event
 * once live), promptly (bounded by the configured timeouts, which are small
 * here), with the client's core memory bounded, and without crashing.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MessageType, type Core } from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { RtmpError, RtmpErrorCode } from "../../server/rtmp/rtmp-errors.js";
import { RtmpPublisher, type RtmpPublisherOptions } from "../../server/rtmp/rtmp-connection.js";
import { freePort } from "../../server/testing/ports.js";
import {
  rawChunk, ScriptedServer, ServerCsid, u32be, type ScriptedConnection, type ScriptedServerOptions,
} from "../support/scripted-server.js";

const KEY = "hostile_3b9d_KEY";
const CONNECT_TIMEOUT = 800;
const HANDSHAKE_TIMEOUT = 300;
const START_TIMEOUT = 600;
/** Scheduling slack on top of a timeout. */
const SLACK = 400;
/** Most the client's core memory may reach in any of these tests. */
const MEMORY_BOUND = 8 * 1024 * 1024;

const servers: ScriptedServer[] = [];
const publishers: RtmpPublisher[] = [];

afterEach(async () => {
  for (const p of publishers.splice(0)) p.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Outcome {
  error: RtmpError;
  elapsedMs: number;
  /** "error" events emitted (must be none when publish() rejected). */
  events: RtmpError[];
  core: Core;
  publisher: RtmpPublisher;
}

function newPublisher(url: string, core: Core, options: Partial<RtmpPublisherOptions> = {}): RtmpPublisher {
  const p = new RtmpPublisher({
    url,
    core,
    connectTimeoutMs: CONNECT_TIMEOUT,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT,
    startTimeoutMs: START_TIMEOUT,
    ...options,
  });
  publishers.push(p);
  return p;
}

/** Publishes to `url`; expects publish() to reject; returns the error and how long it took. */
async function failingPublish(url: string, options: Partial<RtmpPublisherOptions> = {}, watch?: (p: RtmpPublisher) => void): Promise<Outcome> {
  const core = await loadCoreNode(); // its own core: its memory is this test's alone
  const p = newPublisher(url, core, options);
  const events: RtmpError[] = [];
  p.on("error", (e) => events.push(e));
  watch?.(p);
  const t0 = performance.now();
  const result = await p.publish().then(() => undefined, (e: unknown) => e);
  const elapsedMs = performance.now() - t0;
  if (!(result instanceof RtmpError)) throw new Error(`publish() should have failed, got ${String(result)}`);
  expect(p.state).toBe("failed");
  expect(p.error).toBe(result);
  expect(result.message).not.toContain(KEY);
  return { error: result, elapsedMs, events, core, publisher: p };
}

async function against(options: ScriptedServerOptions, publisherOptions: Partial<RtmpPublisherOptions> = {}): Promise<Outcome & { server: ScriptedServer }> {
  const server = await ScriptedServer.start(options);
  servers.push(server);
  const outcome = await failingPublish(server.url(KEY), publisherOptions);
  // The client hung up: the server side sees its socket closed.
  const c = await server.connection();
  await c.closed;
  return { ...outcome, server };
}

/** A failure the client detects itself, at once: well before any timeout. */
function expectPrompt(o: Outcome, code: string): void {
  expect(o.error.code).toBe(code);
  expect(o.elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT);
  expect(o.events).toEqual([]);
  expect(o.core.memory.buffer.byteLength).toBeLessThan(MEMORY_BOUND);
}

function after(hook: "afterHandshake" | "afterConnect" | "afterPublishStart", send: (c: ScriptedConnection) => void): ScriptedServerOptions {
  return { [hook]: send };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("the handshake", () => {
  it("S0 version 6 (RTMPE) -> RTMP_BAD_VERSION", async () => {
    const o = await against({ version: 6 });
    expectPrompt(o, RtmpErrorCode.BadVersion);
    expect(o.error.message).toMatch(/version 6/);
  });

  it("an HTTP server's 'HTTP/1.1 400' (S0 = 0x48) -> RTMP_BAD_VERSION", async () => {
    const s = await ScriptedServer.start({ handshake: "never" });
    servers.push(s);
    const pending = failingPublish(s.url(KEY));
    const c = await s.connection();
    c.sendRaw(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    const o = await pending;
    expectPrompt(o, RtmpErrorCode.BadVersion);
    expect(o.error.message).toMatch(/is this an RTMP server/);
  });

  it("a server that accepts TCP and never answers -> RTMP_HANDSHAKE_TIMEOUT within handshakeTimeoutMs", async () => {
    const o = await against({ handshake: "never" });
    expect(o.error.code).toBe(RtmpErrorCode.HandshakeTimeout);
    expect(o.error.message).toMatch(new RegExp(`within ${HANDSHAKE_TIMEOUT} ms`));
    expect(o.elapsedMs).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 20);
    expect(o.elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT + SLACK);
    expect(o.events).toEqual([]);
  });

  it("a handshake slower than handshakeTimeoutMs -> RTMP_HANDSHAKE_TIMEOUT", async () => {
    const o = await against({ handshake: "slow", handshakeDelayMs: 150 }); // S2 at 450 ms
    expect(o.error.code).toBe(RtmpErrorCode.HandshakeTimeout);
    expect(o.elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT + SLACK);
  });

  it("a slow handshake within the timeout is fine", async () => {
    const s = await ScriptedServer.start({ handshake: "slow", handshakeDelayMs: 50 });
    servers.push(s);
    const p = newPublisher(s.url(KEY), await loadCoreNode());
    await p.publish();
    expect(p.state).toBe("live");
  });

  it("a server that hangs up in the middle of the handshake -> RTMP_SERVER_CLOSED", async () => {
    const s = await ScriptedServer.start({ handshake: "never" });
    servers.push(s);
    const pending = failingPublish(s.url(KEY));
    const c = await s.connection();
    await sleep(20);
    c.sendRaw(new Uint8Array([3, 0, 0, 0, 0]));
    c.end();
    const o = await pending;
    expect(o.error.code).toBe(RtmpErrorCode.ServerClosed);
    expect(o.error.message).toMatch(/during handshake/);
    expect(o.elapsedMs).toBeLessThan(HANDSHAKE_TIMEOUT);
  });
});

describe("the chunk stream", () => {
  it("a fmt 3 chunk on a chunk stream never opened -> RTMP_NO_PREVIOUS_HEADER", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(new Uint8Array([0xc0 | 10, 1, 2, 3]))));
    expectPrompt(o, "RTMP_NO_PREVIOUS_HEADER");
  });

  it("garbage in S2's packet, right after it -> RTMP_NO_PREVIOUS_HEADER", async () => {
    // The handshake's `rest` path: the bytes arrive together with S2.
    const s = await ScriptedServer.start({ handshake: "never" });
    servers.push(s);
    const pending = failingPublish(s.url(KEY));
    const c = await s.connection();
    await new Promise<void>((resolve) => {
      const poll = (): void => (c.c0c1.length > 0 ? resolve() : void setTimeout(poll, 5));
      poll();
    });
    c.sendRaw(Buffer.concat([new Uint8Array([3]), c.s1, c.c0c1.subarray(1), new Uint8Array([0xff, 0xff, 0xff])]));
    expectPrompt(await pending, "RTMP_NO_PREVIOUS_HEADER");
  });

  it("Set Chunk Size 0 -> RTMP_BAD_CHUNK_SIZE", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(rawChunk(2, MessageType.SetChunkSize, 0, 0, u32be(0)))));
    expectPrompt(o, "RTMP_BAD_CHUNK_SIZE");
  });

  it("Set Chunk Size 0x80000000 -> RTMP_BAD_CHUNK_SIZE", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(rawChunk(2, MessageType.SetChunkSize, 0, 0, u32be(0x80000000)))));
    expectPrompt(o, "RTMP_BAD_CHUNK_SIZE");
  });

  it("Set Chunk Size 0 after live -> an 'error' event RTMP_BAD_CHUNK_SIZE", async () => {
    const s = await ScriptedServer.start({});
    servers.push(s);
    const p = newPublisher(s.url(KEY), await loadCoreNode());
    await p.publish();
    const failed = new Promise<RtmpError>((resolve) => p.once("error", resolve));
    (await s.connection()).setChunkSize(0);
    expect((await failed).code).toBe("RTMP_BAD_CHUNK_SIZE");
    expect(p.state).toBe("failed");
  });

  it("Set Chunk Size with a 3-byte body -> RTMP_BAD_CONTROL_MESSAGE", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(rawChunk(2, MessageType.SetChunkSize, 0, 0, new Uint8Array([0, 0x10, 0])))));
    expectPrompt(o, "RTMP_BAD_CONTROL_MESSAGE");
  });

  it("a header announcing 0xFFFFFF bytes -> RTMP_MESSAGE_TOO_LONG at once, before any body, nothing allocated", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(rawChunk(3, MessageType.CommandAmf0, 0, 0, new Uint8Array(0), 0xffffff))));
    expectPrompt(o, "RTMP_MESSAGE_TOO_LONG");
    expect(o.core.memory.buffer.byteLength).toBeLessThan(4 * 1024 * 1024); // not 16 MiB reserved
  });

  it("a message just over a configured maxMessageLength -> RTMP_MESSAGE_TOO_LONG", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendRaw(rawChunk(3, MessageType.DataAmf0, 0, 0, new Uint8Array(100), 1001))), { maxMessageLength: 1000 });
    expectPrompt(o, "RTMP_MESSAGE_TOO_LONG");
  });

  it("more chunk streams than the limit (default 32) -> RTMP_TOO_MANY_CHUNK_STREAMS", async () => {
    const o = await against(after("afterHandshake", (c) => {
      for (let csid = 10; csid < 60; csid++) c.sendRaw(rawChunk(csid, MessageType.DataAmf0, 0, 0, new Uint8Array([5])));
    }));
    expectPrompt(o, "RTMP_TOO_MANY_CHUNK_STREAMS");
  });

  it("chunk streams with 2- and 3-byte ids count against a configured limit too", async () => {
    const o = await against(after("afterHandshake", (c) => {
      for (const csid of [64, 300, 319, 320, 65599]) c.sendRaw(rawChunk(csid, MessageType.DataAmf0, 0, 0, new Uint8Array([5])));
    }), { maxChunkStreams: 4 });
    expectPrompt(o, "RTMP_TOO_MANY_CHUNK_STREAMS");
  });

  it("a new message header in the middle of another -> RTMP_UNEXPECTED_HEADER", async () => {
    const o = await against(after("afterHandshake", (c) => {
      c.sendRaw(rawChunk(3, MessageType.DataAmf0, 0, 0, new Uint8Array(128), 300)); // first chunk of 300 bytes
      c.sendRaw(rawChunk(3, MessageType.DataAmf0, 0, 0, new Uint8Array(10))); // fmt 0 again on csid 3
    }));
    expectPrompt(o, "RTMP_UNEXPECTED_HEADER");
  });
});

describe("commands and control messages", () => {
  it("malformed AMF in the connect _result -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against({
      onMessage: (c, m) => {
        if (m.name !== "connect") return false;
        // "_result" as an AMF0 string cut short: marker 2, length 7, then 2 bytes.
        c.sendMessage(ServerCsid.Command, MessageType.CommandAmf0, 0, 0, new Uint8Array([0x02, 0x00, 0x07, 0x5f, 0x72]));
        return true;
      },
    });
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
    expect(o.error.message).toMatch(/malformed command \(AMF_TRUNCATED\)/);
  });

  it("an unknown AMF0 marker in a command -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendMessage(ServerCsid.Command, MessageType.CommandAmf0, 0, 0, new Uint8Array([0x02, 0, 1, 0x41, 0x7e]))));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("a command that is not a name -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendCommand([42, 1, null])));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
    expect(o.error.message).toMatch(/command without a name/);
  });

  it("a createStream _result without a stream id -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against({
      onMessage: (c, m) => {
        if (m.name !== "createStream") return false;
        c.sendCommand(["_result", m.amf![1]!, null, "one"]);
        return true;
      },
    });
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("stray and repeated _results are ignored (as FFmpeg does); a silent publish still ends in RTMP_START_TIMEOUT", async () => {
    const o = await against({
      publish: "silent",
      onMessage: (c, m) => {
        if (m.name === "publish") c.sendCommand(["_result", 5, null, 1]); // publish is not answered with _result
        if (m.name === "createStream") {
          c.sendCommand(["_result", m.amf![1]!, null, 1]);
          c.sendCommand(["_result", m.amf![1]!, null, 1]); // again: txn 4 is no longer pending, ignored
          return true;
        }
        return false;
      },
    });
    // Stray results are ignored (as FFmpeg does): only the start timeout ends this.
    expect(o.error.code).toBe(RtmpErrorCode.StartTimeout);
    expect(o.elapsedMs).toBeLessThan(START_TIMEOUT + SLACK);
  });

  it("a short User Control message -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendMessage(ServerCsid.Control, MessageType.UserControl, 0, 0, new Uint8Array([0]))));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("a Ping Request without its timestamp -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendMessage(ServerCsid.Control, MessageType.UserControl, 0, 0, new Uint8Array([0, 6, 0]))));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("Window Ack Size 0 or short -> RTMP_PROTOCOL_VIOLATION", async () => {
    expectPrompt(await against(after("afterHandshake", (c) => c.windowAckSize(0))), RtmpErrorCode.ProtocolViolation);
    expectPrompt(await against(after("afterHandshake", (c) => c.sendMessage(2, MessageType.WindowAckSize, 0, 0, new Uint8Array(3)))), RtmpErrorCode.ProtocolViolation);
  });

  it("a short Set Peer Bandwidth -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendMessage(2, MessageType.SetPeerBandwidth, 0, 0, new Uint8Array(4))));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("an AMF3 command with an empty body -> RTMP_PROTOCOL_VIOLATION", async () => {
    const o = await against(after("afterHandshake", (c) => c.sendMessage(ServerCsid.Command, MessageType.CommandAmf3, 0, 0, new Uint8Array(0))));
    expectPrompt(o, RtmpErrorCode.ProtocolViolation);
  });

  it("the server's 'close' command -> RTMP_SERVER_CLOSED", async () => {
    const o = await against(after("afterConnect", (c) => c.sendCommand(["close", 0, null])));
    expectPrompt(o, RtmpErrorCode.ServerClosed);
  });
});

describe("refusals", () => {
  it("connect answered with _error NetConnection.Connect.Rejected -> RTMP_CONNECT_REJECTED, with the server's code", async () => {
    const o = await against({ connect: "reject" });
    expectPrompt(o, RtmpErrorCode.ConnectRejected);
    expect(o.error.message).toMatch(/refused the connection \(NetConnection\.Connect\.Rejected: Connection rejected by the scripted server\.\)/);
  });

  it("connect answered with onStatus NetConnection.Connect.Rejected -> RTMP_CONNECT_REJECTED", async () => {
    const o = await against({ connect: "silent", afterConnect: (c) => c.sendOnStatus("NetConnection.Connect.Rejected", "error", "go away", 0) });
    expectPrompt(o, RtmpErrorCode.ConnectRejected);
  });

  it("a connect _result whose info says Rejected -> RTMP_CONNECT_REJECTED", async () => {
    const o = await against({
      onMessage: (c, m) => {
        if (m.name !== "connect") return false;
        c.sendCommand(["_result", 1, { fmsVer: "FMS/3,0,1,123" }, { level: "error", code: "NetConnection.Connect.Rejected", description: "nope" }]);
        return true;
      },
    });
    expectPrompt(o, RtmpErrorCode.ConnectRejected);
  });

  it("createStream _error -> RTMP_CREATE_STREAM_FAILED", async () => {
    const o = await against({ createStream: "error" });
    expectPrompt(o, RtmpErrorCode.CreateStreamFailed);
    expect(o.error.message).toMatch(/no streams left/);
  });

  const publishFailures: [code: string, expected: string][] = [
    ["NetStream.Publish.BadName", RtmpErrorCode.PublishBadName],
    ["NetStream.Publish.Rejected", RtmpErrorCode.PublishRejected],
    ["NetStream.Publish.Denied", RtmpErrorCode.PublishDenied],
    ["NetStream.Publish.Failed", RtmpErrorCode.PublishFailed],
  ];
  it.each(publishFailures)("publish answered with %s -> %s", async (status, expected) => {
    const o = await against({ publish: status });
    expectPrompt(o, expected);
    if (expected === RtmpErrorCode.PublishFailed) expect(o.error.message).toMatch(/refused to publish the stream \(NetStream\.Publish\.Failed: publish refused for \*\*\*\*\)/);
    else expect(o.error.message).toMatch(/rejected the stream key/);
  });

  it("publish answered with _error -> a publish error", async () => {
    const o = await against({
      onMessage: (c, m) => {
        if (m.name !== "publish") return false;
        c.sendCommand(["_error", m.amf![1]!, null, { level: "error", code: "NetStream.Publish.BadName", description: KEY }], 1, ServerCsid.Status);
        return true;
      },
    });
    expectPrompt(o, RtmpErrorCode.PublishBadName);
  });
});

describe("servers that go quiet", () => {
  it("handshake done, connect never answered -> RTMP_START_TIMEOUT within startTimeoutMs", async () => {
    const o = await against({ connect: "silent" });
    expect(o.error.code).toBe(RtmpErrorCode.StartTimeout);
    expect(o.error.message).toMatch(/stuck in connecting/);
    expect(o.elapsedMs).toBeGreaterThanOrEqual(START_TIMEOUT - 20);
    expect(o.elapsedMs).toBeLessThan(START_TIMEOUT + SLACK);
    expect(o.events).toEqual([]);
  });

  it("createStream never answered -> RTMP_START_TIMEOUT (stuck in creatingStream)", async () => {
    const o = await against({ createStream: "silent" });
    expect(o.error.code).toBe(RtmpErrorCode.StartTimeout);
    expect(o.error.message).toMatch(/stuck in creatingStream/);
    expect(o.elapsedMs).toBeLessThan(START_TIMEOUT + SLACK);
  });

  it("publish never answered -> RTMP_START_TIMEOUT (stuck in publishing)", async () => {
    const o = await against({ publish: "silent" });
    expect(o.error.code).toBe(RtmpErrorCode.StartTimeout);
    expect(o.error.message).toMatch(/stuck in publishing/);
    expect(o.elapsedMs).toBeLessThan(START_TIMEOUT + SLACK);
  });

  it("a server that keeps pinging but never answers still times out", async () => {
    const o = await against({
      connect: "silent",
      afterHandshake: (c) => {
        for (let i = 1; i <= 20; i++) c.later(i * 40, () => c.pingRequest(i));
      },
    });
    expect(o.error.code).toBe(RtmpErrorCode.StartTimeout);
    expect(o.elapsedMs).toBeLessThan(START_TIMEOUT + SLACK);
  });
});

describe("servers that hang up", () => {
  it("closes during connecting -> publish() rejects RTMP_SERVER_CLOSED", async () => {
    const o = await against({ connect: "silent", afterConnect: (c) => c.end() });
    expectPrompt(o, RtmpErrorCode.ServerClosed);
    expect(o.error.message).toMatch(/during connecting/);
  });

  it("closes in answer to publish -> publish() rejects PUBLISH_REJECTED (nginx on_publish, YouTube, Twitch)", async () => {
    const o = await against({ publish: "silent", onMessage: (c, m) => void (m.name === "publish" && c.end()) });
    expectPrompt(o, RtmpErrorCode.PublishRejected);
    expect(o.error.message).toMatch(/rejected the stream key/);
  });

  it("resets in answer to publish -> PUBLISH_REJECTED too", async () => {
    const o = await against({ publish: "silent", onMessage: (c, m) => void (m.name === "publish" && c.reset()) });
    expectPrompt(o, RtmpErrorCode.PublishRejected);
  });

  it("closes after live -> an 'error' event RTMP_SERVER_CLOSED, then 'close'", async () => {
    const s = await ScriptedServer.start({ afterPublishStart: (c) => c.later(50, () => c.end()) });
    servers.push(s);
    const core = await loadCoreNode();
    const p = newPublisher(s.url(KEY), core);
    const errors: RtmpError[] = [];
    p.on("error", (e) => errors.push(e));
    const closed = new Promise<void>((resolve) => p.once("close", resolve));
    await p.publish();
    const t0 = performance.now();
    await closed;
    expect(performance.now() - t0).toBeLessThan(SLACK);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe(RtmpErrorCode.ServerClosed);
    expect(errors[0]!.message).not.toContain(KEY);
    expect(p.state).toBe("failed");
    expect(() => p.sendAudio(0, { kind: "aac", packetType: 1 }, new Uint8Array(4))).toThrow(expect.objectContaining({ code: RtmpErrorCode.NotLive }) as Error);
  });

  it("resets after live while media flows -> one 'error' event, RTMP_SERVER_CLOSED", async () => {
    const s = await ScriptedServer.start({ recordMedia: false });
    servers.push(s);
    const p = newPublisher(s.url(KEY), await loadCoreNode());
    const errors: RtmpError[] = [];
    p.on("error", (e) => errors.push(e));
    await p.publish();
    const c = await s.connection();
    const frame = new Uint8Array(8000);
    let ts = 0;
    const timer = setInterval(() => {
      if (p.state === "live") p.sendVideo((ts += 33), { kind: "avc", frameType: 2, packetType: 1, cts: 0 }, frame);
    }, 2);
    await c.waitFor((m) => m.type === MessageType.Video && m.timestamp >= 33 * 10);
    c.reset();
    await new Promise<void>((resolve) => p.once("close", resolve));
    clearInterval(timer);
    expect(errors.map((e) => e.code)).toEqual([RtmpErrorCode.ServerClosed]);
  });

  it("nothing listening -> RTMP_CONNECTION_REFUSED", async () => {
    const port = await freePort();
    const o = await failingPublish(`rtmp://127.0.0.1:${port}/live/${KEY}`);
    expectPrompt(o, RtmpErrorCode.ConnectionRefused);
    expect(o.error.message).toContain(`127.0.0.1:${port}`);
  });

  it("a name under .invalid that does not resolve -> RTMP_DNS_FAILED (through an injected resolver: nothing leaves the machine)", async () => {
    const asked: string[] = [];
    const lookup: RtmpPublisherOptions["lookup"] = (hostname, _options, callback) => {
      asked.push(hostname);
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
      setImmediate(() => callback(err, "", 0));
    };
    const o = await failingPublish(`rtmp://nonexistent.invalid/live/${KEY}`, { lookup });
    expectPrompt(o, RtmpErrorCode.DnsFailed);
    expect(asked).toEqual(["nonexistent.invalid"]);
    expect(o.error.message).toMatch(/could not find the server "nonexistent\.invalid"/);
  });

  it("a resolver that never answers -> RTMP_CONNECT_TIMEOUT within connectTimeoutMs", async () => {
    const lookup: RtmpPublisherOptions["lookup"] = () => undefined;
    const o = await failingPublish(`rtmp://stuck.invalid/live/${KEY}`, { lookup });
    expect(o.error.code).toBe(RtmpErrorCode.ConnectTimeout);
    expect(o.elapsedMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - 20);
    expect(o.elapsedMs).toBeLessThan(CONNECT_TIMEOUT + SLACK);
  });
});

describe("the client's own guards", () => {
  /** Resolves every name to 127.0.0.1 (nothing leaves the machine). */
  const toLoopback: RtmpPublisherOptions["lookup"] = (_hostname, options, callback) => {
    setImmediate(() => {
      if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
    });
  };

  /**
   * How many connections reached `s` before now: a probe connects after the
   * publish has failed, and the server accepts in order, so any earlier
   * connection is already in the list when the probe's arrives.
   */
  async function connectionsBeforeProbe(s: ScriptedServer): Promise<number> {
    const probe = net.connect({ host: "127.0.0.1", port: s.port });
    try {
      await new Promise<void>((resolve, reject) => probe.once("connect", resolve).once("error", reject));
      for (;;) {
        const i = s.accepted.findIndex((c) => c.socket.remotePort === probe.localPort);
        if (i >= 0) return i;
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      probe.destroy();
    }
  }

  it("checkAddress refusing an IP literal -> DEST_NOT_ALLOWED before any connection is attempted", async () => {
    const s = await ScriptedServer.start({});
    servers.push(s);
    const seen: string[] = [];
    const states: string[] = [];
    const o = await failingPublish(s.url(KEY), {
      checkAddress: (address, family) => {
        seen.push(`${family} ${address}`);
        throw new Error("loopback destinations are not allowed");
      },
    }, (p) => p.on("state", (st) => states.push(st)));
    expectPrompt(o, "DEST_NOT_ALLOWED");
    expect(o.error.message).toBe("loopback destinations are not allowed");
    expect(seen).toEqual(["IPv4 127.0.0.1"]);
    expect(states).toEqual(["failed"]);
    expect(o.publisher.stats().bytesSent).toBe(0);
    expect(await connectionsBeforeProbe(s)).toBe(0);
  });

  it("checkAddress refusing what a name resolves to -> DEST_NOT_ALLOWED inside the lookup, no connection", async () => {
    const s = await ScriptedServer.start({});
    servers.push(s);
    const seen: string[] = [];
    const o = await failingPublish(`rtmp://ingest.example.invalid:${s.port}/live/${KEY}`, {
      lookup: toLoopback,
      checkAddress: (address, family) => {
        seen.push(`${family} ${address}`);
        throw new Error("loopback destinations are not allowed");
      },
    });
    expectPrompt(o, "DEST_NOT_ALLOWED");
    expect(seen).toEqual(["IPv4 127.0.0.1"]);
    expect(await connectionsBeforeProbe(s)).toBe(0);
  });

  it("checkAddress refusing the connected peer -> DEST_NOT_ALLOWED, and not one byte reaches the server", async () => {
    const s = await ScriptedServer.start({});
    servers.push(s);
    const seen: string[] = [];
    // Passes the lookup's check, refuses the peer (as a rebinding would be refused).
    const o = await failingPublish(`rtmp://ingest.example.invalid:${s.port}/live/${KEY}`, {
      lookup: toLoopback,
      checkAddress: (address, family) => {
        seen.push(`${family} ${address}`);
        if (seen.length > 1) throw new Error("loopback destinations are not allowed");
      },
    });
    expectPrompt(o, "DEST_NOT_ALLOWED");
    expect(seen).toEqual(["IPv4 127.0.0.1", "IPv4 127.0.0.1"]);
    // It did connect (so it was refused after connecting), and sent nothing.
    for (let i = 0; i < 100 && s.accepted.length === 0; i++) await sleep(10);
    expect(s.accepted).toHaveLength(1);
    await s.accepted[0]!.closed;
    expect(s.accepted[0]!.bytesReceived).toBe(0);
    expect(s.connections).toHaveLength(0);
  });

  it("close() against a server that never closes its side is bounded by its timeout", async () => {
    const s = await ScriptedServer.start({ ignoreFin: true });
    servers.push(s);
    const p = newPublisher(s.url(KEY), await loadCoreNode());
    await p.publish();
    const c = await s.connection();
    const t0 = performance.now();
    await p.close(300);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(300 + SLACK);
    expect(p.state).toBe("closed");
    expect(c.ended).toBe(true); // our FIN arrived; the server just never answered it
    expect(c.names().slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
  });

  it("an Abort message drops the partial message; the next one on that chunk stream is read", async () => {
    const s = await ScriptedServer.start({ serverChunkSize: 0 });
    servers.push(s);
    const p = newPublisher(s.url(KEY), await loadCoreNode());
    const errors: RtmpError[] = [];
    p.on("error", (e) => errors.push(e));
    await p.publish();
    const c = await s.connection();
    c.sendRaw(rawChunk(40, MessageType.DataAmf0, 0, 0, new Uint8Array(128), 300)); // 128 of 300 bytes
    c.sendMessage(ServerCsid.Control, MessageType.Abort, 0, 0, u32be(40));
    c.sendRaw(rawChunk(40, MessageType.DataAmf0, 0, 0, new Uint8Array(10))); // a new message: fmt 0 is fine now
    c.pingRequest(11);
    await c.waitFor((m) => m.type === MessageType.UserControl);
    expect(p.state).toBe("live");
    expect(errors).toEqual([]);
  });
});

describe("floods", () => {
  it("10,000 small valid messages from the server do not grow the core's memory", async () => {
    const s = await ScriptedServer.start({ serverWindowAckSize: 0 });
    servers.push(s);
    const core = await loadCoreNode();
    const p = newPublisher(s.url(KEY), core);
    const errors: RtmpError[] = [];
    p.on("error", (e) => errors.push(e));
    await p.publish();
    const c = await s.connection();

    /** Sends `n` messages of four kinds, then a ping, and waits for its answer. */
    async function flood(n: number, round: number): Promise<void> {
      const text = "x".repeat(150);
      for (let i = 0; i < n; i++) {
        switch (i % 4) {
          case 0: c.sendMessage(ServerCsid.Control, MessageType.Acknowledgement, 0, 0, u32be(i)); break;
          case 1: c.sendCommand(["onBWDone", 0, null, i, text]); break;
          case 2: c.sendMessage(ServerCsid.Status, MessageType.DataAmf0, 1, i, new Uint8Array(200).fill(i & 0xff)); break;
          default: c.sendOnStatus("NetStream.Info.Something", "status", text); break;
        }
      }
      c.pingRequest(round);
      await c.waitFor((m) => m.type === MessageType.UserControl && m.payload[5] === round, 10_000);
    }

    await flood(1000, 1); // warm-up: scratch regions reach their working size
    const before = core.memory.buffer.byteLength;
    await flood(10_000, 2);
    await flood(10_000, 3);
    expect(core.memory.buffer.byteLength).toBe(before);
    expect(before).toBeLessThan(MEMORY_BOUND);
    expect(p.state).toBe("live");
    expect(errors).toEqual([]);
    expect(p.stats().bytesReceived).toBe(c.bytesSent);
  });

  it("a message as big as maxMessageLength allows, chunked at 128, is read and the memory stays bounded", async () => {
    const s = await ScriptedServer.start({ serverChunkSize: 0 });
    servers.push(s);
    const core = await loadCoreNode();
    const p = newPublisher(s.url(KEY), core, { maxMessageLength: 1024 * 1024 });
    await p.publish();
    const c = await s.connection();
    for (let i = 0; i < 5; i++) c.sendMessage(ServerCsid.Status, MessageType.DataAmf0, 1, 0, new Uint8Array(1024 * 1024));
    c.pingRequest(77);
    await c.waitFor((m) => m.type === MessageType.UserControl, 10_000);
    expect(p.state).toBe("live");
    expect(core.memory.buffer.byteLength).toBeLessThan(MEMORY_BOUND);
  });
});
