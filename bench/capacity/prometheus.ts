/**
 * Just enough of the Prometheus text exposition format (version 0.0.4) to
 * read the bridge's /metrics: samples with labels, and quantiles of a
 * histogram between two scrapes (the difference of two cumulative
 * histograms is the histogram of what happened in between).
 */

/** One sample line: `name{label="value",...} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a scrape; comments and malformed lines are skipped. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const v = m[3]!;
    const value = v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** A parsed scrape with lookups. */
export class Scrape {
  readonly samples: Sample[];
  /** When it was taken, ms (performance.now of the harness). */
  readonly at: number;

  constructor(text: string, at: number) {
    this.samples = parseMetrics(text);
    this.at = at;
  }

  /** Sum of the samples named `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  /** The cumulative buckets of histogram `name` (labels `match`), by upper bound, ascending. */
  buckets(name: string, match: Record<string, string> = {}): Array<{ le: number; count: number }> {
    const byLe = new Map<number, number>();
    for (const s of this.samples) {
      if (s.name !== `${name}_bucket`) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    }
    return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
  }
}

/** A histogram's non-cumulative counts between two scrapes: `[lower, upper, count]` per bucket. */
export interface HistogramDelta {
  bins: Array<{ lo: number; hi: number; count: number }>;
  total: number;
}

/** `after - before` for histogram `name` (labels `match`). */
export function histogramDelta(before: Scrape, after: Scrape, name: string, match: Record<string, string> = {}): HistogramDelta {
  const a = before.buckets(name, match);
  const b = after.buckets(name, match);
  const prior = new Map(a.map((x) => [x.le, x.count]));
  const bins: HistogramDelta["bins"] = [];
  let lo = 0;
  let previous = 0;
  for (const { le, count } of b) {
    const cumulative = count - (prior.get(le) ?? 0);
    bins.push({ lo, hi: le, count: cumulative - previous });
    previous = cumulative;
    lo = le;
  }
  return { bins, total: previous };
}

/**
 * The q-quantile (0..1) of a histogram delta, interpolated linearly inside
 * its bucket as Prometheus' histogram_quantile does; a quantile in the +Inf
 * bucket is reported as that bucket's lower bound. NaN when empty.
 */
export function quantile(h: HistogramDelta, q: number): number {
  if (h.total <= 0) return NaN;
  const rank = q * h.total;
  let seen = 0;
  for (const bin of h.bins) {
    if (bin.count > 0 && seen + bin.count >= rank) {
      if (bin.hi === Infinity) return bin.lo;
      return bin.lo + ((bin.hi - bin.lo) * (rank - seen)) / bin.count;
    }
    seen += bin.count;
  }
  return h.bins.at(-1)?.lo ?? NaN;
}

/** The upper bound of the highest non-empty bucket: the most the slowest observation can have been. */
export function maxBound(h: HistogramDelta): number {
  let max = NaN;
  for (const bin of h.bins) if (bin.count > 0) max = bin.hi;
  return max;
}

/** Fraction of observations at or below `bound` (which must be a bucket bound). */
export function fractionBelow(h: HistogramDelta, bound: number): number {
  if (h.total <= 0) return NaN;
  let n = 0;
  for (const bin of h.bins) if (bin.hi <= bound) n += bin.count;
  return n / h.total;
}
