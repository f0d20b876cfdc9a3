// The throttle proxy itself (test/support/throttle-proxy.ts): it must hold
// its rate, stop on pause, pass a reset on, and cut, or the congestion tests
// prove nothing.
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
});
