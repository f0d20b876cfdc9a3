// Browser loss: the client's WebSocket dies mid-stream. The session is kept
// (its destinations stay published) for the grace period; the client comes
// back with its resume token and carries on, timestamps on the same clock,
// and the ingest sees ONE publish with a gap in it, not two broadcasts.
// When nobody comes back, the destinations unpublish cleanly and the session
// is gone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Socket } from "node:net";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, type StatsMessage } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { parseAudioBody, parseVideoBody, readFlv } from "../support/flv-read.js";
import { cachedTestFlv, startNginxRtmp } from "../support/ingest.js";
import { ScriptedServer } from "../support/scripted-server.js";
import { WireTestClient } from "../support/wire-client.js";

let recordDir: string;
let media: FlvAsWire;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-browser-loss-"));
  media = await flvAsWire(await cachedTestFlv({ seconds: 12, gop: 60 }));
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** A bridge whose JSON log lines are kept for the test to read. */
async function startBridge(resumeGraceMs: number): Promise<{ bridge: Bridge; log: Array<Record<string, unknown>> }> {
  const log: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") log.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const bridge = new Bridge({ port: 0, recordDir, allowPrivate: true, logger: createLogger({ level: "info", destination }), limits: { statsIntervalMs: 200, resumeGraceMs } });
  await bridge.listen();
  cleanups.push(() => bridge.close());
  return { bridge, log };
}

/** Waits until `check` is true (polling), or fails with `what`. */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once the bridge has counted `framesIn` frames of this session (from its stats). */
function bridgeHasFrames(client: WireTestClient, framesIn: number): Promise<StatsMessage> {
  return client.waitFor("stats", (m) => m.framesIn >= framesIn, 5000);
}

/** Index of the first frame at or after media time `ms`. */
function indexAt(ms: number): number {
  return media.frames.findIndex((f) => f.timestampUs >= ms * 1000);
}

/** Video and audio frames of an FLV file: timestamp and payload, sequence headers left out. */
async function framesOf(path: string): Promise<{ video: Array<{ ts: number; payload: Uint8Array }>; audio: Array<{ ts: number; payload: Uint8Array }> }> {
  const flv = readFlv(new Uint8Array(await readFile(path)));
  const video = [];
  const audio = [];
  for (const tag of flv.tags) {
    if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind === "legacy" && v.avcPacketType === 1) video.push({ ts: tag.timestamp, payload: v.payload });
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind === "legacy" && a.aacPacketType === 1) audio.push({ ts: tag.timestamp, payload: a.payload });
    }
  }
  return { video, audio };
}

/** The recorded frames of one track are exactly these input frames: same bytes, same time. */
function expectExactly(got: Array<{ ts: number; payload: Uint8Array }>, want: typeof media.frames, label: string): void {
  const describe = (f: { ts: number; payload: Uint8Array }): string => `${f.ts}ms/${f.payload.byteLength}B`;
  const wanted = want.map((f) => ({ ts: f.timestampUs / 1000, payload: f.payload }));
  if (got.length !== wanted.length || got.some((g, i) => Math.abs(g.ts - wanted[i]!.ts) > 1 || Buffer.compare(g.payload, wanted[i]!.payload) !== 0)) {
    const first = got.findIndex((g, i) => !wanted[i] || Math.abs(g.ts - wanted[i].ts) > 1 || Buffer.compare(g.payload, wanted[i].payload) !== 0);
    expect.fail(`${label}: ${got.length} frames recorded, ${wanted.length} expected; first difference at ${first}: got ${got[first] ? describe(got[first]) : "-"}, want ${wanted[first] ? describe(wanted[first]) : "-"}`);
  }
}

/** Gaps between consecutive timestamps larger than `ms`. */
function gaps(ts: number[], ms: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < ts.length; i++) if (ts[i]! - ts[i - 1]! > ms) out.push([ts[i - 1]!, ts[i]!]);
  return out;
}

describe("browser loss", () => {
  it("the WebSocket dies for 3 s and the client resumes: one publish, one gap, no frame lost or repeated", async () => {
    const { bridge } = await startBridge(8000);
    const nginx = await startNginxRtmp({ recordUnique: true });
    cleanups.push(() => nginx.dispose());

    const first = await WireTestClient.connect(bridge.ingestUrl);
    first.send({ type: "start", version: 1, record: false, destinations: [{ id: "n", url: `${nginx.rtmpUrl()}/resume` }] });
    const accepted = await first.waitFor("accepted");
    expect(accepted.resumed).toBe(false);
    first.sendConfigs(media);
    const originMs = performance.now();
    const cut = indexAt(4000);
    const sent = await first.sendRealtime(media.frames, { originMs, to: cut });
    expect(sent.next).toBe(cut);
    // Everything sent has reached the bridge; then the link dies without a close frame.
    await first.flushed();
    await bridgeHasFrames(first, cut);
    await first.waitFor("destination", (m) => m.state === "live");
    first.ws.terminate();
    const [session] = [...bridge.sessions];
    await until(() => session?.state === "detached", "the session to be detached");

    // Three seconds later (on the client's clock), a new WebSocket resumes.
    await new Promise((r) => setTimeout(r, 3000));
    expect(bridge.sessions.size).toBe(1);
    expect(nginx.logs()).not.toMatch(/deleteStream/);
    const second = await WireTestClient.connect(bridge.ingestUrl);
    second.sendResume(accepted.resumeToken);
    const resumed = await second.waitFor("accepted");
    expect(resumed).toMatchObject({ resumed: true, session: accepted.session, resumeToken: accepted.resumeToken });
    expect(await second.waitFor("destination", (m) => m.id === "n")).toMatchObject({ state: "live" });
    second.sendConfigs(media); // as a browser does on a new connection: the same configs change nothing

    // The encoder kept its clock: go on from the first keyframe that is not in the past.
    const now = performance.now() - originMs;
    const resumeAt = media.frames.findIndex((f) => f.track === 0 && f.keyframe && f.timestampUs / 1000 >= now);
    expect(resumeAt).toBeGreaterThan(cut);
    const resumeMs = media.frames[resumeAt]!.timestampUs / 1000;
    expect((await second.sendRealtime(media.frames, { originMs, from: resumeAt })).next).toBe(media.frames.length);
    second.send({ type: "stop" });
    await second.waitFor("ended", () => true, 20_000);
    expect((await second.closed).code).toBe(CloseCode.Normal);
    expect(second.finalStates()).toEqual({ n: "ended" });
    expect(bridge.sessions.size).toBe(0);

    // One publish, one recording.
    expect(nginx.logs().match(/publish: name='resume'/g)).toHaveLength(1);
    expect(nginx.logs().match(/deleteStream/g)?.length).toBeGreaterThanOrEqual(1);
    const files = (await readdir(nginx.recordDir)).filter((f) => f.startsWith("resume"));
    expect(files).toHaveLength(1);
    const recorded = await framesOf(await nginx.waitForRecording("resume"));
    const expected = [...media.frames.slice(0, cut), ...media.frames.slice(resumeAt)];
    expectExactly(recorded.video, expected.filter((f) => f.track === 0), "video");
    expectExactly(recorded.audio, expected.filter((f) => f.track === 1), "audio");
    // Continuous on both sides of the one gap, which spans the outage.
    for (const track of ["video", "audio"] as const) {
      const found = gaps(recorded[track].map((f) => f.ts), 100);
      expect(found, track).toHaveLength(1);
      expect(found[0]![0], track).toBeLessThan(4000);
      expect(found[0]![1], track).toBeGreaterThanOrEqual(resumeMs);
      expect(found[0]![1] - found[0]![0], track).toBeGreaterThanOrEqual(3000);
    }
  });

  it("nobody resumes: after the grace period the destination unpublishes cleanly and the session is gone", async () => {
    const { bridge, log } = await startBridge(1500);
    const server = await ScriptedServer.start();
    cleanups.push(() => server.close());
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${bridge.address.port}/metrics`)).text();
    const disconnected = (text: string): number => Number(/^golive_sessions_ended_total\{outcome="disconnected"\} (\d+)/m.exec(text)?.[1] ?? 0);

    const client = await WireTestClient.connect(bridge.ingestUrl);
    client.send({ type: "start", version: 1, record: false, destinations: [{ id: "s", url: server.url("grace") }] });
    const accepted = await client.waitFor("accepted");
    client.sendConfigs(media);
    await client.sendRealtime(media.frames, { to: indexAt(1500) });
    await client.waitFor("destination", (m) => m.state === "live");
    const upstream = await server.connection(0);
    const lostAt = performance.now();
    client.ws.terminate();
    const [session] = [...bridge.sessions];
    await until(() => session?.state === "detached", "the session to be detached");

    // Within the grace period: still published.
    await new Promise((r) => setTimeout(r, 1000));
    expect(upstream.names()).not.toContain("FCUnpublish");
    expect(upstream.socket.destroyed).toBe(false);
    expect(bridge.sessions.size).toBe(1);

    // After it: unpublished (FCUnpublish, deleteStream, then the close), session gone.
    await upstream.closed;
    const closedAfter = performance.now() - lostAt;
    expect(closedAfter).toBeGreaterThanOrEqual(1400);
    expect(closedAfter).toBeLessThan(4000);
    expect(upstream.names().slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
    expect(upstream.ended).toBe(true); // our FIN, after the unpublish: not a reset
    await until(() => bridge.sessions.size === 0, "the session to be removed");
    const ended = log.find((l) => l.msg === "destination state" && l.destination === "s" && l.state === "ended");
    expect(ended).toBeDefined();
    expect(log.find((l) => l.msg === "session ended")).toMatchObject({ outcome: "disconnected" });
    expect(disconnected(await scrape())).toBe(1);

    // Too late to resume: the token is refused with a readable reason.
    const late = await WireTestClient.connect(bridge.ingestUrl);
    late.sendResume(accepted.resumeToken);
    const err = await late.waitFor("error");
    expect(err.code).toBe("RESUME_NOT_FOUND");
    expect((await late.closed).code).toBe(CloseCode.SessionNotHere);
  });

  it("a resume while the old connection still looks open supersedes it; what the old one still delivers is ignored", async () => {
    const { bridge } = await startBridge(8000);
    const old = await WireTestClient.connect(bridge.ingestUrl);
    old.send({ type: "start", version: 1, destinations: [], record: true });
    const accepted = await old.waitFor("accepted");
    old.sendConfigs(media);
    const originMs = performance.now();
    const cut = indexAt(1500);
    await old.sendRealtime(media.frames, { originMs, to: cut });
    await old.flushed();
    await bridgeHasFrames(old, cut);
    // The old link is half dead: it no longer reads what the bridge sends
    // (so it never learns it was superseded), but bytes still get through.
    (old.ws as unknown as { _socket: Socket })._socket.pause();

    const fresh = await WireTestClient.connect(bridge.ingestUrl);
    fresh.sendResume(accepted.resumeToken);
    expect(await fresh.waitFor("accepted")).toMatchObject({ resumed: true, session: accepted.session });
    fresh.sendConfigs(media);
    // Stale frames from before the takeover, still in flight on the old link:
    // they would go back in time (or repeat) if the session took them.
    for (const f of media.frames.slice(0, 40)) old.sendFrame(f);
    await old.flushed();
    await new Promise((r) => setTimeout(r, 300));
    const { next } = await fresh.sendRealtime(media.frames, { originMs, from: cut, to: indexAt(3000) });
    fresh.send({ type: "stop" });
    await fresh.waitFor("ended").catch(() => undefined);
    expect(fresh.messages.filter((m) => m.type === "error")).toEqual([]);
    expect(fresh.messages.at(-1)).toEqual({ type: "ended", reason: "stopped" });
    expect((await fresh.closed).code).toBe(CloseCode.Normal);
    (old.ws as unknown as { _socket: Socket })._socket.resume();
    expect(await old.closed).toMatchObject({ code: CloseCode.ProtocolError, reason: "SUPERSEDED" });

    const recorded = await framesOf(join(recordDir, accepted.recording!));
    const expected = media.frames.slice(0, next);
    expectExactly(recorded.video, expected.filter((f) => f.track === 0), "video");
    expectExactly(recorded.audio, expected.filter((f) => f.track === 1), "audio");
  });
});
