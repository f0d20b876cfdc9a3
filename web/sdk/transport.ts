/**
 * The SDK's side of the wire protocol (docs/protocol.md): one WebSocket to
 * the bridge, with backpressure on `bufferedAmount` and resume after a
 * dropped connection (the bridge keeps the session for its grace period;
 * audio produced meanwhile is kept and sent after the resume, video restarts
 * at a keyframe).
 */
import {
  CloseCode, decodeBridgeMessage, encodeMediaFrame, encodeMessage, newSessionKey, SUBPROTOCOL, withSessionKey,
  type AcceptedMessage, type BridgeMessage, type ConfigMessage, type MediaFrame, type StartMessage,
} from "../../protocol/wire.js";
import { BroadcastError } from "./errors.js";

/** Connection states. */
export type TransportState = "idle" | "connecting" | "live" | "reconnecting" | "ended" | "failed";

export interface TransportOptions {
  url: string;
  start: Omit<StartMessage, "type" | "version" | "resume">;
  /** WebSocket buffer level past which non-key video is dropped (default 2 MiB). */
  maxBufferedBytes?: number;
  /** Give up resuming after this long, ms (default 9000: inside the bridge's 10 s grace). */
  resumeWindowMs?: number;
  /**
   * Once the bridge has sent "stats" (it does every second), a connection
   * that brings nothing for this long is taken for dead and resumed, ms
   * (default 5000): a bridge whose host vanished sends no close.
   */
  silenceTimeoutMs?: number;
  onMessage(message: BridgeMessage): void;
  onState(state: TransportState): void;
  /** Video must restart at a keyframe (after a resume or a drop). */
  requestKeyframe(): void;
  onFailed(error: BroadcastError): void;
}

const FATAL = new Set<number>([CloseCode.Normal, CloseCode.ProtocolError, CloseCode.UnsupportedVersion, CloseCode.Forbidden, CloseCode.Timeout, CloseCode.LimitExceeded, CloseCode.AllDestinationsFailed]);

export class Transport {
  readonly #opts: TransportOptions;
  #ws: WebSocket | undefined;
  #state: TransportState = "idle";
  #resumeToken: string | undefined;
  readonly #configs = new Map<number, ConfigMessage>();
  /** Audio kept while reconnecting. */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #needKey = false;
  #lastError: { code: string; message: string } | undefined;
  #framesDropped = 0;
  #stopping: ((value: void) => void) | undefined;
  /**
   * The broadcast's session key, on every URL it opens (?session=): a load
   * balancer hashing on it sends a resume to the bridge holding the session.
   */
  readonly #sessionKey = newSessionKey();
  /** The bridge said "move" (draining): start again at once when it closes. */
  #moving = false;
  /** Silence watchdog (armed once the bridge has sent "stats"). */
  #silence: ReturnType<typeof setTimeout> | undefined;

  constructor(options: TransportOptions) {
    this.#opts = options;
  }

  get state(): TransportState {
    return this.#state;
  }

  /** Frames this side dropped for backpressure or while reconnecting. */
  get framesDropped(): number {
    return this.#framesDropped;
  }

  /** Bytes waiting in the WebSocket. */
  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** Connects and starts the session; resolves with "accepted". */
  async connect(): Promise<AcceptedMessage> {
    this.#setState("connecting");
    const accepted = await this.#open({ type: "start", version: 1, ...this.#opts.start });
    this.#resumeToken = accepted.resumeToken;
    this.#setState("live");
    return accepted;
  }

  /** Sends (and remembers, for resumes) a track config. */
  sendConfig(config: ConfigMessage): void {
    this.#configs.set(config.track, config);
    if (this.#state === "live") this.#ws?.send(encodeMessage(config));
  }

  /** Sends a frame; returns false when it was dropped. */
  sendFrame(frame: MediaFrame, kind: "video" | "audio"): boolean {
    const bytes = encodeMediaFrame(frame);
    if (this.#state === "reconnecting") {
      if (kind === "audio" && this.#heldBytes < 2 * 1024 * 1024) {
        this.#held.push(bytes);
        this.#heldBytes += bytes.byteLength;
        return true;
      }
      this.#framesDropped++;
      if (kind === "video") this.#needKey = true;
      return false;
    }
    if (this.#state !== "live" || !this.#ws) return false;
    if (kind === "video") {
      if (this.#needKey && !frame.keyframe) {
        this.#framesDropped++;
        return false;
      }
      if (!frame.keyframe && this.#ws.bufferedAmount > (this.#opts.maxBufferedBytes ?? 2 * 1024 * 1024)) {
        // The uplink is behind: drop inter frames until the next keyframe.
        this.#needKey = true;
        this.#framesDropped++;
        this.#opts.requestKeyframe();
        return false;
      }
      this.#needKey = false;
    }
    this.#ws.send(bytes);
    return true;
  }

  /** Ends the session cleanly; resolves when the bridge has closed. */
  async stop(): Promise<void> {
    if (this.#state === "ended" || this.#state === "failed" || this.#state === "idle") return;
    const ws = this.#ws;
    if (!ws || this.#state !== "live") {
      this.#setState("ended");
      ws?.close(1000);
      return;
    }
    await new Promise<void>((resolve) => {
      this.#stopping = resolve;
      ws.send(encodeMessage({ type: "stop" }));
      setTimeout(() => {
        ws.close(1000);
        resolve();
      }, 15_000);
    });
    this.#setState("ended");
  }

  /** The session key this broadcast puts on its URLs. */
  get sessionKey(): string {
    return this.#sessionKey;
  }

  /** Closes the socket now (tests: simulate a network drop). */
  dropConnection(): void {
    this.#ws?.close(4999, "dropped by the client");
  }

  #setState(state: TransportState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#opts.onState(state);
  }

  #open(start: StartMessage): Promise<AcceptedMessage> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(withSessionKey(this.#opts.url, this.#sessionKey), SUBPROTOCOL);
      } catch (err) {
        reject(new BroadcastError("BRIDGE_UNREACHABLE", `cannot open a connection to the bridge at ${this.#opts.url}`, { cause: err }));
        return;
      }
      ws.binaryType = "arraybuffer";
      let accepted = false;
      ws.onopen = () => ws.send(encodeMessage(start));
      ws.onmessage = (event: MessageEvent) => {
        if (typeof event.data !== "string") return;
        const msg = decodeBridgeMessage(event.data);
        if (msg.type === "error") this.#lastError = { code: msg.code, message: msg.message };
        if (msg.type === "move") this.#moving = true;
        if (msg.type === "stats" && ws === this.#ws) this.#armSilence(ws);
        if (msg.type === "accepted" && !accepted) {
          accepted = true;
          this.#ws = ws;
          resolve(msg);
        }
        if (msg.type === "ended") this.#stopping?.();
        this.#opts.onMessage(msg);
      };
      ws.onclose = (event: CloseEvent) => {
        if (!accepted) {
          const e = this.#lastError;
          reject(new BroadcastError(e?.code ?? "BRIDGE_UNREACHABLE", e?.message ?? `the bridge at ${this.#opts.url} closed the connection (${event.code})`));
          return;
        }
        if (ws === this.#ws) this.#closed(event.code);
      };
    });
  }

  /** Resumes a connection that brings nothing for silenceTimeoutMs (re-armed by each "stats"). */
  #armSilence(ws: WebSocket): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => {
      if (ws !== this.#ws || this.#state !== "live") return;
      // close() would wait for the dead bridge's answer: take it as closed now,
      // and whatever it still delivers (the path may come back) as stale.
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(4999, "the bridge went silent");
      this.#closed(1006);
    }, this.#opts.silenceTimeoutMs ?? 5000);
  }

  #closed(code: number): void {
    clearTimeout(this.#silence);
    if (this.#state === "ended" || this.#state === "failed") return;
    this.#stopping?.();
    if (this.#stopping) return;
    if (FATAL.has(code) || !this.#resumeToken) {
      const e = this.#lastError;
      if (code === CloseCode.Normal && !e) {
        this.#setState("ended");
        return;
      }
      this.#setState("failed");
      this.#opts.onFailed(new BroadcastError(e?.code ?? "CONNECTION_CLOSED", e?.message ?? `the bridge closed the connection (${code})`));
      return;
    }
    // 1001: the bridge shut down or is draining ("move") and the session (and
    // its resume token) ended with it; 4004: the resume reached a bridge that
    // does not hold the session. Either way: start a new session, wherever
    // the URL (a load balancer) now leads.
    const restart = code === CloseCode.GoingAway || code === CloseCode.SessionNotHere || this.#moving;
    this.#moving = false;
    void this.#reconnect(restart ? "restart" : "resume");
  }

  /**
   * Gets the broadcast going again within the resume window: "resume" takes
   * the session back with the resume token (the upstream publish never
   * stopped); "restart" starts a new session with the same destinations
   * (the upstream publishes start again). Either way the configs are re-sent
   * and video restarts at a keyframe.
   */
  async #reconnect(first: "resume" | "restart"): Promise<void> {
    let how = first;
    this.#setState("reconnecting");
    const deadline = Date.now() + (this.#opts.resumeWindowMs ?? 9000);
    let delay = 250;
    while (Date.now() < deadline && this.#state === "reconnecting") {
      try {
        const start: StartMessage = how === "resume" ? { type: "start", version: 1, destinations: [], resume: this.#resumeToken! } : { type: "start", version: 1, ...this.#opts.start };
        const accepted = await this.#open(start);
        if (how === "resume" && !accepted.resumed) throw new BroadcastError("RESUME_FAILED", "the bridge started a new session instead of resuming");
        this.#resumeToken = accepted.resumeToken;
        for (const config of this.#configs.values()) this.#ws?.send(encodeMessage(config));
        for (const bytes of this.#held) this.#ws?.send(bytes);
        this.#held = [];
        this.#heldBytes = 0;
        this.#needKey = true;
        this.#opts.requestKeyframe();
        this.#setState("live");
        return;
      } catch (err) {
        // The bridge reached does not hold the session (a load balancer sent
        // the resume to another bridge, or it restarted): start a new one now.
        if (err instanceof BroadcastError && err.code === "RESUME_NOT_FOUND" && how === "resume") {
          how = "restart";
          continue;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
    if (this.#state !== "reconnecting") return;
    this.#setState("failed");
    this.#opts.onFailed(
      how === "resume"
        ? new BroadcastError("CONNECTION_LOST", "the connection to the bridge was lost and could not be resumed")
        : new BroadcastError("BRIDGE_SHUTTING_DOWN", "the bridge shut down and no bridge took the broadcast back in time"),
    );
  }
}
