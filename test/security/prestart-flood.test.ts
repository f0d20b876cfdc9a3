// 300 sockets that upgrade and then, before any start, each send a 4 MiB
// WebSocket frame (issue 18): the bridge cuts each one a little past what a
// start message can be, so its memory stays flat, and a live session on the
// same bridge records every frame. The attacker runs in a child process, so
// that this process's RSS is the bridge's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

let media: FlvAsWire;
let recordDir: string;

beforeAll(async () => {
  media = await flvAsWire(await cachedTestFlv({ seconds: 6, gop: 60 }));
  recordDir = await mkdtemp(join(tmpdir(), "golive-prestart-"));
});
afterAll(async () => {
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** The attacker: N raw WebSocket upgrades, each then sending one 4 MiB binary frame (zero mask, zero bytes). Prints how many were cut early. */
const ATTACKER = `
const net = require("node:net");
const [port, n] = process.argv.slice(1).map(Number);
const SIZE = 4 * 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024);
let done = 0, cut = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect({ host: "127.0.0.1", port });
  let upgraded = false, sent = 0;
  s.on("error", () => {});
  s.write("GET /ingest HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: golive.v1\\r\\n\\r\\n");
  const pump = () => {
    while (sent < SIZE) {
      sent += chunk.length;
      if (!s.write(chunk)) return s.once("drain", pump);
    }
  };
  s.on("data", (d) => {
    if (upgraded || !d.toString("latin1").startsWith("HTTP/1.1 101")) return;
    upgraded = true;
    const head = Buffer.alloc(14);
    head[0] = 0x82; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(SIZE), 2); // mask key 0
    s.write(head);
    pump();
  });
  s.on("close", () => {
    if (sent < SIZE) cut++;
    if (++done === n) { console.log(JSON.stringify({ cut, n })); process.exit(0); }
  });
}
`;

describe("pre-start flood", () => {
  it("300 sockets each sending a 4 MiB frame before start: cut early, RSS flat, a live session keeps every frame", async () => {
    const bridge = new Bridge({
      port: 0, recordDir, logger: createLogger({ level: "silent" }),
      // Let all of them in: the byte cap is what is tested here, not the pending caps.
      maxPendingConnections: 1000, maxPendingPerIp: 1000, maxSessions: 10, maxConnections: 2000,
    });
    await bridge.listen();
    try {
      const good = await WireTestClient.connect(bridge.ingestUrl);
      good.send({ type: "start", version: 1, destinations: [], record: true });
      const accepted = await good.waitFor("accepted");
      good.sendConfigs(media);
      const sending = good.sendRealtime(media.frames);

      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssMax = rssBefore;
      const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 50);
      const port = Number(new URL(bridge.ingestUrl).port);
      const child = spawn(process.execPath, ["-e", ATTACKER, String(port), "300"], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => child.once("exit", () => resolve()));
      clearInterval(sampler);
      const result = JSON.parse(out) as { cut: number; n: number };
      console.log(`pre-start flood: ${result.cut}/${result.n} cut before 4 MiB; bridge RSS +${Math.round((rssMax - rssBefore) / 1e6)} MB`);
      expect(result.cut).toBe(300);
      expect(rssMax - rssBefore).toBeLessThan(96 * 1024 * 1024); // 300 x 4 MiB buffered would be 1.2 GB

      expect((await sending).next).toBe(media.frames.length);
      good.send({ type: "stop" });
      await good.waitFor("ended", () => true, 20_000);
      expect((await good.closed).code).toBe(CloseCode.Normal);
      const probe = await ffprobeFrames(join(recordDir, accepted.recording!));
      expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
    } finally {
      await bridge.close();
    }
  }, 60_000);
});
