// A fleet of real processes (issue 16), `npm run test:fleet`: four bridges,
// each `golive serve` in its own Linux network namespace with its own
// address on a bridge device this test creates (10.77.N.0/24); HAProxy in
// front with deploy/haproxy.cfg (its bind and server lines replaced by these
// addresses); nginx-rtmp as the ingest, recording every publish; 30
// real-time `golive replay` sessions through HAProxy, each with its own
// session key. While they stream:
//   1. scale out: bridge 4 is enabled through HAProxy's runtime API: no
//      session is disturbed (no new publish at the ingest);
//   2. drain: bridge 1 gets SIGTERM (--drain-timeout 3): its sessions move,
//      each continues at the ingest after a gap of at most 2 s;
//   3. fail-over: bridge 2 gets SIGKILL: its sessions resume elsewhere (a new
//      publish), each within 5 s;
// and no session ends: every one of the 30 runs to its end, and its last
// publish ends with the file. Gaps are measured at the ingest (see
// test/support/ingest-gaps.ts) and written to test-artifacts/fleet.json.
// Runs as root (CI does); all traffic stays on 127.0.0.1 and the test's own
// 10.77.N.0/24.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../server/testing/ports.js";
import { requireBinary } from "../../server/testing/system.js";
import { cachedTestFlv, startNginxRtmp, type NginxRtmpServer } from "../support/ingest.js";
import { publishGaps, type PublishGaps } from "../support/ingest-gaps.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
const N = 20 + (process.pid % 200);
const NET = `10.77.${N}`;
const BR = `gvbr${process.pid % 100000}`;
const BRIDGES = 4;
const SESSIONS = 30;
const DRAIN_TIMEOUT_S = 3;

const ns = (i: number): string => `golive-fl${process.pid}-${i}`;
const addr = (i: number): string => `${NET}.${10 + i}`;

let dir: string;
let nginx: NginxRtmpServer;
let haproxy: ChildProcess | undefined;
let haproxyPort = 0;
const bridges = new Map<number, { proc: ChildProcess; log: () => string }>();

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // not there
  }
}

async function startBridge(i: number): Promise<void> {
  let log = "";
  const proc = spawn("ip", ["netns", "exec", ns(i), process.execPath, BIN, "serve", "--host", addr(i), "--port", "8080",
    "--allow-private", "--allow-destination", `rtmp://${NET}.1:${nginx.port}/live/*`, "--trust-proxy", `${NET}.1`,
    "--max-sessions-per-ip", "100", "--drain-timeout", String(DRAIN_TIMEOUT_S), "--ping-interval", "1000",
    // Each bridge as it runs by default: a primary and one worker per CPU, so
    // the drain and the kill below act on process groups.
    "--record-dir", join(dir, `rec-${i}`), "--log-level", "info"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (log += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (log += d));
  bridges.set(i, { proc, log: () => log });
  const deadline = Date.now() + 15_000;
  while (!/golive bridge on/.test(log)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`bridge ${i} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** deploy/haproxy.cfg with the test's listener, bridges and admin socket. */
async function haproxyConfig(): Promise<string> {
  const shipped = await readFile(join(ROOT, "deploy", "haproxy.cfg"), "utf8");
  const lines = shipped.split("\n");
  expect(lines.filter((l) => /^\s*server bridge\d /.test(l)).length, "deploy/haproxy.cfg lists its bridges as `server bridgeN ...`").toBeGreaterThanOrEqual(3);
  const out: string[] = [];
  for (const line of lines) {
    if (/^\s*stats socket /.test(line)) out.push(`    stats socket ${join(dir, "haproxy.sock")} mode 600 level admin`);
    else if (/^\s*bind :80\b/.test(line)) out.push(`    bind 127.0.0.1:${haproxyPort}`);
    else if (/^\s*server bridge\d /.test(line)) continue;
    else out.push(line);
    if (/^\s*default-server /.test(line)) {
      for (let i = 1; i <= BRIDGES; i++) out.push(`    server bridge${i} ${addr(i)}:8080 check${i === BRIDGES ? " disabled" : ""}`);
    }
  }
  return out.join("\n");
}

/** A command on HAProxy's runtime API. */
function haproxyCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(join(dir, "haproxy.sock"));
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("end", () => resolve(out));
    s.on("error", reject);
    s.write(`${command}\n`);
  });
}

const sessionsOf = (i: number): number => {
  const out = execFileSync("ip", ["netns", "exec", ns(i), process.execPath, "-e", `fetch("http://${addr(i)}:8080/healthz").then(r => r.json()).then(j => console.log(j.sessions), () => console.log(-1))`], { encoding: "utf8" });
  return Number(out.trim());
};

beforeAll(async () => {
  requireBinary("haproxy");
  dir = await mkdtemp(join(tmpdir(), "golive-fleet-"));
  ip("link", "add", BR, "type", "bridge");
  ip("addr", "add", `${NET}.1/24`, "dev", BR);
  ip("link", "set", BR, "up");
  for (let i = 1; i <= BRIDGES; i++) {
    const host = `gv${process.pid % 10000}h${i}`;
    const peer = `gv${process.pid % 10000}p${i}`;
    ip("netns", "add", ns(i));
    ip("link", "add", host, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", ns(i));
    ip("link", "set", host, "master", BR);
    ip("link", "set", host, "up");
    ip("-n", ns(i), "link", "set", "lo", "up");
    ip("-n", ns(i), "addr", "add", `${addr(i)}/24`, "dev", peer);
    ip("-n", ns(i), "link", "set", peer, "up");
  }
  nginx = await startNginxRtmp({ recordUnique: true, extraListen: [`${NET}.1`] });
  for (let i = 1; i <= BRIDGES; i++) await mkdir(join(dir, `rec-${i}`));
  await Promise.all(Array.from({ length: BRIDGES }, (_, k) => startBridge(k + 1)));
  haproxyPort = await freePort();
  await writeFile(join(dir, "haproxy.cfg"), await haproxyConfig());
  execFileSync(requireBinary("haproxy"), ["-c", "-f", join(dir, "haproxy.cfg")], { stdio: "pipe" });
  let hlog = "";
  haproxy = spawn(requireBinary("haproxy"), ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
  haproxy.stderr!.setEncoding("utf8").on("data", (d: string) => (hlog += d));
  // Up once the three enabled bridges pass their checks.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const stat = await haproxyCommand("show servers state bridges").catch(() => "");
    // "show servers state": be_id be_name srv_id srv_name srv_addr srv_op_state (2: running) ...
    const up = stat.split("\n").map((l) => l.split(" ")).filter((c) => /^bridge[123]$/.test(c[3] ?? "") && c[5] === "2");
    if (up.length === 3) break;
    if (Date.now() > deadline) throw new Error(`HAProxy's bridges did not come up:\n${stat}\n${hlog}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  haproxy?.kill("SIGKILL");
  for (const { proc } of bridges.values()) if (proc.exitCode === null) proc.kill("SIGKILL");
  await nginx?.dispose();
  for (let i = 1; i <= BRIDGES; i++) quietly(() => ip("netns", "del", ns(i)));
  quietly(() => ip("link", "del", BR));
  if (dir && !process.env.GOLIVE_KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
});

describe("a fleet of bridges behind HAProxy", () => {
  it("30 live sessions: scale 3 -> 4 disturbs none; a drained bridge's sessions move (gap <= 2 s); a killed one's resume elsewhere (gap <= 5 s); none ends", async () => {
    const flv = await cachedTestFlv({ seconds: 10, gop: 30 });
    const started = Date.now();
    let out = "";
    const replay = spawn(process.execPath, [BIN, "replay", flv, "--bridge", `ws://127.0.0.1:${haproxyPort}/ingest`, "--to", `rtmp://${NET}.1:${nginx.port}/live/fleet-{session}`,
      "--sessions", String(SESSIONS), "--ramp", "3000", "--loop", "6", "--allow-loss", "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    replay.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    replay.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => replay.once("exit", (c) => r(c)));
    const at = (s: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, started + s * 1000 - Date.now())));

    // Every bridge of the three carries some of the 30.
    await at(8);
    const before = [1, 2, 3, 4].map(sessionsOf);
    expect(before.slice(0, 3).reduce((a, b) => a + b, 0)).toBe(SESSIONS);
    expect(before[3]).toBe(0);

    // 1. Scale out.
    const tScale = Date.now();
    await haproxyCommand("enable server bridges/bridge4");
    await at(16);

    // 2. Drain bridge 1.
    const onFirst = sessionsOf(1);
    const tDrain = Date.now();
    bridges.get(1)!.proc.kill("SIGTERM");
    const drainedExit = await new Promise<number | null>((r) => bridges.get(1)!.proc.once("exit", (c) => r(c)));
    expect(drainedExit).toBe(0);
    await at(32);

    // 3. Kill bridge 2.
    const onSecond = sessionsOf(2);
    const tKill = Date.now();
    bridges.get(2)!.proc.kill("SIGKILL");

    expect(await exited, out).toBe(0);
    const result = JSON.parse(out.slice(out.indexOf("{"))) as { ok: boolean; sessions: Array<{ ok: boolean; resumes: number; restarts: number; framesSkipped: number }> };
    expect(result.sessions.map((s) => s.ok)).toEqual(Array.from({ length: SESSIONS }, () => true));
    // Bridge 4 took some of the moved sessions.
    expect(bridges.get(4)!.log()).toMatch(/session started/);

    // At the ingest.
    const byKey: PublishGaps[] = [];
    for (let k = 1; k <= SESSIONS; k++) byKey.push(await publishGaps(nginx.recordDir, `fleet-${k}`));
    const drainGaps: number[] = [];
    const killGaps: number[] = [];
    const drainVideoGaps: number[] = [];
    const killVideoGaps: number[] = [];
    const other: string[] = [];
    byKey.forEach((g, k) => {
      expect(g.files, `fleet-${k + 1}`).toBeGreaterThanOrEqual(1);
      g.gapsMs.forEach((gap, j) => {
        const cut = g.spans[j]!.endMs;
        if (cut >= tDrain - 500 && cut <= tDrain + DRAIN_TIMEOUT_S * 1000 + 3000) {
          drainGaps.push(gap);
          drainVideoGaps.push(g.videoGapsMs[j]!);
        } else if (cut >= tKill - 1000 && cut <= tKill + 1000) {
          killGaps.push(gap);
          killVideoGaps.push(g.videoGapsMs[j]!);
        }
        else other.push(`fleet-${k + 1}: a ${gap} ms gap after ${((cut - started) / 1000).toFixed(1)} s`);
      });
    });
    // The scale-out disturbed nobody; nothing but the drain and the kill did.
    expect(other).toEqual([]);
    expect(byKey.flatMap((g) => g.spans).filter((s) => s.startMs > tScale && s.startMs < tDrain)).toEqual([]);
    expect(drainGaps.length).toBe(onFirst);
    expect(killGaps.length).toBe(onSecond);
    // Sound comes back with the new publish's first frame; video at its first keyframe (1 s GOP here).
    expect(Math.max(...drainGaps, ...drainVideoGaps), `drain gaps ${drainGaps.join(" ")} ms, video ${drainVideoGaps.join(" ")} ms`).toBeLessThanOrEqual(2000);
    expect(Math.max(...killGaps, ...killVideoGaps), `kill gaps ${killGaps.join(" ")} ms, video ${killVideoGaps.join(" ")} ms`).toBeLessThanOrEqual(5000);
    // No session ended early: each one's last publish ran to the end of the replay.
    const ends = byKey.map((g) => g.spans.at(-1)!.endMs);
    expect(Math.max(...ends) - Math.min(...ends), "last frames of the 30 sessions").toBeLessThan(5000);

    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const report = {
      sessions: SESSIONS, bridges: BRIDGES, moved: onFirst, failedOver: onSecond,
      drainGapMs: { median: median(drainGaps), max: Math.max(...drainGaps), all: drainGaps },
      drainVideoGapMs: { median: median(drainVideoGaps), max: Math.max(...drainVideoGaps), all: drainVideoGaps },
      killGapMs: { median: median(killGaps), max: Math.max(...killGaps), all: killGaps },
      killVideoGapMs: { median: median(killVideoGaps), max: Math.max(...killVideoGaps), all: killVideoGaps },
      resumes: result.sessions.reduce((n, s) => n + s.resumes, 0), restarts: result.sessions.reduce((n, s) => n + s.restarts, 0),
      framesSkipped: result.sessions.reduce((n, s) => n + s.framesSkipped, 0),
    };
    console.log(`fleet: ${JSON.stringify(report)}`);
    await mkdir(join(ROOT, "test-artifacts"), { recursive: true });
    await writeFile(join(ROOT, "test-artifacts", "fleet.json"), `${JSON.stringify(report, null, 2)}\n`);
  }, 180_000);
});
