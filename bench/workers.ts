/**
 * `npm run bench:workers`: `golive serve --workers 2` against one process, in
 * one run on one machine: for each N, N real-time sessions of the capacity
 * bench's 720p30 file through each configuration into nginx-rtmp (the same
 * measurement as `npm run bench`, bench/capacity/run.ts), the two
 * configurations taking turns at each N so that machine noise falls on both.
 * A point holds when every stream kept real time and nothing was dropped.
 *
 *   npm run bench:workers                       N = 250, 350, 450, 550
 *   npm run bench:workers -- --n 400,800 --window 10 --workers 1,2
 *
 * Prints a table and, last, the summary line:
 *   workers 1: N streams in real time; workers 2: M (ratio M/N)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchFlv } from "./capacity/media.js";
import { startBenchNginx } from "./capacity/nginx.js";
import { ROOT } from "./capacity/paths.js";
import { failedPoint, limitOf, measureGolive, type PointResult, type WindowPlan } from "./capacity/run.js";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "250,350,450,550" },
    workers: { type: "string", default: "1,2" },
    window: { type: "string", default: "10" },
    settle: { type: "string", default: "3" },
  },
  strict: true,
});

const sweep = args.n.split(",").map(Number);
const configs = args.workers.split(",").map(Number);
const plan: WindowPlan = { settleMs: Number(args.settle) * 1000, subwindows: 5, subwindowMs: (Number(args.window) * 1000) / 5 };
const started = Date.now();
const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; Node ${process.version}`);
const flv = await benchFlv(60);
const nginx = await startBenchNginx();
const rows: Array<{ workers: number; point: PointResult }> = [];
const held = new Map<number, number>();
const stopped = new Set<number>();
try {
  for (const n of sweep) {
    for (const workers of configs) {
      if (stopped.has(workers)) continue;
      // The previous point's bridge and its N publishes are being torn down: let nginx and the machine settle.
      if (rows.length > 0) await new Promise((r) => setTimeout(r, 8000));
      log(`workers ${workers}, N=${n}`);
      const point = await measureGolive({ n, file: flv.path, fileSeconds: flv.durationS, nginx, plan, log, workers }).catch((err: unknown) => failedPoint("golive", n, err, os.cpus().length));
      rows.push({ workers, point });
      const limit = limitOf(point);
      log(`  -> ${point.realtime.ok}/${point.realtime.of} streams in real time, ${point.dropped} dropped, ${point.cores.median.toFixed(2)} cores (bridge), p99 ${point.latency?.p99Ms.toFixed(1) ?? "-"} ms${limit ? `; LIMIT: ${limit}` : ""}`);
      if (point.failures.length > 0) log(`     failures: ${point.failures.slice(0, 5).join(" | ")}`);
      if (limit === undefined) held.set(workers, n);
      else stopped.add(workers);
    }
  }
} finally {
  await nginx.dispose();
}

const lines = [
  "| workers | N | streams in real time | dropped | bridge cores (median) | machine busy cores | p99 latency, ms | holds |",
  "|---|---|---|---|---|---|---|---|",
  ...rows.map(({ workers, point: p }) => `| ${workers} | ${p.n} | ${p.realtime.ok}/${p.realtime.of} | ${p.dropped} | ${p.cores.median.toFixed(2)} | ${p.machineBusyCores.toFixed(2)} | ${p.latency?.p99Ms.toFixed(1) ?? "-"} | ${limitOf(p) === undefined ? "yes" : "no"} |`),
];
const summary = configs.map((w) => `workers ${w}: ${held.get(w) ?? 0} streams in real time`).join("; ");
const base = held.get(configs[0]!) ?? 0;
const last = held.get(configs.at(-1)!) ?? 0;
const text = `${lines.join("\n")}\n\n${summary}${base > 0 ? ` (ratio ${(last / base).toFixed(2)})` : ""}\n`;
mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
writeFileSync(join(ROOT, ".tmp", "bench", "workers.json"), `${JSON.stringify({ date: new Date().toISOString(), plan, rows, held: Object.fromEntries(held) }, null, 2)}\n`);
process.stdout.write(text);
