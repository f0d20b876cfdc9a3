/**
 * Interleaves audio and video by decode time with a bounded reorder window.
 *
 * Browsers deliver audio late when AAC comes from an encoder worker (up to
 * about a second behind video). RTMP ingests and FLV players want tags in
 * time order across tracks, so frames wait here until every active track has
 * caught up to them, or until they are `windowMs` older than the newest frame
 * seen (the late track is then given up on for that span, never waited on
 * forever). With a window of 0 nothing waits: every frame goes out as it
 * comes (for clients that already send in time order across tracks). Per
 * track, order is preserved as received. Pure: no timers.
 */

interface Queued<T> {
  time: number;
  item: T;
}

export class Interleaver<T> {
  #windowMs: number;
  readonly #queues = new Map<string, Queued<T>[]>();
  #newest = Number.NEGATIVE_INFINITY;

  /** `windowMs`: the longest a frame waits for a lagging track. */
  constructor(windowMs: number) {
    if (!(windowMs >= 0)) throw new TypeError("windowMs must be >= 0");
    this.#windowMs = windowMs;
  }

  /** The reorder window, ms. 0: no hold (the client sends in time order across tracks). */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Changes the reorder window; frames already waiting follow the new one from the next push. */
  set windowMs(ms: number) {
    if (!(ms >= 0)) throw new TypeError("windowMs must be >= 0");
    this.#windowMs = ms;
  }

  /** Declares a track as active (its absence holds others back). */
  addTrack(track: string): void {
    if (!this.#queues.has(track)) this.#queues.set(track, []);
  }

  /** Number of frames waiting. */
  get size(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /** Adds a frame; returns the frames now ready, in time order. */
  push(track: string, time: number, item: T): T[] {
    this.addTrack(track);
    this.#queues.get(track)!.push({ time, item });
    if (time > this.#newest) this.#newest = time;
    return this.#drain(false);
  }

  /** Releases everything, in time order (end of session). */
  flush(): T[] {
    return this.#drain(true);
  }

  #drain(all: boolean): T[] {
    const out: T[] = [];
    for (;;) {
      let best: Queued<T>[] | undefined;
      let anyEmpty = false;
      for (const q of this.#queues.values()) {
        const head = q[0];
        if (!head) {
          anyEmpty = true;
          continue;
        }
        if (!best || head.time < best[0]!.time) best = q;
      }
      if (!best) break;
      const head = best[0]!;
      const ready = all || !anyEmpty || head.time <= this.#newest - this.#windowMs;
      if (!ready) break;
      best.shift();
      out.push(head.item);
    }
    return out;
  }
}
