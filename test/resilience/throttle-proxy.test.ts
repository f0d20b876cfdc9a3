// The throttle proxy itself (test/support/throttle-proxy.ts): it must hold
// its rate, release whole segments of at most its MSS, stop on pause, pass a
// reset on, cut, and go silent, or the congestion and fail-over tests prove
// nothing.
import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { LOOPBACK } from "../../server/testing/ports.js";
import { ThrottleProxy } from "../support/throttle-proxy.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A target that counts what it receives and says "hi" to each client. */
async function target(): Promise<{ port: number; received: () => number; sockets: net.Socket[]; errors: string[] }> {
  let received = 0;
  const sockets: net.Socket[] = [];
  const errors: string[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on("data", (d: Buffer) => (received += d.length));
    s.on("error", (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    s.write("hi");
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  cleanups.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return { port: (server.address() as net.AddressInfo).port, received: () => received, sockets, errors };
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, LOOPBACK);
  socket.on("error", () => undefined);
  await new Promise<void>((r) => socket.once("connect", r));
  cleanups.push(() => {
    socket.destroy();
    return Promise.resolve();
  });
  return socket;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("throttle proxy", () => {
  it("forwards client -> target at its rate, target -> client at once, and nothing while paused", async () => {
    const t = await target();
    const proxy = await ThrottleProxy.start({ targetPort: t.port, bytesPerSecond: 200_000 });
    cleanups.push(() => proxy.close());
    const c = await connect(proxy.port);
    const greeting = await new Promise<string>((r) => c.once("data", (d: Buffer) => r(d.toString())));
    expect(greeting).toBe("hi");
    c.write(Buffer.alloc(2_000_000));
    await sleep(1000);
    // 1 s at 200 kB/s, plus at most one 50 ms burst.
    expect(t.received()).toBeGreaterThan(150_000);
    expect(t.received()).toBeLessThan(260_000);
    proxy.pause();
    await sleep(100);
    const atPause = t.received();
    await sleep(500);
    expect(t.received()).toBe(atPause);
    // Its own buffer is bounded: the rest backs up into the client.
    expect(proxy.bufferedBytes).toBeLessThanOrEqual(64 * 1024 + 65_536);
    proxy.resume();
    proxy.setRate(Number.POSITIVE_INFINITY);
    const deadline = Date.now() + 5000;
    while (t.received() < 2_000_000 && Date.now() < deadline) await sleep(20);
    expect(t.received()).toBe(2_000_000);
    expect(proxy.bytesForwarded).toBe(2_000_000);
  });

  it("a packetised link: the target sees segments of exactly mss bytes (the last may be short), at the rate within 10 %", async () => {
    const mss = 1000;
    const reads: number[] = [];
    let received = 0;
    let firstAt = 0;
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on("data", (d: Buffer) => {
        if (received === 0) firstAt = performance.now();
        reads.push(d.length);
        received += d.length;
      });
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
    cleanups.push(() => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }));
    // 100 kB/s: a 1000-byte segment every 10 ms, two ticks of the bucket.
    const proxy = await ThrottleProxy.start({ targetPort: (server.address() as net.AddressInfo).port, bytesPerSecond: 100_000, mss });
    cleanups.push(() => proxy.close());
    const c = await connect(proxy.port);
    // Written in pieces that are not multiples of the MSS: segments span the client's writes.
    const total = 250_500;
    for (let sent = 0; sent < total; sent += 777) c.write(Buffer.alloc(Math.min(777, total - sent)));
    const deadline = Date.now() + 5000;
    while (received < total && Date.now() < deadline) await sleep(20);
    const elapsed = (performance.now() - firstAt) / 1000;
    expect(received).toBe(total);
    expect(Math.max(...reads)).toBeLessThanOrEqual(mss);
    // Whole segments only: every read but the last is a full one, so none was merged or split.
    expect(reads.slice(0, -1).every((n) => n === mss)).toBe(true);
    expect(reads.at(-1)).toBe(500);
    expect(reads).toHaveLength(251);
    // 2.5 s of link time (less one 50 ms burst at the start).
    expect(elapsed).toBeGreaterThan(2.5 * 0.9);
    expect(elapsed).toBeLessThan(2.5 * 1.1);
    expect(proxy.bytesForwarded).toBe(total);
  });

  it("takes turns between connections when tokens buy one segment at a time", async () => {
    const t = await target();
    const proxy = await ThrottleProxy.start({ targetPort: t.port, bytesPerSecond: 50_000, mss: 1460 });
    cleanups.push(() => proxy.close());
    const a = await connect(proxy.port);
    const b = await connect(proxy.port);
    a.write(Buffer.alloc(200_000));
    b.write(Buffer.alloc(200_000));
    await sleep(1000);
    const perSocket = t.sockets.map((s) => s.bytesRead);
    expect(perSocket).toHaveLength(2);
    // ~50 kB in 1 s, shared about equally.
    expect(perSocket[0]! + perSocket[1]!).toBeGreaterThan(40_000);
    expect(perSocket[0]! + perSocket[1]!).toBeLessThan(60_000);
    expect(Math.abs(perSocket[0]! - perSocket[1]!)).toBeLessThanOrEqual(2 * 1460);
  });

  it("refuses an MSS that is not a positive integer", async () => {
    await expect(ThrottleProxy.start({ targetPort: 1, mss: 0 })).rejects.toThrow(TypeError);
    await expect(ThrottleProxy.start({ targetPort: 1, mss: 1.5 })).rejects.toThrow(/mss must be a positive integer/);
  });

  it("a reset from a client it is not reading reaches the target at once; cut() closes both sides", async () => {
    const t = await target();
    const proxy = await ThrottleProxy.start({ targetPort: t.port, bytesPerSecond: 10_000 });
    cleanups.push(() => proxy.close());
    const c = await connect(proxy.port);
    c.write(Buffer.alloc(1_000_000)); // far more than the proxy reads: it stops reading
    await sleep(300);
    const gone = new Promise<void>((r) => t.sockets[0]!.once("close", () => r()));
    const t0 = performance.now();
    c.resetAndDestroy();
    await gone;
    expect(performance.now() - t0).toBeLessThan(500);
    expect(t.received()).toBeLessThan(100_000);

    const c2 = await connect(proxy.port);
    c2.resume(); // read (and drop) what comes: a socket that is not read never sees the close
    await sleep(100);
    expect(proxy.openConnections).toBe(1);
    const clientClosed = new Promise<void>((r) => c2.once("close", () => r()));
    const targetClosed = new Promise<void>((r) => t.sockets[1]!.once("close", () => r()));
    proxy.cut();
    await Promise.all([clientClosed, targetClosed]);
    expect(proxy.openConnections).toBe(0);
  });

  it("silence(): the open connections swallow everything both ways, with no FIN or RST to either end; a new connection passes", async () => {
    const t = await target();
    const proxy = await ThrottleProxy.start({ targetPort: t.port });
    cleanups.push(() => proxy.close());
    const c = await connect(proxy.port);
    let toClient = 0;
    let clientClosed = false;
    c.on("data", (d: Buffer) => (toClient += d.length));
    c.on("end", () => (clientClosed = true));
    await sleep(100);
    c.write(Buffer.alloc(1000));
    await sleep(100);
    expect([toClient, t.received()]).toEqual([2, 1000]);
    proxy.silence();
    let targetClosed = false;
    t.sockets[0]!.on("end", () => (targetClosed = true));
    c.write(Buffer.alloc(1000));
    t.sockets[0]!.write("more");
    await sleep(300);
    expect({ toClient, toTarget: t.received(), clientClosed, targetClosed }).toEqual({ toClient: 2, toTarget: 1000, clientClosed: false, targetClosed: false });
    const c2 = await connect(proxy.port);
    const greeting = await new Promise<string>((r) => c2.once("data", (d: Buffer) => r(d.toString())));
    expect(greeting).toBe("hi");
    c2.write(Buffer.alloc(500));
    await sleep(100);
    expect(t.received()).toBe(1500);
  });
});
