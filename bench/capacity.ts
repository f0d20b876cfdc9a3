/**
 * `npm run bench`: the bridge's capacity against the one-ffmpeg-per-stream
 * designs, in one run on one machine.
 *
 * For each N of the sweep (10, 50, 100, 200, 400, ... until the bridge
 * saturates: a stream falls behind real time, a frame is dropped or a
 * session fails):
 *   golive       N real-time sessions of a 720p30 H.264/AAC file (~2.6
 *                Mbit/s) from the load generator (its own process, `golive
 *                replay`'s replayMany) -> `golive serve` (its own process)
 *                -> nginx-rtmp on 127.0.0.1;
 *   ffmpeg-copy  N x `ffmpeg -re -i file.flv -c copy -f flv rtmp://...`
 *                into the same nginx (up to --peer-max processes);
 * then a few `ffmpeg -re -i file.webm -c:v libx264 -preset veryfast ...`
 * transcoders (the MediaRecorder design). bench/capacity/run.ts says how
 * each point is measured; docs/benchmarks.md ("Bridge capacity") has the
 * method and the results.
 *
 * Usage:
 *   npm run bench                       the sweep; writes .tmp/bench/capacity.{json,md,svg}
 *   npm run bench -- --quick            N=100 only, golive and ffmpeg-copy, 10 s windows (< 3 min)
 *   npm run bench -- --n 10,50 --window 10 --peer-max 50 --transcoders 1
 *   npm run bench -- --svg docs/bench-capacity.svg
 *   npm run bench -- --profile 200      one golive point at N=200 with the bridge under
 *                                       node --cpu-prof; prints where its time goes
 *   npm run bench -- --golive /other/tree/bin/golive.js --n 100 --no-peers
 *                                       measure another build (A/B of a change)
 *   npm run bench -- --from .tmp/bench/capacity.json --svg docs/bench-capacity.svg
 *                                       re-render the table and plot of a saved run
 *
 * The last line printed is the summary:
 *   golive cores/stream X; ffmpeg-copy cores/stream Y; ratio Y/X; p99 latency Z ms at N streams
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadReplayMedia } from "../server/replay/index.js";
import { holdHistogram, interleaveHolds } from "./capacity/hold-model.js";
import { benchFlv, benchWebm, type BenchMedia } from "./capacity/media.js";
import { startBenchNginx, type BenchNginx } from "./capacity/nginx.js";
import { ROOT } from "./capacity/paths.js";
import { renderSvg, type Panel } from "./capacity/plot.js";
import { machine } from "./capacity/proc.js";
import { formatProfile, summarizeProfile } from "./capacity/profile.js";
import { fractionBelow, maxBound, quantile } from "./capacity/prometheus.js";
import { percentile } from "./stats.js";
import { detailsTable, marginalMemMiB, markdownTable, maxText, summaryLine, sustainedN, TARGETS, textTable, transcodeTable, verdict } from "./capacity/report.js";
import { DRIFT_LIMIT_MS, failedPoint, limitOf, measureGolive, measurePeers, QUEUE_LIMIT_MS, saturated, stopsSweep, type PointResult, type WindowPlan } from "./capacity/run.js";

/** Length of the FLV every design publishes, s (long enough for the longest point without looping). */
const FLV_SECONDS = 60;
/** Length of the WebM the transcoders loop over, s (VP8 is slow to make). */
const WEBM_SECONDS = 20;
const FULL_SWEEP = [10, 50, 100, 200, 400, 800, 1600, 3200];

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    n: { type: "string" },
    window: { type: "string" },
    subwindows: { type: "string" },
    settle: { type: "string" },
    "peer-max": { type: "string" },
    transcoders: { type: "string" },
    "no-peers": { type: "boolean", default: false },
    profile: { type: "string" },
    out: { type: "string" },
    svg: { type: "string" },
    golive: { type: "string" },
    hold: { type: "boolean", default: false },
    from: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write("usage: npm run bench [-- --quick] [--n 10,50,...] [--window s] [--subwindows k] [--settle s] [--peer-max n] [--transcoders n] [--no-peers] [--profile n] [--out dir] [--svg path] [--golive path/to/bin/golive.js] [--hold] [--from report.json]\n");
  process.exit(0);
}

function int(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`--${name} must be a non-negative number, got ${value}`);
  return n;
}

const quick = args.quick;
const profileN = args.profile === undefined ? undefined : int(args.profile, 200, "profile");
const sweep = profileN !== undefined ? [profileN] : args.n ? args.n.split(",").map((x) => int(x, 0, "n")) : quick ? [100] : FULL_SWEEP;
const windowS = int(args.window, quick ? 10 : 20, "window");
const subwindows = Math.max(2, int(args.subwindows, 5, "subwindows"));
const plan: WindowPlan = { settleMs: int(args.settle, 3, "settle") * 1000, subwindows, subwindowMs: (windowS * 1000) / subwindows };
const peerMax = args["no-peers"] || profileN !== undefined ? 0 : int(args["peer-max"], quick ? 100 : 400, "peer-max");
const transcoders = args["no-peers"] || profileN !== undefined ? 0 : int(args.transcoders, quick ? 0 : 2, "transcoders");
const outDir = resolve(args.out ?? join(ROOT, ".tmp", "bench"));
const started = Date.now();
const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

/** Everything a run measured: written as JSON, and all the other outputs are made from it. */
interface Report {
  date: string;
  machine: ReturnType<typeof machine> & { loadAverageAtStart: number[]; node: string };
  media: { flv: BenchMedia; webm?: BenchMedia | undefined };
  plan: WindowPlan;
  /** Whether golive's sessions said `interleaved` (replay's default; --hold: no, the bridge re-orders as for a browser). */
  interleaved: boolean;
  limits: { driftMs: number; queuedMs: number };
  interleaveHoldModel: HoldModel;
  targets: typeof TARGETS;
  points: PointResult[];
  summary: string;
  verdict: string[];
  sustainedN: number | undefined;
  profile?: string;
}

interface HoldModel {
  /** Through the bridge's histogram buckets (comparable with its figures). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  under1Ms: number;
  /** From the holds themselves. */
  exact: { p50Ms: number; p99Ms: number; maxMs: number };
}

async function measure(): Promise<Report> {
  const box = machine();
  const load = os.loadavg();
  log(`machine: ${box.cpu}, ${box.cores} cores, ${box.memGiB.toFixed(0)} GiB, Linux ${box.kernel}, Node ${process.version}; load average ${load.map((l) => l.toFixed(2)).join(" ")}`);
  if (load[0]! > box.cores * 0.5) log(`WARNING: the machine is busy (1-min load ${load[0]!.toFixed(2)} on ${box.cores} cores): figures will be noisy; ratios within a run still compare`);
  const flv = await benchFlv(FLV_SECONDS);
  log(`media: ${flv.video} + ${flv.audio}, ${(flv.bitrate / 1e6).toFixed(2)} Mbit/s, ${flv.durationS.toFixed(1)} s`);
  const webm: BenchMedia | undefined = transcoders > 0 ? await benchWebm(WEBM_SECONDS) : undefined;
  const media = await loadReplayMedia(flv.path);
  const holdsMs = interleaveHolds(media);
  const holds = holdHistogram(holdsMs);
  const model: HoldModel = {
    p50Ms: quantile(holds, 0.5) * 1000, p99Ms: quantile(holds, 0.99) * 1000, maxMs: maxBound(holds) * 1000, under1Ms: fractionBelow(holds, 0.001),
    exact: { p50Ms: percentile(holdsMs, 50), p99Ms: percentile(holdsMs, 99), maxMs: Math.max(...holdsMs) },
  };
  log(`A/V interleave hold alone (model): exact p50 ${model.exact.p50Ms.toFixed(1)} p99 ${model.exact.p99Ms.toFixed(1)} max ${model.exact.maxMs.toFixed(1)} ms; through the bridge's buckets p50 ${model.p50Ms.toFixed(1)} p99 ${model.p99Ms.toFixed(1)} max <= ${model.maxMs} ms, ${(model.under1Ms * 100).toFixed(0)}% under 1 ms`);

  log(args.hold
    ? "golive sessions do not say interleaved: the bridge holds each frame for the other track, as for a browser (--hold)"
    : "golive sessions say interleaved (golive replay's default): the bridge writes each frame as it comes; --hold measures the re-ordering path");
  const nginx: BenchNginx = await startBenchNginx();
  const points: PointResult[] = [];
  let profileText: string | undefined;
  try {
    let copySaturated = false;
    // Every point is saved as it comes: a run cut short still leaves its points.
    const partial = join(outDir, `${runName()}.partial.json`);
    const record = (p: PointResult): void => {
      points.push(p);
      log(`  -> ${describe(p)}`);
      mkdirSync(outDir, { recursive: true });
      writeFileSync(partial, `${JSON.stringify({ points }, null, 2)}\n`);
    };
    const attempt = async (design: PointResult["design"], n: number, run: () => Promise<PointResult>): Promise<PointResult> => {
      try {
        return await run();
      } catch (err) {
        log(`  ${design} N=${n} could not be measured: ${err instanceof Error ? err.message : String(err)}`);
        return failedPoint(design, n, err, box.cores);
      }
    };
    for (const n of sweep) {
      const profDir = profileN !== undefined ? join(outDir, `cpu-prof-${n}-${Date.now()}`) : undefined;
      log(`golive N=${n}${profDir ? " (under --cpu-prof)" : ""}`);
      const g = await attempt("golive", n, () =>
        measureGolive({ n, file: flv.path, fileSeconds: flv.durationS, nginx, plan, log, ...(profDir !== undefined && { cpuProfDir: profDir }), ...(args.golive !== undefined && { bin: resolve(args.golive) }), hold: args.hold }));
      record(g);
      if (profDir !== undefined) {
        const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
        if (file) {
          profileText = formatProfile(summarizeProfile(join(profDir, file)));
          log(`  profile: ${join(profDir, file)}`);
        }
      }
      if (n <= peerMax && !copySaturated) {
        log(`ffmpeg-copy N=${n}`);
        const c = await attempt("ffmpeg-copy", n, () => measurePeers({ kind: "copy", n, file: flv.path, nginx, plan, log }));
        record(c);
        copySaturated = stopsSweep(c);
      }
      if (stopsSweep(g)) {
        log(`golive reached its limit at N=${n}: ${limitOf(g)}; the sweep stops here`);
        break;
      }
      if (saturated(g)) log(`  (not the bridge's own limit: ${limitOf(g)}; the sweep goes on)`);
    }
    if (webm && transcoders > 0) {
      log(`ffmpeg-transcode x${transcoders}`);
      record(await attempt("ffmpeg-transcode", transcoders, () => measurePeers({ kind: "transcode", n: transcoders, file: webm.path, nginx, plan, log })));
    }
  } finally {
    await nginx.dispose();
  }
  return {
    date: new Date().toISOString(),
    machine: { ...box, loadAverageAtStart: load, node: process.version },
    media: { flv, webm },
    plan,
    interleaved: !args.hold,
    limits: { driftMs: DRIFT_LIMIT_MS, queuedMs: QUEUE_LIMIT_MS },
    interleaveHoldModel: model,
    targets: TARGETS,
    points,
    summary: summaryLine(points),
    verdict: verdict(points),
    sustainedN: sustainedN(points),
    ...(profileText !== undefined && { profile: profileText }),
  };
}

/** Writes the JSON (unless re-rendering it), the Markdown and the SVG; prints the table, the verdict and the summary line. */
function output(report: Report, name: string, writeJson: boolean): void {
  const { points, machine: box, plan: p, interleaveHoldModel: model } = report;
  mkdirSync(outDir, { recursive: true });
  const svgPath = resolve(args.svg ?? join(outDir, `${name}.svg`));
  const caption = `golive capacity bench, ${report.date.slice(0, 10)}: ${box.cpu}, ${box.cores} cores, shared; 720p30 H.264+AAC ${(report.media.flv.bitrate / 1e6).toFixed(2)} Mbit/s into nginx-rtmp on 127.0.0.1; medians of ${p.subwindows} sub-windows of ${(p.subwindowMs / 1000).toFixed(0)} s; hollow: not every stream kept real time (or drops)`;
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, renderSvg(panels(points, model.p99Ms), caption));
  const jsonPath = join(outDir, `${name}.json`);
  if (writeJson) writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    `Run ${report.date}; ${box.cpu}, ${box.cores} cores; load average at start ${box.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")}.`,
    "",
    report.interleaved === false
      ? "golive's sessions did not say `interleaved` (--hold): the bridge held each frame for the other track, as it does for a browser; the latency includes that hold."
      : "golive's sessions said `interleaved` (golive replay's default): the bridge wrote each frame as it came; the latency is the bridge's own processing (--hold measures the re-ordering path).",
    "",
    markdownTable(points),
    "",
    transcodeTable(points),
    "",
    detailsTable(points),
    "",
    `A/V interleave hold alone (model): exact p50 ${model.exact.p50Ms.toFixed(1)} ms, p99 ${model.exact.p99Ms.toFixed(1)} ms, max ${model.exact.maxMs.toFixed(1)} ms; through the bridge's histogram buckets p50 ${model.p50Ms.toFixed(1)} ms, p99 ${model.p99Ms.toFixed(1)} ms, ${(model.under1Ms * 100).toFixed(0)}% under 1 ms.`,
    "",
    ...verdict(points).map((v) => `- ${v}`),
    "",
  ].join("\n");
  const mdPath = join(outDir, `${name}.md`);
  writeFileSync(mdPath, md);
  process.stdout.write(`\n${textTable(points)}\n\n`);
  for (const v of verdict(points)) process.stdout.write(`${v}\n`);
  if (report.profile !== undefined) process.stdout.write(`\n${report.profile}\n`);
  process.stdout.write(`\nwrote ${writeJson ? `${jsonPath}, ` : ""}${mdPath}, ${svgPath} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  process.stdout.write(`${summaryLine(points)}\n`);
}

/** The base name of this run's files. */
function runName(): string {
  return profileN !== undefined ? "capacity-profile" : quick ? "capacity-quick" : "capacity";
}

async function main(): Promise<void> {
  if (args.from !== undefined) {
    const report = JSON.parse(readFileSync(args.from, "utf8")) as Report;
    output(report, basename(args.from, ".json"), false);
    return;
  }
  const report = await measure();
  output(report, runName(), true);
}

function describe(p: PointResult): string {
  const base = `${p.coresPerStream.median.toPrecision(3)} cores/stream (${p.cores.median.toFixed(3)} cores, ${(p.kernelShare * 100).toFixed(0)}% in the kernel), ${p.memPerStreamMiB.toFixed(p.design === "golive" ? 3 : 1)} MiB/stream, real time ${p.realtime.ok}/${p.realtime.of} (max drift ${p.realtime.maxDriftMs.toFixed(0)} ms)`;
  const lat = p.latency ? `, latency p50 ${p.latency.p50Ms.toFixed(2)} p99 ${p.latency.p99Ms.toFixed(2)} max ${maxText(p.latency.maxMs)} ms (${(p.latency.under1Ms * 100).toFixed(0)}% under 1 ms), eld p99 ${p.bridgeEldP99Ms?.toFixed(1)} ms, frames ${p.framesOut}/${p.framesExpected}, dropped ${p.dropped}` : "";
  const extra = p.generator ? `; generator ${p.generator.cores.toFixed(2)} cores (eld p99 ${p.generator.eldP99Ms.toFixed(1)} ms)` : "";
  return `${base}${lat}${extra}; nginx ${p.nginxCores.toFixed(2)} cores; machine busy ${p.machineBusyCores.toFixed(2)} cores, other load ${p.otherCores.toFixed(2)}${saturated(p) ? `; SATURATED: ${limitOf(p)}` : ""}`;
}

function panels(points: readonly PointResult[], modelP99Ms: number): Panel[] {
  const of = (design: PointResult["design"]): PointResult[] => points.filter((p) => p.design === design);
  const golive = of("golive");
  const copy = of("ffmpeg-copy");
  const transcode = of("ffmpeg-transcode");
  const cps = (ps: PointResult[]): Panel["series"][number]["points"] => ps.map((p) => ({ x: p.n, y: p.coresPerStream.median, lo: p.coresPerStream.min, hi: p.coresPerStream.max, open: saturated(p) }));
  const mem = (ps: PointResult[]): Panel["series"][number]["points"] => ps.map((p) => ({ x: p.n, y: p.memPerStreamMiB, open: saturated(p) }));
  const GOLIVE = "#1f77b4";
  const COPY = "#ff7f0e";
  const TRANSCODE = "#2ca02c";
  return [
    {
      title: "CPU per stream",
      yLabel: "cores per stream (log)",
      logY: true,
      series: [
        { name: "golive (bridge process)", color: GOLIVE, points: cps(golive) },
        { name: "ffmpeg -c copy per stream", color: COPY, points: cps(copy) },
        { name: "ffmpeg x264 transcode per stream", color: TRANSCODE, points: cps(transcode) },
      ],
      target: { y: TARGETS.coresPerStream, label: `target ${TARGETS.coresPerStream}` },
    },
    {
      title: "golive added latency (bridge histogram)",
      yLabel: "ms (log)",
      logY: true,
      series: [
        { name: "p99", color: GOLIVE, points: golive.filter((p) => p.latency).map((p) => ({ x: p.n, y: p.latency!.p99Ms, open: saturated(p) })) },
        { name: "p50", color: "#9467bd", points: golive.filter((p) => p.latency).map((p) => ({ x: p.n, y: p.latency!.p50Ms, open: saturated(p) })) },
        { name: "p99 of the A/V interleave hold alone (model)", color: "#7f7f7f", dotted: true, points: golive.map((p) => ({ x: p.n, y: modelP99Ms })) },
      ],
      target: { y: TARGETS.p99Ms, label: `target p99 ${TARGETS.p99Ms} ms` },
    },
    {
      title: "Memory per stream",
      yLabel: "MiB per stream (log)",
      logY: true,
      series: [
        { name: "golive: bridge RSS growth / N", color: GOLIVE, points: mem(golive) },
        { name: "golive: marginal RSS per added stream", color: GOLIVE, dotted: true, points: [...marginalMemMiB(points).entries()].map(([n, m]) => ({ x: n, y: m })) },
        { name: "ffmpeg copy: private memory", color: COPY, points: mem(copy) },
        { name: "ffmpeg transcode: private memory", color: TRANSCODE, points: mem(transcode) },
      ],
      target: { y: TARGETS.memPerStreamMiB, label: `target ${TARGETS.memPerStreamMiB} MiB` },
    },
  ];
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
