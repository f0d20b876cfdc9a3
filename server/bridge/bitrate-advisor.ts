/**
 * Bitrate advice for a session's encoder (OBS's dynamic bitrate, driven by
 * measurement): the bridge tells the client which video bitrate its slowest
 * live destination can carry. Pure: the session feeds it one observation per
 * stats tick and sends what it returns.
 *
 * - Congested (a live destination's backlog past `thresholdMs`): the target
 *   becomes what that link carried over the last seconds while it was the
 *   bottleneck, less a margin and the audio: `0.85 x link - audio`, at most
 *   once a second, never up. If the client follows and the backlog still
 *   does not shrink for 3 s, 15 % less. Without a measure of the link yet
 *   (now or remembered): 30 % less.
 * - The link's capacity is remembered: a raise never goes past it until
 *   `probeAfterMs` have passed since it was last seen congested.
 * - Calm (no backlog past the threshold, every destination that was live is
 *   live): after `calmMs` of it, 10 % more (5 % past a capacity measured
 *   long ago: a probe), then another `calmMs` before the next step. A destination reconnecting is not calm: the calm clock starts
 *   over when it is live again.
 * - Always within [floor, ceiling].
 */

/** One destination as the advisor sees it. */
export interface AdvisorDestination {
  state: "connecting" | "live" | "reconnecting" | "failed" | "ended";
  /** Real backlog, ms. */
  backlogMs: number;
  /** What the ingest received over the last ~2 s, bits/s. */
  deliveryBitrate?: number | undefined;
  /** What the link carried while it was the bottleneck (always busy), bits/s; undefined when not measured. */
  linkBitrate?: number | undefined;
}

/** One observation, once per stats tick. */
export interface AdvisorInput {
  /** ms, monotonic. */
  now: number;
  destinations: readonly AdvisorDestination[];
  /** Audio the session sends, bits/s (0 if none). */
  audioBitrate: number;
  /** Video the client sent over the last ~2 s, bits/s (undefined: not known yet). */
  videoInBitrate?: number | undefined;
}

export interface AdvisorOptions {
  /** The bitrate the client configured: the ceiling unless `ceiling` is lower. */
  baseBitrate: number;
  /** Lowest target, bits/s (default 15 % of baseBitrate). */
  floor?: number;
  /** Highest target, bits/s (default baseBitrate). */
  ceiling?: number;
  /** Backlog that counts as congestion, ms (default 200). */
  thresholdMs?: number;
  /** Calm before each step up, ms (default 10,000). */
  calmMs?: number;
  /** How long a measured capacity caps the raises, ms (default 300,000). */
  probeAfterMs?: number;
}

export interface Advice {
  targetBitrate: number;
  reason: "congestion" | "recovered";
}

/** Share of the measured delivery rate the video target may use. */
const LINK_SHARE = 0.85;

export class BitrateAdvisor {
  readonly floor: number;
  readonly ceiling: number;
  readonly #thresholdMs: number;
  readonly #calmMs: number;
  readonly #probeAfterMs: number;
  #target: number;
  #lastChangeAt = Number.NEGATIVE_INFINITY;
  #calmSince: number | undefined;
  /** Link capacity last measured while congested (bits/s) and when. */
  #capacity: { bitrate: number; at: number } | undefined;
  /** Backlog when the target last went down (to see whether it shrinks). */
  #backlogAtChange = 0;

  constructor(options: AdvisorOptions) {
    const base = options.baseBitrate;
    if (!(base > 0)) throw new TypeError(`baseBitrate must be > 0, got ${base}`);
    this.ceiling = Math.min(base, options.ceiling && options.ceiling > 0 ? options.ceiling : base);
    this.floor = Math.min(this.ceiling, options.floor && options.floor > 0 ? options.floor : Math.round(base * 0.15));
    this.#thresholdMs = options.thresholdMs ?? 200;
    this.#calmMs = options.calmMs ?? 10_000;
    this.#probeAfterMs = options.probeAfterMs ?? 300_000;
    this.#target = this.ceiling;
  }

  /** The target last advised (the ceiling before any advice). */
  get target(): number {
    return this.#target;
  }

  /** The capacity remembered, bits/s (undefined: none, or expired). */
  capacity(now: number): number | undefined {
    const c = this.#capacity;
    return c && now - c.at < this.#probeAfterMs ? c.bitrate : undefined;
  }

  /** One tick: the advice to send, if any. */
  observe(input: AdvisorInput): Advice | undefined {
    const { now, audioBitrate } = input;
    let backlog = 0;
    let congestedRate: number | undefined;
    let reconnecting = false;
    for (const d of input.destinations) {
      if (d.state === "reconnecting") reconnecting = true;
      if (d.state !== "live") continue;
      backlog = Math.max(backlog, d.backlogMs);
      if (d.backlogMs > this.#thresholdMs && d.linkBitrate !== undefined) {
        congestedRate = Math.min(congestedRate ?? Number.POSITIVE_INFINITY, d.linkBitrate);
      } else if (d.deliveryBitrate !== undefined && this.#capacity && d.deliveryBitrate > this.#capacity.bitrate) {
        // The link carried more than we thought: remember that instead.
        this.#capacity = { bitrate: d.deliveryBitrate, at: this.#capacity.at };
      }
    }

    if (backlog > this.#thresholdMs) {
      this.#calmSince = undefined;
      if (congestedRate !== undefined) this.#capacity = { bitrate: congestedRate, at: now };
      else if (this.#capacity) this.#capacity.at = now; // still congested: what we know still holds
      if (now - this.#lastChangeAt < 1000) return undefined;
      const link = congestedRate ?? this.capacity(now);
      let target: number;
      if (link !== undefined) {
        target = Math.min(this.#target, link * LINK_SHARE - audioBitrate);
        const following = input.videoInBitrate !== undefined && input.videoInBitrate <= this.#target * 1.1;
        const stuck = now - this.#lastChangeAt >= 3000 && backlog >= this.#backlogAtChange;
        if (target >= this.#target * 0.97 && following && stuck) target = this.#target * 0.85;
      } else {
        target = this.#target * 0.7;
      }
      return this.#change(Math.round(Math.max(this.floor, Math.min(this.ceiling, target))), "congestion", now, backlog);
    }

    if (reconnecting) {
      this.#calmSince = undefined; // a reconnect is not calm
      return undefined;
    }
    if (this.#target >= this.ceiling) return undefined;
    this.#calmSince ??= now;
    if (now - this.#calmSince < this.#calmMs || now - this.#lastChangeAt < this.#calmMs) return undefined;
    let cap = this.ceiling;
    const capacity = this.capacity(now);
    if (capacity !== undefined) cap = Math.min(cap, capacity * LINK_SHARE - audioBitrate);
    // Up to a capacity measured lately: 10 % steps. Past one measured long
    // ago (probing whether the link got faster): 5 % steps.
    const step = capacity === undefined && this.#capacity !== undefined ? 1.05 : 1.1;
    const next = Math.round(Math.max(this.floor, Math.min(cap, this.#target * step)));
    if (next <= this.#target * 1.01) return undefined;
    this.#calmSince = now;
    return this.#change(next, "recovered", now, backlog);
  }

  #change(target: number, reason: Advice["reason"], now: number, backlog: number): Advice | undefined {
    if (reason === "congestion" && target >= this.#target) return undefined;
    this.#target = target;
    this.#lastChangeAt = now;
    this.#backlogAtChange = backlog;
    return { targetBitrate: target, reason };
  }
}
