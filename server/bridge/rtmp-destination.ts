/**
 * An RTMP(S) destination of a session: an RtmpPublisher per connection
 * attempt, plus the policies around it (docs/rtmp-client.md, "Backlog" and
 * "Shedding"; numbers from OBS):
 *
 * - Start: while the first publish is being set up, frames are kept (from the
 *   first keyframe, bounded by bytes) so the ingest gets the stream from its
 *   start; once live it gets onMetaData, the sequence headers, the kept
 *   frames, then frames as they come.
 * - Backlog: how long the oldest frame the ingest has not received yet has
 *   been waiting, in flight (the publisher knows what was delivered from the
 *   ingest's Acknowledgements: kernel buffer and network included) or in
 *   this destination's own queue. At most
 *   `maxInFlightMs` of media is handed to the socket; the rest waits here,
 *   where it can still be shed. Whatever the socket holds is committed.
 * - Shedding, in order: past `dropThresholdMs` of backlog, non-key video
 *   (queued and new) until the next keyframe; past `maxQueuedMs`, whole GOPs
 *   queued before the newest queued keyframe. Audio and the newest keyframe
 *   are never shed. Every frame shed is counted.
 * - Reset: only for a dead link (nothing delivered for `stallTimeoutMs` with
 *   data in flight) or past `maxQueuedBytes` of memory. What the connection
 *   held is counted as lost; the new publish starts at a keyframe with
 *   onMetaData and sequence headers, stamped with that keyframe's time.
 * - Upstream loss: a destination that was live reconnects with capped
 *   backoff (2 s, x1.5, up to 15 s, jitter) for `retryForMs`; between
 *   attempts it checks every `probeIntervalMs` whether the ingest's port
 *   answers and, once it does, tries at once. Refusals (publish denied,
 *   rejected connect, address not allowed, bad certificate) are final;
 *   "already publishing" (the ingest still holds the dead connection's
 *   publish) is not. The lost connection is reset, not closed: its unsent
 *   bytes must not keep the old publish alive.
 * - Backpressure mode (a lossless client such as `golive replay --fast`):
 *   nothing is shed for congestion; the session stops reading its client
 *   while `backlogMs` is over its bound.
 */
import type { DestinationState, DestinationStats } from "../../protocol/wire.js";
import type { Core } from "../../wasm/host/index.js";
import { RtmpError, RtmpErrorCode } from "../rtmp/rtmp-errors.js";
import { probeReachable, RtmpPublisher, type RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import type { RtmpUrl } from "../rtmp/rtmp-url.js";
import type { SessionFrame, TrackSet } from "./media-types.js";
import { isRandomAccess, startsStream, type Sink, type SinkEvents } from "./sink.js";

/** Reconnect policy (OBS: 2 s first delay, growing, capped). */
export interface ReconnectPolicy {
  /** First delay, ms (default 2000). */
  initialDelayMs: number;
  /** Growth per attempt (default 1.5). */
  factor: number;
  /** Longest delay between attempts, ms (default 15,000). */
  maxDelayMs: number;
  /** Random spread, fraction of the delay (default 0.2). */
  jitter: number;
  /** Keep trying for this long after the connection was lost, ms (default 600,000; 0 = never reconnect). */
  retryForMs: number;
  /** Attempts before giving up (default Infinity; 0 = never reconnect). */
  maxAttempts: number;
  /**
   * Between attempts, check this often whether the ingest's port accepts a
   * TCP connection, and try at once when it does, ms (default 250; 0 = off).
   * Only while the ingest is unreachable (the connection was lost, or the
   * last attempt could not connect): an ingest that answers and refuses
   * gets the backoff.
   */
  probeIntervalMs: number;
}

/** Congestion policy (OBS drops at ~700 ms of backlog). */
export interface CongestionPolicy {
  /** Shed non-key video past this much backlog, ms (default 700). */
  dropThresholdMs: number;
  /** Past this much backlog also shed whole GOPs queued before the newest keyframe, ms (default 3000). */
  maxQueuedMs: number;
  /** Reset the connection past this many bytes sent-and-undelivered plus queued (default 16 MiB). */
  maxQueuedBytes: number;
  /** Hand at most this much media to the socket ahead of what the ingest has acknowledged, ms (default 1000). */
  maxInFlightMs: number;
  /** Reset a connection that delivered nothing for this long with data in flight, ms (default 10,000). */
  stallTimeoutMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  initialDelayMs: 2000, factor: 1.5, maxDelayMs: 15_000, jitter: 0.2, retryForMs: 600_000, maxAttempts: Number.POSITIVE_INFINITY, probeIntervalMs: 250,
};
export const DEFAULT_CONGESTION: CongestionPolicy = {
  dropThresholdMs: 700, maxQueuedMs: 3000, maxQueuedBytes: 16 * 1024 * 1024, maxInFlightMs: 1000, stallTimeoutMs: 10_000,
};

/**
 * Failures that reconnecting cannot fix. Only a destination that was live
 * reconnects, so its name resolved and its key was accepted moments ago:
 * a failed lookup then is the network still being down, and BadName ("already
 * publishing") or a close in answer to publish is the ingest still holding
 * the dead connection's publish until it notices; both pass, and are retried.
 */
const FINAL_CODES = new Set([
  "PUBLISH_DENIED", "PUBLISH_FAILED", "RTMP_CONNECT_REJECTED", "DEST_NOT_ALLOWED", "RTMP_BAD_URL", "RTMP_TLS_FAILED",
]);

/** Failures before a TCP connection existed: the ingest (or the way to it) is down, so probing its port is worth it. */
const UNREACHABLE_CODES = new Set<string>([
  RtmpErrorCode.ConnectionRefused, RtmpErrorCode.ConnectTimeout, RtmpErrorCode.DnsFailed, RtmpErrorCode.NetworkError,
]);

/** How often a live connection is checked for a stall and its delivery rate sampled, ms. */
const WATCH_MS = 250;
/** Delivery rate window, ms. */
const RATE_WINDOW_MS = 2000;

export interface RtmpDestinationOptions {
  id: string;
  url: RtmpUrl;
  core: Core;
  events: SinkEvents;
  /** Extra publisher options (timeouts, TLS CA, address checks). */
  publisher?: Partial<RtmpPublisherOptions>;
  /** Most bytes of frames kept while first connecting (default 32 MiB). */
  maxPendingBytes?: number;
  reconnect?: Partial<ReconnectPolicy>;
  congestion?: Partial<CongestionPolicy>;
  /** Never shed for congestion: the session holds its client back instead (default false). */
  backpressure?: boolean;
}

/** A frame waiting in the destination's queue, with the tracks it belongs to. */
interface Queued {
  frame: SessionFrame;
  /** performance.now() when the destination was given it. */
  at: number;
  tracks: TrackSet | undefined;
}

/** What a frame in flight was (the third number of its entry). */
const INTER = 0;
const KEY = 1;
const AUDIO = 2;

export class RtmpDestination implements Sink {
  readonly id: string;
  readonly target: string;
  readonly #opts: RtmpDestinationOptions;
  readonly #reconnect: ReconnectPolicy;
  readonly #congestion: CongestionPolicy;
  readonly #backpressure: boolean;
  #publisher: RtmpPublisher | undefined;
  #state: DestinationState = "connecting";
  #tracks: TrackSet | undefined;
  /** Generation of the tracks last sent on this connection (-1: none yet). */
  #sentGeneration = -1;
  /** Video may flow (a keyframe went out on this connection). */
  #videoStarted = false;
  /** After a reconnect: hold audio too until the first keyframe. */
  #gateAll = false;
  /** Congested: non-key video is shed until the next keyframe. */
  #dropping = false;
  #everLive = false;
  #attempt = 0;
  #reconnects = 0;
  /** When the live connection was lost (performance.now()), for retryForMs. */
  #lostAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #pending: SessionFrame[] = [];
  #pendingBytes = 0;
  #pendingHasVideo = false;
  /** Frames waiting for the socket (over maxInFlightMs). */
  #queue: Queued[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  /**
   * Frames handed to the current socket, not yet known to be delivered:
   * triples [publisher byte offset of its end, performance.now() when this
   * destination was given it, INTER | KEY | AUDIO], oldest first from
   * `#inFlightHead` (numbers in one array: one per frame at 77 frames/s per
   * stream, objects would keep the collector busy).
   */
  #inFlight: number[] = [];
  #inFlightHead = 0;
  #framesWritten = 0;
  #framesDropped = 0;
  #framesLost = 0;
  #audioLost = 0;
  #keyframesLost = 0;
  #bytesSent = 0;
  #bytesReported = 0;
  /** Time not live since first going live, ms (closed intervals), and when the open one began. */
  #notLiveMs = 0;
  #notLiveSince: number | undefined;
  /** Delivery progress: last confirmed progress and when it moved. */
  #lastProgress = 0;
  #lastProgressAt = 0;
  /** Samples of the current connection, oldest first: time, delivered bytes, link busy. */
  #rateSamples: Array<{ t: number; delivered: number; busy: boolean }> = [];
  #publishing: Promise<void> = Promise.resolve();

  constructor(options: RtmpDestinationOptions) {
    this.id = options.id;
    this.target = options.url.redacted;
    this.#opts = options;
    this.#reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#congestion = { ...DEFAULT_CONGESTION, ...options.congestion };
    this.#backpressure = options.backpressure ?? false;
  }

  get state(): DestinationState {
    return this.#state;
  }

  /**
   * The real backlog, ms: how long the oldest frame the ingest has not
   * received yet (in flight or queued here) has been waiting since this
   * destination was given it. 0 when not live. Wall time, not the media
   * time between oldest and newest: a client's burst (an encoder that holds
   * 1.5 s of frames and flushes them at once, a MediaRecorder timeslice)
   * spans media time but is no backlog until the link fails to carry it.
   */
  get backlogMs(): number {
    if (this.#state !== "live") return 0;
    const oldest = this.#oldestUndeliveredAt();
    return oldest === undefined ? 0 : Math.max(0, Math.round(performance.now() - oldest));
  }

  /** Bytes sent and not delivered, plus bytes queued here. */
  get backlogBytes(): number {
    if (this.#state !== "live") return 0;
    return (this.#publisher?.backlogBytes ?? 0) + this.#queuedBytes;
  }

  /**
   * Rate at which the ingest received this connection's bytes over the last
   * ~2 s, bits/s (undefined until there are 2 samples). While backlogged it
   * is the link's capacity; otherwise, what was sent.
   */
  get deliveryBitrate(): number | undefined {
    const s = this.#rateSamples;
    if (s.length < 2) return undefined;
    const dt = s[s.length - 1]!.t - s[0]!.t;
    if (dt < 500) return undefined;
    return ((s[s.length - 1]!.delivered - s[0]!.delivered) * 8 * 1000) / dt;
  }

  /**
   * What the link carries, bits/s: the delivery rate over the last ~2 s,
   * counting only the stretches during which the connection always had more
   * than two windows in flight (the link, not the sender, set the pace).
   * Undefined without 500 ms of such stretches: while congestion sheds
   * frames the sender is often what runs dry, and the rate then says
   * nothing about the link.
   */
  get linkBitrate(): number | undefined {
    const s = this.#rateSamples;
    let bytes = 0;
    let ms = 0;
    for (let i = 1; i < s.length; i++) {
      if (!s[i - 1]!.busy || !s[i]!.busy) continue;
      bytes += s[i]!.delivered - s[i - 1]!.delivered;
      ms += s[i]!.t - s[i - 1]!.t;
    }
    return ms >= 500 ? (bytes * 8 * 1000) / ms : undefined;
  }

  start(): void {
    this.#opts.events.state(this, { state: "connecting" });
    this.#connect();
  }

  setTracks(tracks: TrackSet): void {
    this.#tracks = tracks;
  }

  send(frame: SessionFrame): void {
    switch (this.#state) {
      case "connecting":
        return this.#keep(frame);
      case "live":
        return this.#accept(frame);
      case "reconnecting":
        this.#drop(frame);
        return;
      case "failed":
      case "ended":
        return;
    }
  }

  async stop(): Promise<void> {
    if (this.#state === "ended" || this.#state === "failed") return;
    this.#clearRetry();
    if (this.#state === "connecting") {
      // Deliver what the client already sent: finish connecting (bounded by
      // the publisher's start timeout), flush, then unpublish.
      await this.#publishing;
      if ((this.#state as DestinationState) !== "live") {
        if ((this.#state as DestinationState) === "connecting") this.#end();
        return;
      }
    }
    if (this.#state === "reconnecting") {
      this.#publisher?.destroy();
      this.#end();
      return;
    }
    // Live: hand over what waits here (already shed as the backlog asked),
    // then unpublish; the close is bounded, and what it could not deliver is
    // lost. A lossless (backpressure) client first gets its backlog delivered,
    // for as long as the link makes progress.
    const publisher = this.#publisher!;
    this.#pump(Number.POSITIVE_INFINITY);
    if (this.#backpressure) await this.#drained(publisher);
    if (this.#state !== "live" || publisher !== this.#publisher) {
      // Lost while draining: what it held is counted; end here.
      this.#publisher?.destroy();
      if ((this.#state as DestinationState) !== "failed") this.#end();
      return;
    }
    this.#stopWatch();
    this.#state = "ended"; // from here #lost ignores this publisher's failure
    const clean = await publisher.close().catch(() => false);
    if (!clean) this.#countLost(publisher);
    this.#bytesSent += publisher.stats().bytesSent;
    this.#publisher = undefined;
    this.#end();
  }

  /** Resolves once the ingest has everything, the link stops making progress, or the connection is gone. */
  #drained(publisher: RtmpPublisher): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        const done = publisher !== this.#publisher || this.#state !== "live" || publisher.backlogBytes === 0
          || performance.now() - this.#lastProgressAt >= this.#congestion.stallTimeoutMs;
        if (done) resolve();
        else setTimeout(check, 50).unref();
      };
      check();
    });
  }

  stats(): DestinationStats {
    const publisher = this.#publisher;
    const live = this.#state === "live";
    const rate = live ? this.deliveryBitrate : undefined;
    return {
      id: this.id,
      state: this.#state,
      bytesSent: this.#bytesSent + (publisher?.stats().bytesSent ?? 0),
      framesSent: this.#framesWritten - this.#framesLost,
      framesDropped: this.#framesDropped,
      framesLost: this.#framesLost,
      audioLost: this.#audioLost,
      keyframesLost: this.#keyframesLost,
      queuedMs: live ? this.backlogMs : 0,
      queuedBytes: live ? this.backlogBytes : 0,
      reconnects: this.#reconnects,
      notLiveMs: Math.round(this.#notLiveMs + (this.#notLiveSince !== undefined ? performance.now() - this.#notLiveSince : 0)),
      ...(publisher && live && { backlogSource: publisher.backlogSource }),
      ...(rate !== undefined && { deliveryBitrate: Math.round(rate) }),
    };
  }

  // --- connection attempts -------------------------------------------------

  #connect(): void {
    this.#clearRetry();
    const publisher = new RtmpPublisher({ ...this.#opts.publisher, url: this.#opts.url, core: this.#opts.core });
    this.#publisher = publisher;
    this.#sentGeneration = -1;
    this.#videoStarted = false;
    this.#dropping = false;
    this.#bytesReported = 0;
    this.#inFlight.length = 0;
    this.#inFlightHead = 0;
    this.#rateSamples = [];
    this.#lastProgress = 0;
    publisher.on("error", (err) => this.#lost(publisher, err));
    publisher.on("delivered", () => {
      if (publisher === this.#publisher && this.#state === "live") this.#pump(this.#congestion.maxInFlightMs);
    });
    this.#publishing = publisher.publish().then(
      () => {
        if (publisher !== this.#publisher) return;
        if (this.#state !== "connecting" && this.#state !== "reconnecting") return;
        const first = !this.#everLive;
        this.#everLive = true;
        this.#attempt = 0;
        this.#gateAll = !first;
        this.#state = "live";
        this.#closeNotLive();
        this.#lastProgressAt = performance.now();
        this.#startWatch();
        this.#opts.events.state(this, { state: "live" });
        if (first) this.#flushPending();
      },
      (err: unknown) => this.#lost(publisher, err),
    );
  }

  /** A connection failed or was lost: reconnect if the policy allows, else fail. */
  #lost(publisher: RtmpPublisher, err: unknown): void {
    if (publisher !== this.#publisher) return;
    if (this.#state === "ended" || this.#state === "failed") return;
    const wasLive = this.#state === "live";
    this.#stopWatch();
    if (wasLive) {
      this.#countLost(publisher);
      this.#dropQueue();
    }
    this.#bytesSent += publisher.stats().bytesSent;
    publisher.destroy();
    const code = err instanceof RtmpError ? err.code : "DESTINATION_ERROR";
    const message = err instanceof Error ? err.message : String(err);
    const now = performance.now();
    if (wasLive) {
      this.#lostAt = now;
      this.#reconnects++;
      this.#notLiveSince = now;
    }
    const { initialDelayMs, factor, maxDelayMs, jitter, retryForMs, maxAttempts } = this.#reconnect;
    const base = Math.min(maxDelayMs, initialDelayMs * Math.pow(factor, this.#attempt));
    const delay = Math.max(0, Math.min(maxDelayMs, Math.round(base * (1 + jitter * (Math.random() * 2 - 1)))));
    const withinTime = retryForMs > 0 && now - this.#lostAt + delay <= retryForMs;
    const retryable = this.#everLive && !FINAL_CODES.has(code);
    if (!retryable || this.#attempt >= maxAttempts || !withinTime) {
      this.#pending = [];
      this.#state = "failed";
      const gaveUp = retryable && this.#attempt > 0;
      const why = gaveUp ? `${message} (gave up after ${this.#attempt} attempts over ${Math.round((now - this.#lostAt) / 1000)} s)` : message;
      this.#opts.events.state(this, { state: "failed", code, message: why });
      return;
    }
    this.#attempt++;
    this.#state = "reconnecting";
    this.#opts.events.state(this, { state: "reconnecting", code, message, attempt: this.#attempt, retryInMs: delay });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === "reconnecting") this.#connect();
    }, delay);
    this.#retryTimer.unref();
    if (wasLive || UNREACHABLE_CODES.has(code)) this.#probe();
  }

  /** While reconnecting: try at once when the ingest's port answers again (see probeIntervalMs). */
  #probe(): void {
    const interval = this.#reconnect.probeIntervalMs;
    if (interval <= 0) return;
    const attempt = this.#attempt;
    const check = (): void => {
      this.#probeTimer = undefined;
      if (this.#state !== "reconnecting" || this.#attempt !== attempt) return;
      const started = performance.now();
      const { lookup, checkAddress } = this.#opts.publisher ?? {};
      void probeReachable(this.#opts.url, { ...(lookup && { lookup }), ...(checkAddress && { checkAddress }), timeoutMs: Math.max(interval, 1000) }).then((up) => {
        if (this.#state !== "reconnecting" || this.#attempt !== attempt) return;
        if (up) {
          this.#connect();
          return;
        }
        this.#probeTimer = setTimeout(check, Math.max(0, interval - (performance.now() - started)));
        this.#probeTimer.unref();
      });
    };
    this.#probeTimer = setTimeout(check, interval);
    this.#probeTimer.unref();
  }

  /** Ends the open not-live interval, if any. */
  #closeNotLive(): void {
    if (this.#notLiveSince === undefined) return;
    this.#notLiveMs += performance.now() - this.#notLiveSince;
    this.#notLiveSince = undefined;
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#retryTimer = undefined;
    this.#probeTimer = undefined;
  }

  #end(): void {
    this.#stopWatch();
    this.#clearRetry();
    this.#closeNotLive();
    this.#state = "ended";
    this.#pending = [];
    this.#dropQueue();
    this.#opts.events.state(this, { state: "ended" });
  }

  // --- watching a live connection -----------------------------------------

  #startWatch(): void {
    this.#stopWatch();
    this.#watchTimer = setInterval(() => this.#watch(), WATCH_MS);
    this.#watchTimer.unref();
  }

  #stopWatch(): void {
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    this.#watchTimer = undefined;
  }

  /** Samples the delivery rate; resets a connection that stopped delivering. */
  #watch(): void {
    const publisher = this.#publisher;
    if (!publisher || this.#state !== "live") return;
    const now = performance.now();
    const s = this.#rateSamples;
    const busy = publisher.backlogSource === "socket" ? publisher.queuedBytes > 0 : publisher.backlogBytes > 2 * publisher.ackWindow;
    s.push({ t: now, delivered: publisher.deliveredBytes, busy });
    while (s.length > 2 && now - s[0]!.t > RATE_WINDOW_MS) s.shift();
    const progress = publisher.progressBytes;
    if (progress !== this.#lastProgress || publisher.stuckBytes === 0) {
      this.#lastProgress = progress;
      this.#lastProgressAt = now;
      this.#pump(this.#congestion.maxInFlightMs);
      return;
    }
    const stalled = now - this.#lastProgressAt;
    if (stalled >= this.#congestion.stallTimeoutMs) {
      this.#lost(publisher, new RtmpError("DEST_STALLED", `nothing reached ${this.target} for ${(stalled / 1000).toFixed(1)} s with ${publisher.backlogBytes} bytes on the way: reconnecting`));
    }
  }

  // --- frames --------------------------------------------------------------

  #keep(frame: SessionFrame): void {
    if (this.#everLive) {
      this.#drop(frame);
      return;
    }
    if (frame.kind === "video" && !this.#pendingHasVideo) {
      if (!startsStream(frame, this.#tracks)) {
        this.#drop(frame);
        return;
      }
      this.#pendingHasVideo = true;
    }
    this.#pending.push(frame);
    this.#pendingBytes += frame.payload.byteLength;
    const max = this.#opts.maxPendingBytes ?? 32 * 1024 * 1024;
    if (this.#pendingBytes > max) {
      // Keep from the newest keyframe only: the ingest starts later, cleanly.
      let cut = this.#pending.length - 1;
      while (cut > 0 && !isRandomAccess(this.#pending[cut]!, this.#tracks)) cut--;
      // The only keyframe is the first frame kept: nothing to start from
      // later yet, so all of it goes and the next keyframe starts again (the
      // cap holds in every case).
      if (cut === 0) cut = this.#pending.length;
      const dropped = this.#pending.splice(0, cut);
      for (const f of dropped) {
        this.#drop(f);
        this.#pendingBytes -= f.payload.byteLength;
      }
      if (this.#pending.length === 0) this.#pendingHasVideo = false;
    }
  }

  #flushPending(): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const frame of pending) {
      if (this.#state !== "live") return;
      this.#accept(frame);
    }
  }

  /** A frame that will not reach the ingest: counted. */
  #drop(frame: SessionFrame): void {
    this.#framesDropped++;
    if (frame.kind === "audio") this.#audioLost++;
    else if (frame.keyframe) this.#keyframesLost++;
  }

  /** A live frame: through the start gates and the congestion policy into the queue, then to the socket. */
  #accept(frame: SessionFrame): void {
    const randomAccess = isRandomAccess(frame, this.#tracks);
    if (this.#gateAll && !randomAccess) {
      this.#drop(frame);
      return;
    }
    if (frame.kind === "video" && !this.#videoStarted) {
      if (!startsStream(frame, this.#tracks)) {
        this.#drop(frame);
        return;
      }
      this.#videoStarted = true;
    }
    this.#gateAll = false;
    // Before the ingest's first Acknowledgement the backlog counts everything
    // sent: shedding waits for a real measure (the in-flight limit still holds).
    const measured = this.#publisher?.backlogSource !== "pending";
    if (!this.#backpressure && measured && frame.kind === "video") {
      const over = this.backlogMs > this.#congestion.dropThresholdMs;
      if (frame.keyframe) {
        this.#dropping = over;
      } else if (this.#dropping || over) {
        if (!this.#dropping) this.#shedInterFrames();
        this.#dropping = true;
        this.#drop(frame);
        return;
      }
    }
    const at = performance.now();
    const publisher = this.#publisher!;
    if (this.#queueHead >= this.#queue.length && this.#fits(publisher, frame, this.#congestion.maxInFlightMs)) {
      // Nothing waits and the link keeps up: straight to the socket.
      this.#write(publisher, frame, this.#tracks, at);
      return;
    }
    this.#queue.push({ frame, tracks: this.#tracks, at });
    this.#queuedBytes += frame.payload.byteLength;
    this.#pump(this.#congestion.maxInFlightMs);
    if (this.#state !== "live" || this.#queueHead >= this.#queue.length) return;
    if (!this.#backpressure && measured && this.backlogMs > this.#congestion.maxQueuedMs) this.#shedGops();
    if (this.backlogBytes > this.#congestion.maxQueuedBytes) {
      this.#lost(publisher, new RtmpError("DEST_CONGESTED", `the link to ${this.target} cannot keep up: over ${this.#congestion.maxQueuedBytes} bytes undelivered; reconnecting`));
    }
  }

  /** Congestion began: every non-key video frame queued goes (the GOPs they belong to get nothing more until their next keyframe). */
  #shedInterFrames(): void {
    this.#shed((q) => q.frame.kind === "video" && !q.frame.keyframe);
  }

  /** Past the hard cap: every video frame queued before the newest queued keyframe goes; audio stays. */
  #shedGops(): void {
    let newestKey = -1;
    for (let i = this.#queue.length - 1; i >= this.#queueHead; i--) {
      const f = this.#queue[i]!.frame;
      if (f.kind === "video" && f.keyframe) {
        newestKey = i;
        break;
      }
    }
    if (newestKey <= this.#queueHead) return;
    this.#shed((q, i) => i < newestKey && q.frame.kind === "video");
  }

  /** Drops (and counts) the queued frames `drop` picks; the rest stay in order. */
  #shed(drop: (q: Queued, index: number) => boolean): void {
    const kept: Queued[] = [];
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      const q = this.#queue[i]!;
      if (drop(q, i)) this.#unqueue(q);
      else kept.push(q);
    }
    this.#queue = kept;
    this.#queueHead = 0;
  }

  #unqueue(q: Queued): void {
    this.#queuedBytes -= q.frame.payload.byteLength;
    this.#drop(q.frame);
  }

  #dropQueue(): void {
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#unqueue(this.#queue[i]!);
    this.#queue.length = 0;
    this.#queueHead = 0;
    this.#queuedBytes = 0;
  }

  /** Hands queued frames to the socket while less than `limitMs` of media is in flight. */
  #pump(limitMs: number): void {
    const publisher = this.#publisher;
    if (!publisher || this.#state !== "live") return;
    while (this.#queueHead < this.#queue.length) {
      const q = this.#queue[this.#queueHead]!;
      if (!this.#fits(publisher, q.frame, limitMs)) break;
      this.#queue[this.#queueHead++] = undefined as unknown as Queued;
      this.#queuedBytes -= q.frame.payload.byteLength;
      this.#write(publisher, q.frame, q.tracks, q.at);
      if (this.#state !== "live" || publisher !== this.#publisher) return;
    }
    if (this.#queueHead >= this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead >= 1024) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  /** The frame may go to the socket: less than `limitMs` of media would then be in flight. */
  #fits(publisher: RtmpPublisher, frame: SessionFrame, limitMs: number): boolean {
    const oldest = publisher.oldestUndeliveredTs;
    return oldest === undefined || frame.dtsMs - oldest < limitMs;
  }

  #oldestUndeliveredAt(): number | undefined {
    const publisher = this.#publisher;
    if (publisher) this.#forgetDelivered(publisher);
    if (this.#inFlightHead < this.#inFlight.length) return this.#inFlight[this.#inFlightHead + 1];
    return this.#queueHead < this.#queue.length ? this.#queue[this.#queueHead]!.at : undefined;
  }

  /** Frames of this connection still in flight are lost with it. */
  #countLost(publisher: RtmpPublisher): void {
    const delivered = publisher.deliveredBytes;
    const f = this.#inFlight;
    for (let i = this.#inFlightHead; i < f.length; i += 3) {
      if (f[i]! <= delivered) continue;
      this.#framesLost++;
      if (f[i + 2] === AUDIO) this.#audioLost++;
      else if (f[i + 2] === KEY) this.#keyframesLost++;
    }
    f.length = 0;
    this.#inFlightHead = 0;
  }

  /**
   * onMetaData and the sequence headers, stamped with the time of the frame
   * they precede: after a reconnect or a config change mid-stream that frame
   * is far from 0, and headers at 0 would step the connection's time back
   * (nginx-rtmp then records seconds of nothing before the first frame).
   */
  #sendHeaders(publisher: RtmpPublisher, tracks: TrackSet, timestamp: number): void {
    this.#sentGeneration = tracks.generation;
    publisher.sendMetadata(tracks.metadata);
    if (tracks.video) publisher.sendVideo(timestamp, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, tracks.video.config);
    if (tracks.audio) publisher.sendAudio(timestamp, { kind: "aac", packetType: 0 }, tracks.audio.config);
  }

  #write(publisher: RtmpPublisher, frame: SessionFrame, tracks: TrackSet | undefined, at: number): void {
    try {
      if (tracks && tracks.generation !== this.#sentGeneration) this.#sendHeaders(publisher, tracks, frame.dtsMs);
      if (frame.kind === "video") {
        publisher.sendVideo(frame.dtsMs, { kind: "avc", frameType: frame.keyframe ? 1 : 2, packetType: 1, cts: frame.ctsMs }, frame.payload);
      } else {
        publisher.sendAudio(frame.dtsMs, { kind: "aac", packetType: 1 }, frame.payload);
      }
      this.#framesWritten++;
      this.#inFlight.push(publisher.sentBytes, at, frame.kind === "audio" ? AUDIO : frame.keyframe ? KEY : INTER);
      this.#forgetDelivered(publisher);
      this.#opts.events.frameOut(this, frame);
      this.#reportBytes(publisher);
    } catch (err) {
      this.#lost(publisher, err);
    }
  }

  #forgetDelivered(publisher: RtmpPublisher): void {
    const f = this.#inFlight;
    if (this.#inFlightHead >= f.length) return;
    const delivered = publisher.deliveredBytes;
    while (this.#inFlightHead < f.length && f[this.#inFlightHead]! <= delivered) this.#inFlightHead += 3;
    if (this.#inFlightHead >= f.length) {
      f.length = 0;
      this.#inFlightHead = 0;
    } else if (this.#inFlightHead >= 3072) {
      f.splice(0, this.#inFlightHead);
      this.#inFlightHead = 0;
    }
  }

  #reportBytes(publisher: RtmpPublisher): void {
    const sent = publisher.bytesWritten;
    if (sent > this.#bytesReported) {
      this.#opts.events.bytesOut(this, sent - this.#bytesReported);
      this.#bytesReported = sent;
    }
  }
}
