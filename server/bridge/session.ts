/**
 * One browser session: wire protocol in, RTMP destinations and a recording
 * out. The WebSocket layer hands it text and binary messages; it validates
 * them, puts frames on one timeline (ms from the first frame, monotonic per
 * track), interleaves audio and video, and fans frames out to its sinks.
 *
 * Failures from the client's side (malformed messages, unknown tracks, time
 * going backwards, bad codec configs) end this session through one funnel,
 * `#fail`, with a stable code, a readable message and a close code; a sink's
 * failure ends only that sink. Nothing here throws to the caller.
 */
import { randomBytes } from "node:crypto";
import {
  CloseCode, decodeClientMessage, decodeMediaFrame, WireError, WireErrorCode,
  type BridgeMessage, type ConfigMessage, type DestinationStats, type StartMessage,
} from "../../protocol/wire.js";
import { GoliveError } from "../../protocol/errors.js";
import type { Core } from "../../wasm/host/index.js";
import type { RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import { parseRtmpUrl } from "../rtmp/rtmp-url.js";
import { Interleaver } from "./interleaver.js";
import type { SessionFrame, Track, TrackSet } from "./media-types.js";
import { Recorder } from "./recorder.js";
import { RtmpDestination } from "./rtmp-destination.js";
import type { Sink, SinkEvents, SinkStateChange } from "./sink.js";
import { buildTrack, buildTrackSet } from "./tracks.js";

/** Where the session is. */
export type SessionState =
  /** Connected; waiting for "start". */
  | "awaitingStart"
  /** Started: configs and media flow. */
  | "active"
  /** Stopping sinks (after "stop", a failure, or the socket closing). */
  | "ending"
  /** Over. */
  | "ended";

/** Options with defaults, shared by every session of a bridge. */
export interface SessionLimits {
  /** Most destinations per session (default 4). */
  maxDestinations: number;
  /** Largest media payload, bytes (default 4 MiB). */
  maxFrameBytes: number;
  /** Longest a frame waits for a lagging track, ms (default 1000). */
  reorderWindowMs: number;
  /** How far a track's time may step back before it is an error, ms (default 100); smaller steps are clamped. */
  timestampToleranceMs: number;
  /** Period of "stats" messages, ms (default 1000; 0 = none). */
  statsIntervalMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxDestinations: 4,
  maxFrameBytes: 4 * 1024 * 1024,
  reorderWindowMs: 1000,
  timestampToleranceMs: 100,
  statsIntervalMs: 1000,
};

/** Hooks the bridge gives each session. */
export interface SessionHost {
  core: Core;
  limits: SessionLimits;
  /** Where recordings go. */
  recordDir: string;
  /** Record when the client names no destination (default on: makes `npm start` useful alone). */
  recordWhenNoDestination: boolean;
  /** Options for every RTMP publisher (timeouts, address policy, CA). */
  publisher: Partial<RtmpPublisherOptions>;
  /** Sends a control message to the client. */
  send(message: BridgeMessage): void;
  /** Closes the WebSocket. */
  close(code: number, reason: string): void;
  /** Structured log (never given stream keys). */
  log(level: "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): void;
  /** Metrics hooks. */
  onBytesIn?(bytes: number): void;
  onFrameIn?(kind: "video" | "audio"): void;
  onBytesOut?(sinkKind: "rtmp" | "recording", bytes: number): void;
  onFrameOut?(sinkKind: "rtmp" | "recording", frame: SessionFrame): void;
  onDestinationState?(change: SinkStateChange): void;
  onEnded?(session: Session, outcome: "stopped" | "failed" | "disconnected"): void;
}

export class Session {
  readonly id: string;
  readonly resumeToken: string;
  readonly #host: SessionHost;
  #state: SessionState = "awaitingStart";
  readonly #sinks: Sink[] = [];
  readonly #tracks = new Map<number, Track>();
  #trackSet: TrackSet | undefined;
  #generation = 0;
  readonly #interleaver: Interleaver<SessionFrame>;
  /** First frame's timestamp, µs: the session's time zero. */
  #t0: number | undefined;
  readonly #lastDts = new Map<number, number>();
  #newestMs = 0;
  #bytesIn = 0;
  #framesIn = 0;
  #framesBeforeStart = 0;
  #statsTimer: NodeJS.Timeout | undefined;

  constructor(host: SessionHost) {
    this.#host = host;
    this.id = `s_${randomBytes(9).toString("base64url")}`;
    this.resumeToken = randomBytes(24).toString("base64url");
    this.#interleaver = new Interleaver(host.limits.reorderWindowMs);
  }

  get state(): SessionState {
    return this.#state;
  }

  /** A text frame from the client. */
  handleText(text: string): void {
    if (this.#state === "ending" || this.#state === "ended") return;
    try {
      const msg = decodeClientMessage(text);
      switch (msg.type) {
        case "start":
          return this.#start(msg);
        case "config":
          return this.#config(msg);
        case "stop":
          void this.#end("stopped");
          return;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A binary frame from the client. */
  handleBinary(bytes: Uint8Array): void {
    if (this.#state === "ending" || this.#state === "ended") return;
    try {
      this.#media(bytes);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The WebSocket closed: end the session (the destinations unpublish cleanly). */
  handleClose(): void {
    if (this.#state === "ending" || this.#state === "ended") return;
    void this.#end("disconnected");
  }

  /** Ends the session from the bridge's side (shutdown). */
  async shutdown(code: number, reason: string): Promise<void> {
    if (this.#state === "ending" || this.#state === "ended") return;
    this.#host.send({ type: "error", code: "BRIDGE_SHUTTING_DOWN", message: reason, fatal: true });
    await this.#end("stopped", { code, reason });
  }

  /** Per-sink counters. */
  stats(): DestinationStats[] {
    return this.#sinks.map((s) => s.stats());
  }

  // --- control messages ------------------------------------------------------

  #start(msg: StartMessage): void {
    if (this.#state !== "awaitingStart") throw new WireError(WireErrorCode.AlreadyStarted, "the session has already started");
    const { limits } = this.#host;
    if (msg.destinations.length > limits.maxDestinations) {
      throw new WireError(WireErrorCode.TooManyDestinations, `at most ${limits.maxDestinations} destinations per session, got ${msg.destinations.length}`, CloseCode.LimitExceeded);
    }
    this.#state = "active";
    const events = this.#sinkEvents();
    const failedAtOnce: Array<{ sink: Sink; code: string; message: string }> = [];
    for (const d of msg.destinations) {
      let url;
      try {
        url = parseRtmpUrl(d.url, d.key);
      } catch (err) {
        const e = err instanceof GoliveError ? err : new GoliveError("RTMP_BAD_URL", String(err));
        failedAtOnce.push({ sink: new FailedSink(d.id, "(invalid URL)"), code: e.code, message: e.message });
        continue;
      }
      this.#sinks.push(new RtmpDestination({ id: d.id, url, core: this.#host.core, events, publisher: this.#host.publisher }));
    }
    const record = msg.record ?? (msg.destinations.length === 0 && this.#host.recordWhenNoDestination);
    let recorder: Recorder | undefined;
    if (record) {
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      recorder = new Recorder({ dir: this.#host.recordDir, fileName: `${stamp}-${this.id}.flv`, core: this.#host.core, events });
      this.#sinks.push(recorder);
    }
    if (this.#sinks.length === 0 && failedAtOnce.length === 0) {
      throw new WireError(WireErrorCode.NoDestinations, "no destination given and recording is off: nothing to publish to", CloseCode.ProtocolError);
    }
    this.#host.send({
      type: "accepted",
      session: this.id,
      resumeToken: this.resumeToken,
      resumed: false,
      destinations: [...this.#sinks, ...failedAtOnce.map((f) => f.sink)].filter((s) => s !== recorder).map((s) => ({ id: s.id, url: s.target })),
      ...(recorder && { recording: recorder.target }),
      limits: { maxFrameBytes: limits.maxFrameBytes, maxDestinations: limits.maxDestinations },
    });
    this.#host.log("info", "session started", { session: this.id, destinations: this.#sinks.map((s) => s.target), client: msg.client });
    for (const f of failedAtOnce) {
      this.#host.send({ type: "destination", id: f.sink.id, state: "failed", code: f.code, message: f.message });
      this.#host.onDestinationState?.({ state: "failed", code: f.code });
    }
    if (this.#sinks.length === 0) {
      throw new WireError(WireErrorCode.AllDestinationsFailed, "every destination failed", CloseCode.AllDestinationsFailed);
    }
    for (const sink of this.#sinks) sink.start();
    if (limits.statsIntervalMs > 0) {
      this.#statsTimer = setInterval(() => this.#sendStats(), limits.statsIntervalMs);
      this.#statsTimer.unref();
    }
  }

  #config(msg: ConfigMessage): void {
    if (this.#state !== "active") throw new WireError(WireErrorCode.NotStarted, "config before start");
    const track = buildTrack(msg);
    for (const t of this.#tracks.values()) {
      if (t.track !== track.track && t.kind === track.kind) {
        throw new WireError(WireErrorCode.BadMessage, `track ${track.track}: a session carries one ${track.kind} track (track ${t.track} is already ${t.kind})`);
      }
    }
    this.#tracks.set(track.track, track);
    this.#interleaver.addTrack(String(track.track));
    this.#trackSet = buildTrackSet([...this.#tracks.values()], ++this.#generation);
    for (const sink of this.#sinks) sink.setTracks(this.#trackSet);
  }

  // --- media -------------------------------------------------------------------

  #media(bytes: Uint8Array): void {
    if (this.#state !== "active") throw new WireError(WireErrorCode.NotStarted, "media before start");
    const receivedAt = process.hrtime.bigint();
    const frame = decodeMediaFrame(bytes);
    this.#bytesIn += bytes.byteLength;
    this.#framesIn++;
    this.#host.onBytesIn?.(bytes.byteLength);
    const track = this.#tracks.get(frame.track);
    if (!track) {
      throw new WireError(this.#tracks.size === 0 ? WireErrorCode.MediaBeforeConfig : WireErrorCode.UnknownTrack, `media on track ${frame.track}, which has no config`);
    }
    if (frame.payload.byteLength > this.#host.limits.maxFrameBytes) {
      throw new WireError(WireErrorCode.FrameTooLarge, `a ${frame.payload.byteLength}-byte frame is over the ${this.#host.limits.maxFrameBytes}-byte limit`, CloseCode.LimitExceeded);
    }
    this.#host.onFrameIn?.(track.kind);
    this.#t0 ??= frame.timestampUs;
    let dtsMs = Math.round((frame.timestampUs - this.#t0) / 1000);
    const ptsMs = Math.round((frame.timestampUs + frame.compositionUs - this.#t0) / 1000);
    const last = this.#lastDts.get(frame.track);
    if (last === undefined && dtsMs < 0) {
      this.#framesBeforeStart++; // e.g. audio captured just before the first video frame
      return;
    }
    if (last !== undefined && dtsMs < last) {
      if (last - dtsMs > this.#host.limits.timestampToleranceMs) {
        throw new WireError(WireErrorCode.TimeWentBackwards, `track ${frame.track} went back in time by ${last - dtsMs} ms (tolerance ${this.#host.limits.timestampToleranceMs} ms)`);
      }
      dtsMs = last; // jitter within tolerance: clamp
    }
    if (dtsMs > 0x7fffffff) throw new WireError(WireErrorCode.BadFrame, "session time passed 2^31 ms");
    this.#lastDts.set(frame.track, dtsMs);
    if (dtsMs > this.#newestMs) this.#newestMs = dtsMs;
    const out: SessionFrame = {
      kind: track.kind,
      keyframe: track.kind === "audio" || frame.keyframe,
      dtsMs,
      ctsMs: ptsMs - dtsMs,
      payload: frame.payload,
      receivedAt,
    };
    for (const f of this.#interleaver.push(String(frame.track), dtsMs, out)) this.#fanOut(f);
  }

  #fanOut(frame: SessionFrame): void {
    for (const sink of this.#sinks) sink.send(frame);
  }

  // --- sinks -------------------------------------------------------------------

  #sinkEvents(): SinkEvents {
    return {
      state: (sink, change) => {
        if (this.#state === "ended") return;
        this.#host.send({ type: "destination", id: sink.id, ...change });
        this.#host.onDestinationState?.(change);
        this.#host.log(change.state === "failed" ? "warn" : "info", "destination state", {
          session: this.id, destination: sink.id, target: sink.target, state: change.state, code: change.code, reason: change.message,
        });
        if (change.state === "failed" && this.#state === "active" && this.#sinks.every((s) => s.state === "failed")) {
          this.#fail(new WireError(WireErrorCode.AllDestinationsFailed, "every destination failed", CloseCode.AllDestinationsFailed));
        }
      },
      bytesOut: (sink, bytes) => this.#host.onBytesOut?.(sink instanceof Recorder ? "recording" : "rtmp", bytes),
      frameOut: (sink, frame) => this.#host.onFrameOut?.(sink instanceof Recorder ? "recording" : "rtmp", frame),
    };
  }

  #sendStats(): void {
    if (this.#state !== "active") return;
    this.#host.send({ type: "stats", mediaTimeMs: this.#newestMs, bytesIn: this.#bytesIn, framesIn: this.#framesIn, destinations: this.stats() });
  }

  // --- the end -----------------------------------------------------------------

  /** The one failure funnel: report once, stop every sink, close. */
  #fail(err: unknown): void {
    if (this.#state === "ending" || this.#state === "ended") return;
    const wire = err instanceof WireError ? err : undefined;
    const golive = err instanceof GoliveError ? err : undefined;
    const code = wire?.code ?? golive?.code ?? "INTERNAL_ERROR";
    const message = err instanceof Error ? err.message : String(err);
    const closeCode = wire?.closeCode ?? (golive ? CloseCode.ProtocolError : CloseCode.InternalError);
    this.#host.log(golive ? "warn" : "error", "session failed", { session: this.id, code, reason: message });
    this.#host.send({ type: "error", code, message, fatal: true });
    void this.#end("failed", { code: closeCode, reason: code });
  }

  async #end(outcome: "stopped" | "failed" | "disconnected", close?: { code: number; reason: string }): Promise<void> {
    if (this.#state === "ending" || this.#state === "ended") return;
    const wasActive = this.#state === "active";
    this.#state = "ending";
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    if (wasActive && outcome !== "failed") for (const f of this.#interleaver.flush()) this.#fanOut(f);
    await Promise.all(this.#sinks.map((s) => s.stop()));
    if (outcome === "stopped" && wasActive) {
      this.#host.send({ type: "stats", mediaTimeMs: this.#newestMs, bytesIn: this.#bytesIn, framesIn: this.#framesIn, destinations: this.stats() });
    }
    this.#state = "ended";
    if (outcome !== "failed") this.#host.send({ type: "ended", reason: outcome });
    this.#host.log("info", "session ended", { session: this.id, outcome, framesIn: this.#framesIn, framesBeforeStart: this.#framesBeforeStart });
    this.#host.onEnded?.(this, outcome);
    this.#host.close(close?.code ?? CloseCode.Normal, close?.reason ?? outcome);
  }
}

/** Placeholder for a destination that failed before it existed (bad URL). */
class FailedSink implements Sink {
  readonly state = "failed" as const;
  constructor(readonly id: string, readonly target: string) {}
  start(): void {}
  setTracks(): void {}
  send(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  stats(): DestinationStats {
    return { id: this.id, state: "failed", bytesSent: 0, framesSent: 0, framesDropped: 0, queuedMs: 0, queuedBytes: 0, reconnects: 0 };
  }
}
