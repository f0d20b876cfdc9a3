/**
 * One point of the capacity sweep: N streams through one design, measured
 * over a window of K equal sub-windows once every stream is flowing.
 *
 * golive: `golive serve` (own process) <- N WebSocket sessions from the load
 * generator (own process, load-worker.ts) -> nginx-rtmp. Per sub-window:
 * the bridge's CPU from its own accounting (process_cpu_seconds_total in
 * /metrics: process.cpuUsage(), every thread of the process), checked
 * against /proc/<pid>/stat; the latency histogram and frame counters are
 * differenced between the scrapes at the window's edges. Memory per stream
 * is the growth of the bridge's RSS over its idle RSS (started, no session),
 * divided by N.
 *
 * ffmpeg: N processes, CPU from /proc/<pid>/stat summed over them, memory
 * per stream the mean private memory (smaps_rollup) of one process (what
 * one more ffmpeg costs; shared libraries are paid once).
 *
 * Per sub-window the cores are ΔCPU / Δwall; reported is the median over
 * the sub-windows (with min and max). A stream kept real time when, over
 * the window, its media time advanced with the wall clock (drift of wall -
 * media <= DRIFT_LIMIT_MS), its destination never had more than
 * QUEUE_LIMIT_MS queued, and nothing was dropped.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { summarize, type Summary } from "../stats.js";
import { startBridge } from "./bridge.js";
import type { HarnessMessage, StatsSample, WorkerMessage, WorkerStart } from "./load-worker.js";
import type { BenchNginx } from "./nginx.js";
import { startPeers, type PeerKind, type Peers } from "./peers.js";
import { cpuBetween, cpuSeconds, cpuTimesOf, machine, machineCpu, memory } from "./proc.js";
import { fractionBelow, histogramDelta, maxBound, quantile, type Scrape } from "./prometheus.js";

/** Most drift of a stream's media time behind the wall clock over the window, ms. */
export const DRIFT_LIMIT_MS = 500;
/** Most media queued on a stream's RTMP socket, ms (the bridge starts dropping at 700). */
export const QUEUE_LIMIT_MS = 500;
/** Time between session starts (bounded by MAX_RAMP_MS in all). */
const RAMP_PER_STREAM_MS = 25;
const MAX_RAMP_MS = 10_000;

/** Timing of a point. */
export interface WindowPlan {
  /** Wait after every stream is flowing, before measuring, ms. */
  settleMs: number;
  /** Sub-windows and their length. */
  subwindows: number;
  subwindowMs: number;
}

/** The measured point. */
export interface PointResult {
  design: "golive" | "ffmpeg-copy" | "ffmpeg-transcode";
  /** golive with --workers: the worker processes (each a main thread). */
  workers?: number;
  n: number;
  windowS: number;
  /** Cores used by the design's process(es), per sub-window. */
  cores: Summary;
  /** Cores per stream, per sub-window. */
  coresPerStream: Summary;
  /** golive: the same from /proc/<pid>/stat (median), as a check of the bridge's own accounting. */
  coresPerStreamProc?: number;
  /** Share of the design's CPU time spent in the kernel (stime / (utime + stime) over the window). */
  kernelShare: number;
  /** Memory one more stream costs, MiB (see the module comment). */
  memPerStreamMiB: number;
  /** golive: bridge RSS idle and at the end of the window; ffmpeg: mean RSS of one process. MiB. */
  rssIdleMiB?: number;
  rssMiB: number;
  /** golive: V8 heap used at the end of the window, MiB. */
  heapUsedMiB?: number;
  /** golive: the bridge's latency histogram (sink rtmp) over the window. */
  latency?: { p50Ms: number; p99Ms: number; maxMs: number; under1Ms: number; count: number };
  /** golive: the bridge's event loop delay p99 (largest over the sub-windows), ms. */
  bridgeEldP99Ms?: number;
  /** golive: frames written to RTMP in the window, and what real time over N streams means. */
  framesOut?: number;
  framesExpected?: number;
  /** Frames the bridge dropped (whole run of the point). */
  dropped: number;
  /** Streams that kept real time, of n. */
  realtime: { ok: number; of: number; maxDriftMs: number; maxQueuedMs: number };
  failures: string[];
  /** The load generator (golive only): cores and its event loop delay p99, ms. */
  generator?: { cores: number; eldP99Ms: number };
  nginxCores: number;
  /** Whole machine: its cores, the busy ones, and the part of those that was none of ours (other load). */
  machineCores: number;
  machineBusyCores: number;
  otherCores: number;
  /** The command measured (one stream's for peers). */
  command: string;
}

/** A figure for a message; "n/a" for NaN, Infinity and the null they become in JSON. */
function f(x: number | null | undefined, digits: number): string {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

/** Cores of one process's main thread: past this much a Node bridge is at its limit, whatever the machine has left. */
export const MAIN_THREAD_LIMIT = 0.9;

/** Every core of the machine was busy during the window (ours and other load). */
export function machineSaturated(p: PointResult): boolean {
  return p.machineBusyCores >= 0.9 * p.machineCores;
}

/**
 * The design's own limit, if the point reached it: sessions failed, frames
 * were dropped, the bridge's process used MAIN_THREAD_LIMIT cores, the
 * ffmpeg processes used most of the machine, or streams fell behind real
 * time while the machine still had idle CPU.
 */
export function ownLimit(p: PointResult): string | undefined {
  if (p.failures.length > 0) return `${p.failures.length} failures (${p.failures[0]})`;
  if (p.dropped > 0) return `${p.dropped} frames dropped`;
  if (p.design === "golive" && p.cores.median >= MAIN_THREAD_LIMIT * (p.workers ?? 1)) return `the bridge used ${f(p.cores.median, 2)} cores: its main thread${(p.workers ?? 1) > 1 ? "s are" : " is"} saturated`;
  if (p.design !== "golive" && p.cores.median >= 0.8 * p.machineCores) return `the ffmpeg processes used ${f(p.cores.median, 2)} of ${p.machineCores} cores`;
  if (p.realtime.ok < p.realtime.of && !machineSaturated(p)) return behind(p);
  return undefined;
}

function behind(p: PointResult): string {
  return `${p.realtime.of - p.realtime.ok} of ${p.n} streams fell behind real time (max drift ${f(p.realtime.maxDriftMs, 0)} ms)`;
}

/**
 * What limited a point, if anything: the design's own limit, else the
 * machine (streams fell behind real time while every core was busy: the
 * load generator, nginx, other users of the machine and the design competed
 * for CPU; the design's CPU per stream is still what it used).
 */
export function limitOf(p: PointResult): string | undefined {
  const own = ownLimit(p);
  if (own !== undefined) return own;
  if (p.realtime.ok < p.realtime.of) return `${behind(p)}; the machine was saturated (${f(p.machineBusyCores, 2)} of ${p.machineCores} cores busy, ${f(p.otherCores, 2)} of them other load)`;
  return undefined;
}

/** True when the point is past what the design, or the machine, sustained. */
export function saturated(p: PointResult): boolean {
  return limitOf(p) !== undefined;
}

/** True when the sweep should not go to a larger N: the design hit its own limit, or most streams fell behind. */
export function stopsSweep(p: PointResult): boolean {
  return ownLimit(p) !== undefined || p.realtime.ok < p.realtime.of / 2;
}

/** A point that could not be measured at all (the harness hit an error): every figure NaN, the error as its failure. */
export function failedPoint(design: PointResult["design"], n: number, error: unknown, machineCores: number): PointResult {
  const none = { median: NaN, min: NaN, max: NaN, relIqr: NaN };
  return {
    design, n, windowS: NaN, cores: none, coresPerStream: none, kernelShare: NaN, memPerStreamMiB: NaN, rssMiB: NaN, dropped: 0,
    realtime: { ok: 0, of: n, maxDriftMs: NaN, maxQueuedMs: NaN }, failures: [`not measured: ${error instanceof Error ? error.message : String(error)}`],
    nginxCores: NaN, machineCores, machineBusyCores: NaN, otherCores: NaN, command: "",
  };
}

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const wallMs = (): number => performance.timeOrigin + performance.now();

/** Drift and backlog of one stream over [t0, t1] (wall ms). */
export function streamTiming(samples: readonly StatsSample[], t0: number, t1: number): { driftMs: number; queuedMs: number; samples: number } {
  let lo = Infinity;
  let hi = -Infinity;
  let queued = 0;
  let n = 0;
  for (const [t, media, q] of samples) {
    if (t < t0 || t > t1) continue;
    n++;
    const offset = t - media;
    lo = Math.min(lo, offset);
    hi = Math.max(hi, offset);
    queued = Math.max(queued, q);
  }
  return { driftMs: n >= 2 ? hi - lo : Infinity, queuedMs: queued, samples: n };
}

function rampFor(n: number): number {
  return Math.min(MAX_RAMP_MS, n * RAMP_PER_STREAM_MS);
}

/** Waits for `predicate`, polling; false after `timeoutMs`. */
async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

// ---------------------------------------------------------------------------
// golive

/** The load generator process. */
class Generator {
  readonly child: ChildProcess;
  live = 0;
  readonly failures: string[] = [];
  ready: Promise<{ frames: number; durationUs: number }>;
  result: Promise<Extract<WorkerMessage, { type: "result" }>>;
  #windowWaiters: Array<(m: Extract<WorkerMessage, { type: "window" }>) => void> = [];

  constructor(file: string) {
    const script = fileURLToPath(new URL("./load-worker.js", import.meta.url));
    this.child = fork(script, [file], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let readyResolve!: (v: { frames: number; durationUs: number }) => void;
    let resultResolve!: (v: Extract<WorkerMessage, { type: "result" }>) => void;
    let reject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      reject = rej;
    });
    const resultReject: Array<(e: Error) => void> = [];
    this.result = new Promise((res, rej) => {
      resultResolve = res;
      resultReject.push(rej);
    });
    this.result.catch(() => undefined);
    this.ready.catch(() => undefined);
    this.child.on("message", (m: WorkerMessage) => {
      switch (m.type) {
        case "ready":
          return readyResolve({ frames: m.frames, durationUs: m.durationUs });
        case "live":
          this.live = m.count;
          return;
        case "failed":
          this.failures.push(`session ${m.session}: ${m.code} ${m.message}`);
          return;
        case "window":
          this.#windowWaiters.shift()?.(m);
          return;
        case "result":
          return resultResolve(m);
        case "error": {
          const e = new Error(`load generator: ${m.message}`);
          reject(e);
          for (const r of resultReject) r(e);
          return;
        }
      }
    });
    this.child.on("exit", (code) => {
      const e = new Error(`load generator exited (code ${code}) before reporting`);
      reject(e);
      for (const r of resultReject) r(e);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(m: HarnessMessage): void {
    this.child.send(m);
  }

  window(edge: "start" | "end"): Promise<Extract<WorkerMessage, { type: "window" }>> {
    return new Promise((resolve) => {
      this.#windowWaiters.push(resolve);
      this.send({ type: "window", edge });
    });
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** Options of {@link measureGolive}. */
export interface GoliveOptions {
  n: number;
  file: string;
  /** Media duration of the file, s. */
  fileSeconds: number;
  nginx: BenchNginx;
  plan: WindowPlan;
  cpuProfDir?: string;
  /** Another golive command to measure (A/B experiments). */
  bin?: string;
  /** Sessions do not say `interleaved`: the bridge holds each frame for the other track (the default path of browser clients). */
  hold?: boolean;
  /** `golive serve --workers` (default 1). */
  workers?: number;
  /** Progress lines go here. */
  log: (line: string) => void;
}

/** The memory of a bridge's processes (one, or a primary and its workers), summed. */
function memoryOf(pids: readonly number[]): ReturnType<typeof memory> {
  const each = pids.map((pid) => memory(pid)).filter((m) => m !== undefined);
  if (each.length === 0) return undefined;
  return { rss: each.reduce((n, m) => n + m.rss, 0), private: each.reduce((n, m) => n + m.private, 0) };
}

/** Runs N golive sessions and measures the bridge. */
export async function measureGolive(o: GoliveOptions): Promise<PointResult> {
  const { n, plan } = o;
  const rampMs = rampFor(n);
  const needS = (rampMs + plan.settleMs + plan.subwindows * plan.subwindowMs) / 1000 + 15;
  // Twice what the plan needs: sessions can take longer to start than the ramp on a busy machine; the harness stops them.
  const loop = Math.max(2, Math.ceil((2 * needS) / o.fileSeconds));
  const bridge = await startBridge({ sessions: n, ...(o.cpuProfDir !== undefined && { cpuProfDir: o.cpuProfDir }), ...(o.bin !== undefined && { bin: o.bin }), ...(o.workers !== undefined && { workers: o.workers }) });
  let gen: Generator | undefined;
  try {
    await sleep(1000);
    await bridge.scrape(); // first scrape: lazily made metrics exist from here on
    await sleep(500);
    const idle = memoryOf(bridge.pids());
    gen = new Generator(o.file);
    const media = await gen.ready;
    const start: WorkerStart = { type: "start", bridge: bridge.ingest, to: `${o.nginx.url}/golive-{session}`, sessions: n, rampMs, loop, interleaved: o.hold !== true };
    gen.send(start);
    const g = gen;
    // Sessions that do not go live in time are the bridge (or the machine) at its limit: noted, and the rest is measured anyway.
    const startWaitMs = rampMs + 30_000;
    const allLive = await waitFor(() => g.live >= n || g.failures.length > 0, startWaitMs);
    const startProblems = allLive && g.failures.length === 0 ? [] : [`only ${g.live} of ${n} sessions went live within ${startWaitMs / 1000} s`];
    o.log(`  golive N=${n}: ${g.live} sessions live${startProblems.length > 0 ? ` (NOT ALL: ${startProblems[0]})` : ""}; settling ${plan.settleMs} ms, then ${plan.subwindows} x ${plan.subwindowMs} ms`);
    await sleep(plan.settleMs);
    const result = await measureWindow(plan, {
      scrape: () => bridge.scrape(),
      ownPids: bridge.pids(),
      extraPids: { generator: g.pid, nginx: o.nginx.pid },
      onEdge: (edge) => g.window(edge),
    });
    const end = memoryOf(bridge.pids());
    g.send({ type: "stop" });
    const final = await Promise.race([g.result, sleep(60_000).then(() => undefined)]);
    if (!final) throw new Error("the load generator did not finish within 60 s of stop");
    await sleep(300);
    const after = await bridge.scrape();
    const first = result.scrapes[0]!;
    const last = result.scrapes.at(-1)!;
    const lat = histogramDelta(first, last, "golive_frame_latency_seconds", { sink: "rtmp" });
    const framesPerSecond = media.frames / (media.durationUs / 1e6);
    const windowS = (last.at - first.at) / 1000;
    const timing = final.sessions.map((s) => streamTiming(s.samples, result.t0, result.t1));
    const sessionDrops = final.sessions.reduce((a, s) => a + s.framesDropped, 0);
    const dropped = Math.max(after.sum("golive_frames_dropped_total"), sessionDrops);
    const failures = [...startProblems, ...g.failures, ...final.sessions.flatMap((s, i) => (s.ok ? [] : [`session ${i + 1}: ${s.error ?? "failed"}`]))];
    const ok = final.sessions.filter((s, i) => s.ok && s.framesDropped === 0 && timing[i]!.driftMs <= DRIFT_LIMIT_MS && timing[i]!.queuedMs <= QUEUE_LIMIT_MS).length;
    const rssIdle = idle?.rss ?? NaN;
    const rssEnd = end?.rss ?? NaN;
    const heapUsed = last.sum("golive_nodejs_heap_size_used_bytes");
    return {
      design: "golive",
      ...(o.workers !== undefined && o.workers > 1 && { workers: o.workers }),
      n,
      windowS,
      cores: summarize(result.ownCores),
      coresPerStream: summarize(result.ownCores.map((c) => c / n)),
      coresPerStreamProc: summarize(result.procCores.map((c) => c / n)).median,
      kernelShare: result.kernelShare,
      memPerStreamMiB: (rssEnd - rssIdle) / n / MiB,
      rssIdleMiB: rssIdle / MiB,
      rssMiB: rssEnd / MiB,
      heapUsedMiB: heapUsed / MiB,
      latency: {
        p50Ms: quantile(lat, 0.5) * 1000,
        p99Ms: quantile(lat, 0.99) * 1000,
        maxMs: maxBound(lat) * 1000,
        under1Ms: fractionBelow(lat, 0.001),
        count: lat.total,
      },
      bridgeEldP99Ms: Math.max(...result.scrapes.slice(1).map((s) => s.sum("golive_nodejs_eventloop_lag_p99_seconds") * 1000)),
      framesOut: last.sum("golive_frames_out_total", { sink: "rtmp" }) - first.sum("golive_frames_out_total", { sink: "rtmp" }),
      framesExpected: Math.round(n * framesPerSecond * windowS),
      dropped,
      realtime: { ok, of: n, maxDriftMs: Math.max(...timing.map((t) => t.driftMs)), maxQueuedMs: Math.max(...timing.map((t) => t.queuedMs)) },
      failures,
      generator: { cores: result.extraCores.generator ?? NaN, eldP99Ms: result.generatorEldP99Ms },
      nginxCores: result.extraCores.nginx ?? NaN,
      machineCores: machine().cores,
      machineBusyCores: result.machineBusyCores,
      otherCores: result.machineBusyCores - median(result.ownCores) - (result.extraCores.generator ?? 0) - (result.extraCores.nginx ?? 0),
      command: bridge.command,
    };
  } finally {
    gen?.kill();
    await bridge.stop();
  }
}

function median(values: readonly number[]): number {
  return summarize(values).median;
}

// ---------------------------------------------------------------------------
// The window

interface WindowProbes {
  /** The bridge's /metrics (golive only). */
  scrape?: () => Promise<Scrape>;
  /** The design's processes. */
  ownPids: readonly number[];
  /** Other processes to account for (load generator, nginx). */
  extraPids: Record<string, number>;
  onEdge?: (edge: "start" | "end") => Promise<{ eldP99Ms: number }>;
}

interface WindowResult {
  t0: number;
  t1: number;
  scrapes: Scrape[];
  /** Cores of the design per sub-window: from /metrics when there is a scrape, else /proc. */
  ownCores: number[];
  /** Cores of the design per sub-window from /proc. */
  procCores: number[];
  /** Mean cores of each extra process over the window. */
  extraCores: Record<string, number>;
  machineBusyCores: number;
  generatorEldP99Ms: number;
  /** Own processes gone during the window. */
  missing: number;
  /** stime / (utime + stime) of the own processes over the window. */
  kernelShare: number;
}

async function measureWindow(plan: WindowPlan, probes: WindowProbes): Promise<WindowResult> {
  const scrapes: Scrape[] = [];
  /** The design's processes' CPU times at each edge. */
  const procCpu: Array<Map<number, { user: number; system: number }>> = [];
  const times: number[] = [];
  let missing = 0;
  const extraStart: Record<string, number | undefined> = {};
  const edge = async (): Promise<void> => {
    if (probes.scrape) scrapes.push(await probes.scrape());
    const now = cpuTimesOf(probes.ownPids);
    missing = Math.max(missing, probes.ownPids.length - now.size);
    procCpu.push(now);
    times.push(performance.now());
  };
  if (probes.onEdge) await probes.onEdge("start");
  const t0 = wallMs();
  const m0 = machineCpu();
  const tm0 = performance.now();
  for (const [name, pid] of Object.entries(probes.extraPids)) extraStart[name] = cpuSeconds(pid);
  await edge();
  for (let k = 0; k < plan.subwindows; k++) {
    await sleep(Math.max(0, times[0]! + (k + 1) * plan.subwindowMs - performance.now()));
    await edge();
  }
  const tm1 = performance.now();
  const m1 = machineCpu();
  const whole = cpuBetween(procCpu[0]!, procCpu.at(-1)!);
  const extraCores: Record<string, number> = {};
  for (const [name, pid] of Object.entries(probes.extraPids)) {
    const a = extraStart[name];
    const b = cpuSeconds(pid);
    if (a !== undefined && b !== undefined) extraCores[name] = (b - a) / ((tm1 - tm0) / 1000);
  }
  const endEdge = probes.onEdge ? await probes.onEdge("end") : undefined;
  const t1 = wallMs();
  const procCores: number[] = [];
  const ownCores: number[] = [];
  for (let k = 1; k < times.length; k++) {
    const dt = (times[k]! - times[k - 1]!) / 1000;
    const used = cpuBetween(procCpu[k - 1]!, procCpu[k]!);
    procCores.push((used.user + used.system) / dt);
    if (probes.scrape) {
      const a = scrapes[k - 1]!;
      const b = scrapes[k]!;
      const dts = (b.at - a.at) / 1000;
      ownCores.push((b.sum("golive_process_cpu_seconds_total") - a.sum("golive_process_cpu_seconds_total")) / dts);
    }
  }
  const machineWall = (tm1 - tm0) / 1000;
  return {
    t0,
    t1,
    scrapes,
    ownCores: probes.scrape ? ownCores : procCores,
    procCores,
    extraCores,
    machineBusyCores: (m1.busy - m0.busy) / machineWall,
    generatorEldP99Ms: endEdge?.eldP99Ms ?? NaN,
    missing,
    kernelShare: whole.system / Math.max(1e-9, whole.user + whole.system),
  };
}

// ---------------------------------------------------------------------------
// Peers

/** Options of {@link measurePeers}. */
export interface PeerPointOptions {
  kind: PeerKind;
  n: number;
  file: string;
  nginx: BenchNginx;
  plan: WindowPlan;
  log: (line: string) => void;
}

/** Runs N ffmpeg peers and measures them. */
export async function measurePeers(o: PeerPointOptions): Promise<PointResult> {
  const { n, plan } = o;
  const rampMs = rampFor(n);
  const peers: Peers = await startPeers({ kind: o.kind, file: o.file, to: `${o.nginx.url}/${o.kind}-{session}`, count: n, rampMs });
  try {
    const allRunning = await waitFor(() => peers.running() >= n || peers.exited().length > 0, 30_000);
    const startProblems = allRunning ? [] : [`only ${peers.running()} of ${n} ffmpeg processes were writing media after 30 s`];
    o.log(`  ffmpeg-${o.kind} N=${n}: ${peers.running()} processes running${startProblems.length > 0 ? " (NOT ALL)" : ""}; settling ${plan.settleMs} ms, then ${plan.subwindows} x ${plan.subwindowMs} ms`);
    await sleep(plan.settleMs);
    const result = await measureWindow(plan, { ownPids: peers.pids, extraPids: { nginx: o.nginx.pid } });
    const mems = peers.pids.map((pid) => memory(pid)).filter((m) => m !== undefined);
    const timing = peers.samples().map((s) => streamTiming(s, result.t0, result.t1));
    const failures = [...startProblems, ...peers.exited().map((e) => `ffmpeg ${e.peer} exited: ${e.output.trim().split("\n").at(-1) ?? ""}`)];
    if (result.missing > 0) failures.push(`${result.missing} ffmpeg processes gone during the window`);
    const ok = timing.filter((t) => t.driftMs <= DRIFT_LIMIT_MS).length;
    const cores = summarize(result.ownCores);
    return {
      design: o.kind === "copy" ? "ffmpeg-copy" : "ffmpeg-transcode",
      n,
      windowS: plan.subwindows * plan.subwindowMs / 1000,
      cores,
      coresPerStream: summarize(result.ownCores.map((c) => c / n)),
      kernelShare: result.kernelShare,
      memPerStreamMiB: mems.reduce((a, m) => a + m.private, 0) / Math.max(1, mems.length) / MiB,
      rssMiB: mems.reduce((a, m) => a + m.rss, 0) / Math.max(1, mems.length) / MiB,
      dropped: 0,
      realtime: { ok, of: n, maxDriftMs: Math.max(...timing.map((t) => t.driftMs)), maxQueuedMs: 0 },
      failures,
      nginxCores: result.extraCores.nginx ?? NaN,
      machineCores: machine().cores,
      machineBusyCores: result.machineBusyCores,
      otherCores: result.machineBusyCores - cores.median - (result.extraCores.nginx ?? 0),
      command: peers.command,
    };
  } finally {
    await peers.stop();
  }
}
