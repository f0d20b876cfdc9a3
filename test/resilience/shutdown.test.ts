// Graceful shutdown of `golive serve`, run as the real child process: on
// SIGTERM every session gets BRIDGE_SHUTTING_DOWN and close 1001, every
// destination unpublishes (FCUnpublish + deleteStream, then the TCP close),
// connections without a session and clients that no longer answer do not
// hold it up, and the process exits 0 within a bound.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CloseCode, INGEST_PATH } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, startNginxRtmp } from "../support/ingest.js";
import { run, spawnManaged, type ManagedProcess } from "../../server/testing/ingest/process.js";
import { freePort } from "../../server/testing/ports.js";
import { ScriptedServer } from "../support/scripted-server.js";
import { WireTestClient } from "../support/wire-client.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist/server/cli.js");
let media: FlvAsWire;
let recordDir: string;
const cleanups: Array<() => Promise<void>> = [];

/** Newest modification time under `dir` of files ending in `ext`. */
function newest(dir: string, ext: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(path, ext));
    else if (entry.name.endsWith(ext)) t = Math.max(t, statSync(path).mtimeMs);
  }
  return t;
}

beforeAll(async () => {
  // `npm test` builds first (pretest); a bare `vitest run` may find dist/
  // missing or older than the sources: the child must run this tree's code.
  const sources = Math.max(...["server", "protocol", "wasm/host"].map((d) => newest(join(ROOT, d), ".ts")));
  if (!existsSync(CLI) || statSync(CLI).mtimeMs < sources) {
    const built = await run("tsc (build:ts)", process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, timeoutMs: 120_000 });
    if (!existsSync(CLI)) throw new Error(`build failed:\n${built.output}`);
  }
  media = await flvAsWire(await cachedTestFlv({ seconds: 12, gop: 60 }));
  recordDir = await mkdtemp(join(tmpdir(), "golive-shutdown-"));
}, 150_000);
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
afterAll(async () => {
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** `golive serve` on a free port; resolves once /healthz answers. */
async function serve(): Promise<{ proc: ManagedProcess; port: number; ingest: string }> {
  const port = await freePort();
  const proc = await spawnManaged("golive serve", process.execPath, [
    join(ROOT, "bin/golive.js"), "serve", "--port", String(port), "--allow-private", "--record-dir", recordDir, "--log-level", "info",
  ], { cwd: ROOT });
  cleanups.push(async () => void (await proc.stop("SIGKILL")));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (proc.exitInfo() || Date.now() > deadline) throw new Error(`golive serve did not come up:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port, ingest: `ws://127.0.0.1:${port}${INGEST_PATH}` };
}

describe("golive serve: graceful shutdown", () => {
  it("SIGTERM mid-stream: BRIDGE_SHUTTING_DOWN and 1001 to clients, clean unpublish upstream, exit 0 within 5 s", async () => {
    const scripted = await ScriptedServer.start({ recordMedia: false });
    cleanups.push(() => scripted.close());
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const { proc, ingest } = await serve();

    const client = await WireTestClient.connect(ingest);
    client.send({ type: "start", version: 1, record: true, destinations: [
      { id: "scripted", url: scripted.url("shutdown") },
      { id: "nginx", url: `${nginx.rtmpUrl()}/shutdown` },
    ] });
    await client.waitFor("accepted");
    client.sendConfigs(media);
    const sending = client.sendRealtime(media.frames);
    await client.waitFor("destination", (m) => m.id === "scripted" && m.state === "live");
    await client.waitFor("destination", (m) => m.id === "nginx" && m.state === "live");
    const upstream = await scripted.connection(0);
    // Two that must not hold the shutdown up: a connection that never
    // started a session, and a client that stopped reading (it will never
    // answer the close frame).
    const idle = await WireTestClient.connect(ingest);
    const stuck = await WireTestClient.connect(ingest);
    stuck.send({ type: "start", version: 1, record: true, destinations: [] });
    await stuck.waitFor("accepted");
    const stuckSocket = (stuck.ws as unknown as { _socket: Socket })._socket;
    stuckSocket.pause();

    await new Promise((r) => setTimeout(r, 2000));
    const signalled = performance.now();
    process.kill(proc.pid, "SIGTERM");

    // SIGTERM drains (--drain-timeout 0 by default: at once): each client is told to move first.
    const err = await client.waitFor("error", () => true, 5000);
    expect(client.messages.find((m) => m.type === "move")).toMatchObject({ reason: expect.stringMatching(/draining/) as string });
    expect(err).toMatchObject({ code: "BRIDGE_SHUTTING_DOWN", fatal: true });
    expect(err.message).toMatch(/draining: start again/);
    expect(await client.closed).toMatchObject({ code: CloseCode.GoingAway, reason: "BRIDGE_SHUTTING_DOWN" });
    expect(client.finalStates()).toEqual({ scripted: "ended", nginx: "ended", recording: "ended" });
    expect(await idle.closed).toMatchObject({ code: CloseCode.GoingAway });
    const { next } = await sending;
    expect(next).toBeLessThan(media.frames.length);

    const exit = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(r, 5000))]);
    expect(exit, `still running 5 s after SIGTERM:\n${proc.output().slice(-3000)}`).toEqual({ code: 0, signal: null });
    expect(performance.now() - signalled).toBeLessThan(5000);
    expect(proc.output()).toMatch(/"msg":"bye"/);

    // The scripted ingest: FCUnpublish and deleteStream were the last
    // things it got, then a FIN (not a reset).
    await upstream.closed;
    expect(upstream.names().slice(-2)).toEqual(["FCUnpublish", "deleteStream"]);
    expect(upstream.command("deleteStream")!.receivedAt).toBe(upstream.bytesReceived);
    expect(upstream.ended).toBe(true);
    // nginx: one publish, unpublished by the client (deleteStream), then the disconnect.
    const log = nginx.logs();
    expect(log.match(/publish: name='shutdown'/g)).toHaveLength(1);
    expect(log.indexOf("deleteStream")).toBeGreaterThan(log.indexOf("publish: name='shutdown'"));
    expect(log).toMatch(/disconnect/);

    // The stuck client's socket was cut; once it reads again it finds the close.
    stuckSocket.resume();
    expect([CloseCode.GoingAway, 1006]).toContain((await stuck.closed).code);
  });
});
