// Bad input from the browser's side closes only that session, with a stable
// code, a readable message and the documented close code; a concurrent
// session publishing at the same time finishes intact (its recording is
// probed), and the process carries on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, encodeMediaFrame, toBase64 } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

let bridge: Bridge;
let recordDir: string;
let media: FlvAsWire;

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-bridge-errors-"));
  bridge = new Bridge({
    port: 0,
    recordDir,
    logger: createLogger({ level: "silent" }),
    limits: { maxFrameBytes: 256 * 1024, maxDestinations: 2, statsIntervalMs: 200 },
    maxMessageBytes: 512 * 1024,
  });
  await bridge.listen();
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
});

afterAll(async () => {
  await bridge?.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** Opens a session that records only, and returns the client once accepted. */
async function started(): Promise<WireTestClient> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  c.send({ type: "start", version: 1, destinations: [], record: true });
  await c.waitFor("accepted");
  return c;
}

async function expectFatal(c: WireTestClient, code: string, closeCode: number, message?: RegExp): Promise<void> {
  const err = await c.waitFor("error");
  expect(err.code).toBe(code);
  expect(err.fatal).toBe(true);
  if (message) expect(err.message).toMatch(message);
  expect((await c.closed).code).toBe(closeCode);
}

const frame = (over: Partial<Parameters<typeof encodeMediaFrame>[0]> = {}): Uint8Array =>
  encodeMediaFrame({ track: 0, keyframe: true, timestampUs: 0, compositionUs: 0, payload: new Uint8Array([0, 0, 0, 1, 0x65]), ...over });

describe("bridge: malformed input closes only that session", () => {
  const cases: Array<{ name: string; code: string; close: number; run: (c: WireTestClient) => void | Promise<void>; fresh?: boolean; message?: RegExp }> = [
    { name: "text that is not JSON", code: "BAD_JSON", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.sendRaw("{nope") },
    { name: "an unknown message type", code: "UNKNOWN_TYPE", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.send({ type: "launch" }) },
    { name: "protocol version 2", code: "UNSUPPORTED_VERSION", close: CloseCode.UnsupportedVersion, fresh: true, run: (c) => c.send({ type: "start", version: 2, destinations: [] }) },
    { name: "interleaved that is not a boolean", code: "BAD_MESSAGE", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.send({ type: "start", version: 1, destinations: [], interleaved: "yes" }) },
    { name: "a start without a version", code: "BAD_MESSAGE", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.send({ type: "start" }) },
    { name: "media before start", code: "NOT_STARTED", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.sendRaw(frame()) },
    { name: "config before start", code: "NOT_STARTED", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.sendConfigs(media) },
    { name: "too many destinations", code: "TOO_MANY_DESTINATIONS", close: CloseCode.LimitExceeded, fresh: true, run: (c) => c.send({ type: "start", version: 1, destinations: [1, 2, 3].map((i) => ({ id: `d${i}`, url: `rtmp://127.0.0.1:9/live/k${i}` })) }) },
    { name: "no destination with recording off", code: "NO_DESTINATIONS", close: CloseCode.ProtocolError, fresh: true, run: (c) => c.send({ type: "start", version: 1, destinations: [], record: false }) },
    { name: "a second start", code: "ALREADY_STARTED", close: CloseCode.ProtocolError, run: (c) => c.send({ type: "start", version: 1, destinations: [] }) },
    { name: "media before any config", code: "MEDIA_BEFORE_CONFIG", close: CloseCode.ProtocolError, run: (c) => c.sendRaw(frame()) },
    { name: "media on a track without config", code: "UNKNOWN_TRACK", close: CloseCode.ProtocolError, run: (c) => { c.sendConfigs(media); c.sendRaw(frame({ track: 7 })); } },
    { name: "a binary message shorter than the header", code: "BAD_FRAME", close: CloseCode.ProtocolError, run: (c) => c.sendRaw(new Uint8Array([1, 0, 1])) },
    { name: "an unknown binary kind", code: "BAD_FRAME", close: CloseCode.ProtocolError, run: (c) => { const f = frame(); f[0] = 9; c.sendRaw(f); } },
    { name: "reserved flag bits", code: "BAD_FRAME", close: CloseCode.ProtocolError, run: (c) => { const f = frame(); f[2] = 0x81; c.sendRaw(f); } },
    { name: "an empty payload", code: "BAD_FRAME", close: CloseCode.ProtocolError, run: (c) => c.sendRaw(frame().subarray(0, 16)) },
    { name: "a malformed avcC", code: "BAD_AVC_CONFIG", close: CloseCode.ProtocolError, run: (c) => c.send({ type: "config", track: 0, kind: "video", codec: "avc1.42c01e", description: toBase64(new Uint8Array([1, 66, 0])) }) },
    { name: "a malformed AudioSpecificConfig", code: "BAD_AAC_CONFIG", close: CloseCode.ProtocolError, run: (c) => c.send({ type: "config", track: 1, kind: "audio", codec: "mp4a.40.2", description: toBase64(new Uint8Array([0x12])) }) },
    { name: "a codec v1 does not carry", code: "UNSUPPORTED_CODEC", close: CloseCode.ProtocolError, run: (c) => c.send({ type: "config", track: 0, kind: "video", codec: "vp8", description: "" }) },
    { name: "description that is not base64", code: "BAD_MESSAGE", close: CloseCode.ProtocolError, run: (c) => c.send({ type: "config", track: 0, kind: "video", codec: "avc1.42c01e", description: "***" }) },
    {
      name: "time going backwards beyond tolerance", code: "TIME_WENT_BACKWARDS", close: CloseCode.ProtocolError, message: /went back in time by 500 ms/,
      run: (c) => {
        c.sendConfigs(media);
        c.sendRaw(frame({ timestampUs: 1_000_000 }));
        c.sendRaw(frame({ timestampUs: 1_100_000, keyframe: false }));
        c.sendRaw(frame({ timestampUs: 600_000, keyframe: false }));
      },
    },
    { name: "a frame over maxFrameBytes", code: "FRAME_TOO_LARGE", close: CloseCode.LimitExceeded, run: (c) => { c.sendConfigs(media); c.sendRaw(frame({ payload: new Uint8Array(300 * 1024) })); } },
  ];

  for (const tc of cases) {
    it(`${tc.name} -> ${tc.code}, close ${tc.close}`, async () => {
      const c = tc.fresh ? await WireTestClient.connect(bridge.ingestUrl) : await started();
      await tc.run(c);
      await expectFatal(c, tc.code, tc.close, tc.message);
    });
  }

  it("small backwards jitter is clamped, not an error", async () => {
    const c = await started();
    c.sendConfigs(media);
    c.sendRaw(frame({ timestampUs: 1_000_000 }));
    c.sendRaw(frame({ timestampUs: 950_000, keyframe: false }));
    c.send({ type: "stop" });
    await c.waitFor("ended");
    expect(c.messages.some((m) => m.type === "error")).toBe(false);
    expect((await c.closed).code).toBe(CloseCode.Normal);
  });

  it("a WebSocket message over maxMessageBytes is refused by the WebSocket layer (1009)", async () => {
    const c = await started();
    c.sendRaw(new Uint8Array(600 * 1024));
    expect((await c.closed).code).toBe(1009);
  });

  it("refuses upgrades without the golive.v1 subprotocol (400) and on other paths (404)", async () => {
    const status = (path: string, protocol?: string): Promise<number> => new Promise((resolve, reject) => {
      const { port } = bridge.address;
      const req = request({ host: "127.0.0.1", port, path, headers: {
        Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...(protocol && { "Sec-WebSocket-Protocol": protocol }),
      } });
      req.on("response", (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on("upgrade", () => resolve(101));
      req.on("error", reject);
      req.end();
    });
    expect(await status("/ingest")).toBe(400);
    expect(await status("/ingest", "chat")).toBe(400);
    expect(await status("/elsewhere", "golive.v1")).toBe(404);
  });

  it("a good session running alongside bad ones finishes with a complete recording", async () => {
    const good = await started();
    const accepted = await good.waitFor("accepted");
    good.sendConfigs(media);
    const sending = good.sendFrames(media.frames);
    // Meanwhile, three bad sessions come and go.
    const bad = await Promise.all([0, 1, 2].map(() => started()));
    bad[0]!.sendRaw("{");
    bad[1]!.sendRaw(new Uint8Array([7]));
    bad[2]!.send({ type: "config", track: 0, kind: "video", codec: "avc1.42c01e", description: toBase64(new Uint8Array([9, 9, 9, 9, 9, 9, 9])) });
    for (const b of bad) expect((await b.closed).code).toBe(CloseCode.ProtocolError);
    await sending;
    good.send({ type: "stop" });
    await good.waitFor("ended");
    expect((await good.closed).code).toBe(CloseCode.Normal);
    expect(good.finalStates()).toEqual({ recording: "ended" });
    const file = join(recordDir, accepted.recording!);
    expect(await readdir(recordDir)).toContain(accepted.recording);
    const probe = await ffprobeFrames(file);
    expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
    expect([probe.video?.width, probe.video?.height]).toEqual([640, 360]);
  });
});
