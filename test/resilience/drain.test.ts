// Draining and fail-over of one bridge (issue 16), in process against
// nginx-rtmp: /readyz and /healthz; drain() refuses new sessions but keeps
// the live ones until its timeout, then tells each to move ("move", close
// 1001) after an unpublish that loses nothing; a resume that reaches a bridge
// without the session gets 4004; a client that stops answering pings is cut
// and its session waits for a resume. The replay client takes a broadcast up
// again: resumed after a cut link (one publish at the ingest), started anew
// on the bridge that replaced a drained one (a second publish, the gap
// measured at the ingest).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Bridge, type BridgeOptions } from "../../server/bridge/bridge.js";
import { replay } from "../../server/replay/index.js";
import { CloseCode, SUBPROTOCOL } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames, startNginxRtmp, type NginxRtmpServer } from "../support/ingest.js";
import { ThrottleProxy } from "../support/throttle-proxy.js";
import { WireTestClient } from "../support/wire-client.js";
import { publishGaps } from "../support/ingest-gaps.js";

let nginx: NginxRtmpServer;
let media: FlvAsWire;
let flv: string;
let recordDir: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  nginx = await startNginxRtmp({ recordUnique: true });
  flv = await cachedTestFlv({ seconds: 4, gop: 15 });
  media = await flvAsWire(flv);
  recordDir = await mkdtemp(join(tmpdir(), "golive-drain-"));
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  await nginx?.dispose();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

async function bridge(options: Partial<BridgeOptions> = {}): Promise<Bridge> {
  const b = new Bridge({ port: 0, recordDir, allowPrivate: true, limits: { statsIntervalMs: 250 }, ...options });
  await b.listen();
  cleanups.push(() => b.close());
  return b;
}

const status = async (b: Bridge, path: string): Promise<[number, unknown]> => {
  const res = await fetch(`http://127.0.0.1:${b.address.port}${path}`);
  return [res.status, await res.json()];
};

async function started(b: Bridge, key: string): Promise<WireTestClient> {
  const c = await WireTestClient.connect(`${b.ingestUrl}?session=k-${key}`);
  cleanups.push(() => Promise.resolve(c.ws.terminate()));
  c.send({ type: "start", version: 1, destinations: [{ id: "a", url: nginx.rtmpUrl(), key }] });
  await c.waitFor("accepted");
  await c.waitFor("destination", (m) => m.state === "live");
  c.sendConfigs(media);
  return c;
}

describe("drain", () => {
  it("/readyz turns 503 at once (/healthz stays 200); new sessions are refused; live ones stream on until the timeout, then move with nothing lost", async () => {
    const b = await bridge();
    expect(await status(b, "/readyz")).toEqual([200, { status: "ready", sessions: 0 }]);
    const c = await started(b, "drain-live");
    const half = media.frames.slice(0, media.frames.length / 2);
    await c.sendFrames(half);
    const draining = b.drain(1500);
    expect(await status(b, "/readyz")).toEqual([503, { status: "draining", sessions: 1 }]);
    expect((await status(b, "/healthz"))[0]).toBe(200);
    // A new session: refused with close 1001 (start again elsewhere).
    const late = await WireTestClient.connect(b.ingestUrl);
    late.send({ type: "start", version: 1, destinations: [{ id: "a", url: nginx.rtmpUrl(), key: "drain-late" }] });
    expect(await late.waitFor("error")).toMatchObject({ code: "BRIDGE_DRAINING", fatal: true });
    expect((await late.closed).code).toBe(CloseCode.GoingAway);
    // The live one streams on during the window.
    const rest = media.frames.slice(media.frames.length / 2);
    await c.sendFrames(rest);
    // Still live within the window: not moved yet.
    await new Promise((r) => setTimeout(r, 500));
    expect(b.sessions.size).toBe(1);
    expect(c.messages.some((m) => m.type === "move")).toBe(false);
    await draining;
    expect(c.messages.find((m) => m.type === "move")).toMatchObject({ type: "move" });
    expect((await c.closed).code).toBe(CloseCode.GoingAway);
    expect(b.sessions.size).toBe(0);
    const probe = await ffprobeFrames(await nginx.waitForRecording("drain-live"));
    expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
  });

  it("a drain with no session left resolves at once; sessions that end by themselves are not moved", async () => {
    const b = await bridge();
    const c = await started(b, "drain-ends");
    await c.sendFrames(media.frames.slice(0, 30));
    const t0 = performance.now();
    const draining = b.drain(10_000);
    c.send({ type: "stop" });
    await c.waitFor("ended");
    await draining;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(c.messages.some((m) => m.type === "move")).toBe(false);
  });

  it("while draining, a session held here still takes its resume", async () => {
    const b = await bridge();
    const c = await started(b, "drain-resume");
    await c.sendFrames(media.frames.slice(0, 30));
    const token = (await c.waitFor("accepted")).resumeToken;
    const draining = b.drain(2000);
    c.ws.terminate();
    await expect.poll(() => [...b.sessions][0]?.resumable).toBe(true);
    const again = await WireTestClient.connect(b.ingestUrl);
    cleanups.push(() => Promise.resolve(again.ws.terminate()));
    again.send({ type: "start", version: 1, destinations: [], resume: token });
    expect(await again.waitFor("accepted")).toMatchObject({ resumed: true });
    await draining;
    expect(again.messages.some((m) => m.type === "move")).toBe(true);
  });
});

describe("fail-over", () => {
  it("a resume that reaches a bridge without the session: RESUME_NOT_FOUND and close 4004 (start a new one)", async () => {
    const b = await bridge();
    const c = await WireTestClient.connect(b.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [], resume: "a-token-from-another-bridge" });
    expect(await c.waitFor("error")).toMatchObject({ code: "RESUME_NOT_FOUND", fatal: true });
    expect((await c.closed).code).toBe(CloseCode.SessionNotHere);
  });

  it("a client that stops answering pings is cut within two ping periods; its session waits for a resume", async () => {
    const b = await bridge({ pingIntervalMs: 200 });
    const ws = new WebSocket(b.ingestUrl, SUBPROTOCOL, { autoPong: false });
    cleanups.push(() => Promise.resolve(ws.terminate()));
    await new Promise((r) => ws.once("open", r));
    ws.send(JSON.stringify({ type: "start", version: 1, destinations: [{ id: "a", url: nginx.rtmpUrl(), key: "no-pong" }] }));
    const t0 = performance.now();
    const code = await new Promise<number>((r) => ws.once("close", (c: number) => r(c)));
    expect(code).toBe(1006); // terminated, no close frame
    expect(performance.now() - t0).toBeLessThan(1500);
    await expect.poll(() => [...b.sessions][0]?.resumable).toBe(true);
  });
});

describe("the replay client keeps a broadcast going", () => {
  it("a cut link: resumed on the same session (one publish at the ingest), video again from a keyframe", async () => {
    const b = await bridge();
    const proxy = await ThrottleProxy.start({ targetPort: b.address.port });
    cleanups.push(() => proxy.close());
    const run = replay({ file: flv, bridge: `ws://127.0.0.1:${proxy.port}/ingest`, to: [`${nginx.rtmpUrl()}/replay-resume`] });
    await new Promise((r) => setTimeout(r, 1500));
    proxy.cut();
    const result = await run;
    expect(result.ok, JSON.stringify(result.error)).toBe(true);
    expect([result.resumes, result.restarts]).toEqual([1, 0]);
    const gaps = await publishGaps(nginx.recordDir, "replay-resume");
    expect(gaps.files).toBe(1);
  });

  it("a link that goes silent (no FIN, no RST: a host gone): a missed pong, then resumed", async () => {
    const b = await bridge();
    const proxy = await ThrottleProxy.start({ targetPort: b.address.port });
    cleanups.push(() => proxy.close());
    const run = replay({ file: flv, bridge: `ws://127.0.0.1:${proxy.port}/ingest`, to: [`${nginx.rtmpUrl()}/replay-silent`], pingIntervalMs: 300 });
    await new Promise((r) => setTimeout(r, 1200));
    const t0 = performance.now();
    proxy.silence();
    await expect.poll(() => proxy.accepted, { timeout: 5000 }).toBe(2); // a new connection came
    expect(performance.now() - t0).toBeLessThan(1500); // within two ping periods and the reconnect
    const result = await run;
    expect(result.ok, JSON.stringify(result.error)).toBe(true);
    expect(result.resumes + result.restarts).toBe(1);
  });

  it("a drained bridge replaced by another on the same address: started anew there, the ingest's gap under 2 s", async () => {
    const first = await bridge();
    const port = first.address.port;
    const run = replay({ file: flv, bridge: `ws://127.0.0.1:${port}/ingest`, to: [`${nginx.rtmpUrl()}/replay-move`] });
    await new Promise((r) => setTimeout(r, 1500));
    await first.drain(0);
    await first.close();
    const second = new Bridge({ port, recordDir, allowPrivate: true });
    await second.listen();
    cleanups.push(() => second.close());
    const result = await run;
    expect(result.ok, JSON.stringify(result.error)).toBe(true);
    expect(result.restarts).toBe(1);
    expect(result.warnings.map((w) => w.code)).toContain("BRIDGE_SHUTTING_DOWN");
    const gaps = await publishGaps(nginx.recordDir, "replay-move");
    expect(gaps.files).toBe(2);
    expect(gaps.gapsMs[0]!, `gap ${gaps.gapsMs[0]} ms`).toBeLessThan(2000);
  });
});
