/**
 * The capacity report: the per-N table (text and Markdown), the one-line
 * summary, and the verdict against the targets of the issue.
 */
import type { PointResult } from "./run.js";
import { limitOf, ownLimit } from "./run.js";

/** Targets from the issue. */
export const TARGETS = {
  /** Bridge cores per stream. */
  coresPerStream: 0.0015,
  /** Bridge memory per stream, MiB. */
  memPerStreamMiB: 1,
  /** p99 added latency at TARGET_N streams, ms. */
  p99Ms: 5,
  /** The N of the latency target. */
  latencyAtN: 200,
} as const;

/** A row of the table: golive and the copy peer at one N. */
export interface Row {
  n: number;
  golive?: PointResult;
  copy?: PointResult;
}

/** Groups the points by N. */
export function rows(points: readonly PointResult[]): Row[] {
  const byN = new Map<number, Row>();
  for (const p of points) {
    if (p.design === "ffmpeg-transcode") continue;
    const row = byN.get(p.n) ?? { n: p.n };
    if (p.design === "golive") row.golive = p;
    else row.copy = p;
    byN.set(p.n, row);
  }
  return [...byN.values()].sort((a, b) => a.n - b.n);
}

/** Cores per stream, 3 significant digits. */
export function fmtCores(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? "-" : x.toPrecision(3);
}

function fmt(x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);
}

/** The histogram's bound on the slowest frame: "<= B" for a bucket bound, "> 1000" for the +Inf bucket (Infinity, null in JSON). */
export function maxText(maxMs: number | null): string {
  return typeof maxMs === "number" && Number.isFinite(maxMs) ? `<= ${maxMs}` : "> 1000";
}

function rt(p: PointResult | undefined): string {
  if (!p) return "-";
  return p.realtime.ok === p.realtime.of ? "yes" : `no (${p.realtime.ok}/${p.realtime.of})`;
}

/** golive / copy ratio in "copy is R times golive" form (Y/X). */
export function ratio(row: Row): number | undefined {
  const g = row.golive?.coresPerStream.median;
  const c = row.copy?.coresPerStream.median;
  return g !== undefined && c !== undefined && g > 0 ? c / g : undefined;
}

/** The main table, Markdown. */
export function markdownTable(points: readonly PointResult[]): string {
  const head = [
    "| N | golive cores/stream (min-max) | ffmpeg-copy cores/stream (min-max) | ratio copy/golive | golive RSS/stream (MiB): growth/N, marginal | ffmpeg-copy private/stream (MiB) | golive latency p50 / p99 / max (ms) | dropped | real time golive / copy | generator, nginx, other load (cores) |",
    "|---:|---|---|---:|---:|---:|---|---:|---|---|",
  ];
  const marginal = marginalMemMiB(points);
  const body = rows(points).map((r) => {
    const g = r.golive;
    const c = r.copy;
    const range = (p: PointResult | undefined): string =>
      p ? `${fmtCores(p.coresPerStream.median)} (${fmtCores(p.coresPerStream.min)}-${fmtCores(p.coresPerStream.max)})` : "not run";
    const lat = g?.latency ? `${fmt(g.latency.p50Ms, 1)} / ${fmt(g.latency.p99Ms, 1)} / ${maxText(g.latency.maxMs)}` : "-";
    const load = g ? `${fmt(g.generator?.cores, 2)}, ${fmt(g.nginxCores, 2)}, ${fmt(g.otherCores, 2)}` : "-";
    const q = ratio(r);
    return `| ${r.n} | ${range(g)} | ${range(c)} | ${q === undefined ? "-" : `${q.toFixed(1)}x`} | ${fmt(g?.memPerStreamMiB, 2)}, ${fmt(marginal.get(r.n), 2)} | ${fmt(c?.memPerStreamMiB, 1)} | ${lat} | ${g ? g.dropped : "-"} | ${rt(g)} / ${rt(c)} | ${load} |`;
  });
  return [...head, ...body].join("\n");
}

/** Every point with the figures behind the main table, Markdown. */
export function detailsTable(points: readonly PointResult[]): string {
  return [
    "| design | N | cores (median of sub-windows) | in kernel | RSS MiB | bridge event loop delay p99 (ms) | frames out / real-time expectation | streams in real time (max drift ms) | nginx cores | machine busy / other load (cores) | limit |",
    "|---|---:|---:|---:|---:|---:|---|---|---:|---|---|",
    ...points.map((p) => {
      const rss = p.design === "golive" ? `${fmt(p.rssIdleMiB, 0)} idle -> ${fmt(p.rssMiB, 0)}` : `${fmt(p.rssMiB, 1)} per process`;
      const frames = p.framesOut !== undefined ? `${p.framesOut} / ${p.framesExpected}` : "-";
      return `| ${p.design} | ${p.n} | ${fmt(p.cores.median, 3)} | ${fmt(p.kernelShare * 100, 0)}% | ${rss} | ${fmt(p.bridgeEldP99Ms, 1)} | ${frames} | ${p.realtime.ok}/${p.realtime.of} (${fmt(p.realtime.maxDriftMs, 0)}) | ${fmt(p.nginxCores, 2)} | ${fmt(p.machineBusyCores, 2)} / ${fmt(p.otherCores, 2)} | ${limitOf(p) ?? "-"} |`;
    }),
  ].join("\n");
}

/** The transcoding peers, Markdown. */
export function transcodeTable(points: readonly PointResult[]): string {
  const t = points.filter((p) => p.design === "ffmpeg-transcode");
  if (t.length === 0) return "";
  return [
    "| transcoders | cores/stream (min-max) | private MiB/stream | RSS MiB/process | real time |",
    "|---:|---|---:|---:|---|",
    ...t.map((p) => `| ${p.n} | ${fmtCores(p.coresPerStream.median)} (${fmtCores(p.coresPerStream.min)}-${fmtCores(p.coresPerStream.max)}) | ${fmt(p.memPerStreamMiB, 1)} | ${fmt(p.rssMiB, 1)} | ${rt(p)} |`),
  ].join("\n");
}

/** Plain-text table for the terminal. */
export function textTable(points: readonly PointResult[]): string {
  const lines = [
    "     N  golive c/s  copy c/s   ratio  golive MiB/s  copy MiB/s  p50 ms  p99 ms  max ms  drops  realtime(g/c)  gen   nginx  other",
  ];
  for (const r of rows(points)) {
    const g = r.golive;
    const c = r.copy;
    const q = ratio(r);
    lines.push(
      [
        String(r.n).padStart(6),
        fmtCores(g?.coresPerStream.median).padStart(11),
        fmtCores(c?.coresPerStream.median).padStart(9),
        (q === undefined ? "-" : `${q.toFixed(1)}x`).padStart(7),
        fmt(g?.memPerStreamMiB, 3).padStart(13),
        fmt(c?.memPerStreamMiB, 1).padStart(11),
        fmt(g?.latency?.p50Ms, 1).padStart(7),
        fmt(g?.latency?.p99Ms, 1).padStart(7),
        (g?.latency ? maxText(g.latency.maxMs) : "-").padStart(7),
        String(g?.dropped ?? "-").padStart(6),
        `${rt(g)}/${rt(c)}`.padStart(14),
        fmt(g?.generator?.cores, 2).padStart(5),
        fmt(g?.nginxCores, 2).padStart(6),
        fmt(g?.otherCores, 2).padStart(6),
      ].join(" "),
    );
  }
  for (const p of points.filter((x) => x.design === "ffmpeg-transcode")) {
    lines.push(`transcode x${p.n}: ${fmtCores(p.coresPerStream.median)} cores/stream, ${fmt(p.memPerStreamMiB, 1)} MiB private/stream, real time ${rt(p)}`);
  }
  return lines.join("\n");
}

/** The row the one-line summary is about: the target N if both designs ran there, else the largest N where both did. */
export function summaryRow(points: readonly PointResult[]): Row | undefined {
  const both = rows(points).filter((r) => r.golive && r.copy);
  return both.find((r) => r.n === TARGETS.latencyAtN) ?? both.at(-1) ?? rows(points).at(-1);
}

/** `golive cores/stream X; ffmpeg-copy cores/stream Y; ratio Y/X; p99 latency Z ms at N streams`. */
export function summaryLine(points: readonly PointResult[]): string {
  const r = summaryRow(points);
  if (!r) return "no results";
  const q = ratio(r);
  return `golive cores/stream ${fmtCores(r.golive?.coresPerStream.median)}; ffmpeg-copy cores/stream ${fmtCores(r.copy?.coresPerStream.median)}; ratio ${q === undefined ? "-" : q.toFixed(1)}; p99 latency ${fmt(r.golive?.latency?.p99Ms, 1)} ms at ${r.n} streams`;
}

/** Largest N golive sustained (all streams real time, nothing dropped). */
export function sustainedN(points: readonly PointResult[]): number | undefined {
  const ok = points.filter((p) => p.design === "golive" && limitOf(p) === undefined);
  return ok.length > 0 ? Math.max(...ok.map((p) => p.n)) : undefined;
}

/**
 * What one more golive stream costs in memory, MiB: the slope of the
 * bridge's RSS between consecutive N of the sweep (RSS growth / N also
 * carries the one-off growth of a warmed-up process: JIT code, heap).
 */
export function marginalMemMiB(points: readonly PointResult[]): Map<number, number> {
  const g = points.filter((p) => p.design === "golive" && Number.isFinite(p.rssMiB)).sort((a, b) => a.n - b.n);
  const out = new Map<number, number>();
  for (let i = 1; i < g.length; i++) out.set(g[i]!.n, (g[i]!.rssMiB - g[i - 1]!.rssMiB) / (g[i]!.n - g[i - 1]!.n));
  return out;
}

/** The verdict on each target. */
export function verdict(points: readonly PointResult[]): string[] {
  // Points below the bridge's own limit (a machine saturated by other load does not disqualify its CPU and memory figures).
  const g = points.filter((p) => p.design === "golive" && ownLimit(p) === undefined).sort((a, b) => a.n - b.n);
  const out: string[] = [];
  if (g.length === 0) return ["every golive point was at the bridge's own limit: no verdict"];
  const perN = (f: (p: PointResult) => string): string => g.map((p) => `${f(p)} at ${p.n}`).join(", ");
  const met = g.filter((p) => p.coresPerStream.median <= TARGETS.coresPerStream);
  out.push(`cores/stream <= ${TARGETS.coresPerStream}: ${met.length === g.length ? "met" : met.length === 0 ? "MISSED at every N" : `met only at N = ${met.map((p) => p.n).join(", ")}`} (${perN((p) => fmtCores(p.coresPerStream.median))})`);
  const marginal = [...marginalMemMiB(points).entries()].filter(([n]) => g.some((p) => p.n === n));
  const worstMarginal = marginal.length > 0 ? Math.max(...marginal.map(([, m]) => m)) : NaN;
  out.push(
    `memory/stream <= ${TARGETS.memPerStreamMiB} MiB: ${Number.isFinite(worstMarginal) ? (worstMarginal <= TARGETS.memPerStreamMiB ? "met" : "MISSED") : "not decided"} ` +
      `(marginal RSS per added stream ${marginal.map(([n, m]) => `${m.toFixed(2)} up to ${n}`).join(", ") || "-"}; RSS growth / N ${perN((p) => p.memPerStreamMiB.toFixed(2))})`,
  );
  const at = points.find((p) => p.design === "golive" && p.n === TARGETS.latencyAtN);
  if (at?.latency) {
    const starved = at.realtime.ok < at.realtime.of ? " with the machine saturated" : "";
    out.push(`p99 latency <= ${TARGETS.p99Ms} ms at ${TARGETS.latencyAtN} streams: ${at.latency.p99Ms <= TARGETS.p99Ms ? "met" : "MISSED"} (${at.latency.p99Ms.toFixed(1)} ms${starved}; ${perN((p) => `${fmt(p.latency?.p99Ms, 1)} ms`)})`);
  } else {
    out.push(`p99 latency at ${TARGETS.latencyAtN} streams: not measured in this run (${perN((p) => `${fmt(p.latency?.p99Ms, 1)} ms`)})`);
  }
  const dropsBelow = g.reduce((a, p) => a + p.dropped, 0);
  out.push(`zero drops below saturation: ${dropsBelow === 0 ? "met" : "MISSED"} (${dropsBelow} dropped)`);
  const late = g.filter((p) => p.realtime.ok < p.realtime.of);
  if (late.length > 0) out.push(`streams fell behind real time at N = ${late.map((p) => p.n).join(", ")} while the machine was saturated (other load included): see the details table`);
  const copies = rows(points).filter((r) => r.golive && r.copy && ownLimit(r.golive) === undefined && Number.isFinite(ratio(r)));
  if (copies.length > 0) {
    const least = Math.min(...copies.map((r) => ratio(r)!));
    out.push(`>= 3.5x better than ffmpeg -c copy: ${least >= 3.5 ? "met" : copies.every((r) => ratio(r)! < 3.5) ? "MISSED at every N" : "MISSED at some N"} (copy/golive ${copies.map((r) => `${ratio(r)!.toFixed(1)}x at ${r.n}`).join(", ")})`);
  }
  return out;
}
