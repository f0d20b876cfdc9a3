// Stream keys and tokens never leave the bridge: not in a log line (even at
// debug level), not in /metrics, not in any message a client receives. The
// bridge below publishes with keys in URLs, in separate key fields and inside
// a sealed token, and goes through the failures that tempt code to print what
// it was given: a destination the token does not grant, unparseable URLs, a
// refused connection, an ingest that rejects the publish, bad and expired
// tokens. Then everything captured is searched for every secret.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { get } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { mintToken } from "../../server/security/tokens.js";
import { CloseCode } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, startHttpStatusServer, startNginxRtmp, type HttpStatusServer, type NginxRtmpServer } from "../support/ingest.js";
import { freePort } from "../../server/testing/ports.js";
import { WireTestClient } from "../support/wire-client.js";

const SECRET = "secrets-test-secret-0123456789abcdefghijkl";
/** Distinctive secrets: long enough that a match cannot be a coincidence. */
const secret = (label: string): string => `${label}-${randomBytes(12).toString("hex")}`;
const KEY_IN_URL = secret("keyinurl");
const KEY_APART = secret("keyapart");
const KEY_SEALED = secret("keysealed");
const KEY_BAD_URL = secret("keybadurl");
const KEY_REFUSED = secret("keyrefused");
const KEY_REJECTED = secret("keyrejected");
const KEY_NOT_GRANTED = secret("keynotgranted");
const KEY_IN_EXPIRED = secret("keyexpired");

let nginx: NginxRtmpServer;
/** nginx-rtmp's on_publish hook for application "denied": 403, so the publish is rejected. */
let hook: HttpStatusServer;
let media: FlvAsWire;
let recordDir: string;
let bridge: Bridge;
let trap: Server;
let trapPort: number;
let trapConnections = 0;
let closedPort: number;
const logChunks: string[] = [];
const clients: WireTestClient[] = [];
/** Every token and resume token handed out in this file. */
const tokens: string[] = [];

beforeAll(async () => {
  hook = await startHttpStatusServer(403);
  nginx = await startNginxRtmp({ applications: { denied: ["live on", `on_publish ${hook.url}/publish`] } });
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
  recordDir = await mkdtemp(join(tmpdir(), "golive-security-secrets-"));
  trap = createServer((socket) => {
    trapConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  trapPort = (trap.address() as { port: number }).port;
  closedPort = await freePort(); // nothing listens there: connection refused
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logChunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  bridge = new Bridge({
    port: 0,
    recordDir,
    allowPrivate: true,
    tokenSecret: SECRET,
    logger: createLogger({ level: "debug", destination }),
    limits: { statsIntervalMs: 100, maxDestinations: 8 },
    destination: { reconnect: { initialDelayMs: 50, factor: 1, jitter: 0, maxAttempts: 1 } },
  });
  await bridge.listen();
});

afterAll(async () => {
  await bridge?.close();
  await new Promise<void>((resolve) => (trap ? trap.close(() => resolve()) : resolve()));
  await nginx?.dispose();
  await hook?.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

async function connect(): Promise<WireTestClient> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  clients.push(c);
  return c;
}

function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port: bridge.address.port, path: "/metrics" }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe("secrets never leave the bridge", () => {
  it("a signed token, keys in URLs and apart, with failures of every kind", async () => {
    const token = await mintToken(SECRET, {
      allow: [`${nginx.rtmpUrl("live")}/*`, `${nginx.rtmpUrl("denied")}/*`, `rtmp://127.0.0.1:${closedPort}/live/*`],
    }, { subject: "user-1" });
    tokens.push(token);
    const c = await connect();
    c.send({
      type: "start", version: 1, token, client: "secrets-test", destinations: [
        { id: "inurl", url: `${nginx.rtmpUrl("live")}/${KEY_IN_URL}` },
        { id: "apart", url: nginx.rtmpUrl("live"), key: KEY_APART },
        { id: "notgranted", url: `rtmp://127.0.0.1:${trapPort}/live/${KEY_NOT_GRANTED}` },
        { id: "badport", url: `rtmp://127.0.0.1:99999/live/${KEY_BAD_URL}` },
        { id: "badscheme", url: `http://127.0.0.1/live/${KEY_BAD_URL}` },
        { id: "space", url: `${nginx.rtmpUrl("live")}/${KEY_BAD_URL} x` },
        { id: "refused", url: `rtmp://127.0.0.1:${closedPort}/live/${KEY_REFUSED}` },
        { id: "rejected", url: `${nginx.rtmpUrl("denied")}/${KEY_REJECTED}` },
      ],
    });
    const accepted = await c.waitFor("accepted");
    tokens.push(accepted.resumeToken);
    for (const [id, code] of [["notgranted", "DEST_NOT_ALLOWED"], ["badport", "RTMP_BAD_URL"], ["badscheme", "RTMP_BAD_URL"], ["space", "RTMP_BAD_URL"], ["refused", "RTMP_CONNECTION_REFUSED"]]) {
      expect((await c.waitFor("destination", (m) => m.id === id && m.state === "failed")).code, id).toBe(code);
    }
    c.sendConfigs(media);
    await c.sendFrames(media.frames);
    const rejected = await c.waitFor("destination", (m) => m.id === "rejected" && m.state === "failed");
    expect(rejected.code).toMatch(/^PUBLISH_/);
    c.send({ type: "stop" });
    await c.waitFor("ended", () => true, 30_000);
    expect((await c.closed).code).toBe(CloseCode.Normal);
    expect(c.finalStates()).toMatchObject({ inurl: "ended", apart: "ended" });
    expect(trapConnections).toBe(0);
    // The keys did reach the ingest (so the scan below is not vacuous).
    await nginx.waitForRecording(KEY_IN_URL);
    await nginx.waitForRecording(KEY_APART);
  });

  it("a sealed token carrying the key", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "yt", url: nginx.rtmpUrl("live"), key: KEY_SEALED }] }, { sealed: true });
    tokens.push(token);
    const c = await connect();
    c.send({ type: "start", version: 1, token, destinations: [{ id: "yt", url: "" }] });
    tokens.push((await c.waitFor("accepted")).resumeToken);
    c.sendConfigs(media);
    await c.sendFrames(media.frames);
    c.send({ type: "stop" });
    await c.waitFor("ended", () => true, 30_000);
    expect(c.finalStates()).toEqual({ yt: "ended" });
    await nginx.waitForRecording(KEY_SEALED);
  });

  it("bad, expired and wrong-secret tokens carrying keys", async () => {
    const grant = { dst: [{ id: "d", url: nginx.rtmpUrl("live"), key: KEY_IN_EXPIRED }] };
    const good = await mintToken(SECRET, grant);
    const cases: Array<[string, string]> = [
      [await mintToken(SECRET, grant, { expiresIn: "-1s" }), "TOKEN_EXPIRED"],
      [await mintToken(SECRET, grant, { expiresIn: "-1s", sealed: true }), "TOKEN_EXPIRED"],
      [`${good.slice(0, -4)}AAAA`, "TOKEN_INVALID"],
      [await mintToken("wrong-secret-0123456789abcdefghijklmnop", grant, { sealed: true }), "TOKEN_INVALID"],
    ];
    for (const [token, code] of cases) {
      tokens.push(token);
      const c = await connect();
      c.send({ type: "start", version: 1, token, destinations: [{ id: "d", url: `${nginx.rtmpUrl("live")}/${KEY_IN_EXPIRED}` }] });
      expect((await c.waitFor("error")).code).toBe(code);
      expect((await c.closed).code).toBe(CloseCode.Forbidden);
    }
  });

  it("no log line, no metric and no client message contains a stream key or a token", async () => {
    const metrics = await metricsText();
    await bridge.close(); // every session's last log line is written
    const logs = logChunks.join("");
    if (process.env.SHOW_LOGS) console.log(logs);
    const received = clients.map((c) => JSON.stringify(c.messages)).join("\n");
    // The captures hold what happened: the scan is not over empty text.
    expect(logs).toMatch(/"level":20|"level":30/);
    // (Destinations refused at "start", DEST_NOT_ALLOWED and RTMP_BAD_URL, reach the client and /metrics but no log line.)
    for (const word of ["session started", "RTMP_CONNECTION_REFUSED", "PUBLISH_REJECTED", "TOKEN_EXPIRED", "TOKEN_INVALID", "/live/****", "/denied/****"]) {
      expect(logs, word).toContain(word);
    }
    expect(metrics).toMatch(/golive_destination_states_total\{state="failed",code="DEST_NOT_ALLOWED"\}/);
    expect(metrics).toMatch(/golive_destination_states_total\{state="failed",code="RTMP_BAD_URL"\}/);
    for (const word of ["RTMP_BAD_URL", "DEST_NOT_ALLOWED", "PUBLISH_REJECTED", "/live/****"]) expect(received, word).toContain(word);
    const secrets: Record<string, string> = { KEY_IN_URL, KEY_APART, KEY_SEALED, KEY_BAD_URL, KEY_REFUSED, KEY_REJECTED, KEY_NOT_GRANTED, KEY_IN_EXPIRED, SECRET };
    tokens.forEach((t, i) => {
      secrets[`token ${i}`] = t;
      // Any recognisable piece of a token: its payload/ciphertext and its signature/tag.
      t.split(".").filter((p) => p.length >= 16).forEach((part, j) => (secrets[`token ${i} part ${j}`] = part));
    });
    for (const [name, value] of Object.entries(secrets)) {
      expect(logs.includes(value), `${name} in the logs`).toBe(false);
      expect(metrics.includes(value), `${name} in /metrics`).toBe(false);
    }
    // Clients got their own resume tokens, nothing else secret.
    const resumeTokens = new Set(clients.flatMap((c) => c.messages.flatMap((m) => (m.type === "accepted" ? [m.resumeToken] : []))));
    for (const [name, value] of Object.entries(secrets)) {
      if (resumeTokens.has(value)) continue;
      expect(received.includes(value), `${name} in a client message`).toBe(false);
    }
  });
});
