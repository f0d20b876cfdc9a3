/**
 * One replay session: a WebSocket client of the bridge speaking wire
 * protocol v1 (docs/protocol.md) exactly as the browser SDK does: "start",
 * wait for "accepted", one "config" per track, binary media frames, "stop",
 * wait for "ended". Frames come from a shared WireFeed and are paced by a
 * shared Pacer, so one process can run many sessions cheaply.
 *
 * Pacing: "realtime" sends each frame when its decode time is due relative
 * to the start of the stream (as `ffmpeg -re`); "fast" sends as fast as the
 * socket drains. Both stop writing while the socket's bufferedAmount is at
 * or over `highWaterBytes` and resume once half of it has drained; either
 * can be capped at an average `maxBitrate`.
 *
 * The session never throws: every outcome, including an unreachable bridge,
 * ends in a SessionResult.
 */
import WebSocket, { type RawData } from "ws";
import {
  decodeBridgeMessage, encodeMessage, PROTOCOL_VERSION, SUBPROTOCOL, toBase64,
  type BridgeMessage, type ConfigMessage, type DestinationRequest, type DestinationState, type DestinationStats,
} from "../../protocol/wire.js";
import { assertNever } from "../../protocol/errors.js";
import { parseRtmpUrl } from "../rtmp/rtmp-url.js";
import { ReplayErrorCode } from "./errors.js";
import type { Pacer, Paced } from "./pacer.js";
import { WIRE_TRACK, type WireFeed } from "./wire-feed.js";

/** How frames are timed. */
export type Pacing = "realtime" | "fast";

/** Options of one session. */
export interface ReplaySessionOptions {
  /** The bridge's ingest URL, ws(s)://host:port/ingest. */
  bridge: string;
  /** Where to publish (may be empty when recording). */
  destinations: readonly DestinationRequest[];
  /** Ask the bridge to record the session too. */
  record?: boolean;
  /** Frame timing (default "realtime"). */
  pacing?: Pacing;
  /** Times to play the file, timestamps continuing (default 1). */
  loop?: number;
  /**
   * Cap on the average sending rate from the start of the stream, bits/s
   * (default none). With fast pacing it keeps under a bridge's bitrate limit
   * (BITRATE_EXCEEDED, 25 Mbit/s over 5 s by default).
   */
  maxBitrate?: number;
  feed: WireFeed;
  pacer: Pacer;
  /** Authorisation token from the app's backend, for a bridge that requires one. */
  token?: string;
  /** `client` in "start", for the bridge's logs (default "golive-replay"). */
  client?: string;
  /**
   * Say `interleaved` in "start" (default true): replay sends both tracks
   * merged in decode order, so the bridge need not hold frames to re-order
   * them. false measures a bridge's re-ordering hold (bench).
   */
  interleaved?: boolean;
  /**
   * Ask the bridge for backpressure instead of shedding (default: true for
   * fast pacing): a destination's slow link then slows the replay down
   * rather than losing frames. Realtime pacing leaves it off, as a live
   * encoder would.
   */
  backpressure?: boolean;
  /** Hold media until no destination is still connecting (default: true for fast pacing, false for realtime). */
  waitForLive?: boolean;
  /** WebSocket opening handshake, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** From "start" to "accepted", ms (default 10,000). */
  acceptTimeoutMs?: number;
  /** With waitForLive: from "accepted" until no destination is connecting, ms (default 30,000). */
  liveTimeoutMs?: number;
  /** From "stop" (and from each "stats" after it) to the close, ms (default 20,000). */
  endTimeoutMs?: number;
  /** Socket buffer level at which sending pauses, bytes (default 4 MiB). */
  highWaterBytes?: number;
  /**
   * Mask frames with a zero key (default false). RFC 6455 wants a random
   * key; a zero one spares the load generator a copy per frame and costs
   * the bridge the same.
   */
  zeroMask?: boolean;
  /** Every control message from the bridge, as it arrives. */
  onMessage?: (message: BridgeMessage) => void;
}

/** How a destination ended. */
export interface DestinationResult {
  /** The id sent in "start" ("recording" for the bridge's recording). */
  id: string;
  kind: "rtmp" | "recording";
  /** The URL with the stream key redacted, or the recording's file name. */
  target: string;
  /** completed: went live and ended without failing. */
  outcome: "completed" | "failed";
  /** The last state the bridge reported. */
  state: DestinationState | "unknown";
  wentLive: boolean;
  /** Why it failed: a stable code and a readable message. */
  code?: string;
  message?: string;
  /** The bridge's last counters for it. */
  stats?: DestinationStats;
}

/** How a session ended. */
export interface SessionResult {
  /** The session ended normally and every destination completed. */
  ok: boolean;
  /** The bridge's session id, once accepted. */
  session?: string;
  /** The recording's file name on the bridge, when recording. */
  recording?: string;
  /** What ended the session abnormally, if anything. */
  error?: { code: string; message: string };
  destinations: DestinationResult[];
  /** Non-fatal "error" messages from the bridge. */
  warnings: Array<{ code: string; message: string }>;
  /** Media frames and bytes (headers included) sent. */
  framesSent: number;
  bytesSent: number;
  /** Whole passes over the file sent. */
  passesSent: number;
  /** stop() was called before the file was sent. */
  interrupted: boolean;
  /** The WebSocket close code, if it opened. */
  closeCode?: number;
  /** From start() to the close, ms. */
  elapsedMs: number;
}

/** Where a session is. */
export type ReplaySessionState =
  /** Created; start() not called. */
  | "idle"
  /** WebSocket opening. */
  | "connecting"
  /** "start" sent; waiting for "accepted". */
  | "starting"
  /** Accepted and configured; holding media until no destination is connecting. */
  | "waitingLive"
  /** Sending frames on the pacer. */
  | "streaming"
  /** "stop" sent; waiting for "ended" and the close. */
  | "stopping"
  /** Over; the result is settled. */
  | "closed";

interface Dest {
  id: string;
  kind: "rtmp" | "recording";
  target: string;
  state: DestinationState | "unknown";
  wentLive: boolean;
  code?: string;
  message?: string;
  stats?: DestinationStats;
}

/** The URL of a destination with its key redacted (or a placeholder when it cannot be parsed). */
export function redactDestination(d: DestinationRequest): string {
  try {
    return parseRtmpUrl(d.url, d.key).redacted;
  } catch {
    return "(invalid URL)";
  }
}

const SEND_OPTIONS = { binary: true } as const;

/** Largest message accepted from the bridge, bytes: its control messages are JSON of a few KiB. */
export const MAX_BRIDGE_MESSAGE_BYTES = 1024 * 1024;

/** A text message's string, whatever shape `ws` handed it in. */
function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.from(data).toString("utf8");
}

/** One replay session; `start()` resolves with its result. */
export class ReplaySession implements Paced {
  readonly #opts: ReplaySessionOptions;
  readonly #pacing: Pacing;
  readonly #loops: number;
  readonly #highWater: number;
  readonly #waitForLive: boolean;
  readonly #maxBitrate: number | undefined;
  #state: ReplaySessionState = "idle";
  #ws: WebSocket | undefined;
  readonly #dests = new Map<string, Dest>();
  #sessionId: string | undefined;
  #recording: string | undefined;
  /** First error that ends the session (ours, or the bridge's fatal one). */
  #error: { code: string; message: string } | undefined;
  #socketError: Error | undefined;
  #opened = false;
  #ended = false;
  #interrupted = false;
  readonly #warnings: Array<{ code: string; message: string }> = [];
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #resolve: ((result: SessionResult) => void) | undefined;
  readonly #done: Promise<SessionResult>;
  // Streaming position.
  #streamStart = 0;
  #pass = 0;
  #index = 0;
  #messages: readonly Buffer[] | undefined;
  #blocked = false;
  #framesSent = 0;
  #bytesSent = 0;
  /** Decoder configuration last sent per track. */
  readonly #sentConfig = new Map<"video" | "audio", Uint8Array>();

  constructor(options: ReplaySessionOptions) {
    const loop = options.loop ?? 1;
    if (!Number.isSafeInteger(loop) || loop < 1) throw new TypeError(`loop must be a positive integer, got ${loop}`);
    const highWater = options.highWaterBytes ?? 4 * 1024 * 1024;
    if (!Number.isSafeInteger(highWater) || highWater < 1) throw new TypeError(`highWaterBytes must be a positive integer, got ${highWater}`);
    this.#opts = options;
    this.#pacing = options.pacing ?? "realtime";
    this.#loops = loop;
    this.#highWater = highWater;
    this.#waitForLive = options.waitForLive ?? this.#pacing === "fast";
    const maxBitrate = options.maxBitrate;
    if (maxBitrate !== undefined && !(maxBitrate > 0)) throw new TypeError(`maxBitrate must be > 0, got ${maxBitrate}`);
    this.#maxBitrate = maxBitrate;
    for (const d of options.destinations) {
      this.#dests.set(d.id, { id: d.id, kind: "rtmp", target: redactDestination(d), state: "unknown", wentLive: false });
    }
    if (options.record) this.#dests.set("recording", { id: "recording", kind: "recording", target: "(recording)", state: "unknown", wentLive: false });
    this.#done = new Promise((resolve) => (this.#resolve = resolve));
  }

  get state(): ReplaySessionState {
    return this.#state;
  }

  /** Media sent so far: frames, bytes (headers included) and the pass being sent (0-based). */
  get progress(): { framesSent: number; bytesSent: number; pass: number } {
    return { framesSent: this.#framesSent, bytesSent: this.#bytesSent, pass: this.#pass };
  }

  /** Opens the WebSocket and runs the session; resolves when it is over. Call once. */
  start(): Promise<SessionResult> {
    if (this.#state !== "idle") throw new TypeError("start() can be called once");
    this.#startedAt = performance.now();
    this.#state = "connecting";
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#opts.bridge, SUBPROTOCOL, {
        perMessageDeflate: false,
        handshakeTimeout: this.#opts.connectTimeoutMs ?? 10_000,
        maxPayload: MAX_BRIDGE_MESSAGE_BYTES,
        ...(this.#opts.zeroMask && { generateMask: (mask: Buffer) => void mask.fill(0) }),
      });
    } catch (err) {
      this.#fail(ReplayErrorCode.BridgeUnreachable, `${this.#opts.bridge} is not a bridge URL: ${err instanceof Error ? err.message : String(err)}`);
      this.#finish(undefined);
      return this.#done;
    }
    this.#ws = ws;
    ws.on("open", () => this.#onOpen());
    ws.on("message", (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on("error", (err) => {
      this.#socketError ??= err;
    });
    ws.on("close", (code: number) => this.#finish(code));
    return this.#done;
  }

  /** Ends the session early and cleanly: sends "stop" (or closes, before "accepted"). */
  stop(): void {
    switch (this.#state) {
      case "idle":
      case "stopping":
      case "closed":
        return;
      case "connecting":
      case "starting":
        this.#interrupted = true;
        this.#fail(ReplayErrorCode.BridgeClosed, "stopped before the bridge accepted the session");
        this.#ws?.terminate();
        return;
      case "waitingLive":
      case "streaming":
        this.#interrupted = true;
        this.#sendStop();
        return;
      default:
        assertNever(this.#state);
    }
  }

  // --- WebSocket events --------------------------------------------------------

  #onOpen(): void {
    if (this.#state !== "connecting") return;
    this.#opened = true;
    this.#state = "starting";
    this.#send({
      type: "start",
      version: PROTOCOL_VERSION,
      destinations: [...this.#opts.destinations],
      ...(this.#opts.record !== undefined && { record: this.#opts.record }),
      ...(this.#opts.token !== undefined && { token: this.#opts.token }),
      client: this.#opts.client ?? "golive-replay",
      interleaved: this.#opts.interleaved ?? true,
      ...((this.#opts.backpressure ?? this.#pacing === "fast") && { backpressure: true }),
    });
    this.#arm(this.#opts.acceptTimeoutMs ?? 10_000, () => `the bridge did not accept the session within ${this.#opts.acceptTimeoutMs ?? 10_000} ms`);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === "closed") return;
    let msg: BridgeMessage;
    try {
      if (isBinary) throw new Error("the bridge sent a binary message");
      msg = decodeBridgeMessage(textOf(data));
    } catch (err) {
      this.#abort(ReplayErrorCode.BridgeProtocol, `unreadable message from the bridge: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.#opts.onMessage?.(msg);
    switch (msg.type) {
      case "accepted":
        return this.#onAccepted(msg);
      case "destination": {
        let d = this.#dests.get(msg.id);
        if (!d) {
          d = { id: msg.id, kind: msg.id === "recording" ? "recording" : "rtmp", target: msg.id, state: "unknown", wentLive: false };
          this.#dests.set(msg.id, d);
        }
        d.state = msg.state;
        if (msg.state === "live") d.wentLive = true;
        if (msg.state === "failed" || msg.state === "reconnecting") {
          if (msg.code !== undefined) d.code = msg.code;
          if (msg.message !== undefined) d.message = msg.message;
        }
        if (this.#state === "waitingLive" && !this.#anyConnecting()) {
          // With nothing live, the bridge ends the session (ALL_DESTINATIONS_FAILED): nothing to send.
          if ([...this.#dests.values()].some((x) => x.state === "live")) this.#beginStreaming();
        }
        return;
      }
      case "stats":
        for (const s of msg.destinations) {
          const d = this.#dests.get(s.id);
          if (d) d.stats = s;
        }
        // Stopping and the bridge still reports: it is working through what
        // we sent (with backpressure that can take long behind a slow link).
        if (this.#state === "stopping") this.#armEnd();
        return;
      case "advice":
        return; // a file cannot be re-encoded: advice is for live encoders
      case "error":
        if (msg.fatal) this.#error ??= { code: msg.code, message: msg.message };
        else this.#warnings.push({ code: msg.code, message: msg.message });
        return;
      case "ended":
        this.#ended = true;
        return;
      default:
        assertNever(msg);
    }
  }

  #onAccepted(msg: Extract<BridgeMessage, { type: "accepted" }>): void {
    if (this.#state !== "starting") {
      this.#abort(ReplayErrorCode.BridgeProtocol, `"accepted" while ${this.#state}`);
      return;
    }
    this.#disarm();
    this.#sessionId = msg.session;
    for (const d of msg.destinations) {
      const mine = this.#dests.get(d.id);
      if (mine && mine.state === "unknown") mine.state = "connecting";
    }
    if (msg.recording !== undefined) {
      this.#recording = msg.recording;
      const rec = this.#dests.get("recording") ?? { id: "recording", kind: "recording" as const, target: msg.recording, state: "unknown" as const, wentLive: false };
      rec.target = msg.recording;
      if (rec.state === "unknown") rec.state = "connecting";
      this.#dests.set("recording", rec);
    }
    for (const d of this.#dests.values()) {
      if (d.state !== "unknown") continue;
      d.state = "failed";
      d.code = ReplayErrorCode.BridgeProtocol;
      d.message = "the bridge's \"accepted\" does not list this destination";
    }
    const media = this.#opts.feed.media;
    if (media.largestFrameBytes > msg.limits.maxFrameBytes) {
      this.#fail(ReplayErrorCode.FrameTooLarge, `${media.name} has a ${media.largestFrameBytes}-byte frame; the bridge accepts at most ${msg.limits.maxFrameBytes} bytes`);
      this.#sendStop();
      return;
    }
    if (media.video) this.#sendConfig("video", media.video.description);
    if (media.audio) this.#sendConfig("audio", media.audio.description);
    if (this.#waitForLive && this.#anyConnecting()) {
      this.#state = "waitingLive";
      const ms = this.#opts.liveTimeoutMs ?? 30_000;
      this.#arm(ms, () => `no destination went live within ${ms} ms`);
      return;
    }
    this.#beginStreaming();
  }

  // --- streaming ---------------------------------------------------------------

  #anyConnecting(): boolean {
    for (const d of this.#dests.values()) if (d.state === "connecting" || d.state === "unknown" || d.state === "reconnecting") return true;
    return false;
  }

  #beginStreaming(): void {
    this.#disarm();
    this.#state = "streaming";
    const pacer = this.#opts.pacer;
    this.#streamStart = pacer.now();
    this.#pass = 0;
    this.#index = 0;
    this.#messages = this.#opts.feed.acquire(0);
    pacer.wake(this);
  }

  /** Pacer callback: sends what is due by `until`. */
  run(until: number): number | undefined {
    if (this.#state !== "streaming") return undefined;
    const ws = this.#ws!;
    const feed = this.#opts.feed;
    const frames = feed.media.frames;
    for (;;) {
      if (this.#index >= frames.length) {
        feed.release(this.#pass);
        this.#messages = undefined;
        this.#pass++;
        if (this.#pass >= this.#loops) {
          this.#sendStop();
          return undefined;
        }
        this.#index = 0;
        this.#messages = feed.acquire(this.#pass);
      }
      const frame = frames[this.#index]!;
      if (this.#pacing === "realtime") {
        const due = this.#streamStart + (this.#pass * feed.media.durationUs + frame.dtsUs) / 1000;
        if (due > until) return due;
      }
      if (this.#maxBitrate !== undefined) {
        const allowed = this.#streamStart + (this.#bytesSent * 8 * 1000) / this.#maxBitrate;
        if (allowed > until) return allowed;
      }
      if (ws.bufferedAmount >= this.#highWater) {
        this.#blocked = true;
        return undefined; // #onSent wakes us
      }
      // The track's configuration for this frame: its own change, else the file's first one.
      const config = frame.config ?? (this.#index === 0 ? this.#initialConfig(frame.track) : undefined);
      if (config && this.#sentConfig.get(frame.track) !== config) this.#sendConfig(frame.track, config);
      const message = this.#messages![this.#index]!;
      ws.send(message, SEND_OPTIONS, this.#onSent);
      this.#framesSent++;
      this.#bytesSent += message.byteLength;
      this.#index++;
    }
  }

  #initialConfig(track: "video" | "audio"): Uint8Array | undefined {
    return this.#opts.feed.media[track]?.description;
  }

  /** Write callback of every media frame: resumes a blocked session once half the buffer drained. */
  readonly #onSent = (err?: Error): void => {
    if (err || !this.#blocked || this.#state !== "streaming") return;
    if (this.#ws!.bufferedAmount <= this.#highWater / 2) {
      this.#blocked = false;
      this.#opts.pacer.wake(this);
    }
  };

  #sendConfig(track: "video" | "audio", description: Uint8Array): void {
    const media = this.#opts.feed.media;
    const msg: ConfigMessage = { type: "config", track: WIRE_TRACK[track], kind: track, codec: "", description: toBase64(description) };
    if (track === "video") {
      msg.codec = media.video!.codec;
      if (media.video!.frameRate !== undefined) msg.framerate = media.video!.frameRate;
    } else {
      msg.codec = media.audio!.codec;
      msg.sampleRate = media.audio!.sampleRate;
      msg.channels = media.audio!.channels;
    }
    this.#send(msg);
    this.#sentConfig.set(track, description);
  }

  #sendStop(): void {
    if (this.#state === "stopping" || this.#state === "closed") return;
    if (this.#messages) {
      this.#opts.feed.release(this.#pass);
      this.#messages = undefined;
    }
    this.#opts.pacer.remove(this);
    this.#state = "stopping";
    this.#send({ type: "stop" });
    this.#armEnd();
  }

  /** The end timeout: from "stop", and again from each "stats" after it. */
  #armEnd(): void {
    const ms = this.#opts.endTimeoutMs ?? 20_000;
    this.#arm(ms, () => `the bridge did not end the session within ${ms} ms of "stop" (or of its last "stats")`);
  }

  // --- the end -----------------------------------------------------------------

  #send(message: Parameters<typeof encodeMessage>[0]): void {
    const ws = this.#ws;
    if (ws?.readyState === WebSocket.OPEN) ws.send(encodeMessage(message));
  }

  /** Records the first error that ends the session. */
  #fail(code: string, message: string): void {
    this.#error ??= { code, message };
  }

  /** Fails and drops the connection at once. */
  #abort(code: string, message: string): void {
    this.#fail(code, message);
    this.#ws?.terminate();
  }

  #arm(ms: number, message: () => string): void {
    this.#disarm();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // After "ended" a missing close is no failure: the session is over.
      if (!this.#ended) this.#fail(ReplayErrorCode.Timeout, message());
      this.#ws?.terminate();
    }, ms);
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(closeCode: number | undefined): void {
    if (this.#state === "closed") return;
    this.#disarm();
    this.#opts.pacer.remove(this);
    if (this.#messages) {
      this.#opts.feed.release(this.#pass);
      this.#messages = undefined;
    }
    const wasStopping = this.#state === "stopping";
    this.#state = "closed";
    if (!this.#opened) {
      const why = this.#socketError?.message ?? "the connection closed";
      this.#fail(ReplayErrorCode.BridgeUnreachable, `cannot reach the bridge at ${this.#opts.bridge}: ${why}`);
    } else if (!this.#ended) {
      const stage = wasStopping ? "before it ended the session" : "in the middle of the session";
      const why = this.#socketError ? `: ${this.#socketError.message}` : "";
      this.#fail(ReplayErrorCode.BridgeClosed, `the bridge closed the connection ${stage} (close code ${closeCode ?? "none"}${why})`);
    }
    const error = this.#error;
    const destinations: DestinationResult[] = [...this.#dests.values()].map((d) => {
      const r: DestinationResult = { id: d.id, kind: d.kind, target: d.target, outcome: "failed", state: d.state, wentLive: d.wentLive };
      if (d.stats) r.stats = d.stats;
      if (d.state === "failed") {
        r.code = d.code ?? "DESTINATION_FAILED";
        r.message = d.message ?? "the destination failed";
      } else if (d.wentLive && d.state === "ended" && !error) {
        r.outcome = "completed";
      } else if (error) {
        r.code = error.code;
        r.message = error.message;
      } else if (!d.wentLive) {
        r.code = ReplayErrorCode.NeverLive;
        r.message = "the destination was still connecting when the session ended";
      } else {
        r.code = ReplayErrorCode.NotEnded;
        r.message = `the destination was ${d.state} when the session ended, never ended`;
      }
      return r;
    });
    const result: SessionResult = {
      ok: !error && destinations.every((d) => d.outcome === "completed"),
      ...(this.#sessionId !== undefined && { session: this.#sessionId }),
      ...(this.#recording !== undefined && { recording: this.#recording }),
      ...(error && { error }),
      destinations,
      warnings: this.#warnings,
      framesSent: this.#framesSent,
      bytesSent: this.#bytesSent,
      passesSent: this.#framesSent === 0 ? 0 : Math.floor(this.#framesSent / Math.max(1, this.#opts.feed.length)),
      interrupted: this.#interrupted,
      ...(this.#opened && closeCode !== undefined && { closeCode }),
      elapsedMs: performance.now() - this.#startedAt,
    };
    this.#resolve!(result);
  }
}
