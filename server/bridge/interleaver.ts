/**
 * Interleaves audio and video by decode time with a bounded reorder window.
 *
 * RTMP ingests and FLV players want tags in time order across tracks, so a
 * frame waits here until no other track can still send a frame stamped
 * before it. A track cannot when:
 *
 * - it has a frame queued (its head is no earlier: frames leave in time order);
 * - its last frame covers the waiting frame's time. Each track may declare
 *   how much media time one frame covers (`frameMs`: an AAC frame is 1024
 *   samples, 21.3 ms at 48 kHz; video declares nothing, 0). Its next frame
 *   starts where the last one ends, so a frame stamped before
 *   `last time + frameMs` (or at most `last time`) is already in order with
 *   everything the track will still send. A video frame thus goes as soon as
 *   the audio frame covering its time has arrived, not when the next one does;
 * - it is overdue (release by age; only for tracks with a `frameMs`): its
 *   next frame was expected by the latest lateness its recent frames arrived
 *   with, and has not come one frame duration, or the spread of that
 *   lateness if larger, after that. Audio that stops or stalls then holds
 *   the other tracks once, for about a frame, not for the window; audio that
 *   is late by design (an encoder that works in segments) keeps being waited
 *   for, up to the window.
 *
 * And whatever the tracks do, a frame waits at most until it is `windowMs`
 * older (in media time) than the newest frame seen: a track that falls that
 * far behind is given up on for that span, never waited on forever. With a
 * window of 0 nothing waits: every frame goes out as it comes (for clients
 * that already send in time order across tracks).
 *
 * A track given up on (by age or by the window) sends its late frames later:
 * they go out as they come, after frames of other tracks stamped later than
 * them. Per track, order is always preserved as received; per-track times are
 * assumed non-decreasing (the session clamps small steps back).
 *
 * Pure: no timers, no clock. Wall-clock time comes in as arguments: the
 * arrival time given to `push`, and `now` given to `releaseDue`; the caller
 * asks `dueAt` when to call `releaseDue` next.
 */

interface Queued<T> {
  time: number;
  item: T;
}

/** One track's recent lateness (arrival minus media time), ms. */
interface Sample {
  time: number;
  late: number;
}

/** How far back (media time) a track's lateness is remembered: longer than the segments of a segmenting encoder (the SDK's ffmpeg.wasm path: 500 ms). */
export const LATENESS_MEMORY_MS = 2000;

/** One track: its queue, what its last frame covers, how late its frames arrive. */
class Lane<T> {
  readonly queue: Queued<T>[] = [];
  /** Media time one frame covers, ms (0: unknown, e.g. video). */
  frameMs = 0;
  /** Time of the last frame pushed (-Infinity before the first). */
  lastTime = Number.NEGATIVE_INFINITY;
  /** Sliding maximum and minimum of the lateness over LATENESS_MEMORY_MS of media time (monotonic queues). */
  readonly #most: Sample[] = [];
  readonly #least: Sample[] = [];

  /** True when the track's next frame cannot precede `time`: it starts at or after the end of the last one. */
  covers(time: number): boolean {
    return time <= this.lastTime || time < this.lastTime + this.frameMs;
  }

  /** Adds a frame's lateness; forgets what is more than LATENESS_MEMORY_MS of media time older. */
  noteArrival(time: number, arrivedMs: number): void {
    const s: Sample = { time, late: arrivedMs - time };
    while (this.#most.length > 0 && this.#most[this.#most.length - 1]!.late <= s.late) this.#most.pop();
    this.#most.push(s);
    while (this.#least.length > 0 && this.#least[this.#least.length - 1]!.late >= s.late) this.#least.pop();
    this.#least.push(s);
    const oldest = time - LATENESS_MEMORY_MS;
    while (this.#most[0]!.time < oldest) this.#most.shift();
    while (this.#least[0]!.time < oldest) this.#least.shift();
  }

  /**
   * Wall-clock time after which this (empty) track no longer holds others:
   * its next frame, starting where the last one ends, was expected by the
   * latest lateness seen recently; it is overdue one frame duration later,
   * or the spread of that lateness if larger (frames that come in batches,
   * from an encoder working in segments, are waited for a batch). Undefined
   * when it cannot be known: no frame duration (video), or no frame with an
   * arrival time yet.
   */
  overdueAt(): number | undefined {
    const most = this.#most[0];
    const least = this.#least[0];
    if (this.frameMs <= 0 || !most || !least) return undefined;
    return this.lastTime + this.frameMs + most.late + Math.max(this.frameMs, most.late - least.late);
  }
}

export class Interleaver<T> {
  #windowMs: number;
  readonly #lanes = new Map<string, Lane<T>>();
  #newest = Number.NEGATIVE_INFINITY;

  /** `windowMs`: the longest a frame waits for a lagging track, in media time. */
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

  /**
   * Declares a track as active (its absence holds others back), with the
   * media time each of its frames covers (`frameMs`; AAC: samples per frame
   * / sample rate; 0 or absent for video). Declaring it again updates
   * `frameMs` (a new codec configuration) when given.
   */
  addTrack(track: string, frameMs?: number): void {
    if (frameMs !== undefined && !(frameMs >= 0 && Number.isFinite(frameMs))) throw new TypeError("frameMs must be a finite number >= 0");
    let lane = this.#lanes.get(track);
    if (!lane) {
      lane = new Lane<T>();
      this.#lanes.set(track, lane);
    }
    if (frameMs !== undefined) lane.frameMs = frameMs;
  }

  /** Number of frames waiting. */
  get size(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.queue.length;
    return n;
  }

  /**
   * Adds a frame stamped `time` (media ms) that arrived at `arrivedMs` (wall
   * clock, ms, any monotonic origin; without it the track's frames never let
   * others go by age); returns the frames now ready, in time order.
   */
  push(track: string, time: number, item: T, arrivedMs?: number): T[] {
    this.addTrack(track);
    const lane = this.#lanes.get(track)!;
    lane.queue.push({ time, item });
    lane.lastTime = time;
    if (arrivedMs !== undefined) lane.noteArrival(time, arrivedMs);
    if (time > this.#newest) this.#newest = time;
    return this.#drain(false, arrivedMs ?? Number.NaN);
  }

  /**
   * Wall-clock time (the clock of `push`'s `arrivedMs`) at which the frame
   * that goes next can be released by age, if it waits only for tracks that
   * can be overdue; undefined when nothing waits, or when what waits can only
   * be released by another frame's arrival.
   */
  dueAt(): number | undefined {
    const head = this.#nextLane()?.queue[0];
    if (!head || this.#windowMs === 0) return undefined;
    let due = Number.NEGATIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.queue.length > 0 || lane.covers(head.time)) continue;
      const at = lane.overdueAt();
      if (at === undefined) return undefined;
      if (at > due) due = at;
    }
    return due === Number.NEGATIVE_INFINITY ? undefined : due;
  }

  /** Releases what is due by age at `now` (see `dueAt`), in time order. */
  releaseDue(now: number): T[] {
    return this.#drain(false, now);
  }

  /** Releases everything, in time order (end of session). */
  flush(): T[] {
    return this.#drain(true, Number.NaN);
  }

  /** The lane whose head is the earliest frame waiting (the first declared on a tie). */
  #nextLane(): Lane<T> | undefined {
    let best: Lane<T> | undefined;
    for (const lane of this.#lanes.values()) {
      const head = lane.queue[0];
      if (head && (!best || head.time < best.queue[0]!.time)) best = lane;
    }
    return best;
  }

  /** True when no other track can still send a frame stamped before `time` (see the file comment). */
  #inOrder(time: number, now: number): boolean {
    for (const lane of this.#lanes.values()) {
      if (lane.queue.length > 0 || lane.covers(time)) continue;
      const at = lane.overdueAt();
      if (at === undefined || !(now >= at)) return false;
    }
    return true;
  }

  #drain(all: boolean, now: number): T[] {
    const out: T[] = [];
    for (;;) {
      const lane = this.#nextLane();
      if (!lane) break;
      const head = lane.queue[0]!;
      const ready = all || head.time <= this.#newest - this.#windowMs || this.#inOrder(head.time, now);
      if (!ready) break;
      lane.queue.shift();
      out.push(head.item);
    }
    return out;
  }
}
