/**
 * The RTMP publisher's connection: the only part of the client that touches
 * a socket. TCP via node:net, TLS via node:tls (SNI, certificate checks on
 * by default, an extra trusted CA as an option). It drives the I/O-free
 * RtmpPublishClient, enforces timeouts, maps socket errors to readable
 * RtmpErrors, and tracks what is queued (bytes and milliseconds of media)
 * so the session layer can apply the congestion policy.
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import tls from "node:tls";
import type { AmfValue, AudioTagHeader, Core, VideoTagHeader } from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { RtmpError, RtmpErrorCode } from "./rtmp-errors.js";
import { HANDSHAKE_BYTES, RtmpPublishClient, type PublishClientOptions, type PublishState } from "./rtmp-client.js";
import { parseRtmpUrl, redact, type RtmpUrl } from "./rtmp-url.js";

export interface RtmpPublisherOptions extends Omit<PublishClientOptions, "url"> {
  /** rtmp(s)://host[:port]/app[/instance]/key[?query], or a parsed RtmpUrl. */
  url: string | RtmpUrl;
  /** Stream key given apart from the URL (then the URL holds only the app). */
  streamKey?: string;
  /** The core to use (default: one shared per process). */
  core?: Core;
  /** TCP (and TLS) connect timeout, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Handshake timeout from TCP connect to S2, ms (default 10,000). */
  handshakeTimeoutMs?: number;
  /** From TCP connect to NetStream.Publish.Start, ms (default 15,000). */
  startTimeoutMs?: number;
  /** TLS: extra CA certificates to trust (PEM), e.g. a private ingest's CA. */
  ca?: string | Buffer | (string | Buffer)[];
  /** TLS: verify the certificate (default true). Turning it off is for tests only. */
  rejectUnauthorized?: boolean;
  /** Resolve names (e.g. the SSRF guard's checked lookup). Default: the OS resolver. */
  lookup?: net.LookupFunction;
  /** Called with the peer address once connected, before any byte is sent; throw to refuse it. */
  checkAddress?: (address: string, family: string) => void;
  /** Socket write buffer level at which send* return false (default 1 MiB). */
  highWaterMark?: number;
}

/** How a publisher measures its backlog (see RtmpPublisher.backlogSource). */
export type BacklogSource = "acks" | "pending" | "socket";

/** Snapshot of a publisher's counters. */
export interface RtmpPublisherStats {
  state: PublishState | "idle";
  bytesSent: number;
  bytesReceived: number;
  /** Waiting in user space (bytes, media ms). */
  queuedBytes: number;
  queuedMs: number;
  /** Sent and not yet delivered, kernel and network included (bytes, media ms; see backlogSource). */
  backlogBytes: number;
  backlogMs: number;
  backlogSource: BacklogSource;
  /** Acknowledgements received from the server. */
  acksReceived: number;
}

export interface RtmpPublisherEvents {
  state: [PublishState];
  warning: [string];
  /** The queue emptied after a send* returned false (as a Node stream's "drain"). */
  drain: [];
  /** More of what was sent reached the server (an Acknowledgement; or, without them, the kernel took a write). */
  delivered: [];
  /** Failure after publish() resolved (before that, publish() rejects). */
  error: [RtmpError];
  /** The connection is gone (clean or not). */
  close: [];
}

let sharedCore: Promise<Core> | undefined;

/** No Acknowledgement this long after a window went out: the server sends none, ms. */
const NO_ACK_MS = 1500;
/** More than a kernel's send buffer can hold (Linux: tcp_wmem's 4 MiB maximum, doubled). */
const KERNEL_BYTES = 8 * 1024 * 1024;
/** After an Acknowledgement, the window that follows it is counted in as delivered over this long, ms. */
const ACK_RAMP_MS = 200;

/** Sent without a single Acknowledgement back: warn that the backlog measure is blind to the kernel. */
const NO_ACK_WARNING_BYTES = 1024 * 1024;

/** A one-shot RTMP(S) publisher: publish(), send media, close(). */
export class RtmpPublisher extends EventEmitter<RtmpPublisherEvents> {
  readonly url: RtmpUrl;
  readonly #options: RtmpPublisherOptions;
  #client: RtmpPublishClient | undefined;
  #socket: net.Socket | undefined;
  #state: PublishState | "idle" = "idle";
  #error: RtmpError | undefined;
  /**
   * Media messages that may not be delivered yet, as pairs [end offset,
   * timestamp], oldest first from `#markHead`; the offsets count bytes sent
   * after the handshake, as the server's Acknowledgements do. Kept until
   * acknowledged; until the first Acknowledgement (it may never come), until
   * KERNEL_BYTES past what the kernel took.
   */
  #mediaMarks: number[] = [];
  #markHead = 0;
  #lastMediaTs = 0;
  #warnedNoAcks = false;
  /** Closed cleanly: the server read everything (see close()). */
  #allDelivered = false;
  /** performance.now() of the last Acknowledgement. */
  #lastAckAt = 0;
  /** When a window was first in the kernel's hands without an Acknowledgement. */
  #windowTakenAt: number | undefined;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  /** close() or destroy() was called: a pending or later publish() must not go on. */
  #stopRequested = false;
  /** A send* returned false: "drain" is due when the queue empties. */
  #needDrain = false;

  constructor(options: RtmpPublisherOptions) {
    super();
    const hwm = options.highWaterMark;
    if (hwm !== undefined && (!Number.isInteger(hwm) || hwm < 1)) throw new TypeError(`highWaterMark must be a positive integer, got ${hwm}`);
    this.url = typeof options.url === "string" ? parseRtmpUrl(options.url, options.streamKey) : options.url;
    this.#options = options;
  }

  get state(): PublishState | "idle" {
    return this.#state;
  }

  /** Bytes waiting in user space for the socket. */
  get queuedBytes(): number {
    return this.#socket?.writableLength ?? 0;
  }

  /** Milliseconds of media between the oldest media message still in user space and the newest. */
  get queuedMs(): number {
    return this.#client ? this.#msFrom(this.#handedOver) : 0;
  }

  /** Of the bytes sent after the handshake, those the kernel has taken. */
  get #handedOver(): number {
    return Math.max(0, (this.#client?.bytesSent ?? 0) - this.queuedBytes);
  }

  /** Bytes written to the socket, handshake included (socket.bytesWritten). */
  get bytesWritten(): number {
    return this.#socket?.bytesWritten ?? 0;
  }

  /** Bytes of RTMP messages sent after the handshake (the count the server's Acknowledgements are in). */
  get sentBytes(): number {
    return this.#client?.bytesSent ?? 0;
  }

  /**
   * How the backlog is measured:
   * - "acks" once the server has sent an Acknowledgement (what it received,
   *   to within one window);
   * - "pending" before that: one window counts as delivered, the rest not
   *   yet (the first Acknowledgement comes once a window has reached the
   *   server);
   * - "socket" when none came NO_ACK_MS after a window (and the handshake's
   *   slack) was in the kernel's hands: a server that does not acknowledge
   *   (Node-Media-Server). Only user space is seen then: the kernel's send
   *   buffer is invisible.
   */
  get backlogSource(): BacklogSource {
    const client = this.#client;
    if (!client || client.acksReceived > 0) return client ? "acks" : "pending";
    if (this.#windowTakenAt === undefined) {
      if (this.#handedOver < client.windowAckSize + HANDSHAKE_BYTES) return "pending";
      this.#windowTakenAt = performance.now();
    }
    return performance.now() - this.#windowTakenAt >= NO_ACK_MS ? "socket" : "pending";
  }

  /** Of `sentBytes`, how much has reached the server (see backlogSource). */
  get deliveredBytes(): number {
    const client = this.#client;
    if (!client) return 0;
    if (this.#allDelivered) return client.bytesSent;
    const handedOver = this.#handedOver;
    // Before the first Acknowledgement none is due until a window has gone
    // out: up to one window counts as delivered (as after any Acknowledgement).
    if (client.acksReceived === 0) return this.backlogSource === "socket" ? handedOver : Math.min(handedOver, client.windowAckSize);
    // Between Acknowledgements the server has received up to one window more
    // than it acknowledged (it acknowledges each time a window has come in,
    // and never a window's tail when nothing follows). Count that window in
    // over ACK_RAMP_MS after each Acknowledgement: the estimate is off by at
    // most one window, and an idle stream's tail does not read as backlog.
    const ramp = Math.min(1, (performance.now() - this.#lastAckAt) / ACK_RAMP_MS);
    return Math.min(handedOver, client.bytesAcknowledged + Math.round(client.windowAckSize * ramp));
  }

  /**
   * Progress the ingest has confirmed: acknowledged bytes (with
   * Acknowledgements) or bytes the kernel took (without). It moves only when
   * something really moved: a connection whose `stuckBytes` is above 0 and
   * whose progress stands still is stalled.
   */
  get progressBytes(): number {
    const client = this.#client;
    if (!client) return 0;
    return client.acksReceived > 0 ? client.bytesAcknowledged : this.#handedOver;
  }

  /** Bytes that should already have produced progress: beyond one window unacknowledged, or any still in user space. */
  get stuckBytes(): number {
    const client = this.#client;
    if (!client) return 0;
    if (client.acksReceived === 0) return this.queuedBytes;
    return Math.max(0, client.bytesSent - client.bytesAcknowledged - client.windowAckSize - HANDSHAKE_BYTES);
  }

  /** The Acknowledgement window announced, bytes (the backlog measure's resolution). */
  get ackWindow(): number {
    return this.#client?.windowAckSize ?? 0;
  }

  /** Bytes sent and not yet delivered: the user-space queue, the kernel's send buffer and the network. */
  get backlogBytes(): number {
    return Math.max(0, this.sentBytes - this.deliveredBytes);
  }

  /** Milliseconds of media between the oldest media message not yet delivered and the newest sent. */
  get backlogMs(): number {
    return this.#msFrom(this.deliveredBytes);
  }

  /** Timestamp of the oldest media message not yet delivered (undefined: none). */
  get oldestUndeliveredTs(): number | undefined {
    const i = this.#firstMarkAfter(this.deliveredBytes);
    return i < this.#mediaMarks.length ? this.#mediaMarks[i + 1] : undefined;
  }

  /** Media time from the first message ending after `offset` to the newest. */
  #msFrom(offset: number): number {
    const i = this.#firstMarkAfter(offset);
    return i < this.#mediaMarks.length ? Math.max(0, this.#lastMediaTs - this.#mediaMarks[i + 1]!) : 0;
  }

  /** Index of the first mark whose message ends after `offset` (binary search: offsets only grow). */
  #firstMarkAfter(offset: number): number {
    const marks = this.#mediaMarks;
    let lo = this.#markHead / 2;
    let hi = marks.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (marks[mid * 2]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo * 2;
  }

  /** Forgets marks no measure can need again (see #mediaMarks). Runs on every write. */
  #trimMarks(): void {
    const client = this.#client;
    if (!client) return;
    const keepAfter = client.acksReceived > 0 ? client.bytesAcknowledged : this.#handedOver - KERNEL_BYTES;
    this.#markHead = Math.max(this.#markHead, this.#firstMarkAfter(keepAfter));
    if (this.#markHead >= 2048) {
      this.#mediaMarks.splice(0, this.#markHead);
      this.#markHead = 0;
    }
  }

  stats(): RtmpPublisherStats {
    return {
      state: this.#state,
      bytesSent: this.#socket?.bytesWritten ?? 0,
      bytesReceived: this.#client?.bytesReceived ?? 0,
      queuedBytes: this.queuedBytes,
      queuedMs: this.queuedMs,
      backlogBytes: this.backlogBytes,
      backlogMs: this.backlogMs,
      backlogSource: this.backlogSource,
      acksReceived: this.#client?.acksReceived ?? 0,
    };
  }

  /** Connects, handshakes, connects the app and publishes. Resolves when live. */
  async publish(): Promise<void> {
    if (this.#state !== "idle") throw new TypeError("publish() can be called once");
    this.#state = "handshake";
    const core = this.#options.core ?? (await (sharedCore ??= loadCoreNode()));
    const connectTimeout = this.#options.connectTimeoutMs ?? 10_000;
    const handshakeTimeout = this.#options.handshakeTimeoutMs ?? 10_000;
    const startTimeout = this.#options.startTimeoutMs ?? 15_000;
    if (this.#stopRequested) {
      // close() or destroy() came while the core was loading.
      this.#state = "closed";
      throw notLiveClosed(this.url);
    }

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: RtmpError): void => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };

      const client = new RtmpPublishClient(core, { ...this.#options, url: this.url }, {
        send: (bytes, ts) => this.#write(bytes, ts),
        state: (s) => {
          this.#state = s;
          if (s === "live") {
            this.#clearTimers();
            settle();
          } else if (s === "closed") {
            // close()/destroy() before live: publish() must not stay pending.
            this.#clearTimers();
            settle(notLiveClosed(this.url));
          }
          this.emit("state", s);
        },
        warning: (m) => this.emit("warning", redact(m, this.url.secrets)),
        fail: (err) => this.#failed(err, settled, settle),
      });
      this.#client = client;

      // The address policy runs before any packet leaves: on an IP literal
      // here, on names inside the lookup, and again on the connected peer.
      const refused = refusedLiteral(this.url, this.#options.checkAddress);
      if (refused !== undefined) {
        // Fails like every other path (state "failed", `error` set, the
        // client's core buffers freed, publish() rejects); no socket is
        // opened, so no "close" follows.
        client.abort(notAllowed(refused));
        return;
      }
      const socket = this.#openSocket();
      this.#socket = socket;
      this.#timers.push(setTimeout(() => {
        client.abort(new RtmpError(RtmpErrorCode.ConnectTimeout, `could not connect to ${this.url.host}:${this.url.port} within ${connectTimeout} ms`));
      }, connectTimeout));

      socket.once(this.url.tls ? "secureConnect" : "connect", () => {
        this.#clearTimers();
        try {
          this.#options.checkAddress?.(socket.remoteAddress ?? "", socket.remoteFamily ?? "");
        } catch (err) {
          client.abort(notAllowed(err));
          return;
        }
        this.#timers.push(setTimeout(() => {
          if (client.state === "handshake") {
            client.abort(new RtmpError(RtmpErrorCode.HandshakeTimeout, `the server at ${this.url.host}:${this.url.port} did not complete the RTMP handshake within ${handshakeTimeout} ms`));
          }
        }, handshakeTimeout));
        this.#timers.push(setTimeout(() => {
          if (client.state !== "live") {
            client.abort(new RtmpError(RtmpErrorCode.StartTimeout, `the server did not accept the publish within ${startTimeout} ms (stuck in ${client.state})`));
          }
        }, startTimeout));
        client.start();
      });
      socket.on("data", (chunk: Buffer) => {
        const acks = client.acksReceived;
        client.receive(chunk);
        if (client.acksReceived !== acks) {
          this.#lastAckAt = performance.now();
          this.emit("delivered");
        }
      });
      socket.on("error", (err: NodeJS.ErrnoException) => {
        // A reset in answer to publish is the same refusal as a close (a
        // server that closes with our bytes unread sends RST, not FIN).
        const reset = err.code === "ECONNRESET" || err.code === "EPIPE";
        client.abort(reset && client.state === "publishing" ? rejectedByClose() : socketError(err, this.url));
      });
      socket.on("close", () => {
        this.#clearTimers();
        if (client.state === "publishing") {
          // nginx-rtmp's on_publish denial, YouTube and Twitch with a wrong
          // key all answer publish by closing the connection.
          client.abort(rejectedByClose());
        } else if (client.state !== "closed" && client.state !== "failed") {
          const during = client.state === "live" ? "" : ` during ${client.state}`;
          client.abort(new RtmpError(RtmpErrorCode.ServerClosed, `the server closed the connection${during}`));
        }
        this.#closed = true;
        this.emit("close");
      });
    });
  }

  /** Sends @setDataFrame onMetaData. */
  sendMetadata(metadata: Record<string, AmfValue>): boolean {
    this.#live().sendMetadata(metadata);
    return this.#underHighWater();
  }

  /** Sends a video message; false when the caller should wait for "drain". */
  sendVideo(timestamp: number, header: VideoTagHeader, payload: Uint8Array): boolean {
    this.#live().sendVideo(timestamp, header, payload);
    return this.#underHighWater();
  }

  /** Sends an audio message; false when the caller should wait for "drain". */
  sendAudio(timestamp: number, header: AudioTagHeader, payload: Uint8Array): boolean {
    this.#live().sendAudio(timestamp, header, payload);
    return this.#underHighWater();
  }

  /**
   * Unpublishes (FCUnpublish + deleteStream), flushes and closes the socket.
   * Resolves when the socket is closed (bounded by `timeoutMs`, default 5 s):
   * true when the server closed its side in answer (it read everything
   * sent), false when the bound passed or the connection failed.
   */
  async close(timeoutMs = 5_000): Promise<boolean> {
    this.#stopRequested = true;
    const socket = this.#socket;
    if (!socket || this.#closed) {
      this.#client?.close();
      return false;
    }
    this.#client?.close();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, timeoutMs);
      socket.once("close", () => {
        clearTimeout(timer);
        // The server closed its side after reading up to our FIN: it has everything.
        if (!socket.errored) this.#allDelivered = true;
        resolve(!socket.errored);
      });
      socket.end();
    });
  }

  /**
   * Closes at once without unpublishing. A pending publish() rejects with
   * RTMP_NOT_LIVE; no "error" event follows (the close was ours, not the
   * server's). A TCP connection is reset (RST), not ended: after a FIN the
   * kernel would still deliver what it holds for the socket (megabytes
   * behind a slow link, for as long as that link needs), keeping the
   * server's side of the publish alive ("already publishing" to a
   * reconnect) and competing with the new connection for the link.
   */
  destroy(): void {
    this.#stopRequested = true;
    this.#clearTimers();
    // Destroy first: the client's FCUnpublish/deleteStream then go nowhere.
    const socket = this.#socket;
    // A TLS socket's handle is not the TCP one: it can only be closed.
    if (socket && !socket.destroyed && !socket.connecting && !(socket instanceof tls.TLSSocket)) socket.resetAndDestroy();
    else socket?.destroy();
    this.#client?.close();
  }

  #live(): RtmpPublishClient {
    if (!this.#client || this.#state !== "live") {
      throw new RtmpError(RtmpErrorCode.NotLive, `cannot send media: the publish to ${this.url.redacted} is ${this.#state}`);
    }
    return this.#client;
  }

  /** After a send: false (and a "drain" owed) when the queue is at or over the high-water mark. */
  #underHighWater(): boolean {
    if (this.queuedBytes < this.#highWaterMark()) return true;
    this.#needDrain = true;
    return false;
  }

  /**
   * Write callback: a message reached the kernel. "drain" is ours, not the
   * socket's: the socket's comes only when its own write() returned false,
   * at its own 16 KiB high-water mark, so with a lower highWaterMark it would
   * never come and with a higher one it would come when nobody waits.
   */
  readonly #onFlushed = (): void => {
    if (this.#client && this.#client.acksReceived === 0) this.emit("delivered");
    if (this.#needDrain && this.queuedBytes === 0 && this.#socket?.destroyed === false) {
      this.#needDrain = false;
      this.emit("drain");
    }
  };

  #highWaterMark(): number {
    return this.#options.highWaterMark ?? 1024 * 1024;
  }

  #openSocket(): net.Socket {
    const { host, port } = this.url;
    const lookup = checkedLookup(this.#options.lookup, this.#options.checkAddress);
    if (this.url.tls) {
      const isIp = net.isIP(host) !== 0;
      return tls.connect({
        host,
        port,
        ...(isIp ? {} : { servername: host }),
        ...(this.#options.ca !== undefined && { ca: [...tls.rootCertificates, ...[this.#options.ca].flat()] }),
        rejectUnauthorized: this.#options.rejectUnauthorized ?? true,
        ...(lookup && { lookup }),
      }).setNoDelay(true);
    }
    return net.connect({ host, port, noDelay: true, ...(lookup && { lookup }) });
  }

  #write(bytes: Uint8Array, mediaTs?: number): void {
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    if (mediaTs !== undefined) {
      // The client counted these bytes before handing them over.
      this.#mediaMarks.push(this.#client!.bytesSent, mediaTs);
      this.#lastMediaTs = mediaTs;
    }
    socket.write(bytes, this.#onFlushed);
    this.#trimMarks();
    if (!this.#warnedNoAcks && mediaTs !== undefined && this.#client!.acksReceived === 0 && this.#client!.bytesSent > NO_ACK_WARNING_BYTES) {
      this.#warnedNoAcks = true;
      this.emit("warning", `the server has acknowledged none of the first ${NO_ACK_WARNING_BYTES / 1024 / 1024} MiB: the backlog measure sees only the bridge's own queue, not the kernel's`);
    }
  }

  #failed(err: RtmpError, settled: boolean, settle: (err?: RtmpError) => void): void {
    this.#error = err;
    this.#clearTimers();
    this.#socket?.destroy();
    if (settled) this.emit("error", err);
    else settle(err);
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }

  /** The error that ended the publish, if any. */
  get error(): RtmpError | undefined {
    return this.#error;
  }
}

/** Options of {@link probeReachable}: the publisher's address policy, and a timeout. */
export type ProbeOptions = Pick<RtmpPublisherOptions, "lookup" | "checkAddress"> & { timeoutMs?: number };

/**
 * Does the ingest's port accept a TCP connection? A cheap check between
 * reconnect attempts (no TLS, no RTMP: connect, then reset). The address
 * policy applies exactly as for a publish: a refused address is "no", and
 * no packet goes to it. Never rejects.
 */
export function probeReachable(url: RtmpUrl, options: ProbeOptions = {}): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const lookup = checkedLookup(options.lookup, options.checkAddress);
    if (refusedLiteral(url, options.checkAddress) !== undefined) {
      resolve(false);
      return;
    }
    const socket = net.connect({ host: url.host, port: url.port, ...(lookup && { lookup }) });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      if (!socket.destroyed && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), options.timeoutMs ?? 1000);
    socket.once("connect", () => {
      try {
        options.checkAddress?.(socket.remoteAddress ?? "", socket.remoteFamily ?? "");
      } catch {
        done(false);
        return;
      }
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

/** The address policy's refusal of a URL whose host is an IP literal (undefined: allowed, or a name: checked in the lookup). */
function refusedLiteral(url: RtmpUrl, check: ((address: string, family: string) => void) | undefined): unknown {
  const family = net.isIP(url.host);
  if (!check || family === 0) return undefined;
  try {
    check(url.host, family === 6 ? "IPv6" : "IPv4");
    return undefined;
  } catch (err) {
    return err ?? new Error("address not allowed");
  }
}

/** publish() settled by close() or destroy() before the server accepted it. */
function notLiveClosed(url: RtmpUrl): RtmpError {
  return new RtmpError(RtmpErrorCode.NotLive, `the publish to ${url.redacted} was closed before the server accepted it`);
}

/** The server closed or reset the connection in answer to publish. */
function rejectedByClose(): RtmpError {
  return new RtmpError(RtmpErrorCode.PublishRejected, "the server rejected the stream key (it closed the connection in answer to publish)");
}

/** The refusal of the address policy as an RtmpError (code DEST_NOT_ALLOWED). */
function notAllowed(err: unknown): RtmpError {
  if (err instanceof RtmpError) return err;
  return new RtmpError("DEST_NOT_ALLOWED", err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * Wraps a lookup so that every address it returns passes `check` before the
 * socket connects to it; a refused address fails the lookup with
 * DEST_NOT_ALLOWED, so no packet is sent to it.
 */
function checkedLookup(lookup: net.LookupFunction | undefined, check: ((address: string, family: string) => void) | undefined): net.LookupFunction | undefined {
  if (!check) return lookup;
  const base = lookup ?? dnsLookup;
  return ((hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    base(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const list: LookupAddress[] = Array.isArray(address) ? address : [{ address, family: family ?? 4 }];
      try {
        for (const a of list) check(a.address, a.family === 6 ? "IPv6" : "IPv4");
      } catch (refusal) {
        return callback(notAllowed(refusal), address, family);
      }
      callback(null, address, family);
    });
  });
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT", "CERT_UNTRUSTED", "CERT_REVOKED", "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** Maps a socket error to a readable RtmpError. */
function socketError(err: NodeJS.ErrnoException, url: RtmpUrl): RtmpError {
  const where = `${url.host}:${url.port}`;
  const code = err.code ?? "";
  if (err instanceof RtmpError) return err;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NODATA" || code === "EAI_NONAME") {
    return new RtmpError(RtmpErrorCode.DnsFailed, `could not find the server "${url.host}": check the stream URL (${code})`, { cause: err });
  }
  if (code === "ECONNREFUSED") {
    return new RtmpError(RtmpErrorCode.ConnectionRefused, `nothing accepts RTMP connections at ${where}: check the stream URL and port`, { cause: err });
  }
  if (code === "ETIMEDOUT") {
    return new RtmpError(RtmpErrorCode.ConnectTimeout, `connecting to ${where} timed out`, { cause: err });
  }
  if (TLS_CODES.has(code) || code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) {
    return new RtmpError(RtmpErrorCode.TlsFailed, `the secure connection to ${where} failed: ${err.message} (${code})`, { cause: err });
  }
  if (code === "ECONNRESET" || code === "EPIPE") {
    return new RtmpError(RtmpErrorCode.ServerClosed, `the server at ${where} reset the connection`, { cause: err });
  }
  return new RtmpError(RtmpErrorCode.NetworkError, `network error talking to ${where}: ${redact(err.message, url.secrets)}${code ? ` (${code})` : ""}`, { cause: err });
}
