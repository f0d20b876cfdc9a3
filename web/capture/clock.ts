/**
 * The capture clock: every frame and every audio block the SDK sends is
 * stamped in microseconds on one clock, the epoch as the page sees it
 * (performance.timeOrigin + performance.now()). Each capture method maps its
 * own clock onto this one (track timestamps, requestVideoFrameCallback's
 * performance-timebase times, an AudioContext's sample count), so audio and
 * video line up however they were captured.
 */

/** Now on the capture clock, µs. */
export function captureClockUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** A time in the performance.now() timebase (ms, as requestVideoFrameCallback gives) on the capture clock, µs. */
export function performanceTimeToCaptureUs(ms: number): number {
  return Math.round((performance.timeOrigin + ms) * 1000);
}

/**
 * Estimates the offset from another clock to the capture clock as the
 * smallest (arrival - timestamp) over the first `samples` observations: the
 * first one alone carries start-up delay, the minimum is the observation
 * that waited least. Pure apart from the arrival times it is given.
 */
export class ClockOffsetEstimator {
  readonly #samples: number;
  #seen = 0;
  #min = Number.POSITIVE_INFINITY;

  constructor(samples: number) {
    if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, not ${samples}`);
    this.#samples = samples;
  }

  /** Adds one observation; returns the offset once `samples` were seen (and from then on), else undefined. */
  observe(arrivalUs: number, timestampUs: number): number | undefined {
    if (this.#seen < this.#samples) {
      this.#seen++;
      this.#min = Math.min(this.#min, arrivalUs - timestampUs);
    }
    return this.#seen >= this.#samples ? this.#min : undefined;
  }

  /** The offset, once known. */
  get offsetUs(): number | undefined {
    return this.#seen >= this.#samples ? this.#min : undefined;
  }
}
