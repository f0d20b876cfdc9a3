// The pre-live buffer of a destination that is still connecting holds at
// most maxPendingBytes in every case (issue 18), also when its only keyframe
// is the first frame it holds: then everything goes and the next keyframe
// starts again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { RtmpDestination } from "../../server/bridge/rtmp-destination.js";
import type { SessionFrame, TrackSet, VideoTrack } from "../../server/bridge/media-types.js";
import { parseRtmpUrl } from "../../server/rtmp/rtmp-url.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import type { Core } from "../../wasm/host/index.js";

let core: Core;
let silent: net.Server;
let port: number;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  core = await loadCoreNode();
  // Accepts and never answers: the destination stays "connecting".
  silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  port = (silent.address() as net.AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

const frame = (dtsMs: number, keyframe: boolean, bytes: number): SessionFrame => ({
  kind: "video", keyframe, dtsMs, ctsMs: 0, payload: new Uint8Array(bytes), receivedAt: process.hrtime.bigint(),
});

describe("pre-live buffer cap", () => {
  it("only keyframe first and over the cap: all of it is dropped and counted, then the next keyframe starts again", async () => {
    const d = new RtmpDestination({
      id: "d", url: parseRtmpUrl(`rtmp://127.0.0.1:${port}/live/k`), core, maxPendingBytes: 1024 * 1024,
      events: { state: () => undefined, bytesOut: () => undefined, frameOut: () => undefined },
      publisher: { handshakeTimeoutMs: 1500 },
    });
    const tracks: TrackSet = { video: { kind: "video" } as VideoTrack, metadata: {}, generation: 1 };
    d.setTracks(tracks);
    d.start();
    d.send(frame(0, true, 100_000));
    for (let i = 1; i <= 30; i++) d.send(frame(i * 33, false, 50_000)); // 1.6 MB in all
    expect(d.state).toBe("connecting");
    // Past 1 MiB at the 20th inter frame: the keyframe and 19 inter frames go, and
    // every inter frame after them (nothing to decode them from).
    expect(d.stats()).toMatchObject({ framesDropped: 31, keyframesLost: 1 });
    d.send(frame(31 * 33, true, 100_000));
    d.send(frame(32 * 33, false, 50_000));
    expect(d.stats().framesDropped).toBe(31); // kept: a new start
    await d.stop();
  });
});
