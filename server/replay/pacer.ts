/**
 * One pacing loop for any number of replay sessions: a min-heap of "run me
 * at time T" entries behind a single timer, plus a ready list for sessions
 * woken by an event (the socket drained). 1,000 sessions at 30 fps cost one
 * pending timer, not 1,000, and each wake-up touches only the sessions that
 * are due.
 */

/** What the pacer drives. */
export interface Paced {
  /**
   * Does whatever is due at or before `until` (ms on the pacer's clock).
   * Returns when to be run next, or undefined to wait for `wake` (blocked
   * on backpressure, waiting for the bridge, or finished). Must not throw.
   */
  run(until: number): number | undefined;
}

/** Options of a Pacer. */
export interface PacerOptions {
  /** The clock, ms (default performance.now). */
  now?: () => number;
  /**
   * Entries due within this many ms of a wake-up run in it (default 2): the
   * price of fewer wake-ups is sending up to this early.
   */
  granularityMs?: number;
  /** Called if a `run` throws, which is a bug (default: rethrown asynchronously). */
  onError?: (err: unknown, item: Paced) => void;
}

interface Entry {
  at: number;
  item: Paced;
}

/** The pacing loop; see the module comment. */
export class Pacer {
  readonly #now: () => number;
  readonly #granularity: number;
  readonly #onError: (err: unknown, item: Paced) => void;
  /** Min-heap on `at`; stale entries (no longer in #entries) are skipped when they surface. */
  readonly #heap: Entry[] = [];
  /** The live entry of each scheduled item. */
  readonly #entries = new Map<Paced, Entry>();
  /** Items to run at the next turn of the event loop. */
  readonly #ready = new Set<Paced>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #immediate: NodeJS.Immediate | undefined;
  #running = false;

  constructor(options: PacerOptions = {}) {
    const granularity = options.granularityMs ?? 2;
    if (!(granularity >= 0)) throw new TypeError(`granularityMs must be >= 0, got ${granularity}`);
    this.#now = options.now ?? (() => performance.now());
    this.#granularity = granularity;
    this.#onError = options.onError ?? ((err) => queueMicrotask(() => {
      throw err;
    }));
  }

  /** The pacer's clock, ms. */
  now(): number {
    return this.#now();
  }

  /** Items scheduled or ready. */
  get size(): number {
    const ids = new Set(this.#entries.keys());
    for (const r of this.#ready) ids.add(r);
    return ids.size;
  }

  /** Runs `item` at `at` (replacing an earlier schedule of it). */
  schedule(item: Paced, at: number): void {
    if (Number.isNaN(at)) throw new TypeError("schedule: time is NaN");
    const entry: Entry = { at, item };
    this.#entries.set(item, entry);
    this.#push(entry);
    this.#arm();
  }

  /** Runs `item` at the next turn of the event loop. */
  wake(item: Paced): void {
    this.#ready.add(item);
    this.#arm();
  }

  /** Forgets `item`. */
  remove(item: Paced): void {
    this.#entries.delete(item);
    this.#ready.delete(item);
    if (this.#entries.size === 0 && this.#ready.size === 0) this.#disarm();
  }

  #tick = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#immediate = undefined;
    this.#running = true;
    const until = this.#now() + this.#granularity;
    const due = new Set<Paced>(this.#ready);
    this.#ready.clear();
    for (;;) {
      const top = this.#heap[0];
      if (!top || top.at > until) break;
      this.#pop();
      if (this.#entries.get(top.item) === top) due.add(top.item); // else rescheduled or removed since
    }
    for (const item of due) {
      this.#entries.delete(item); // a run decides the next schedule
      let next: number | undefined;
      try {
        next = item.run(until);
      } catch (err) {
        this.remove(item);
        this.#onError(err, item);
        continue;
      }
      if (next !== undefined) {
        const entry: Entry = { at: next, item };
        this.#entries.set(item, entry);
        this.#push(entry);
      }
    }
    this.#running = false;
    this.#arm();
  };

  /** Makes sure exactly one timer (or immediate) is pending for the earliest work. */
  #arm(): void {
    if (this.#running) return; // #tick arms once at its end
    if (this.#ready.size > 0) {
      this.#disarmTimer();
      this.#immediate ??= setImmediate(this.#tick);
      return;
    }
    this.#dropStale();
    const top = this.#heap[0];
    if (!top) {
      this.#disarm();
      return;
    }
    if (this.#immediate) return;
    const delay = top.at - this.#now();
    if (delay <= 0) {
      this.#disarmTimer();
      this.#immediate = setImmediate(this.#tick);
      return;
    }
    if (this.#timer && this.#timerAt <= top.at) return;
    this.#disarmTimer();
    this.#timerAt = top.at;
    this.#timer = setTimeout(this.#tick, Math.ceil(delay));
  }

  #disarmTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #disarm(): void {
    this.#disarmTimer();
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }

  #dropStale(): void {
    for (;;) {
      const top = this.#heap[0];
      if (!top || this.#entries.get(top.item) === top) return;
      this.#pop();
    }
  }

  #push(entry: Entry): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= entry.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[child]!.at >= last.at) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
  }
}
