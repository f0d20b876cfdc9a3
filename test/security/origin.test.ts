// The Origin check at the WebSocket upgrade: a page on another site must not
// be able to drive a bridge (above all the open relay a person runs on their
// own machine) from a visitor's browser. Refusals are HTTP 403 before any
// WebSocket exists.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "node:http";
import { Bridge } from "../../server/bridge/bridge.js";
import { isLoopbackHost } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { SUBPROTOCOL } from "../../protocol/wire.js";

let local: Bridge;
let listed: Bridge;
let any: Bridge;

beforeAll(async () => {
  const logger = createLogger({ level: "silent" });
  local = new Bridge({ port: 0, logger });
  listed = new Bridge({ port: 0, logger, allowOrigins: ["https://app.example"] });
  any = new Bridge({ port: 0, logger, allowOrigins: ["*"] });
  await Promise.all([local.listen(), listed.listen(), any.listen()]);
});

afterAll(async () => {
  await Promise.all([local?.close(), listed?.close(), any?.close()]);
});

/**
 * Sends a WebSocket upgrade for /ingest as a browser would, with `origin`
 * (none when undefined) and `host` (default the bridge's own 127.0.0.1:port),
 * and resolves with the status: 101 when upgraded, else the refusal's.
 */
function upgradeStatus(bridge: Bridge, origin: string | undefined, host?: string): Promise<number> {
  const { port } = bridge.address;
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/ingest",
      headers: {
        Host: host ?? `127.0.0.1:${port}`,
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": SUBPROTOCOL,
        ...(origin !== undefined && { Origin: origin }),
      },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on("error", reject);
    req.end();
  });
}

async function refusals(bridge: Bridge): Promise<number> {
  const text = await bridge.metrics.registry.metrics();
  const m = /golive_refusals_total\{code="ORIGIN_NOT_ALLOWED"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

describe("origin check, default (bridge on loopback)", () => {
  it("refuses a page from another site with 403, and counts it", async () => {
    const before = await refusals(local);
    expect(await upgradeStatus(local, "https://evil.example")).toBe(403);
    expect(await upgradeStatus(local, "http://evil.example:8080")).toBe(403);
    expect(await refusals(local)).toBe(before + 2);
    expect(local.sessions.size).toBe(0);
  });

  it("allows clients that send no Origin (not browsers)", async () => {
    expect(await upgradeStatus(local, undefined)).toBe(101);
  });

  it("allows the bridge's own origin (its demo page)", async () => {
    const { port } = local.address;
    expect(await upgradeStatus(local, `http://127.0.0.1:${port}`)).toBe(101);
    expect(await upgradeStatus(local, `http://localhost:${port}`, `localhost:${port}`)).toBe(101);
  });

  it("allows pages on loopback (a local app), as documented", async () => {
    expect(await upgradeStatus(local, "http://localhost:3000")).toBe(101);
    expect(await upgradeStatus(local, "http://127.0.0.1:5173")).toBe(101);
    expect(await upgradeStatus(local, "http://[::1]:3000")).toBe(101);
  });

  it("refuses sites whose names merely start with 127. or look like localhost", async () => {
    expect(await upgradeStatus(local, "http://127.0.0.1.evil.example")).toBe(403);
    expect(await upgradeStatus(local, "http://127.evil.example")).toBe(403);
    expect(await upgradeStatus(local, "http://localhost.evil.example")).toBe(403);
  });

  it("refuses a DNS-rebound page: same origin by the Host header, but a name that is not loopback", async () => {
    // evil.example re-resolved to 127.0.0.1: the browser sends Host and Origin both evil.example.
    const { port } = local.address;
    expect(await upgradeStatus(local, `http://evil.example:${port}`, `evil.example:${port}`)).toBe(403);
  });

  it("refuses the opaque origin \"null\" (sandboxed frames, file: pages) and garbage", async () => {
    expect(await upgradeStatus(local, "null")).toBe(403);
    expect(await upgradeStatus(local, "not a url")).toBe(403);
  });
});

describe("origin check with allowOrigins", () => {
  it("[\"https://app.example\"] allows exactly that origin", async () => {
    expect(await upgradeStatus(listed, "https://app.example")).toBe(101);
    for (const other of ["http://app.example", "https://app.example:8443", "https://app.example.evil", "https://sub.app.example", "https://evil.example", "http://localhost:3000", "null"]) {
      expect(await upgradeStatus(listed, other), other).toBe(403);
    }
  });

  it("still allows clients without Origin and the bridge's own origin", async () => {
    const { port } = listed.address;
    expect(await upgradeStatus(listed, undefined)).toBe(101);
    expect(await upgradeStatus(listed, `http://127.0.0.1:${port}`)).toBe(101);
  });

  it("[\"*\"] allows any origin", async () => {
    expect(await upgradeStatus(any, "https://evil.example")).toBe(101);
    expect(await upgradeStatus(any, "null")).toBe(101);
  });
});

describe("isLoopbackHost", () => {
  it("recognises loopback literals and localhost only", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "127.evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "example.com"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
