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
 * First, the cost of admission: with workers, every session start asks the
 * primary (its limits are the group's: server/bridge/admission.ts). Session
 * starts one after another (connect, start, "accepted", stop), the
 * configurations taking turns in rounds; median and p95 of connect to
 * "accepted".
 *
 * Prints the tables and, last, the summary line:
 *   workers 1: N streams in real time; workers 2: M (ratio M/N)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { encodeMessage, newSessionKey, SUBPROTOCOL } from "../protocol/wire.js";
import { startBridge } from "./capacity/bridge.js";
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
    starts: { type: "string", default: "300" },
  },
  strict: true,
});

const sweep = args.n.split(",").map(Number).filter((n) => n > 0);
const configs = args.workers.split(",").map(Number);
const plan: WindowPlan = { settleMs: Number(args.settle) * 1000, subwindows: 5, subwindowMs: (Number(args.window) * 1000) / 5 };
const started = Date.now();
const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; Node ${process.version}`);
/** One session start: connect to "accepted", ms; the session is stopped before it resolves. */
async function oneStart(ingest: string): Promise<number> {
  const t0 = performance.now();
  const ws = new WebSocket(`${ingest}?session=${newSessionKey()}`, [SUBPROTOCOL]);
  return new Promise((resolve, reject) => {
    let acceptedAt = 0;
    ws.once("error", reject);
    ws.once("open", () => ws.send(encodeMessage({ type: "start", version: 1, destinations: [], record: true })));
    ws.on("message", (data: Buffer, binary: boolean) => {
      if (binary) return;
      const m = JSON.parse(data.toString("utf8")) as { type: string; code?: string };
      if (m.type === "accepted") {
        acceptedAt = performance.now();
        ws.send(encodeMessage({ type: "stop" }));
      } else if (m.type === "error") {
        reject(new Error(`session refused: ${m.code}`));
      }
    });
    ws.once("close", () => (acceptedAt > 0 ? resolve(acceptedAt - t0) : reject(new Error("closed before accepted"))));
  });
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
const startCount = Number(args.starts);
const startRows: string[] = [];
if (startCount > 0) {
  const bridges = new Map(await Promise.all(configs.map(async (workers) => [workers, await startBridge({ sessions: 16, workers })] as const)));
  const times = new Map<number, number[]>(configs.map((w) => [w, []]));
  try {
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      for (const workers of configs) {
        for (let i = 0; i < Math.ceil(startCount / rounds); i++) times.get(workers)!.push(await oneStart(bridges.get(workers)!.ingest));
      }
    }
  } finally {
    for (const b of bridges.values()) await b.stop();
  }
  const median1 = quantile([...times.get(configs[0]!)!].sort((a, b) => a - b), 0.5);
  for (const workers of configs) {
    const sorted = [...times.get(workers)!].sort((a, b) => a - b);
    const median = quantile(sorted, 0.5);
    startRows.push(`| ${workers} | ${sorted.length} | ${median.toFixed(2)} | ${quantile(sorted, 0.95).toFixed(2)} | ${(median / median1).toFixed(2)} |`);
    log(`session start, workers ${workers}: median ${median.toFixed(2)} ms, p95 ${quantile(sorted, 0.95).toFixed(2)} ms over ${sorted.length}`);
  }
}

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
const startTable = startRows.length > 0
  ? `| workers | session starts | connect to "accepted", median ms | p95 ms | median vs workers ${configs[0]} |\n|---|---|---|---|---|\n${startRows.join("\n")}\n\n`
  : "";
const text = `${startTable}${lines.join("\n")}\n\n${summary}${base > 0 ? ` (ratio ${(last / base).toFixed(2)})` : ""}\n`;
mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
writeFileSync(join(ROOT, ".tmp", "bench", "workers.json"), `${JSON.stringify({ date: new Date().toISOString(), plan, rows, held: Object.fromEntries(held) }, null, 2)}\n`);
process.stdout.write(text);
