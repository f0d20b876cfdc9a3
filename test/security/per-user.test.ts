// Limits per token user and token lifetime (issue 18): one user (a token's
// `sub`, else the token itself) holds at most maxSessionsPerUser sessions,
// fewer with a `max` claim; a token that lives longer than the bridge accepts
// is refused; a one-time token works once; with endSessionsAtTokenExpiry a
// session ends when its token does, warned first.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge, type BridgeOptions } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { mintToken } from "../../server/security/tokens.js";
import { CloseCode } from "../../protocol/wire.js";
import { WireTestClient } from "../support/wire-client.js";

const SECRET = "per-user-test-secret-0123456789abcdefgh";
let recordDir: string;
const bridges: Bridge[] = [];
const clients: WireTestClient[] = [];

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-per-user-"));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(bridges.splice(0).map((b) => b.close()));
});

async function bridgeWith(options: Partial<BridgeOptions>): Promise<Bridge> {
  const b = new Bridge({ port: 0, recordDir, tokenSecret: SECRET, logger: createLogger({ level: "silent" }), maxSessionsPerIp: 100, ...options });
  bridges.push(b);
  await b.listen();
  return b;
}

/** Starts a recording session with `token`; resolves with the client and "accepted" or the error code. */
async function start(bridge: Bridge, token: string): Promise<{ c: WireTestClient; outcome: string }> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  clients.push(c);
  c.send({ type: "start", version: 1, token, destinations: [], record: true });
  const m = await c.waitFor("accepted", () => true, 5000).catch(() => undefined);
  if (m) return { c, outcome: "accepted" };
  const err = c.messages.find((x) => x.type === "error");
  return { c, outcome: err?.type === "error" ? err.code : "none" };
}

const user = (sub: string, extra: Parameters<typeof mintToken>[2] = {}): Promise<string> => mintToken(SECRET, { rec: true }, { subject: sub, ...extra });

describe("per-user limits and token lifetime", () => {
  it("one user, many tokens: at most maxSessionsPerUser sessions at once; another user is not held back; a slot frees when a session ends", async () => {
    const b = await bridgeWith({ maxSessionsPerUser: 2 });
    const first = await start(b, await user("alice"));
    expect(first.outcome).toBe("accepted");
    expect((await start(b, await user("alice"))).outcome).toBe("accepted");
    const third = await start(b, await user("alice"));
    expect(third.outcome).toBe("SESSION_LIMIT_PER_USER");
    expect((await third.c.closed).code).toBe(CloseCode.LimitExceeded);
    expect((await start(b, await user("bob"))).outcome).toBe("accepted");
    first.c.send({ type: "stop" });
    await first.c.closed;
    expect((await start(b, await user("alice"))).outcome).toBe("accepted");
  });

  it("a token without sub counts by itself; a `max` claim lowers the limit", async () => {
    const b = await bridgeWith({ maxSessionsPerUser: 3 });
    const anonymous = await mintToken(SECRET, { rec: true });
    expect((await start(b, anonymous)).outcome).toBe("accepted");
    expect((await start(b, anonymous)).outcome).toBe("accepted");
    expect((await start(b, anonymous)).outcome).toBe("accepted");
    expect((await start(b, anonymous)).outcome).toBe("SESSION_LIMIT_PER_USER");
    const one = await user("carol", { maxSessions: 1 });
    expect((await start(b, one)).outcome).toBe("accepted");
    expect((await start(b, await user("carol", { maxSessions: 1 }))).outcome).toBe("SESSION_LIMIT_PER_USER");
  });

  it("a token living longer than the bridge accepts is refused (TOKEN_LIFETIME_TOO_LONG); one within it is not", async () => {
    const b = await bridgeWith({ maxTokenLifetimeS: 3600 });
    const century = await mintToken(SECRET, { rec: true }, { expiresIn: "100y" });
    const refused = await start(b, century);
    expect(refused.outcome).toBe("TOKEN_LIFETIME_TOO_LONG");
    expect((await refused.c.closed).code).toBe(CloseCode.Forbidden);
    expect((await start(b, await mintToken(SECRET, { rec: true }, { expiresIn: "1h" }))).outcome).toBe("accepted");
  });

  it("a one-time token works once (TOKEN_REUSED after)", async () => {
    const b = await bridgeWith({});
    const once = await mintToken(SECRET, { rec: true }, { oneTime: true });
    const first = await start(b, once);
    expect(first.outcome).toBe("accepted");
    first.c.send({ type: "stop" });
    await first.c.closed;
    expect((await start(b, once)).outcome).toBe("TOKEN_REUSED");
  });

  it("endSessionsAtTokenExpiry: warned (TOKEN_EXPIRING, not fatal), then ended at exp (TOKEN_EXPIRED, 4003)", async () => {
    const b = await bridgeWith({ endSessionsAtTokenExpiry: true });
    const { c, outcome } = await start(b, await mintToken(SECRET, { rec: true }, { expiresIn: 3 }));
    expect(outcome).toBe("accepted");
    const warning = await c.waitFor("error", (m) => m.code === "TOKEN_EXPIRING", 2000);
    expect(warning.fatal).toBe(false);
    const t0 = performance.now();
    const ended = await c.waitFor("error", (m) => m.code === "TOKEN_EXPIRED", 5000);
    expect(ended.fatal).toBe(true);
    expect(performance.now() - t0).toBeGreaterThan(1000);
    expect((await c.closed).code).toBe(CloseCode.Forbidden);
  });
});
