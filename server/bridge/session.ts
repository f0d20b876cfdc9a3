/**
 * One browser session: wire protocol in, RTMP destinations and a recording
 * out. The WebSocket layer hands it text and binary messages; it validates
 * them, puts frames on one timeline (ms from the first frame, monotonic per
 * track), interleaves audio and video, and fans frames out to its sinks.
 *
 * Failures from the client's side (malformed messages, unknown tracks, time
 * going backwards, bad codec configs, limits) end this session through one
 * funnel, `#fail`, with a stable code, a readable message and a close code; a
 * sink's failure ends only that sink. Nothing here throws to the caller.
 *
 * The session outlives its WebSocket: when the link drops without "stop" it
 * is detached for `resumeGraceMs`, its destinations stay published, and a new
 * WebSocket presenting the resume token takes it over (the ingest sees one
 * continuous stream). It also watches its destinations' backlog and advises
 * the client to lower its bitrate early (OBS-style dynamic bitrate).
 */
import { randomBytes } from "node:crypto";
import {
  CloseCode, decodeClientMessage, decodeMediaFrame, WireError, WireErrorCode,
  type BridgeMessage, type ConfigMessage, type DestinationStats, type StartMessage,
} from "../../protocol/wire.js";
import { GoliveError } from "../../protocol/errors.js";
import type { Core } from "../../wasm/host/index.js";
import { parseAudioSpecificConfig } from "../media/aac.js";
import type { RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import type { Authorisation, DestinationPolicy } from "../security/policy.js";
import { BitrateAdvisor } from "./bitrate-advisor.js";
import { Interleaver } from "./interleaver.js";
import type { SessionFrame, Track, TrackSet } from "./media-types.js";
import { Recorder } from "./recorder.js";
import { RtmpDestination, type RtmpDestinationOptions } from "./rtmp-destination.js";
import type { Sink, SinkEvents, SinkStateChange } from "./sink.js";
import { buildTrack, buildTrackSet } from "./tracks.js";

/** Where the session is. */
export type SessionState =
  /** Connected; waiting for "start". */
  | "awaitingStart"
  /** "start" received; authorising it (later messages wait in order). */
  | "authorising"
  /** Started: configs and media flow. */
  | "active"
  /** The WebSocket dropped; waiting for a resume within the grace period. */
  | "detached"
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
  /** How long a dropped session waits for its client to resume, ms (default 10,000; 0 = end at once). */
  resumeGraceMs: number;
  /** From connection to "start", ms (default 10,000). */
  startTimeoutMs: number;
  /** From "start" to the first media frame, ms (default 30,000). */
  firstMediaTimeoutMs: number;
  /** Longest silence from an active client, ms (default 20,000). */
  idleTimeoutMs: number;
  /** Most media bits per second sustained over `bitrateWindowMs` (default 25 Mbit/s). */
  maxBitrate: number;
  /** Window of the bitrate limit, ms (default 5000). */
  bitrateWindowMs: number;
  /** Advise a lower bitrate past this much backlog on a destination, ms (default 200). */
  adviceThresholdMs: number;
  /** Calm (no backlog, no reconnect) before each step up of the advice, ms (default 10,000). */
  adviceCalmMs: number;
  /** A measured link capacity caps the advice for this long, ms (default 300,000). */
  adviceProbeAfterMs: number;
  /** Lowest advised bitrate, bits/s (default 0: 15 % of the client's configured bitrate). */
  adviceFloorBitrate: number;
  /** Highest advised bitrate, bits/s (default 0: the client's configured bitrate). */
  adviceCeilingBitrate: number;
  /** For a session with `backpressure`: stop reading its client past this much backlog on a destination, ms (default 1000). */
  backpressureMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxDestinations: 4,
  maxFrameBytes: 4 * 1024 * 1024,
  reorderWindowMs: 1000,
  timestampToleranceMs: 100,
  statsIntervalMs: 1000,
  resumeGraceMs: 10_000,
  startTimeoutMs: 10_000,
  firstMediaTimeoutMs: 30_000,
  idleTimeoutMs: 20_000,
  maxBitrate: 25_000_000,
  bitrateWindowMs: 5000,
  adviceThresholdMs: 200,
  adviceCalmMs: 10_000,
  adviceProbeAfterMs: 300_000,
  adviceFloorBitrate: 0,
  adviceCeilingBitrate: 0,
  backpressureMs: 1000,
};

/** One WebSocket's side of a session: replaced on resume. */
export interface SessionLink {
  send(message: BridgeMessage): void;
  close(code: number, reason: string): void;
  /** Stop / start reading the client's messages (backpressure). */
  pause?(): void;
  resume?(): void;
}

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
  /** Reconnect and congestion policies of RTMP destinations. */
  destination?: Pick<RtmpDestinationOptions, "reconnect" | "congestion">;
  /** Who may publish where. */
  policy: DestinationPolicy;
  /** Decides a "start" instead of `policy` (an app's authorize hook). */
  authorise?(start: StartMessage): Promise<Authorisation>;
  /** After authorising a start: a refusal (e.g. the per-user limit), or undefined to go on. */
  admit?(session: Session, auth: Authorisation): Promise<WireError | undefined>;
  /** End sessions when their token expires (warned a minute before). */
  endAtTokenExpiry?: boolean;
  /** Structured log (never given stream keys). */
  log(level: "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): void;
  /** Metrics hooks. */
  onBytesIn?(bytes: number): void;
  onFrameIn?(kind: "video" | "audio"): void;
  onBytesOut?(sinkKind: "rtmp" | "recording", bytes: number): void;
  onFrameOut?(sinkKind: "rtmp" | "recording", frame: SessionFrame): void;
  onDestinationState?(change: SinkStateChange, sink: { id: string; target: string }): void;
  /** The session was authorised and its destinations are opening. */
  onStarted?(session: Session, started: { destinations: Array<{ id: string; target: string }>; recording?: string; subject?: string }): void;
  onEnded?(session: Session, outcome: "stopped" | "failed" | "disconnected"): void;
  onFramesDropped?(count: number): void;
}

export class Session {
  readonly id: string;
  readonly resumeToken: string;
  readonly #host: SessionHost;
  #link: SessionLink;
  #state: SessionState = "awaitingStart";
  readonly #sinks: Sink[] = [];
  readonly #tracks = new Map<number, Track>();
  #trackSet: TrackSet | undefined;
  #generation = 0;
  readonly #interleaver: Interleaver<SessionFrame>;
  /** Releases frames the interleaver holds for a track that is overdue (see #armRelease). */
  #releaseTimer: NodeJS.Timeout | undefined;
  /** performance.now() the release timer is set for. */
  #releaseAt = Number.POSITIVE_INFINITY;
  /** First frame's timestamp, µs: the session's time zero. */
  #t0: number | undefined;
  readonly #lastDts = new Map<number, number>();
  #newestMs = 0;
  #bytesIn = 0;
  #framesIn = 0;
  #framesBeforeStart = 0;
  /** Messages that arrived while "start" was being authorised. */
  #waiting: Array<{ text: string } | { bytes: Uint8Array }> = [];
  #statsTimer: NodeJS.Timeout | undefined;
  /** Token expiry: the warning and the end (endAtTokenExpiry). */
  #expiryTimers: NodeJS.Timeout[] = [];
  #deadline: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #lastMessageAt = Date.now();
  /** Media bytes per 1/10 of the bitrate window, newest last. */
  #rateBuckets: number[] = [];
  #rateBucketStart = Date.now();
  /** Congestion advice (created with the first video config). */
  #advisor: BitrateAdvisor | undefined;
  /** Media bytes in per kind, and samples [time, video, audio] per tick for the input rates. */
  #videoBytesIn = 0;
  #audioBytesIn = 0;
  #rateSamples: number[] = [];
  /** Ending after "stop" (or a shutdown): stats go on until the destinations are done. */
  #stopping = false;
  /** The client wants backpressure instead of shedding. */
  #backpressure = false;
  /** Reading the client is paused (backpressure); the timer that checks for resuming. */
  #paused = false;
  #pauseTimer: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, link: SessionLink) {
    this.#host = host;
    this.#link = link;
    this.id = `s_${randomBytes(9).toString("base64url")}`;
    this.resumeToken = randomBytes(24).toString("base64url");
    this.#interleaver = new Interleaver(host.limits.reorderWindowMs);
    this.#setDeadline(host.limits.startTimeoutMs, "TIMEOUT_NO_START", "no start message");
  }

  get state(): SessionState {
    return this.#state;
  }

  /** A text frame from the client. */
  handleText(text: string): void {
    if (this.#isOver()) return;
    this.#lastMessageAt = Date.now();
    if (this.#state === "authorising") {
      this.#queue({ text });
      return;
    }
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
    if (this.#isOver()) return;
    this.#lastMessageAt = Date.now();
    if (this.#state === "authorising") {
      this.#queue({ bytes });
      return;
    }
    try {
      this.#media(bytes);
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * The WebSocket closed. An active session is kept for the grace period
   * (its destinations stay live) in case the client resumes; otherwise it
   * ends, unpublishing cleanly.
   */
  handleClose(link: SessionLink): void {
    if (link !== this.#link) return; // an old socket closing after a resume
    if (this.#isOver() || this.#state === "detached") return;
    const grace = this.#host.limits.resumeGraceMs;
    if (this.#state !== "active" || grace <= 0) {
      void this.#end("disconnected");
      return;
    }
    this.#state = "detached";
    this.#clearDeadline();
    this.#link = { send: () => undefined, close: () => undefined };
    this.#host.log("info", "session detached", { session: this.id, graceMs: grace });
    this.#graceTimer = setTimeout(() => void this.#end("disconnected"), grace);
    this.#graceTimer.unref();
  }

  /**
   * True while a client may take this session over with its resume token:
   * detached, or still active (the client may notice a dead connection
   * before the bridge does).
   */
  get resumable(): boolean {
    return this.#state === "detached" || this.#state === "active";
  }

  /** A new WebSocket presented the resume token: continue on it. */
  resume(link: SessionLink): void {
    if (!this.resumable) throw new TypeError("only an active or detached session can be resumed");
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    const old = this.#link;
    this.#link = link;
    if (this.#paused) link.pause?.();
    old.close(CloseCode.ProtocolError, "SUPERSEDED");
    this.#state = "active";
    this.#lastMessageAt = Date.now();
    this.#armIdle();
    this.#link.send(this.#accepted(true));
    for (const sink of this.#sinks) this.#link.send({ type: "destination", id: sink.id, state: sink.state });
    this.#host.log("info", "session resumed", { session: this.id });
  }

  /** Ends the session from the bridge's side (shutdown): the client should reconnect elsewhere. */
  async shutdown(code: number, reason: string, move = false): Promise<void> {
    if (this.#isOver()) return;
    // Draining: say so first, so the client starts again through its load balancer at once.
    if (move) this.#link.send({ type: "move", reason });
    this.#link.send({ type: "error", code: "BRIDGE_SHUTTING_DOWN", message: reason, fatal: true });
    await this.#end("stopped", { code, reason: "BRIDGE_SHUTTING_DOWN" });
  }

  /** Per-sink counters. */
  stats(): DestinationStats[] {
    return this.#sinks.map((s) => s.stats());
  }

  #isOver(): boolean {
    return this.#state === "ending" || this.#state === "ended";
  }

  #queue(item: { text: string } | { bytes: Uint8Array }): void {
    this.#waiting.push(item);
    if (this.#waiting.length > 1000) {
      this.#fail(new WireError("TOO_MANY_EARLY_MESSAGES", "more than 1000 messages before the session was authorised", CloseCode.LimitExceeded));
    }
  }

  // --- control messages ------------------------------------------------------

  #start(msg: StartMessage): void {
    if (this.#state !== "awaitingStart") throw new WireError(WireErrorCode.AlreadyStarted, "the session has already started");
    if (msg.resume !== undefined) {
      throw new WireError("RESUME_NOT_FOUND", "no session to resume with that token on this bridge (it ended, its grace period passed, or another bridge holds it): start a new one", CloseCode.SessionNotHere);
    }
    const { limits } = this.#host;
    if (msg.destinations.length > limits.maxDestinations) {
      throw new WireError(WireErrorCode.TooManyDestinations, `at most ${limits.maxDestinations} destinations per session, got ${msg.destinations.length}`, CloseCode.LimitExceeded);
    }
    if (msg.interleaved === true) this.#interleaver.windowMs = 0; // the client already sends in time order
    this.#backpressure = msg.backpressure === true;
    this.#state = "authorising";
    this.#clearDeadline();
    const authorised = (this.#host.authorise ? this.#host.authorise(msg) : this.#host.policy.authorise(msg))
      .then(async (auth) => ({ auth, refusal: this.#state === "authorising" ? await this.#host.admit?.(this, auth) : undefined }));
    authorised.then(
      ({ auth, refusal }) => {
        if (this.#state !== "authorising") return;
        if (refusal) {
          this.#fail(refusal);
          return;
        }
        if (this.#host.endAtTokenExpiry && auth.expiresAt !== undefined) this.#armExpiry(auth.expiresAt);
        try {
          this.#open(msg, auth);
        } catch (err) {
          this.#fail(err);
          return;
        }
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const item of waiting) {
          if ("text" in item) this.handleText(item.text);
          else this.handleBinary(item.bytes);
        }
      },
      (err: unknown) => this.#fail(err),
    );
  }

  #open(msg: StartMessage, auth: Authorisation): void {
    const { limits } = this.#host;
    this.#state = "active";
    const events = this.#sinkEvents();
    const failedAtOnce: Array<{ sink: Sink; code: string; message: string }> = [];
    for (const d of auth.destinations) {
      if ("error" in d) {
        failedAtOnce.push({ sink: new FailedSink(d.id, "(not opened)"), code: d.error.code, message: d.error.message });
        continue;
      }
      this.#sinks.push(new RtmpDestination({
        id: d.id, url: d.url, core: this.#host.core, events, publisher: this.#host.publisher, ...this.#host.destination, backpressure: this.#backpressure,
      }));
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
    this.#failedAtOnce = failedAtOnce.map((f) => f.sink);
    this.#recording = recorder?.target;
    this.#link.send(this.#accepted(false));
    this.#host.log("info", "session started", { session: this.id, destinations: this.#sinks.map((s) => s.target), client: msg.client, subject: auth.subject });
    this.#host.onStarted?.(this, {
      destinations: [...this.#sinks.filter((s) => s !== recorder), ...this.#failedAtOnce].map((s) => ({ id: s.id, target: s.target })),
      ...(recorder && { recording: recorder.target }),
      ...(auth.subject !== undefined && { subject: auth.subject }),
    });
    for (const f of failedAtOnce) {
      this.#link.send({ type: "destination", id: f.sink.id, state: "failed", code: f.code, message: f.message });
      this.#host.onDestinationState?.({ state: "failed", code: f.code, message: f.message }, f.sink);
    }
    if (this.#sinks.length === 0) {
      const only = failedAtOnce.length === 1 ? failedAtOnce[0] : undefined;
      if (only && only.code === "DEST_NOT_ALLOWED") throw new WireError(only.code, only.message, CloseCode.Forbidden);
      throw new WireError(WireErrorCode.AllDestinationsFailed, "every destination failed", CloseCode.AllDestinationsFailed);
    }
    for (const sink of this.#sinks) sink.start();
    if (limits.statsIntervalMs > 0) {
      this.#statsTimer = setInterval(() => this.#tick(), limits.statsIntervalMs);
      this.#statsTimer.unref();
    }
    this.#setDeadline(limits.firstMediaTimeoutMs, "TIMEOUT_NO_MEDIA", "no media");
  }

  /** Warns a minute before the token expires, and ends the session when it does. */
  #armExpiry(expiresAt: number): void {
    const left = expiresAt - Date.now();
    const warnIn = Math.max(0, left - 60_000);
    const warn = setTimeout(() => {
      const s = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
      this.#link.send({ type: "error", code: "TOKEN_EXPIRING", message: `the token expires in ${s} s: the session ends then (start a new one with a fresh token)`, fatal: false });
    }, warnIn);
    const end = setTimeout(() => this.#fail(new WireError("TOKEN_EXPIRED", "the token has expired: the session ends", CloseCode.Forbidden)), Math.max(0, left));
    warn.unref();
    end.unref();
    this.#expiryTimers.push(warn, end);
  }

  #failedAtOnce: Sink[] = [];
  #recording: string | undefined;

  #accepted(resumed: boolean): BridgeMessage {
    const limits = this.#host.limits;
    return {
      type: "accepted",
      session: this.id,
      resumeToken: this.resumeToken,
      resumed,
      destinations: [...this.#sinks, ...this.#failedAtOnce].filter((s) => !(s instanceof Recorder)).map((s) => ({ id: s.id, url: s.target })),
      ...(this.#recording !== undefined && { recording: this.#recording }),
      limits: { maxFrameBytes: limits.maxFrameBytes, maxDestinations: limits.maxDestinations },
    };
  }

  #config(msg: ConfigMessage): void {
    if (this.#state !== "active") throw new WireError(WireErrorCode.NotStarted, "config before start");
    const track = buildTrack(msg);
    for (const t of this.#tracks.values()) {
      if (t.track !== track.track && t.kind === track.kind) {
        throw new WireError(WireErrorCode.BadMessage, `track ${track.track}: a session carries one ${track.kind} track (track ${t.track} is already ${t.kind})`);
      }
    }
    const previous = this.#tracks.get(track.track);
    if (previous && sameTrack(previous, track)) return; // e.g. re-sent after a resume
    this.#tracks.set(track.track, track);
    this.#interleaver.addTrack(String(track.track), track.kind === "audio" ? aacFrameMs(track.config) : 0);
    this.#trackSet = buildTrackSet([...this.#tracks.values()], ++this.#generation);
    if (track.kind === "video" && !this.#advisor) {
      // The first video config's bitrate is the ceiling for the session: a
      // client following the advice re-sends its config with the advised
      // bitrate, which must not become the new ceiling.
      const { adviceThresholdMs, adviceCalmMs, adviceProbeAfterMs, adviceFloorBitrate, adviceCeilingBitrate } = this.#host.limits;
      this.#advisor = new BitrateAdvisor({
        baseBitrate: track.bitrate ?? 2_500_000,
        thresholdMs: adviceThresholdMs, calmMs: adviceCalmMs, probeAfterMs: adviceProbeAfterMs,
        ...(adviceFloorBitrate > 0 && { floor: adviceFloorBitrate }),
        ...(adviceCeilingBitrate > 0 && { ceiling: adviceCeilingBitrate }),
      });
    }
    for (const sink of this.#sinks) sink.setTracks(this.#trackSet);
  }

  // --- media -------------------------------------------------------------------

  #media(bytes: Uint8Array): void {
    if (this.#state !== "active") throw new WireError(WireErrorCode.NotStarted, "media before start");
    const receivedAt = process.hrtime.bigint();
    const arrivedMs = performance.now();
    const frame = decodeMediaFrame(bytes);
    this.#bytesIn += bytes.byteLength;
    this.#framesIn++;
    this.#host.onBytesIn?.(bytes.byteLength);
    this.#countRate(bytes.byteLength);
    const track = this.#tracks.get(frame.track);
    if (!track) {
      throw new WireError(this.#tracks.size === 0 ? WireErrorCode.MediaBeforeConfig : WireErrorCode.UnknownTrack, `media on track ${frame.track}, which has no config`);
    }
    if (frame.payload.byteLength > this.#host.limits.maxFrameBytes) {
      throw new WireError(WireErrorCode.FrameTooLarge, `a ${frame.payload.byteLength}-byte frame is over the ${this.#host.limits.maxFrameBytes}-byte limit`, CloseCode.LimitExceeded);
    }
    this.#host.onFrameIn?.(track.kind);
    if (track.kind === "video") this.#videoBytesIn += frame.payload.byteLength;
    else this.#audioBytesIn += frame.payload.byteLength;
    if (this.#t0 === undefined) {
      this.#t0 = frame.timestampUs;
      this.#armIdle();
    }
    let dtsMs = Math.round((frame.timestampUs - this.#t0) / 1000);
    const ptsMs = Math.round((frame.timestampUs + frame.compositionUs - this.#t0) / 1000);
    const last = this.#lastDts.get(frame.track);
    if (last === undefined && dtsMs < 0) {
      this.#framesBeforeStart++; // e.g. audio captured just before the first video frame
      return;
    }
    if (last !== undefined && dtsMs <= last) {
      if (last - dtsMs > this.#host.limits.timestampToleranceMs) {
        throw new WireError(WireErrorCode.TimeWentBackwards, `track ${frame.track} went back in time by ${last - dtsMs} ms (tolerance ${this.#host.limits.timestampToleranceMs} ms)`);
      }
      // Jitter within tolerance, or two frames in one millisecond (MediaRecorder's
      // WebM has ms timestamps): 1 ms after the last one. Decode times of a track
      // must strictly increase: FFmpeg's muxers refuse equal ones.
      dtsMs = last + 1;
    }
    if (dtsMs > 0x7fffffff) throw new WireError(WireErrorCode.BadFrame, "session time passed 2^31 ms");
    if (dtsMs < this.#newestMs && this.#interleaver.windowMs === 0) this.#notInterleaved(frame.track, dtsMs);
    this.#lastDts.set(frame.track, dtsMs);
    if (dtsMs > this.#newestMs) this.#newestMs = dtsMs;
    const out: SessionFrame = {
      kind: track.kind,
      keyframe: track.kind === "audio" || frame.keyframe,
      dtsMs,
      ctsMs: Math.max(0, ptsMs - dtsMs),
      payload: frame.payload,
      receivedAt,
    };
    for (const f of this.#interleaver.push(String(frame.track), dtsMs, out, arrivedMs)) this.#fanOut(f);
    this.#armRelease();
    if (this.#backpressure && !this.#paused && this.#maxBacklogMs() > this.#host.limits.backpressureMs) this.#pause();
  }

  // --- backpressure ------------------------------------------------------------

  #maxBacklogMs(): number {
    let backlog = 0;
    for (const sink of this.#sinks) if (sink instanceof RtmpDestination) backlog = Math.max(backlog, sink.backlogMs);
    return backlog;
  }

  /** Stops reading the client until every destination's backlog is under half the bound. */
  #pause(): void {
    this.#paused = true;
    this.#link.pause?.();
    const check = (): void => {
      this.#pauseTimer = undefined;
      if (this.#state !== "active" && this.#state !== "detached") return;
      if (this.#maxBacklogMs() <= this.#host.limits.backpressureMs / 2) {
        this.#paused = false;
        this.#lastMessageAt = Date.now(); // the silence was ours
        this.#link.resume?.();
        return;
      }
      this.#pauseTimer = setTimeout(check, 20);
      this.#pauseTimer.unref();
    };
    this.#pauseTimer = setTimeout(check, 20);
    this.#pauseTimer.unref();
  }

  /**
   * Keeps one timer at the interleaver's next release by age (a frame held
   * for audio that is overdue: see interleaver.ts). A timer set earlier than
   * needed is kept: it fires, releases nothing, and sets the next one.
   */
  #armRelease(): void {
    const due = this.#interleaver.dueAt();
    if (due === undefined) {
      this.#clearRelease();
      return;
    }
    if (this.#releaseTimer && this.#releaseAt <= due) return;
    this.#clearRelease();
    this.#releaseAt = due;
    this.#releaseTimer = setTimeout(() => {
      this.#releaseTimer = undefined;
      this.#releaseAt = Number.POSITIVE_INFINITY;
      if (this.#state !== "active" && this.#state !== "detached") return;
      try {
        for (const f of this.#interleaver.releaseDue(performance.now())) this.#fanOut(f);
        this.#armRelease();
      } catch (err) {
        this.#fail(err);
      }
    }, Math.max(0, Math.ceil(due - performance.now())));
    this.#releaseTimer.unref();
  }

  #clearRelease(): void {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = undefined;
    this.#releaseAt = Number.POSITIVE_INFINITY;
  }

  /**
   * A session started with `interleaved` sent a frame earlier than one
   * already forwarded on another track. The frame still goes out (each track
   * stays in order); from now on frames wait for the other track again, as
   * for any client. Not fatal: the client is told once.
   */
  #notInterleaved(track: number, dtsMs: number): void {
    const message = `track ${track} sent a frame at ${dtsMs} ms after a frame at ${this.#newestMs} ms of another track; the bridge re-orders this session's frames from now on`;
    this.#interleaver.windowMs = this.#host.limits.reorderWindowMs;
    this.#host.log("warn", "session not interleaved", { session: this.id, track, dtsMs, newestMs: this.#newestMs });
    this.#link.send({ type: "error", code: WireErrorCode.NotInterleaved, message, fatal: false });
  }

  #fanOut(frame: SessionFrame): void {
    for (const sink of this.#sinks) sink.send(frame);
  }

  /** Sustained bitrate limit: buckets of a tenth of the window each. */
  #countRate(bytes: number): void {
    const { bitrateWindowMs, maxBitrate } = this.#host.limits;
    const bucketMs = bitrateWindowMs / 10;
    const now = Date.now();
    while (now - this.#rateBucketStart >= bucketMs) {
      this.#rateBuckets.push(0);
      if (this.#rateBuckets.length > 10) this.#rateBuckets.shift();
      this.#rateBucketStart += bucketMs;
      if (now - this.#rateBucketStart > bitrateWindowMs) this.#rateBucketStart = now; // long silence
    }
    if (this.#rateBuckets.length === 0) this.#rateBuckets.push(0);
    this.#rateBuckets[this.#rateBuckets.length - 1]! += bytes;
    const total = this.#rateBuckets.reduce((a, b) => a + b, 0);
    if (total * 8 > (maxBitrate * bitrateWindowMs) / 1000) {
      throw new WireError("BITRATE_EXCEEDED", `the session sends more than ${Math.round(maxBitrate / 1e6)} Mbit/s sustained over ${bitrateWindowMs / 1000} s`, CloseCode.LimitExceeded);
    }
  }

  // --- timers ------------------------------------------------------------------

  #setDeadline(ms: number, code: string, what: string): void {
    this.#clearDeadline();
    if (ms <= 0) return;
    this.#deadline = setTimeout(() => this.#fail(new WireError(code, `${what} within ${ms} ms`, CloseCode.Timeout)), ms);
    this.#deadline.unref();
  }

  #clearDeadline(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** After the first frame: fail when the client goes silent for idleTimeoutMs. */
  #armIdle(): void {
    const idle = this.#host.limits.idleTimeoutMs;
    this.#clearDeadline();
    if (idle <= 0) return;
    const check = (): void => {
      if (this.#state !== "active") return;
      if (this.#paused) this.#lastMessageAt = Date.now(); // we are not reading: silence is ours
      const silent = Date.now() - this.#lastMessageAt;
      if (silent >= idle) {
        this.#fail(new WireError("TIMEOUT_IDLE", `no message from the client for ${idle} ms`, CloseCode.Timeout));
        return;
      }
      this.#deadline = setTimeout(check, idle - silent);
      this.#deadline.unref();
    };
    this.#deadline = setTimeout(check, idle);
    this.#deadline.unref();
  }

  /** Every stats interval: stats, and congestion advice. */
  #tick(): void {
    if (this.#state === "ending") {
      if (this.#stopping) this.#sendStats();
      return;
    }
    if (this.#state !== "active") return;
    this.#sendStats();
    this.#advise();
  }

  /** Congestion advice from the destinations' backlog and delivery rate (bitrate-advisor.ts). */
  #advise(): void {
    const now = performance.now();
    const samples = this.#rateSamples;
    samples.push(now, this.#videoBytesIn, this.#audioBytesIn);
    while (samples.length > 6 && now - samples[0]! > 2500) samples.splice(0, 3);
    const advisor = this.#advisor;
    if (!advisor) return;
    const span = now - samples[0]!;
    const rate = (i: number): number | undefined => (span >= 900 ? ((samples[samples.length - 3 + i]! - samples[i]!) * 8 * 1000) / span : undefined);
    const audioTrack = this.#trackSet?.audio;
    const advice = advisor.observe({
      now,
      destinations: this.#sinks.filter((s): s is RtmpDestination => s instanceof RtmpDestination)
        .map((d) => ({ state: d.state, backlogMs: d.backlogMs, deliveryBitrate: d.deliveryBitrate, linkBitrate: d.linkBitrate })),
      audioBitrate: audioTrack ? (rate(2) ?? audioTrack.bitrate ?? 128_000) : 0,
      videoInBitrate: rate(1),
    });
    if (advice) {
      this.#link.send({ type: "advice", ...advice });
      this.#host.log("info", "bitrate advice", { session: this.id, targetBitrate: advice.targetBitrate, reason: advice.reason });
    }
  }

  // --- sinks -------------------------------------------------------------------

  #sinkEvents(): SinkEvents {
    return {
      state: (sink, change) => {
        if (this.#state === "ended") return;
        this.#link.send({ type: "destination", id: sink.id, ...change });
        this.#host.onDestinationState?.(change, sink);
        this.#host.log(change.state === "failed" ? "warn" : "info", "destination state", {
          session: this.id, destination: sink.id, target: sink.target, state: change.state, code: change.code, reason: change.message,
        });
        if (change.state === "failed" && (this.#state === "active" || this.#state === "detached") && this.#sinks.every((s) => s.state === "failed")) {
          this.#fail(new WireError(WireErrorCode.AllDestinationsFailed, "every destination failed", CloseCode.AllDestinationsFailed));
        }
      },
      bytesOut: (sink, bytes) => this.#host.onBytesOut?.(sink instanceof Recorder ? "recording" : "rtmp", bytes),
      frameOut: (sink, frame) => this.#host.onFrameOut?.(sink instanceof Recorder ? "recording" : "rtmp", frame),
    };
  }

  #sendStats(): void {
    this.#link.send({ type: "stats", mediaTimeMs: this.#newestMs, bytesIn: this.#bytesIn, framesIn: this.#framesIn, destinations: this.stats() });
  }

  // --- the end -----------------------------------------------------------------

  /** The one failure funnel: report once, stop every sink, close. */
  #fail(err: unknown): void {
    if (this.#isOver()) return;
    const wire = err instanceof WireError ? err : undefined;
    const golive = err instanceof GoliveError ? err : undefined;
    const code = wire?.code ?? golive?.code ?? "INTERNAL_ERROR";
    const message = err instanceof Error ? err.message : String(err);
    const closeCode = wire?.closeCode ?? (golive ? CloseCode.ProtocolError : CloseCode.InternalError);
    this.#host.log(golive ? "warn" : "error", "session failed", { session: this.id, code, reason: message });
    this.#link.send({ type: "error", code, message, fatal: true });
    void this.#end("failed", { code: closeCode, reason: code });
  }

  async #end(outcome: "stopped" | "failed" | "disconnected", close?: { code: number; reason: string }): Promise<void> {
    if (this.#isOver()) return;
    const wasActive = this.#state === "active" || this.#state === "detached";
    this.#state = "ending";
    this.#stopping = outcome === "stopped" && wasActive;
    this.#waiting = [];
    this.#clearDeadline();
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    for (const t of this.#expiryTimers) clearTimeout(t);
    this.#clearRelease();
    if (wasActive && outcome !== "failed") for (const f of this.#interleaver.flush()) this.#fanOut(f);
    // Stats go on while the destinations finish (a lossless client's backlog
    // can take a while behind a slow link): the client sees progress.
    await Promise.all(this.#sinks.map((s) => s.stop()));
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    if (outcome === "stopped" && wasActive) this.#sendStats();
    this.#state = "ended";
    if (outcome !== "failed") this.#link.send({ type: "ended", reason: outcome });
    this.#host.log("info", "session ended", { session: this.id, outcome, framesIn: this.#framesIn, framesBeforeStart: this.#framesBeforeStart });
    this.#host.onEnded?.(this, outcome);
    this.#link.close(close?.code ?? CloseCode.Normal, close?.reason ?? outcome);
  }
}

/** Media time one AAC frame covers, ms (1024 samples, or 960; doubled by dual-rate SBR), from its AudioSpecificConfig. */
function aacFrameMs(config: Uint8Array): number {
  const asc = parseAudioSpecificConfig(config);
  return (asc.samplesPerFrame * 1000) / asc.sampleRate;
}

/** Same codec configuration (a config re-sent after a resume changes nothing). */
function sameTrack(a: Track, b: Track): boolean {
  // The bitrate is left out: a client following the advice re-sends its
  // config with the new one, and that changes nothing a decoder needs.
  if (a.kind !== b.kind || a.codecString !== b.codecString) return false;
  if (a.config.byteLength !== b.config.byteLength) return false;
  for (let i = 0; i < a.config.byteLength; i++) if (a.config[i] !== b.config[i]) return false;
  return true;
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
    return { id: this.id, state: "failed", bytesSent: 0, framesSent: 0, framesDropped: 0, framesLost: 0, audioLost: 0, keyframesLost: 0, queuedMs: 0, queuedBytes: 0, reconnects: 0, notLiveMs: 0 };
  }
}
