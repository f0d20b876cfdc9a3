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
  CloseCode, decodeBridgeMessage, encodeMessage, newSessionKey, PROTOCOL_VERSION, SUBPROTOCOL, toBase64, withSessionKey,
  type BridgeMessage, type ConfigMessage, type DestinationRequest, type DestinationState, type DestinationStats, type StartMessage,
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
  /**
   * Keep the broadcast going when the connection to the bridge is lost
   * (default: true with realtime pacing, false with fast): resume the
   * session with its resume token, or, when the bridge is gone, draining
   * ("move", close 1001) or does not hold it (close 4004), start a new one
   * with the same destinations, through the same URL (a load balancer picks
   * the bridge). Frames due meanwhile are skipped, as a live encoder's
   * would be; video starts again at a keyframe.
   */
  reconnect?: boolean;
  /** How long to keep trying, ms (default 30,000). */
  reconnectWindowMs?: number;
  /** Ping the bridge this often, ms; a missing pong by the next one counts as a lost connection (default 2000; 0 = none). */
  pingIntervalMs?: number;
}

/** Close codes after which the session is over: trying again would get the same answer. */
const FINAL_CLOSE = new Set<number>([CloseCode.ProtocolError, CloseCode.UnsupportedVersion, CloseCode.Forbidden, CloseCode.Timeout, CloseCode.LimitExceeded, CloseCode.AllDestinationsFailed]);

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
  /** Connections lost and taken up again: the same session resumed, or a new one started (restarts). */
  resumes: number;
  restarts: number;
  /** Frames not sent: due while reconnecting, or video before the first keyframe after it. */
  framesSkipped: number;
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
  /** The connection was lost: getting it back (frames due meanwhile are skipped). */
  | "reconnecting"
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
  // Reconnecting.
  readonly #reconnect: boolean;
  /** On every URL of this broadcast (?session=): a load balancer hashing on it sends a resume to the right bridge. */
  readonly #sessionKey = newSessionKey();
  #resumeToken: string | undefined;
  /** The bridge said "move": start a new session when it closes. */
  #moving = false;
  /** How the connection being opened takes the broadcast up again. */
  #rejoin: "resume" | "restart" | undefined;
  #reconnectDeadline = 0;
  #reconnectDelay = 250;
  #resumes = 0;
  #restarts = 0;
  #framesSkipped = 0;
  /** Video waits for a keyframe (after a reconnect). */
  #needKey = false;
  /** The file ended while reconnecting: stop once connected. */
  #sentAll = false;
  #pinger: NodeJS.Timeout | undefined;
  #streamBegun = false;

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
    this.#reconnect = options.reconnect ?? this.#pacing === "realtime";
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
    if (!this.#open()) this.#finish(undefined);
    return this.#done;
  }

  /** Opens a WebSocket to the bridge (the session key on its URL); false when the URL is no bridge URL. */
  #open(): boolean {
    let ws: WebSocket;
    try {
      ws = new WebSocket(withSessionKey(this.#opts.bridge, this.#sessionKey), SUBPROTOCOL, {
        perMessageDeflate: false,
        handshakeTimeout: this.#opts.connectTimeoutMs ?? 10_000,
        maxPayload: MAX_BRIDGE_MESSAGE_BYTES,
        ...(this.#opts.zeroMask && { generateMask: (mask: Buffer) => void mask.fill(0) }),
      });
    } catch (err) {
      this.#fail(ReplayErrorCode.BridgeUnreachable, `${this.#opts.bridge} is not a bridge URL: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    this.#ws = ws;
    this.#socketError = undefined;
    ws.on("open", () => ws === this.#ws && this.#onOpen());
    ws.on("message", (data: RawData, isBinary: boolean) => ws === this.#ws && this.#onMessage(data, isBinary));
    ws.on("error", (err) => {
      if (ws === this.#ws) this.#socketError ??= err;
    });
    ws.on("close", (code: number) => ws === this.#ws && this.#onClose(code));
    return true;
  }

  /** Pings the bridge; a ping unanswered by the next one means the link is dead. */
  #startPinging(ws: WebSocket): void {
    clearInterval(this.#pinger);
    const ms = this.#opts.pingIntervalMs ?? 2000;
    if (ms <= 0) return;
    let answered = true;
    ws.on("pong", () => (answered = true));
    this.#pinger = setInterval(() => {
      if (ws !== this.#ws || ws.readyState !== WebSocket.OPEN) return;
      if (!answered) {
        this.#socketError ??= new Error(`no pong from the bridge within ${ms} ms`);
        ws.terminate();
        return;
      }
      answered = false;
      ws.ping();
    }, ms);
    this.#pinger.unref();
  }

  /** The socket closed: the end, or (reconnecting) a connection to take up again. */
  #onClose(code: number): void {
    clearInterval(this.#pinger);
    const live = this.#state === "streaming" || this.#state === "waitingLive" || this.#state === "reconnecting";
    // A drained or shut-down bridge ends the session ("ended") before its
    // close 1001: that is not the broadcast's end, only this bridge's.
    const bridgeLeft = this.#moving || code === CloseCode.GoingAway;
    if (this.#reconnect && live && (!this.#ended || bridgeLeft) && !FINAL_CLOSE.has(code) && this.#opened) {
      this.#ended = false;
      this.#lost(code);
      return;
    }
    this.#finish(code);
  }

  /**
   * Takes the broadcast up again: a resume of the same session, or a new
   * session when the bridge went away (1001, "move") or does not hold it
   * (4004). Tried until reconnectWindowMs passes.
   */
  #lost(code: number): void {
    this.#disarm();
    const restart = code === CloseCode.GoingAway || code === CloseCode.SessionNotHere || this.#moving || this.#resumeToken === undefined;
    this.#moving = false;
    if (this.#state !== "reconnecting") {
      this.#state = "reconnecting";
      this.#reconnectDeadline = performance.now() + (this.#opts.reconnectWindowMs ?? 30_000);
      this.#reconnectDelay = 250;
      // The bridge's fatal error that closed the old connection is not this broadcast's end.
      if (this.#error) this.#warnings.push(this.#error);
      this.#error = undefined;
      this.#opts.pacer.wake(this); // frames due meanwhile are skipped
      this.#rejoin = restart ? "restart" : "resume";
      this.#open();
      return;
    }
    // An attempt failed: at once when the bridge said where we stand, else after a pause.
    if (restart && this.#rejoin === "resume") {
      this.#rejoin = "restart";
      this.#open();
      return;
    }
    const left = this.#reconnectDeadline - performance.now();
    if (left <= 0) {
      this.#fail(ReplayErrorCode.BridgeClosed, `lost the bridge and could not reconnect within ${this.#opts.reconnectWindowMs ?? 30_000} ms (last close code ${code})`);
      this.#finish(code);
      return;
    }
    const delay = Math.min(this.#reconnectDelay, left);
    this.#reconnectDelay = Math.min(this.#reconnectDelay * 2, 2000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === "reconnecting") this.#open();
    }, delay);
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
      case "reconnecting":
        this.#interrupted = true;
        this.#fail(ReplayErrorCode.BridgeClosed, "stopped while reconnecting to the bridge");
        this.#finish(undefined);
        this.#ws?.terminate();
        return;
      default:
        assertNever(this.#state);
    }
  }

  // --- WebSocket events --------------------------------------------------------

  #onOpen(): void {
    if (this.#state !== "connecting" && this.#state !== "reconnecting") return;
    this.#opened = true;
    this.#startPinging(this.#ws!);
    const start: StartMessage = this.#state === "reconnecting" && this.#rejoin === "resume"
      ? { type: "start", version: PROTOCOL_VERSION, destinations: [], resume: this.#resumeToken! }
      : {
        type: "start",
        version: PROTOCOL_VERSION,
        destinations: [...this.#opts.destinations],
        ...(this.#opts.record !== undefined && { record: this.#opts.record }),
        ...(this.#opts.token !== undefined && { token: this.#opts.token }),
        client: this.#opts.client ?? "golive-replay",
        interleaved: this.#opts.interleaved ?? true,
        ...((this.#opts.backpressure ?? this.#pacing === "fast") && { backpressure: true }),
      };
    if (this.#state === "connecting") this.#state = "starting";
    this.#send(start);
    const ms = this.#opts.acceptTimeoutMs ?? 10_000;
    this.#arm(ms, () => `the bridge did not accept the session within ${ms} ms`);
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
      case "move":
        this.#moving = true;
        return;
      case "ended":
        this.#ended = true;
        return;
      default:
        assertNever(msg);
    }
  }

  #onAccepted(msg: Extract<BridgeMessage, { type: "accepted" }>): void {
    if (this.#state === "reconnecting") {
      this.#rejoined(msg);
      return;
    }
    if (this.#state !== "starting") {
      this.#abort(ReplayErrorCode.BridgeProtocol, `"accepted" while ${this.#state}`);
      return;
    }
    this.#disarm();
    this.#sessionId = msg.session;
    this.#resumeToken = msg.resumeToken;
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

  /** Connected again: the configs again, video from the next keyframe, then on with the frames due from now. */
  #rejoined(msg: Extract<BridgeMessage, { type: "accepted" }>): void {
    this.#disarm();
    if (this.#rejoin === "resume") this.#resumes++;
    else {
      this.#restarts++;
      // A new session: its destinations publish again.
      for (const d of msg.destinations) {
        const mine = this.#dests.get(d.id);
        if (mine) mine.state = "connecting";
      }
    }
    this.#sessionId = msg.session;
    this.#resumeToken = msg.resumeToken;
    this.#rejoin = undefined;
    // What went wrong on the way (a timeout, the draining bridge's refusal) is history now.
    if (this.#error) this.#warnings.push(this.#error);
    this.#error = undefined;
    for (const [track, description] of [...this.#sentConfig]) this.#sendConfig(track, description);
    this.#needKey = true;
    this.#blocked = false;
    if (!this.#streamBegun) {
      this.#beginStreaming();
      return;
    }
    this.#state = "streaming";
    if (this.#sentAll) {
      this.#sendStop();
      return;
    }
    this.#opts.pacer.wake(this);
  }

  // --- streaming ---------------------------------------------------------------

  #anyConnecting(): boolean {
    for (const d of this.#dests.values()) if (d.state === "connecting" || d.state === "unknown" || d.state === "reconnecting") return true;
    return false;
  }

  #beginStreaming(): void {
    this.#disarm();
    this.#streamBegun = true;
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
    if (this.#state === "reconnecting") return this.#skipDue(until);
    if (this.#state !== "streaming") return undefined;
    const ws = this.#ws!;
    const feed = this.#opts.feed;
    const frames = feed.media.frames;
    for (;;) {
      if (this.#index >= frames.length && !this.#nextPass()) {
        this.#sendStop();
        return undefined;
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
      if (this.#needKey && frame.track === "video") {
        if (!frame.keyframe) {
          this.#framesSkipped++;
          this.#index++;
          continue;
        }
        this.#needKey = false;
      }
      const message = this.#messages![this.#index]!;
      ws.send(message, SEND_OPTIONS, this.#onSent);
      this.#framesSent++;
      this.#bytesSent += message.byteLength;
      this.#index++;
    }
  }

  /** The file's end: on to the next pass (timestamps go on); false when every pass has been sent. */
  #nextPass(): boolean {
    const feed = this.#opts.feed;
    feed.release(this.#pass);
    this.#messages = undefined;
    this.#pass++;
    if (this.#pass >= this.#loops) return false;
    this.#index = 0;
    this.#messages = feed.acquire(this.#pass);
    return true;
  }

  /** While reconnecting: the frames due by `until` go unsent (a live source does not wait); returns when the next is due. */
  #skipDue(until: number): number | undefined {
    if (this.#sentAll || !this.#messages) return undefined;
    const feed = this.#opts.feed;
    const frames = feed.media.frames;
    for (;;) {
      if (this.#index >= frames.length && !this.#nextPass()) {
        this.#sentAll = true;
        return undefined;
      }
      const frame = frames[this.#index]!;
      const due = this.#streamStart + (this.#pass * feed.media.durationUs + frame.dtsUs) / 1000;
      if (due > until) return due;
      // A configuration change in a skipped frame still applies to what follows.
      if (frame.config) this.#sentConfig.set(frame.track, frame.config);
      this.#framesSkipped++;
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
    clearInterval(this.#pinger);
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
      resumes: this.#resumes,
      restarts: this.#restarts,
      framesSkipped: this.#framesSkipped,
      elapsedMs: performance.now() - this.#startedAt,
    };
    this.#resolve!(result);
  }
}
