/**
 * Small order statistics for benchmark runs. Benchmarks report medians (robust
 * to the odd run disturbed by GC or another process) with the min and max
 * beside them, never a mean alone.
 */

/** The `p`-th percentile (0..100) of `values`, linearly interpolated. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new TypeError("percentile of an empty list");
  if (!(p >= 0 && p <= 100)) throw new TypeError(`percentile must be 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median, extremes and the relative spread of a set of runs. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (p75 - p25) / median: how noisy the runs were. */
  readonly relIqr: number;
}

/** Summarizes `values` (at least one). */
export function summarize(values: readonly number[]): Summary {
  const m = median(values);
  return {
    median: m,
    min: Math.min(...values),
    max: Math.max(...values),
    relIqr: m === 0 ? 0 : (percentile(values, 75) - percentile(values, 25)) / m,
  };
}
