// The SSRF guard: the bridge opens TCP connections on a browser's behalf, so
// by default it refuses destinations on loopback, private, link-local (cloud
// metadata), CGNAT and other special addresses, before any packet leaves.
//
// Network safety of this file: every socket the worker opens goes through a
// test guard (below) that lets connections reach loopback only. A connection
// to anything else, by IP literal or by a name resolving elsewhere, is
// recorded and refused by the guard instead of attempted, so a broken SSRF
// guard fails these tests without sending a packet to 10.0.0.1 or
// 169.254.169.254. The loopback cases aim at trap listeners that count
// connections: the bridge must refuse them without connecting.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import dns from "node:dns";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { addressGuard, isPrivateAddress } from "../../server/security/address-policy.js";
import { GoliveError } from "../../protocol/errors.js";
import { CloseCode } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames, startNginxRtmp, type NginxRtmpServer } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

// --- the test's own network guard ---------------------------------------------

const loopbackNets = new net.BlockList();
loopbackNets.addSubnet("127.0.0.0", 8, "ipv4");
loopbackNets.addAddress("::1", "ipv6");

/** 127.0.0.0/8, ::1, or ::ffff:127.x.y.z (net.BlockList maps IPv4-mapped addresses itself). */
function isLoopbackLiteral(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return loopbackNets.check(address, "ipv4");
  if (family === 6) return loopbackNets.check(address, "ipv6");
  return false;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
type Lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

interface NetGuard {
  /** Hosts or resolved addresses the guard refused to connect to. */
  readonly blocked: string[];
  /** Every "host port" handed to Socket#connect (host a literal or a name). */
  readonly attempts: string[];
  restore(): void;
}

function guardRefusal(what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`test network guard: refused to connect to ${what} (not loopback)`), { code: "ETESTGUARD" });
}

/**
 * Patches net.Socket#connect (used by net.connect, tls.connect and http) so
 * that IP literals outside loopback are never connected to, and names are
 * resolved through a lookup that refuses non-loopback results.
 */
function loopbackOnlyNetwork(): NetGuard {
  const blocked: string[] = [];
  const attempts: string[] = [];
  const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => net.Socket };
  const original = proto.connect;
  proto.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
    const first = args[0];
    let options: Record<string, unknown> | undefined;
    let setOptions: ((o: Record<string, unknown>) => void) | undefined;
    let host: string;
    let port: unknown;
    if (Array.isArray(first)) {
      // net.connect() passes its normalised [options, callback] array.
      options = first[0] as Record<string, unknown>;
      setOptions = (o) => { first[0] = o; };
    } else if (typeof first === "object" && first !== null) {
      options = first as Record<string, unknown>;
      setOptions = (o) => { args[0] = o; };
    }
    if (options) {
      if (typeof options.path === "string") return original.apply(this, args); // IPC
      host = typeof options.host === "string" ? options.host : "localhost";
      port = options.port;
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      host = typeof args[1] === "string" ? args[1] : "localhost";
      port = first;
    } else {
      return original.apply(this, args); // connect(path): IPC
    }
    attempts.push(`${host} ${String(port)}`);
    if (net.isIP(host) !== 0) {
      if (isLoopbackLiteral(host)) return original.apply(this, args);
      blocked.push(host);
      this.destroy(guardRefusal(host));
      return this;
    }
    if (!options || !setOptions) {
      blocked.push(host);
      this.destroy(guardRefusal(host));
      return this;
    }
    const base = (typeof options.lookup === "function" ? options.lookup : dns.lookup) as Lookup;
    const lookup: Lookup = (hostname, lookupOptions, callback) => {
      base(hostname, lookupOptions, (err, address, family) => {
        if (err) return callback(err, address, family);
        const list = Array.isArray(address) ? address : [{ address, family: family ?? 4 }];
        const outside = list.filter((a) => !isLoopbackLiteral(a.address)).map((a) => a.address);
        if (outside.length > 0) {
          blocked.push(...outside.map((a) => `${hostname}=${a}`));
          return callback(guardRefusal(`${hostname} (${outside.join(", ")})`), address, family);
        }
        callback(null, address, family);
      });
    };
    setOptions({ ...options, lookup });
    return original.apply(this, args);
  };
  return {
    blocked,
    attempts,
    restore: () => {
      proto.connect = original;
    },
  };
}

// --- unit tests -------------------------------------------------------------------

describe("isPrivateAddress", () => {
  const refused = [
    // IPv4
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.255", "192.0.0.1", "198.18.0.1",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    // IPv6
    "::1", "::", "0:0:0:0:0:0:0:1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "febf::1", "ff02::1",
    "64:ff9b::7f00:1", "2001:db8::1",
    // IPv4-mapped, dotted and hex, short and long
    "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:7f00:1", "0:0:0:0:0:ffff:127.0.0.1", "::FFFF:7F00:0001",
    "::ffff:10.0.0.1", "::ffff:a00:1", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::ffff:100.64.0.1", "::ffff:0.0.0.0",
    // IPv4-compatible (deprecated) and IPv4-translated forms of loopback: the same address written otherwise
    "::127.0.0.1", "::7f00:1", "::ffff:0:7f00:1", "::ffff:0:127.0.0.1",
    // Site-local (deprecated, still private)
    "fec0::1",
    // 6to4 of private IPv4 addresses
    "2002:7f00:1::1", "2002:a00:1::1", "2002:a9fe:a9fe::1",
    // Not IP literals: callers pass resolved addresses, anything else is refused
    "localhost", "example.com", "", "1.2.3", "[::1]",
  ];
  const allowed = [
    "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.167.1.1", "169.253.0.1",
    "2001:4860::1", "2001:4860:4860::8888", "2606:4700:4700::1111", "::ffff:8.8.8.8", "::ffff:808:808", "2002:808:808::1",
  ];
  for (const address of refused) it(`refuses ${JSON.stringify(address)}`, () => expect(isPrivateAddress(address)).toBe(true));
  for (const address of allowed) it(`allows ${address}`, () => expect(isPrivateAddress(address)).toBe(false));
});

describe("addressGuard", () => {
  it("is off with allowPrivate", () => {
    expect(addressGuard(true)).toBeUndefined();
  });

  it("throws DEST_NOT_ALLOWED naming --allow-private but not the address (it goes to onRefused); lets public addresses pass", () => {
    const refused: string[] = [];
    const guard = addressGuard(false, (a) => refused.push(a))!;
    expect(() => guard("8.8.8.8")).not.toThrow();
    expect(() => guard("2001:4860::1")).not.toThrow();
    for (const address of ["127.0.0.1", "::ffff:7f00:1", "169.254.169.254"]) {
      let caught: unknown;
      try {
        guard(address);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GoliveError);
      expect(caught).toMatchObject({ code: "DEST_NOT_ALLOWED" });
      expect((caught as Error).message).not.toContain(address);
      expect((caught as Error).message).toContain("--allow-private");
    }
    expect(refused).toEqual(["127.0.0.1", "::ffff:7f00:1", "169.254.169.254"]);
  });
});

// --- through the bridge -----------------------------------------------------------

let guard: NetGuard;
let bridge: Bridge;
let openBridge: Bridge;
let recordDir: string;
let trap4: net.Server;
let trap6: net.Server | undefined;
let trapPort: number;
let trapConnections = 0;
let nginx: NginxRtmpServer;
let media: FlvAsWire;

/** Fake resolver for test names: no DNS packet leaves; unknown names fail like NXDOMAIN. */
const FAKE_DNS: Record<string, Array<{ address: string; family: 4 | 6 }>> = {
  "loopback.test": [{ address: "127.0.0.1", family: 4 }],
  "metadata.test": [{ address: "169.254.169.254", family: 4 }],
  "intranet.test": [{ address: "10.0.0.1", family: 4 }],
  "mixed.test": [{ address: "8.8.8.8", family: 4 }, { address: "127.0.0.1", family: 4 }],
  "mapped.test": [{ address: "::ffff:127.0.0.1", family: 6 }],
};
const fakeLookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
  const found = FAKE_DNS[hostname];
  if (hostname === "localhost") return dns.lookup(hostname, options, callback); // /etc/hosts
  setImmediate(() => {
    if (!found) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "", 4);
    if (options.all) return callback(null, found);
    callback(null, found[0]!.address, found[0]!.family);
  });
};

beforeAll(async () => {
  guard = loopbackOnlyNetwork();
  const count = (socket: net.Socket): void => {
    trapConnections++;
    socket.destroy();
  };
  trap4 = net.createServer(count);
  await new Promise<void>((resolve) => trap4.listen(0, "127.0.0.1", resolve));
  trapPort = (trap4.address() as net.AddressInfo).port;
  const t6 = net.createServer(count);
  trap6 = await new Promise<net.Server | undefined>((resolve) => {
    t6.once("error", () => resolve(undefined));
    t6.listen(trapPort, "::1", () => resolve(t6));
  });
  recordDir = await mkdtemp(join(tmpdir(), "golive-security-ssrf-"));
  const logger = createLogger({ level: "silent" });
  // Open mode (loopback, no tokens, no allowlist): only the address guard stands between a page and the network.
  bridge = new Bridge({ port: 0, recordDir, logger, publisher: { lookup: fakeLookup, connectTimeoutMs: 5000 } });
  openBridge = new Bridge({ port: 0, recordDir, logger, allowPrivate: true, limits: { statsIntervalMs: 100 } });
  await Promise.all([bridge.listen(), openBridge.listen()]);
  nginx = await startNginxRtmp();
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
});

afterAll(async () => {
  await Promise.all([bridge?.close(), openBridge?.close()]);
  for (const s of [trap4, trap6]) if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  await nginx?.dispose();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
  guard?.restore();
});

describe("bridge without --allow-private", () => {
  it("the test network guard itself works: it refuses a non-loopback literal and lets loopback through", async () => {
    const before = guard.blocked.length;
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => net.connect({ host: "192.0.2.1", port: 9 }).once("error", resolve));
    expect(err.code).toBe("ETESTGUARD");
    expect(guard.blocked.slice(before)).toEqual(["192.0.2.1"]);
    guard.blocked.splice(before);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port: trapPort }, () => {
        s.destroy();
        resolve();
      }).once("error", reject);
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(trapConnections).toBe(1);
    trapConnections = 0;
  });

  const cases: Array<{ name: string; url: () => string; shows: RegExp }> = [
    { name: "IPv4 loopback", url: () => `rtmp://127.0.0.1:${trapPort}/live/k`, shows: /127\.0\.0\.1/ },
    { name: "IPv6 loopback", url: () => `rtmp://[::1]:${trapPort}/live/k`, shows: /::1/ },
    { name: "IPv4-mapped loopback", url: () => `rtmp://[::ffff:127.0.0.1]:${trapPort}/live/k`, shows: /::ffff:127\.0\.0\.1/ },
    { name: "IPv4-mapped loopback in hex", url: () => `rtmp://[::ffff:7f00:1]:${trapPort}/live/k`, shows: /::ffff:7f00:1/ },
    { name: "localhost (resolves to loopback)", url: () => `rtmp://localhost:${trapPort}/live/k`, shows: /127\.0\.0\.1|::1/ },
    { name: "a name resolving to loopback", url: () => `rtmp://loopback.test:${trapPort}/live/k`, shows: /127\.0\.0\.1/ },
    { name: "a name resolving to a public and a loopback address", url: () => `rtmp://mixed.test:${trapPort}/live/k`, shows: /127\.0\.0\.1/ },
    { name: "a name resolving to IPv4-mapped loopback", url: () => `rtmp://mapped.test:${trapPort}/live/k`, shows: /::ffff:127\.0\.0\.1/ },
    { name: "RFC 1918 10.0.0.1", url: () => "rtmp://10.0.0.1/live/k", shows: /10\.0\.0\.1/ },
    { name: "cloud metadata 169.254.169.254", url: () => "rtmp://169.254.169.254/live/k", shows: /169\.254\.169\.254/ },
    { name: "a name resolving to cloud metadata", url: () => "rtmp://metadata.test/live/k", shows: /169\.254\.169\.254/ },
    { name: "a name resolving to 10.0.0.1", url: () => "rtmp://intranet.test/live/k", shows: /10\.0\.0\.1/ },
    { name: "0.0.0.0 (this host)", url: () => `rtmp://0.0.0.0:${trapPort}/live/k`, shows: /0\.0\.0\.0/ },
    { name: "the IPv6 unspecified address", url: () => `rtmp://[::]:${trapPort}/live/k`, shows: /::/ },
    { name: "rtmps to cloud metadata", url: () => "rtmps://169.254.169.254/live/k", shows: /169\.254\.169\.254/ },
  ];

  for (const tc of cases) {
    it(`refuses ${tc.name} with DEST_NOT_ALLOWED, naming --allow-private, without connecting`, async () => {
      const attemptsBefore = guard.attempts.length;
      const c = await WireTestClient.connect(bridge.ingestUrl);
      const sentAt = performance.now();
      c.send({ type: "start", version: 1, destinations: [{ id: "d", url: tc.url() }], record: false });
      const failed = await c.waitFor("destination", (m) => m.id === "d" && m.state === "failed", 5000);
      const elapsed = performance.now() - sentAt;
      expect(failed.code).toBe("DEST_NOT_ALLOWED");
      expect(failed.message).toContain("--allow-private");
      // No oracle: the client is not told what the address is (the bridge's log is).
      expect(failed.message).not.toMatch(tc.shows);
      expect(failed.message).toMatch(/loopback\/private\/link-local/);
      // Refused at once: no connect timeout, no retry with backoff.
      expect(elapsed).toBeLessThan(1000);
      expect((await c.closed).code).toBe(CloseCode.AllDestinationsFailed);
      expect(c.messages.filter((m) => m.type === "destination" && m.id === "d").map((m) => m.type === "destination" && m.state)).toEqual(["connecting", "failed"]);
      // Not one TCP connection reached the trap, and nothing outside loopback was even attempted.
      expect(trapConnections).toBe(0);
      expect(guard.blocked).toEqual([]);
      // IP literals are refused before a socket exists; names reach Socket#connect once and are refused inside its lookup.
      const [, bracketed, port] = /^rtmps?:\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?\//.exec(tc.url())!;
      const host = bracketed!.replace(/^\[|\]$/g, "");
      const target = `${host} ${port ?? (tc.url().startsWith("rtmps:") ? "443" : "1935")}`;
      expect(guard.attempts.slice(attemptsBefore).filter((a) => a === target)).toHaveLength(net.isIP(host) !== 0 ? 0 : 1);
    });
  }

  it("a public name that does not resolve fails RTMP_DNS_FAILED, not DEST_NOT_ALLOWED (the guard judges addresses, not names)", async () => {
    const c = await WireTestClient.connect(bridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [{ id: "d", url: "rtmp://nowhere.test/live/k" }], record: false });
    const failed = await c.waitFor("destination", (m) => m.id === "d" && m.state === "failed", 5000);
    expect(failed.code).toBe("RTMP_DNS_FAILED");
    expect(guard.blocked).toEqual([]);
  });
});

describe("bridge with --allow-private", () => {
  it("publishes to a loopback nginx-rtmp, by IP and by the name localhost", async () => {
    const c = await WireTestClient.connect(openBridge.ingestUrl);
    c.send({ type: "start", version: 1, destinations: [
      { id: "ip", url: `rtmp://127.0.0.1:${nginx.port}/live/private-ip` },
      { id: "name", url: `rtmp://localhost:${nginx.port}/live/private-name` },
    ] });
    await c.waitFor("accepted");
    c.sendConfigs(media);
    await c.sendFrames(media.frames);
    c.send({ type: "stop" });
    await c.waitFor("ended", () => true, 30_000);
    expect((await c.closed).code).toBe(CloseCode.Normal);
    expect(c.finalStates()).toEqual({ ip: "ended", name: "ended" });
    for (const key of ["private-ip", "private-name"]) {
      const probe = await ffprobeFrames(await nginx.waitForRecording(key, { timeoutMs: 15_000 }));
      expect(probe.counts, key).toEqual({ video: media.counts.video, audio: media.counts.audio });
    }
    expect(guard.blocked).toEqual([]);
  });
});
