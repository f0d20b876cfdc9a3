/**
 * A bare wire-protocol client for tests: sends exactly what the test says
 * (including malformed input) and records everything the bridge answers.
 */
import WebSocket from "ws";
import { decodeBridgeMessage, encodeMediaFrame, encodeMessage, SUBPROTOCOL, toBase64, type BridgeMessage, type ClientMessage, type MediaFrame } from "../../protocol/wire.js";
import type { FlvAsWire } from "./flv-frames.js";

/** Options of {@link WireTestClient.sendRealtime}. */
export interface RealtimeOptions {
  /** First frame to send (default 0). */
  from?: number;
  /** Stop before this frame (default: the end). */
  to?: number;
  /** performance.now() at media time 0 (default: now minus the first frame's time, so it goes out at once). */
  originMs?: number;
  /** Stop early (before the next frame) when this aborts. */
  signal?: AbortSignal;
}

export class WireTestClient {
  readonly ws: WebSocket;
  readonly messages: BridgeMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Socket errors after the connection opened (a reset, a malformed frame from the bridge). */
  readonly errors: Error[] = [];
  #waiters: Array<() => void> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("error", (err) => this.errors.push(err));
    ws.on("message", (data: Buffer, binary: boolean) => {
      if (!binary) this.messages.push(decodeBridgeMessage(data.toString("utf8")));
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of this.#waiters.splice(0)) w();
    }));
  }

  /** Opens a connection offering the golive.v1 subprotocol (or `protocols`). */
  static async connect(url: string, protocols: string[] = [SUBPROTOCOL], headers?: Record<string, string>): Promise<WireTestClient> {
    const ws = new WebSocket(url, protocols, headers && { headers });
    const client = new WireTestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  send(message: ClientMessage | Record<string, unknown>): void {
    this.ws.send(encodeMessage(message as ClientMessage));
  }

  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  sendFrame(frame: MediaFrame): void {
    this.ws.send(encodeMediaFrame(frame));
  }

  /** Sends the two configs of an FLV's tracks (`videoBitrate` default 1 Mbit/s: the base of congestion advice). */
  sendConfigs(media: FlvAsWire, videoBitrate = 1_000_000): void {
    this.send({ type: "config", track: 0, kind: "video", codec: "avc1.42c01e", description: toBase64(media.avcC), framerate: 30, bitrate: videoBitrate });
    this.send({ type: "config", track: 1, kind: "audio", codec: "mp4a.40.2", description: toBase64(media.asc), bitrate: 128_000 });
  }

  /** Sends every frame, waiting while the socket buffers more than 4 MiB. */
  async sendFrames(frames: readonly MediaFrame[]): Promise<void> {
    for (const f of frames) {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      this.sendFrame(f);
      while (this.ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Asks to take over the session of an earlier "accepted" (the first message on this connection). */
  sendResume(resumeToken: string): void {
    this.send({ type: "start", version: 1, destinations: [], resume: resumeToken });
  }

  /**
   * Sends frames at their own pace, as a live encoder would (ffmpeg -re):
   * frame i goes out when the wall clock reaches `originMs` + its timestamp.
   * Pass the `originMs` of an earlier call to continue on the same clock
   * (after a reconnect, the frames whose time has passed are skipped by the
   * caller, not crammed in). Stops at `to`, when `signal` aborts, or when the
   * socket closes; resolves with the index of the first frame not sent.
   */
  async sendRealtime(frames: readonly MediaFrame[], options: RealtimeOptions = {}): Promise<{ next: number; originMs: number }> {
    const from = options.from ?? 0;
    const to = Math.min(options.to ?? frames.length, frames.length);
    const first = frames[from];
    const originMs = options.originMs ?? performance.now() - (first ? first.timestampUs / 1000 : 0);
    for (let i = from; i < to; i++) {
      const f = frames[i]!;
      const wait = originMs + f.timestampUs / 1000 - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (options.signal?.aborted || this.ws.readyState !== WebSocket.OPEN) return { next: i, originMs };
      this.sendFrame(f);
    }
    return { next: to, originMs };
  }

  /** Resolves once everything sent has left this process (the socket's buffer is empty). */
  async flushed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ws.bufferedAmount > 0) {
      if (Date.now() > deadline) throw new Error(`${this.ws.bufferedAmount} bytes still buffered after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  async waitFor<T extends BridgeMessage["type"]>(type: T, pred: (m: Extract<BridgeMessage, { type: T }>) => boolean = () => true, timeoutMs = 15_000): Promise<Extract<BridgeMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m): m is Extract<BridgeMessage, { type: T }> => m.type === type && pred(m as Extract<BridgeMessage, { type: T }>));
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed before a "${type}" message; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.filter((m) => m.type !== "stats")).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The final state of each destination id. */
  finalStates(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const m of this.messages) if (m.type === "destination") out[m.id] = m.state;
    return out;
  }
}
