// The limits of `golive serve --workers 2` are the group's, not each
// worker's (issue 16): the primary keeps the one ledger behind them and each
// worker asks it. Every test lands its clients on both workers on purpose
// (session keys chosen by the primary's own hash) and checks, from the
// workers' log lines, that they did; with per-worker counts each test would
// let in twice what it allows. Client addresses come from X-Forwarded-For
// (--trust-proxy 1): strings in a header, no traffic leaves loopback.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CloseCode, newSessionKey } from "../../protocol/wire.js";
import { pickSlot } from "../../server/cluster.js";
import { mintToken } from "../../server/security/tokens.js";
import { childPids } from "../../server/testing/ingest/process.js";
import { freePort } from "../../server/testing/ports.js";
import { WireTestClient } from "../support/wire-client.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
const SECRET = "a-secret-of-at-least-32-characters-for-workers";
let dir: string;
let proc: ChildProcess;
let port: number;
let output = "";
let open: WireTestClient[] = [];
let sockets: Socket[] = [];

/** A session key the primary hands to worker `slot` (of slots 0 and 1). */
function keyFor(slot: number): string {
  for (;;) {
    const key = newSessionKey();
    if (pickSlot(key, [0, 1]) === slot) return key;
  }
}

async function client(slot: number, address: string): Promise<WireTestClient> {
  const c = await WireTestClient.connect(`ws://127.0.0.1:${port}/ingest?session=${keyFor(slot)}`, undefined, { "x-forwarded-for": address });
  open.push(c);
  return c;
}

/** A token allowing recording; its own user unless one is named (tokens minted alike in one second are the same token: one user). */
const token = (options: { subject?: string; oneTime?: boolean } = {}): Promise<string> => mintToken(SECRET, { rec: true }, { subject: newSessionKey(), ...options });

/** Starts a recording session (no destination) from `address` on worker `slot`; resolves with its first answer. */
async function start(slot: number, address: string, tok?: string): Promise<{ c: WireTestClient; answer: { type: string; code?: string; session?: string } }> {
  const c = await client(slot, address);
  c.send({ type: "start", version: 1, destinations: [], record: true, token: tok ?? (await token()) });
  const answer = (await c.waitFor("accepted", () => true, 5000).catch(() => c.waitFor("error", () => true, 1000))) as { type: string; code?: string; session?: string };
  if (answer.type !== "accepted") {
    const error = c.messages.find((m) => m.type === "error");
    if (error) return { c, answer: error };
  }
  return { c, answer };
}

/** The worker process a session runs in, from its log line. */
async function workerOf(session: string): Promise<number> {
  let pid = 0;
  await expect.poll(() => (pid = Number(new RegExp(`"pid":(\\d+)[^\\n]*"session":"${session}"`).exec(output)?.[1] ?? 0))).toBeGreaterThan(0);
  return pid;
}

async function expectRefused(c: WireTestClient, code: string, closeCode: number): Promise<void> {
  expect(await c.waitFor("error")).toMatchObject({ code, fatal: true });
  expect((await c.closed).code).toBe(closeCode);
}

const health = async (): Promise<{ sessions: number; workers: number }> => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { sessions: number; workers: number };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-workers-limits-"));
  port = await freePort();
  proc = spawn(process.execPath, [
    BIN, "serve", "--workers", "2", "--port", String(port), "--record-dir", dir, "--log-level", "info", "--trust-proxy", "1", "--token-secret", SECRET,
    "--max-sessions", "5", "--max-sessions-per-ip", "2", "--max-sessions-per-user", "3", "--max-pending-per-ip", "3", "--max-connections", "40", "--resume-grace", "0",
  ], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const deadline = Date.now() + 20_000;
  while (!/golive bridge on/.test(output)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`golive serve --workers 2 did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 30_000);

afterEach(async () => {
  for (const c of open) c.ws.terminate();
  for (const s of sockets) s.destroy();
  open = [];
  sockets = [];
  // Every session gone (--resume-grace 0: a client that leaves ends its session).
  await expect.poll(async () => (await health()).sessions, { timeout: 15_000 }).toBe(0);
});

afterAll(async () => {
  if (proc?.exitCode === null) proc.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("golive serve --workers 2: the limits are the group's", () => {
  it("sessions per address: one on each worker fills --max-sessions-per-ip 2; a third on either is refused; one ending makes room", async () => {
    const a = await start(0, "127.0.0.11");
    const b = await start(1, "127.0.0.11");
    expect([a.answer.type, b.answer.type]).toEqual(["accepted", "accepted"]);
    expect(await workerOf(a.answer.session!)).not.toBe(await workerOf(b.answer.session!));
    for (const slot of [0, 1]) {
      const c = await client(slot, "127.0.0.11");
      c.send({ type: "start", version: 1, destinations: [], record: true, token: await token() });
      await expectRefused(c, "SESSION_LIMIT_PER_IP", CloseCode.LimitExceeded);
    }
    // Another address is not affected.
    expect((await start(0, "127.0.0.12")).answer.type).toBe("accepted");
    a.c.send({ type: "stop" });
    await a.c.waitFor("ended");
    expect((await start(1, "127.0.0.11")).answer.type).toBe("accepted");
  });

  it("sessions in all: --max-sessions 5 over both workers; the sixth is refused, and a socket opened while full is told so before it starts", async () => {
    const accepted = [];
    for (let i = 0; i < 5; i++) accepted.push(await start(i % 2, `127.0.1.${i + 1}`));
    expect(accepted.map((s) => s.answer.type)).toEqual(Array(5).fill("accepted"));
    expect(new Set(await Promise.all(accepted.map((s) => workerOf(s.answer.session!)))).size).toBe(2);
    const sixth = await client(0, "127.0.1.6");
    // Not a word sent: a full bridge says so at once.
    await expectRefused(sixth, "SESSION_LIMIT", CloseCode.LimitExceeded);
    const seventh = await client(1, "127.0.1.7");
    await expectRefused(seventh, "SESSION_LIMIT", CloseCode.LimitExceeded);
  });

  it("sessions per token user: --max-sessions-per-user 3 over both workers", async () => {
    const alice = await token({ subject: "alice" });
    const sessions = [await start(0, "127.0.2.1", alice), await start(1, "127.0.2.2", alice), await start(0, "127.0.2.3", alice)];
    expect(sessions.map((s) => s.answer.type)).toEqual(["accepted", "accepted", "accepted"]);
    expect(new Set(await Promise.all(sessions.map((s) => workerOf(s.answer.session!)))).size).toBe(2);
    const fourth = await start(1, "127.0.2.4", alice);
    expect(fourth.answer).toMatchObject({ type: "error", code: "SESSION_LIMIT_PER_USER" });
    expect((await fourth.c.closed).code).toBe(CloseCode.LimitExceeded);
    // Bob is another user.
    expect((await start(1, "127.0.2.5", await token({ subject: "bob" }))).answer.type).toBe("accepted");
  });

  it("a single-use token used on one worker is refused on the other (TOKEN_REUSED)", async () => {
    const once = await token({ oneTime: true });
    const first = await start(0, "127.0.3.1", once);
    expect(first.answer.type).toBe("accepted");
    const second = await start(1, "127.0.3.2", once);
    expect(second.answer).toMatchObject({ type: "error", code: "TOKEN_REUSED" });
    expect((await second.c.closed).code).toBe(CloseCode.Forbidden);
  });

  it("sockets waiting to start, per address: --max-pending-per-ip 3 over both workers; the fourth gets 503; a start makes room", async () => {
    const waiting = [await client(0, "127.0.4.1"), await client(1, "127.0.4.1"), await client(0, "127.0.4.1")];
    await expect(client(1, "127.0.4.1")).rejects.toThrow(/503/);
    await expect(client(0, "127.0.4.1")).rejects.toThrow(/503/);
    waiting[1]!.send({ type: "start", version: 1, destinations: [], record: true, token: await token() });
    await waiting[1]!.waitFor("accepted");
    await expect.poll(async () => client(1, "127.0.4.1").then(() => "open", (err: Error) => err.message)).toBe("open");
  });

  it("a worker that dies gives back what it held: its address's sessions count no more once it is gone", async () => {
    const a = await start(0, "127.0.5.1");
    const b = await start(1, "127.0.5.1");
    expect([a.answer.type, b.answer.type]).toEqual(["accepted", "accepted"]);
    const victim = await workerOf(a.answer.session!);
    const third = await start(1, "127.0.5.1");
    expect(third.answer).toMatchObject({ code: "SESSION_LIMIT_PER_IP" });
    process.kill(victim, "SIGKILL");
    const workers = (): number[] => childPids(proc.pid!);
    await expect.poll(() => workers().length === 2 && !workers().includes(victim), { timeout: 10_000 }).toBe(true);
    await expect.poll(async () => (await health()).workers, { timeout: 10_000 }).toBe(2);
    // b (on the living worker) still counts; a's place is free again.
    expect((await start(0, "127.0.5.1")).answer.type).toBe("accepted");
    expect((await start(1, "127.0.5.1")).answer).toMatchObject({ code: "SESSION_LIMIT_PER_IP" });
  });

  it("TCP connections in all: --max-connections 40 counts those handed to either worker; past it a new one is closed; one closing makes room", async () => {
    const held = async (): Promise<Socket | undefined> => {
      const s = await new Promise<Socket>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () => resolve(socket));
        socket.on("error", reject);
      });
      sockets.push(s);
      // A request a worker answers and keeps the connection for (keep-alive).
      s.write(`GET /no-such-file HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      return new Promise((resolve) => {
        s.once("data", (d) => resolve(/^HTTP\/1\.1 404/.test(d.toString()) ? s : undefined));
        s.once("close", () => resolve(undefined));
      });
    };
    const kept = [];
    for (let i = 0; i < 40; i++) kept.push(await held());
    expect(kept.every(Boolean)).toBe(true);
    expect(await held()).toBeUndefined();
    kept[0]!.destroy();
    await expect.poll(async () => (await held()) !== undefined, { timeout: 5000 }).toBe(true);
  });
});
