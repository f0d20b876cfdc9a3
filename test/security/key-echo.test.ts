// A hostile ingest that echoes the stream key back in every form it can
// think of (issue 18): without its query, URL-encoded, upper-cased, one
// character short, split between the code and the description, in the code
// field, in a createStream error, and the server URL's own query secret.
// The key came in a sealed token (the page must never see it): nothing of it
// (no run of 6 of its characters, in any case, decoded or not) reaches the
// page or the bridge's log, and redacted URLs show host and app only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { HIDDEN, parseRtmpUrl, redact } from "../../server/rtmp/rtmp-url.js";
import { mintToken } from "../../server/security/tokens.js";
import { ScriptedServer, type ScriptedConnection, type ReceivedMessage } from "../support/scripted-server.js";
import { WireTestClient } from "../support/wire-client.js";

const SECRET = "key-echo-test-secret-0123456789abcdefghijkl";
const KEY = "SealedKey7q4Z-91xw0PLmn";
const QUERY_SECRET = "hunter22secret";
const NAME = `${KEY}?auth=tok3nValue88`;

let recordDir: string;
let bridge: Bridge;
const logChunks: string[] = [];
const servers: ScriptedServer[] = [];

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-key-echo-"));
  bridge = new Bridge({
    port: 0, recordDir, allowPrivate: true, tokenSecret: SECRET,
    logger: createLogger({ level: "debug", destination: new Writable({ write(chunk: Buffer, _e, cb) { logChunks.push(chunk.toString("utf8")); cb(); } }) }),
  });
  await bridge.listen();
});
afterAll(async () => {
  await bridge?.close();
  for (const s of servers) await s.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

type Echo = (c: ScriptedConnection, msg: ReceivedMessage) => boolean | void;
const onPublish = (code: string, description: string): Echo => (c, msg) => {
  if (msg.name !== "publish") return false;
  c.sendOnStatus(code, "error", description, msg.streamId);
  return true;
};
const half = Math.floor(KEY.length / 2);
const ECHOES: Array<[string, Echo]> = [
  ["the key without its query", onPublish("NetStream.Publish.BadName", `stream ${KEY} is already publishing`)],
  ["URL-encoded", onPublish("NetStream.Publish.Failed", `bad name ${encodeURIComponent(NAME)}`)],
  ["upper-cased", onPublish("NetStream.Publish.Denied", `denied: ${KEY.toUpperCase()}`)],
  ["one character short", onPublish("NetStream.Publish.Rejected", `rejected ${KEY.slice(0, -1)}`)],
  ["split between code and description", onPublish(`NetStream.Publish.${KEY.slice(0, half)}`, `${KEY.slice(half)} refused`)],
  ["in the code field", onPublish(`NetStream.Publish.Denied.${KEY}`, "denied")],
  ["percent-encoded piece by piece", onPublish("NetStream.Publish.Failed", [...KEY].map((ch) => `%${ch.charCodeAt(0).toString(16)}`).join(""))],
  ["the server URL's query secret", onPublish("NetStream.Publish.Failed", `pass ${QUERY_SECRET} is wrong`)],
  ["a createStream error", (c, msg) => {
    if (msg.name !== "createStream") return false;
    c.sendCommand(["_error", msg.amf?.[1] ?? 0, null, { level: "error", code: "NetConnection.Call.Failed", description: `PUBLISH_FAILED stream ${KEY} rejected` }]);
    return true;
  }],
];

/** Every run of 6 characters of `secret`, to look for in lower-cased, percent-decoded text. */
function runs(secret: string): string[] {
  const s = secret.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 6 <= s.length; i++) out.push(s.slice(i, i + 6));
  return out;
}
const decoded = (t: string): string => t.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))).toLowerCase();

describe("a hostile ingest echoing the key", () => {
  for (const [name, echo] of ECHOES) {
    it(`${name}: the page and the log get nothing of it`, async () => {
      const server = await ScriptedServer.start({ onMessage: echo });
      servers.push(server);
      const token = await mintToken(SECRET, {
        dst: [{ id: "d", url: `rtmp://127.0.0.1:${server.port}/live/inst?pass=${QUERY_SECRET}`, key: NAME }],
      }, { sealed: true });
      const before = logChunks.length;
      const c = await WireTestClient.connect(bridge.ingestUrl);
      c.send({ type: "start", version: 1, token, destinations: [{ id: "d", url: "" }] });
      const failed = await c.waitFor("destination", (m) => m.id === "d" && m.state === "failed", 10_000);
      await c.closed;
      const page = decoded(JSON.stringify(c.messages));
      const log = decoded(logChunks.slice(before).join(""));
      for (const secret of [KEY, QUERY_SECRET, "tok3nValue88"]) {
        for (const run of runs(secret)) {
          expect(page.includes(run), `"${run}" of a secret reached the page: ${failed.message}`).toBe(false);
          expect(log.includes(run), `"${run}" of a secret reached the log`).toBe(false);
        }
      }
      // The page still learns what happened, and where (host and app only).
      expect(failed.code).toMatch(/^PUBLISH_|^RTMP_/);
      const accepted = c.messages.find((m) => m.type === "accepted");
      expect(accepted?.type === "accepted" && accepted.destinations[0]!.url).toBe(`rtmp://127.0.0.1:${server.port}/live/****`);
    });
  }

  it("redact(): exact forms become ****, anything still holding 6 characters of a secret is hidden whole", () => {
    const url = parseRtmpUrl(`rtmp://ingest.example/live/inst?pass=${QUERY_SECRET}`, NAME);
    expect(url.redacted).toBe("rtmp://ingest.example/live/****");
    expect(redact(`stream ${NAME} failed`, url.secrets)).toBe("stream **** failed");
    expect(redact(`stream ${KEY} failed`, url.secrets)).toBe("stream **** failed");
    expect(redact(`stream ${KEY.toLowerCase()} failed`, url.secrets)).toBe("stream **** failed");
    expect(redact(`stream ${KEY.slice(1)} failed`, url.secrets)).toBe(HIDDEN);
    expect(redact("NetStream.Publish.BadName", url.secrets)).toBe("NetStream.Publish.BadName");
  });
});
