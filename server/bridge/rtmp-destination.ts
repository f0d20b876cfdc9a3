/**
 * An RTMP(S) destination of a session: an RtmpPublisher per connection
 * attempt, plus the policies around it (numbers from OBS):
 *
 * - Start: while the first publish is being set up, frames are kept (from the
 *   first keyframe, bounded by bytes) so the ingest gets the stream from its
 *   start; once live it gets onMetaData, the sequence headers, the kept
 *   frames, then frames as they come.
 * - Congestion: past `dropThresholdMs` of media queued for the socket,
 *   non-key video is dropped until the next keyframe; audio and keyframes are
 *   never dropped; every drop is counted. Past the hard cap (`maxQueuedMs` or
 *   `maxQueuedBytes`) the connection is reset rather than let memory grow.
 * - Upstream loss: a destination that was live reconnects with backoff
 *   (2 s, x1.5, jitter, at most `maxAttempts` tries); the new publish starts
 *   at a keyframe with onMetaData and sequence headers, stamped with that
 *   keyframe's time, sent again. Refusals (publish denied, rejected connect,
 *   address not allowed, bad certificate) are final: retrying cannot fix
 *   them; "already publishing" (the ingest has not yet noticed the old
 *   connection is gone) is not one of them. The lost connection is reset,
 *   not closed: its unsent bytes must not keep the old publish alive.
 */
import type { DestinationState, DestinationStats } from "../../protocol/wire.js";
import type { Core } from "../../wasm/host/index.js";
import { RtmpError } from "../rtmp/rtmp-errors.js";
import { RtmpPublisher, type RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import type { RtmpUrl } from "../rtmp/rtmp-url.js";
import type { SessionFrame, TrackSet } from "./media-types.js";
import { isRandomAccess, startsStream, type Sink, type SinkEvents } from "./sink.js";

/** Reconnect policy (OBS: 2 s first delay, growing). */
export interface ReconnectPolicy {
  /** First delay, ms (default 2000). */
  initialDelayMs: number;
  /** Growth per attempt (default 1.5). */
  factor: number;
  /** Random spread, fraction of the delay (default 0.2). */
  jitter: number;
  /** Attempts before giving up (default 5; 0 = never reconnect). */
  maxAttempts: number;
}

/** Congestion policy (OBS drops at ~700 ms of backlog). */
export interface CongestionPolicy {
  /** Start dropping non-key video past this much queued media, ms (default 700). */
  dropThresholdMs: number;
  /** Reset the connection past this much queued media, ms (default 5000). */
  maxQueuedMs: number;
  /** Reset the connection past this many queued bytes (default 16 MiB). */
  maxQueuedBytes: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 2000, factor: 1.5, jitter: 0.2, maxAttempts: 5 };
export const DEFAULT_CONGESTION: CongestionPolicy = { dropThresholdMs: 700, maxQueuedMs: 5000, maxQueuedBytes: 16 * 1024 * 1024 };

/**
 * Failures that reconnecting cannot fix. Only a destination that was live
 * reconnects, so its name resolved and its key was accepted moments ago:
 * a failed lookup then is the network still being down, and BadName ("already
 * publishing") or a close in answer to publish is the ingest still holding
 * the dead connection's publish until it notices; both pass, and are retried
 * with the rest (within `maxAttempts`).
 */
const FINAL_CODES = new Set([
  "PUBLISH_DENIED", "PUBLISH_FAILED", "RTMP_CONNECT_REJECTED", "DEST_NOT_ALLOWED", "RTMP_BAD_URL", "RTMP_TLS_FAILED",
]);

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
}

export class RtmpDestination implements Sink {
  readonly id: string;
  readonly target: string;
  readonly #opts: RtmpDestinationOptions;
  readonly #reconnect: ReconnectPolicy;
  readonly #congestion: CongestionPolicy;
  #publisher: RtmpPublisher | undefined;
  #state: DestinationState = "connecting";
  #tracks: TrackSet | undefined;
  /** Generation of the tracks last sent on this connection (-1: none yet). */
  #sentGeneration = -1;
  /** Video may flow (a keyframe went out on this connection). */
  #videoStarted = false;
  /** After a reconnect: hold audio too until the first keyframe. */
  #gateAll = false;
  /** Congested: non-key video is dropped until the next keyframe. */
  #dropping = false;
  #everLive = false;
  #attempt = 0;
  #reconnects = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #pending: SessionFrame[] = [];
  #pendingBytes = 0;
  #pendingHasVideo = false;
  #framesSent = 0;
  #framesDropped = 0;
  #bytesSent = 0;
  #bytesReported = 0;
  #publishing: Promise<void> = Promise.resolve();

  constructor(options: RtmpDestinationOptions) {
    this.id = options.id;
    this.target = options.url.redacted;
    this.#opts = options;
    this.#reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#congestion = { ...DEFAULT_CONGESTION, ...options.congestion };
  }

  get state(): DestinationState {
    return this.#state;
  }

  /** Media time queued for the socket, ms (0 when not connected). */
  get queuedMs(): number {
    return this.#state === "live" ? (this.#publisher?.queuedMs ?? 0) : 0;
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
        return this.#write(frame);
      case "reconnecting":
        this.#framesDropped++;
        return;
      case "failed":
      case "ended":
        return;
    }
  }

  async stop(): Promise<void> {
    if (this.#state === "ended" || this.#state === "failed") return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
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
    this.#state = "ended";
    this.#pending = [];
    await this.#publisher?.close().catch(() => undefined);
    this.#end();
  }

  stats(): DestinationStats {
    const s = this.#publisher?.stats();
    return {
      id: this.id,
      state: this.#state,
      bytesSent: this.#bytesSent + (s?.bytesSent ?? 0),
      framesSent: this.#framesSent,
      framesDropped: this.#framesDropped,
      queuedMs: this.#state === "live" ? (s?.queuedMs ?? 0) : 0,
      queuedBytes: this.#state === "live" ? (s?.queuedBytes ?? 0) : 0,
      reconnects: this.#reconnects,
    };
  }

  // --- connection attempts -------------------------------------------------

  #connect(): void {
    const publisher = new RtmpPublisher({ ...this.#opts.publisher, url: this.#opts.url, core: this.#opts.core });
    this.#publisher = publisher;
    this.#sentGeneration = -1;
    this.#videoStarted = false;
    this.#dropping = false;
    this.#bytesReported = 0;
    publisher.on("error", (err) => this.#lost(publisher, err));
    this.#publishing = publisher.publish().then(
      () => {
        if (publisher !== this.#publisher) return;
        if (this.#state !== "connecting" && this.#state !== "reconnecting") return;
        const first = !this.#everLive;
        this.#everLive = true;
        this.#attempt = 0;
        this.#gateAll = !first;
        this.#state = "live";
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
    this.#bytesSent += publisher.stats().bytesSent;
    publisher.destroy();
    const code = err instanceof RtmpError ? err.code : "DESTINATION_ERROR";
    const message = err instanceof Error ? err.message : String(err);
    const retry = this.#everLive && !FINAL_CODES.has(code) && this.#attempt < this.#reconnect.maxAttempts;
    if (!retry) {
      this.#pending = [];
      this.#state = "failed";
      this.#opts.events.state(this, { state: "failed", code, message });
      return;
    }
    this.#attempt++;
    this.#reconnects++;
    const { initialDelayMs, factor, jitter } = this.#reconnect;
    const base = initialDelayMs * Math.pow(factor, this.#attempt - 1);
    const delay = Math.max(0, Math.round(base * (1 + jitter * (Math.random() * 2 - 1))));
    this.#state = "reconnecting";
    this.#opts.events.state(this, { state: "reconnecting", code, message, attempt: this.#attempt });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === "reconnecting") this.#connect();
    }, delay);
    this.#retryTimer.unref();
  }

  #end(): void {
    this.#state = "ended";
    this.#pending = [];
    this.#opts.events.state(this, { state: "ended" });
  }

  // --- frames --------------------------------------------------------------

  #keep(frame: SessionFrame): void {
    if (this.#everLive) {
      this.#framesDropped++;
      return;
    }
    if (frame.kind === "video" && !this.#pendingHasVideo) {
      if (!startsStream(frame, this.#tracks)) {
        this.#framesDropped++;
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
      const dropped = this.#pending.splice(0, cut);
      this.#framesDropped += dropped.length;
      for (const f of dropped) this.#pendingBytes -= f.payload.byteLength;
    }
  }

  #flushPending(): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const frame of pending) {
      if (this.#state !== "live") return;
      this.#write(frame);
    }
  }

  /**
   * onMetaData and the sequence headers, stamped with the time of the frame
   * they precede: after a reconnect or a config change mid-stream that frame
   * is far from 0, and headers at 0 would step the connection's time back
   * (nginx-rtmp then records seconds of nothing before the first frame).
   */
  #sendHeaders(publisher: RtmpPublisher, timestamp: number): void {
    const tracks = this.#tracks;
    if (!tracks || tracks.generation === this.#sentGeneration) return;
    this.#sentGeneration = tracks.generation;
    publisher.sendMetadata(tracks.metadata);
    if (tracks.video) publisher.sendVideo(timestamp, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, tracks.video.config);
    if (tracks.audio) publisher.sendAudio(timestamp, { kind: "aac", packetType: 0 }, tracks.audio.config);
  }

  #write(frame: SessionFrame): void {
    const publisher = this.#publisher;
    if (!publisher) return;
    try {
      const randomAccess = isRandomAccess(frame, this.#tracks);
      if (this.#gateAll && !randomAccess) {
        this.#framesDropped++;
        return;
      }
      if (frame.kind === "video" && !this.#videoStarted) {
        if (!startsStream(frame, this.#tracks)) {
          this.#framesDropped++;
          return;
        }
        this.#videoStarted = true;
      }
      this.#gateAll = false;
      if (frame.kind === "video") {
        const queued = publisher.queuedMs;
        if (frame.keyframe) this.#dropping = queued > this.#congestion.dropThresholdMs;
        else if (this.#dropping || queued > this.#congestion.dropThresholdMs) {
          // Congested: drop inter frames until the next keyframe.
          this.#dropping = true;
          this.#framesDropped++;
          return;
        }
      }
      if (this.#tracks && this.#tracks.generation !== this.#sentGeneration) this.#sendHeaders(publisher, frame.dtsMs);
      if (frame.kind === "video") {
        publisher.sendVideo(frame.dtsMs, { kind: "avc", frameType: frame.keyframe ? 1 : 2, packetType: 1, cts: frame.ctsMs }, frame.payload);
      } else {
        publisher.sendAudio(frame.dtsMs, { kind: "aac", packetType: 1 }, frame.payload);
      }
      this.#framesSent++;
      this.#opts.events.frameOut(this, frame);
      this.#reportBytes(publisher);
      const { maxQueuedMs, maxQueuedBytes } = this.#congestion;
      if (publisher.queuedMs > maxQueuedMs || publisher.queuedBytes > maxQueuedBytes) {
        this.#lost(publisher, new RtmpError("DEST_CONGESTED", `the link to ${this.target} cannot keep up: over ${maxQueuedMs} ms or ${maxQueuedBytes} bytes queued; reconnecting`));
      }
    } catch (err) {
      this.#lost(publisher, err);
    }
  }

  #reportBytes(publisher: RtmpPublisher): void {
    const sent = publisher.stats().bytesSent;
    if (sent > this.#bytesReported) {
      this.#opts.events.bytesOut(this, sent - this.#bytesReported);
      this.#bytesReported = sent;
    }
  }
}
