// Behind a reverse proxy every client arrives from the proxy's address
// (issue 18): with trustProxy the bridge takes the client's address from
// X-Forwarded-For / Forwarded, and only from a trusted proxy; without it the
// headers are ignored (anyone can write them). Per-address limits then apply
// to the real clients.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Bridge, type BridgeOptions } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { decodeBridgeMessage, encodeMessage, SUBPROTOCOL } from "../../protocol/wire.js";

let recordDir: string;
const bridges: Bridge[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-trust-proxy-"));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await Promise.all(bridges.splice(0).map((b) => b.close()));
});

async function bridgeWith(options: Partial<BridgeOptions>): Promise<Bridge> {
  const b = new Bridge({ port: 0, recordDir, logger: createLogger({ level: "silent" }), maxSessionsPerIp: 1, ...options });
  bridges.push(b);
  await b.listen();
  return b;
}

/** Starts a recording session with these request headers; resolves with "accepted" or the error code. */
async function startWith(bridge: Bridge, headers: Record<string, string>): Promise<string> {
  const ws = new WebSocket(bridge.ingestUrl, [SUBPROTOCOL], { headers });
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => ws.once("open", () => resolve()).once("error", reject));
  const first = new Promise<string>((resolve) => ws.once("message", (data: Buffer) => {
    const m = decodeBridgeMessage(data.toString("utf8"));
    resolve(m.type === "error" ? m.code : m.type);
  }));
  ws.send(encodeMessage({ type: "start", version: 1, destinations: [], record: true }));
  return first;
}

describe("trustProxy", () => {
  it("a trusted proxy's X-Forwarded-For is the client: per-address limits apply per real client, and a spoofed left part is ignored", async () => {
    const b = await bridgeWith({ trustProxy: ["127.0.0.1"] });
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5" })).toBe("accepted");
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.6" })).toBe("accepted");
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5" })).toBe("SESSION_LIMIT_PER_IP");
    // The client put its own X-Forwarded-For in front: the proxy appended the real one.
    expect(await startWith(b, { "X-Forwarded-For": "198.51.100.99, 203.0.113.5" })).toBe("SESSION_LIMIT_PER_IP");
    expect(await startWith(b, { Forwarded: 'for="[2001:db8::7]:4711"' })).toBe("accepted");
  });

  it("a hop count: the address that many from the right", async () => {
    const b = await bridgeWith({ trustProxy: 2 });
    // client, proxy 1 (seen by proxy 2), then the peer (proxy 2).
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5, 10.0.0.2" })).toBe("accepted");
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.6, 10.0.0.2" })).toBe("accepted");
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5, 10.0.0.2" })).toBe("SESSION_LIMIT_PER_IP");
  });

  it("without trustProxy the headers are ignored: everyone is the peer", async () => {
    const b = await bridgeWith({});
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5" })).toBe("accepted");
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.6" })).toBe("SESSION_LIMIT_PER_IP");
  });

  it("a peer that is not a trusted proxy: its header is not believed", async () => {
    const b = await bridgeWith({ trustProxy: ["10.0.0.0/8"] });
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.5" })).toBe("accepted");
    // 127.0.0.1 is not trusted: it is the client, whatever it says.
    expect(await startWith(b, { "X-Forwarded-For": "203.0.113.6" })).toBe("SESSION_LIMIT_PER_IP");
  });

  it("a bad trustProxy entry is refused when the bridge is made", () => {
    expect(() => new Bridge({ port: 0, recordDir, logger: createLogger({ level: "silent" }), trustProxy: ["not-an-address"] })).toThrow(/not an address or CIDR/);
  });
});
