// `golive serve --workers 2` (issue 16), run as the real process group: the
// primary hands each connection to a worker by its ?session= key (a resume
// reaches the worker holding the session), answers one /healthz, /readyz
// and /metrics for the group, replaces a worker that dies (a resume of a
// session it held gets 4004) and drains its workers on SIGTERM. A publish
// through it is checked at nginx-rtmp.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { CloseCode, newSessionKey } from "../../protocol/wire.js";
import { pickSlot } from "../../server/cluster.js";
import { childPids } from "../../server/testing/ingest/process.js";
import { freePort } from "../../server/testing/ports.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames, startNginxRtmp, type NginxRtmpServer } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
let dir: string;
let nginx: NginxRtmpServer;
let media: FlvAsWire;
let proc: ChildProcess;
let port: number;
let output = "";
const clients: WireTestClient[] = [];

/** The worker processes (children of the primary). */
function workerPids(): number[] {
  return childPids(proc.pid!);
}

const health = async (path: string): Promise<[number, { workers?: number; sessions?: number; status?: string }]> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return [res.status, (await res.json()) as { workers?: number; sessions?: number; status?: string }];
};

async function start(key: string): Promise<{ c: WireTestClient; token: string }> {
  const c = await WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${key}`);
  clients.push(c);
  c.send({ type: "start", version: 1, destinations: [], record: true });
  const accepted = await c.waitFor("accepted");
  return { c, token: accepted.resumeToken };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-workers-"));
  nginx = await startNginxRtmp();
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 30 }));
  port = await freePort();
  proc = spawn(process.execPath, [BIN, "serve", "--workers", "2", "--port", String(port), "--allow-private", "--drain-timeout", "1", "--record-dir", dir, "--log-level", "info"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const h = await health("/healthz").catch(() => undefined);
    if (h?.[1].workers === 2) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`golive serve --workers 2 did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  if (proc?.exitCode === null) proc.kill("SIGKILL");
  await nginx?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("golive serve --workers 2", () => {
  it("rendezvous hashing: a key always picks the same slot, keys spread over the slots, and losing a slot moves only its keys", () => {
    const keys = Array.from({ length: 2000 }, () => newSessionKey());
    const two = keys.map((k) => pickSlot(k, [0, 1]));
    expect(keys.map((k) => pickSlot(k, [0, 1]))).toEqual(two);
    const share = two.filter((s) => s === 0).length / keys.length;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    const three = keys.map((k) => pickSlot(k, [0, 1, 2]));
    // Adding slot 2 moves keys only to it.
    keys.forEach((_, i) => expect(three[i] === two[i] || three[i] === 2).toBe(true));
  });

  it("one /healthz, /readyz and /metrics for the group", async () => {
    expect(await health("/healthz")).toEqual([200, { status: "ok", sessions: 0, workers: 2 }]);
    expect((await health("/readyz"))[0]).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^golive_sessions_active\b/m);
  });

  it("sessions spread over both workers; each resume (same key) reaches the worker that holds its session; the metrics sum the workers", async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, () => newSessionKey()).map(async (key) => ({ key, ...(await start(key)) })));
    await expect.poll(async () => (await health("/healthz"))[1].sessions).toBe(8);
    const pids = new Set([...output.matchAll(/"pid":(\d+)[^\n]*"msg":"session started"/g)].map((m) => m[1]));
    expect(pids.size, "sessions started in two processes").toBe(2);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(/^golive_sessions_active (\d+)/m.exec(metrics)?.[1]).toBe("8");
    for (const s of sessions) {
      s.c.ws.terminate();
      const again = await WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${s.key}`);
      clients.push(again);
      again.send({ type: "start", version: 1, destinations: [], resume: s.token });
      expect(await again.waitFor("accepted")).toMatchObject({ resumed: true });
      again.send({ type: "stop" });
      await again.waitFor("ended");
    }
  });

  it("200 clients in 2 s: every one's first message, sent right after the worker's 101, reaches that worker (none read and lost by the primary)", async () => {
    const opened: WireTestClient[] = [];
    await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${newSessionKey()}`).then((c) => {
          opened.push(c);
          c.send({ type: "start", version: 1, destinations: [{ id: "a", url: "rtmp://127.0.0.1:1/live/nobody" }] });
          resolve();
        }, reject);
      }, i * 10);
    })));
    const outcomes = await Promise.all(opened.map((c) => c.waitFor("accepted", () => true, 8000).then(() => "accepted", () => JSON.stringify(c.messages.slice(0, 2)))));
    for (const c of opened) c.ws.terminate();
    expect(outcomes.filter((o) => o !== "accepted")).toEqual([]);
  });

  it("the primary's limits: a request head over 16 KiB gets 431; past 1024 connections waiting for their head, new ones are closed; then it serves again", async () => {
    const raw = (): Promise<Socket> => new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
      s.on("error", reject);
    });
    const big = await raw();
    const answer = new Promise<string>((r) => {
      let text = "";
      big.on("data", (d) => (text += d.toString()));
      big.on("close", () => r(text));
    });
    big.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${"a".repeat(17 * 1024)}\r\n\r\n`);
    expect(await answer).toMatch(/^HTTP\/1\.1 431 /);
    const idle = await Promise.all(Array.from({ length: 1024 }, raw));
    const extra = await raw();
    const closed = await new Promise<boolean>((r) => {
      extra.on("close", () => r(true));
      setTimeout(() => r(false), 3000);
    });
    expect(closed).toBe(true);
    for (const s of idle) s.destroy();
    await expect.poll(async () => (await health("/healthz").catch(() => [0]))[0]).toBe(200);
  });

  it("a publish through the group reaches nginx-rtmp whole", async () => {
    const c = await WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${newSessionKey()}`);
    clients.push(c);
    c.send({ type: "start", version: 1, destinations: [{ id: "a", url: nginx.rtmpUrl(), key: "workers" }] });
    await c.waitFor("destination", (m) => m.state === "live");
    c.sendConfigs(media);
    await c.sendFrames(media.frames);
    c.send({ type: "stop" });
    await c.waitFor("ended", () => true, 20_000);
    const probe = await ffprobeFrames(await nginx.waitForRecording("workers"));
    expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
  });

  it("a worker that dies is replaced; a resume of a session it held gets 4004", async () => {
    const key = newSessionKey();
    const { c, token } = await start(key);
    const before = workerPids();
    expect(before).toHaveLength(2);
    // The worker holding it: the one whose log line names the session.
    const session = (c.messages.find((m) => m.type === "accepted") as { session: string }).session;
    const holderOf = (): number => Number(new RegExp(`"pid":(\\d+)[^\\n]*"session":"${session}"`).exec(output)?.[1]);
    await expect.poll(holderOf).toBeGreaterThan(0);
    const holder = holderOf();
    expect(before).toContain(holder);
    process.kill(holder, "SIGKILL");
    await expect.poll(() => workerPids().filter((p) => !before.includes(p)).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => (await health("/healthz"))[1].workers, { timeout: 10_000 }).toBe(2);
    const again = await WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${key}`);
    clients.push(again);
    again.send({ type: "start", version: 1, destinations: [], resume: token });
    expect(await again.waitFor("error")).toMatchObject({ code: "RESUME_NOT_FOUND" });
    expect((await again.closed).code).toBe(CloseCode.SessionNotHere);
  });

  it("a worker that keeps dying is started again later and later (0 ms, then 100, 200, 400 ms after each quick death); the group serves on", async () => {
    /** Kills the newest worker; resolves with how long its replacement took to appear, ms. */
    const killNewest = async (): Promise<number> => {
      const before = workerPids();
      const newest = Math.max(...before);
      process.kill(newest, "SIGKILL");
      const diedAt = performance.now();
      await expect.poll(() => workerPids().some((p) => !before.includes(p)), { timeout: 10_000, interval: 10 }).toBe(true);
      return performance.now() - diedAt;
    };
    const waits = [];
    for (let i = 0; i < 4; i++) waits.push(await killNewest());
    // The first was not a quick death (its worker had lived > 10 s): replaced at once.
    expect(waits[0]).toBeLessThan(1000);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[2]).toBeGreaterThanOrEqual(200);
    expect(waits[3]).toBeGreaterThanOrEqual(400);
    expect(waits[3]).toBeLessThan(3000);
    await expect.poll(async () => (await health("/healthz"))[1].workers, { timeout: 10_000 }).toBe(2);
    const { c } = await start(newSessionKey());
    c.send({ type: "stop" });
    await c.waitFor("ended");
  });

  it("SIGTERM: /readyz 503, the workers drain (their sessions are told to move), the group exits 0", async () => {
    const { c } = await start(newSessionKey());
    proc.kill("SIGTERM");
    await expect.poll(async () => (await health("/readyz"))[0], { timeout: 2000 }).toBe(503);
    expect(c.messages.some((m) => m.type === "move")).toBe(false); // streaming on during --drain-timeout 1
    expect((await c.closed).code).toBe(CloseCode.GoingAway);
    expect(c.messages.some((m) => m.type === "move")).toBe(true);
    expect(await new Promise((r) => proc.once("exit", r))).toBe(0);
  });
});
