// /metrics can require a bearer token (issue 18): without it, or with a
// wrong one, 401; with it, the metrics. /healthz stays open.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";

const TOKEN = "metrics-token-0123456789abcdef";
let dir: string;
let bridge: Bridge;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-metrics-auth-"));
  bridge = new Bridge({ port: 0, recordDir: dir, logger: createLogger({ level: "silent" }), metricsToken: TOKEN });
  await bridge.listen();
  base = bridge.ingestUrl.replace(/^ws/, "http").replace(/\/ingest$/, "");
});
afterAll(async () => {
  await bridge?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("/metrics with a token", () => {
  it("401 without or with a wrong bearer token, the metrics with the right one; /healthz open", async () => {
    const none = await fetch(`${base}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.text()).not.toContain("golive_");
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("golive_sessions_started_total");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
