/**
 * A small, deliberately scriptable RTMP server for tests. NOT a production
 * server: it serves one publisher at a time well enough to drive the client
 * through its states, and exists to misbehave on purpose.
 *
 * It listens on 127.0.0.1:0, answers the handshake (RTMP 1.0 §5.2; or
 * answers it wrongly, slowly or never), reads the client's chunk stream with
 * our own ChunkReader and records every message (type, csid, stream id,
 * timestamp, payload, decoded AMF for commands and data) and every raw byte,
 * and answers connect, releaseStream, FCPublish, createStream and publish
 * (§7.2) the way nginx-rtmp does, each answer configurable. Replies are
 * chunked with our ChunkWriter and encoded with encodeAmf0; hostile bytes
 * (bad chunk sizes, unknown chunk streams, huge lengths) are written raw.
 *
 * Hooks run at each stage (after the handshake, after the connect answer,
 * after Publish.Start) and on every message, so a test can inject bytes or
 * close the socket exactly where it wants.
 */
import net from "node:net";
import {
  ChunkReader, ChunkWriter, decodeAmf0, encodeAmf0, MessageType, type AmfValue, type Core,
} from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { LOOPBACK } from "../../server/testing/ports.js";

const HANDSHAKE_SIZE = 1536;

/** Chunk stream ids the server writes on (as nginx-rtmp does). */
export const ServerCsid = { Control: 2, Command: 3, Status: 5 } as const;

/** One message the client sent. */
export interface ReceivedMessage {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  /** Payload length on the wire. */
  readonly length: number;
  /** The payload (empty for audio/video when `recordMedia` is off). */
  readonly payload: Uint8Array;
  /** Decoded AMF0 values of a command (type 20, 17) or data message (18). */
  readonly amf?: AmfValue[];
  /** The command name (first AMF value) of a command or data message. */
  readonly name?: string;
  /** Raw bytes received on this connection (handshake included) when the message completed. */
  readonly receivedAt: number;
}

/** How the server answers a command: its _result, an _error, or nothing. */
export type Reply = "result" | "error" | "silent";

export interface ScriptedServerOptions {
  /** S0's version byte (default 3; 6 is RTMPE, 0x48 is what an HTTP server's "HTTP/1.1" starts with). */
  version?: number;
  /**
   * "answer" (default): S0+S1+S2 at once; "never": accept TCP and stay
   * silent; "slow": S0, S1 and S2 one after another, `handshakeDelayMs` apart.
   */
  handshake?: "answer" | "never" | "slow";
  /** Delay between handshake pieces for "slow" (default 100 ms). */
  handshakeDelayMs?: number;
  /** S2 echoes C1 (default true); false fills S2 with 0xEE. */
  echoC1?: boolean;
  /**
   * connect: "success" (default: nginx-rtmp's Window Ack Size, Set Peer
   * Bandwidth, Set Chunk Size, then _result), "reject" (_error with
   * NetConnection.Connect.Rejected), "silent".
   */
  connect?: "success" | "reject" | "silent";
  /** Window Ack Size the server announces before its connect _result (default 5,000,000 as nginx-rtmp; 0 = none). */
  serverWindowAckSize?: number;
  /** Set Peer Bandwidth the server sends before its connect _result (default 5,000,000; 0 = none). */
  serverPeerBandwidth?: number;
  /** Set Chunk Size the server announces before its connect _result (default 4096; 0 = none, stays 128). */
  serverChunkSize?: number;
  releaseStream?: Reply;
  fcPublish?: Reply;
  createStream?: Reply;
  /** The stream id createStream returns (default 1). */
  streamId?: number;
  /** publish: "start" (default), "silent", or the code of an error onStatus, e.g. "NetStream.Publish.BadName". */
  publish?: string;
  /** Keep the server's side open after the client's FIN (default false: answer it with ours). */
  ignoreFin?: boolean;
  /** Keep audio/video payloads (default true; turn off when sending megabytes). */
  recordMedia?: boolean;
  /** Most raw chunk-stream bytes kept for `chunkBytes()` (default 1 MiB); all are counted. */
  rawLimit?: number;
  /** After the server has read C2: the chunk stream starts. */
  afterHandshake?: (c: ScriptedConnection) => void;
  /** After the server answered connect (or, with connect "silent", after it received it). */
  afterConnect?: (c: ScriptedConnection) => void;
  /** After the server sent NetStream.Publish.Start. */
  afterPublishStart?: (c: ScriptedConnection) => void;
  /** Every message from the client, before the default handling; return true to skip it. */
  onMessage?: (c: ScriptedConnection, msg: ReceivedMessage) => boolean | void;
}

/** Big-endian u32 bytes. */
export function u32be(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0);
  return b;
}

/**
 * One chunk with a fmt 0 header (§5.3.1), built by hand so that a test can
 * write what our ChunkWriter refuses to (any csid 2..65599, any length field).
 * `length` defaults to the payload's; the payload is written as is, in one chunk.
 */
export function rawChunk(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array, length = payload.length): Uint8Array {
  const basic = csid < 64 ? [csid] : csid < 320 ? [0, csid - 64] : [1, (csid - 64) & 0xff, (csid - 64) >> 8];
  const ext = timestamp >= 0xffffff;
  const header = [
    ...basic, // fmt 0 (top two bits zero) + csid
    ...[ext ? 0xffffff : timestamp].flatMap((t) => [(t >> 16) & 0xff, (t >> 8) & 0xff, t & 0xff]), // timestamp
    (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, // message length
    type, // message type id
    streamId & 0xff, (streamId >> 8) & 0xff, (streamId >> 16) & 0xff, (streamId >>> 24) & 0xff, // stream id, little-endian
    ...(ext ? [...u32be(timestamp)] : []), // extended timestamp
  ];
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** The server side of one client connection. */
export class ScriptedConnection {
  readonly socket: net.Socket;
  /** Every message the client sent, in order. */
  readonly received: ReceivedMessage[] = [];
  /** C0 + C1 as the client sent them (empty until they arrived). */
  c0c1 = new Uint8Array(0);
  /** C2 as the client sent it. */
  c2 = new Uint8Array(0);
  /** S1 as the server sent it. */
  readonly s1: Uint8Array;
  /** Raw bytes received from the client, handshake included. */
  bytesReceived = 0;
  /** Raw bytes written to the client, handshake included. */
  bytesSent = 0;
  /** A chunk stream error in what the client sent (a client bug), if any. */
  protocolError: Error | undefined;
  /** True once the client ended its side (FIN). */
  ended = false;
  /** Resolves when the socket is closed. */
  readonly closed: Promise<void>;
  /** Where the connection is: "handshake" (C0/C1 or C2 awaited) or "chunks". */
  phase: "handshake" | "chunks" = "handshake";

  readonly #opts: ScriptedServerOptions;
  readonly #reader: ChunkReader;
  readonly #writer: ChunkWriter;
  readonly #core: Core;
  #hs = new Uint8Array(0);
  #raw: Uint8Array[] = [];
  #rawKept = 0;
  #waiters: { match: (m: ReceivedMessage) => boolean; resolve: (m: ReceivedMessage) => void }[] = [];
  #timers: NodeJS.Timeout[] = [];
  #disposed = false;

  constructor(core: Core, socket: net.Socket, options: ScriptedServerOptions) {
    this.#core = core;
    this.socket = socket;
    this.#opts = options;
    this.#reader = new ChunkReader(core, { maxMessageLength: 0xffffff, maxChunkStreams: 64 });
    this.#writer = new ChunkWriter(core);
    this.s1 = new Uint8Array(HANDSHAKE_SIZE);
    this.s1.set([0, 0, 0, 0, 0, 0, 0, 0]); // time 0, then zero
    for (let i = 8; i < HANDSHAKE_SIZE; i++) this.s1[i] = (i * 13 + 7) & 0xff;
    this.closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => {
      this.ended = true;
      // Answer the client's FIN with ours, as a server does.
      if (!socket.destroyed && options.ignoreFin !== true) socket.end();
    });
    socket.on("error", () => undefined); // resets from a failing client are expected
    socket.on("close", () => this.#dispose());
  }

  /** Commands and data messages the client sent, by name, in order. */
  names(): string[] {
    return this.received.filter((m) => m.name !== undefined).map((m) => m.name!);
  }

  /** The first message with this command name. */
  command(name: string): ReceivedMessage | undefined {
    return this.received.find((m) => m.name === name);
  }

  /** Raw bytes the client sent after C2 (up to `rawLimit`). */
  chunkBytes(): Uint8Array {
    return Buffer.concat(this.#raw);
  }

  /** Resolves with the first message (already received or to come) that matches. */
  waitFor(match: (m: ReceivedMessage) => boolean, timeoutMs = 3000): Promise<ReceivedMessage> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<ReceivedMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`scripted server: no matching message within ${timeoutMs} ms (got ${this.names().join(", ")})`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (m: ReceivedMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Waits for a command or data message by name. */
  waitForName(name: string, timeoutMs = 3000): Promise<ReceivedMessage> {
    return this.waitFor((m) => m.name === name, timeoutMs);
  }

  // --- what a test can send -------------------------------------------------

  /** Writes bytes as they are. */
  sendRaw(bytes: Uint8Array): void {
    if (this.socket.destroyed) return;
    this.bytesSent += bytes.length;
    this.socket.write(bytes);
  }

  /**
   * Chunks a message with the server's ChunkWriter without sending it (the
   * writer's header state advances), so a test can send the bytes in parts.
   */
  encodeMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): Uint8Array {
    return this.#writer.write(csid, type, streamId, timestamp, payload);
  }

  /** Chunks a message with the server's ChunkWriter and sends it. */
  sendMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): void {
    if (this.#disposed) return;
    this.sendRaw(this.#writer.write(csid, type, streamId, timestamp, payload));
  }

  /** An AMF0 command: name, transaction id, then the arguments. */
  sendCommand(values: AmfValue[], streamId = 0, csid: number = ServerCsid.Command): void {
    if (this.#disposed) return;
    this.sendMessage(csid, MessageType.CommandAmf0, streamId, 0, encodeAmf0(this.#core, values));
  }

  /** onStatus(0, null, {level, code, description}) on the publish stream. */
  sendOnStatus(code: string, level = "status", description = code, streamId = this.#opts.streamId ?? 1): void {
    this.sendCommand(["onStatus", 0, null, { level, code, description }], streamId, ServerCsid.Status);
  }

  /**
   * Set Chunk Size (type 1) with any 32-bit value. Values the writer accepts
   * (128..0x7FFFFFFF) also become the server's outgoing chunk size.
   */
  setChunkSize(size: number): void {
    this.sendMessage(ServerCsid.Control, MessageType.SetChunkSize, 0, 0, u32be(size));
    if (size >= 128 && size <= 0x7fffffff) this.#writer.setChunkSize(size);
  }

  /** Window Acknowledgement Size (type 5). */
  windowAckSize(size: number): void {
    this.sendMessage(ServerCsid.Control, MessageType.WindowAckSize, 0, 0, u32be(size));
  }

  /** Set Peer Bandwidth (type 6): size, limit type (0 hard, 1 soft, 2 dynamic). */
  setPeerBandwidth(size: number, limitType = 2): void {
    const payload = new Uint8Array(5);
    payload.set(u32be(size));
    payload[4] = limitType;
    this.sendMessage(ServerCsid.Control, MessageType.SetPeerBandwidth, 0, 0, payload);
  }

  /** User Control Ping Request (type 4, event 6) with a timestamp. */
  pingRequest(timestamp: number): void {
    const payload = new Uint8Array(6);
    const v = new DataView(payload.buffer);
    v.setUint16(0, 6);
    v.setUint32(2, timestamp >>> 0);
    this.sendMessage(ServerCsid.Control, MessageType.UserControl, 0, 0, payload);
  }

  /** User Control Stream Begin (type 4, event 0). */
  streamBegin(streamId: number): void {
    const payload = new Uint8Array(6);
    payload.set(u32be(streamId), 2);
    this.sendMessage(ServerCsid.Control, MessageType.UserControl, 0, 0, payload);
  }

  /** Stops reading: the client's writes back up (kernel buffers, then its own). */
  pause(): void {
    this.socket.pause();
  }

  /** Reads again. */
  resume(): void {
    this.socket.resume();
  }

  /** Closes cleanly (FIN) after what was written. */
  end(): void {
    this.socket.end();
  }

  /** Closes at once. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Closes with a TCP reset (ECONNRESET on the client). */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  /** Runs `fn` after `ms` unless the connection closed first. */
  later(ms: number, fn: () => void): void {
    this.#timers.push(setTimeout(() => {
      if (!this.socket.destroyed) fn();
    }, ms));
  }

  // --- what the server does by itself ------------------------------------------

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    let data: Uint8Array = chunk;
    if (this.phase === "handshake") {
      data = this.#handshake(chunk);
      if (this.phase === "handshake") return;
    }
    if (data.length === 0 || this.#disposed) return;
    const rawLimit = this.#opts.rawLimit ?? 1024 * 1024;
    if (this.#rawKept < rawLimit) {
      const keep = data.subarray(0, rawLimit - this.#rawKept);
      this.#raw.push(new Uint8Array(keep));
      this.#rawKept += keep.length;
    }
    let messages;
    try {
      messages = this.#reader.push(data);
    } catch (err) {
      this.protocolError = err as Error;
      this.socket.destroy();
      return;
    }
    for (const m of messages) {
      const msg = this.#record(m);
      if (this.#opts.onMessage?.(this, msg) === true) continue;
      this.#answer(msg);
      if (this.#disposed) return;
    }
  }

  /** Gathers C0+C1, answers S0+S1+S2, gathers C2; returns the bytes after C2. */
  #handshake(chunk: Uint8Array): Uint8Array {
    const before = this.#hs.length;
    const all = new Uint8Array(before + chunk.length);
    all.set(this.#hs);
    all.set(chunk, before);
    const c0c1Len = 1 + HANDSHAKE_SIZE;
    if (before < c0c1Len && all.length >= c0c1Len) {
      this.c0c1 = all.slice(0, c0c1Len);
      this.#sendHandshake(this.c0c1.subarray(1));
    }
    const total = c0c1Len + HANDSHAKE_SIZE;
    if (all.length < total) {
      this.#hs = all;
      return new Uint8Array(0);
    }
    this.c2 = all.slice(c0c1Len, total);
    this.#hs = new Uint8Array(0);
    this.phase = "chunks";
    this.#opts.afterHandshake?.(this);
    return all.subarray(total);
  }

  #sendHandshake(c1: Uint8Array): void {
    const mode = this.#opts.handshake ?? "answer";
    if (mode === "never") return;
    const s0 = new Uint8Array([this.#opts.version ?? 3]);
    let s2: Uint8Array;
    if (this.#opts.echoC1 === false) {
      s2 = new Uint8Array(HANDSHAKE_SIZE).fill(0xee);
    } else {
      s2 = new Uint8Array(c1);
      s2.set(u32be(1), 4); // time2: when we read C1
    }
    if (mode === "answer") {
      this.sendRaw(Buffer.concat([s0, this.s1, s2]));
      return;
    }
    const delay = this.#opts.handshakeDelayMs ?? 100;
    this.later(delay, () => this.sendRaw(s0));
    this.later(2 * delay, () => this.sendRaw(this.s1));
    this.later(3 * delay, () => this.sendRaw(s2));
  }

  #record(m: { csid: number; type: number; streamId: number; timestamp: number; payload: Uint8Array }): ReceivedMessage {
    const isAmf = m.type === MessageType.CommandAmf0 || m.type === MessageType.DataAmf0 || m.type === MessageType.CommandAmf3;
    let amf: AmfValue[] | undefined;
    if (isAmf) {
      try {
        amf = decodeAmf0(this.#core, m.type === MessageType.CommandAmf3 ? m.payload.subarray(1) : m.payload);
      } catch (err) {
        this.protocolError = err as Error;
      }
    }
    const isMedia = m.type === MessageType.Audio || m.type === MessageType.Video;
    const msg: ReceivedMessage = {
      csid: m.csid,
      type: m.type,
      streamId: m.streamId,
      timestamp: m.timestamp,
      length: m.payload.length,
      payload: isMedia && this.#opts.recordMedia === false ? new Uint8Array(0) : m.payload,
      ...(amf !== undefined && { amf }),
      ...(typeof amf?.[0] === "string" && { name: amf[0] }),
      receivedAt: this.bytesReceived,
    };
    this.received.push(msg);
    for (const w of this.#waiters.filter((x) => x.match(msg))) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.resolve(msg);
    }
    return msg;
  }

  /** nginx-rtmp's answers to the publisher's commands. */
  #answer(msg: ReceivedMessage): void {
    if (msg.type !== MessageType.CommandAmf0 || !msg.amf) return;
    const txn = typeof msg.amf[1] === "number" ? msg.amf[1] : 0;
    const o = this.#opts;
    switch (msg.name) {
      case "connect": {
        const mode = o.connect ?? "success";
        if (mode === "silent") {
          // No answer; the hook still runs (to hang up, or answer its own way).
        } else if (mode === "reject") {
          // Some servers put the properties object before the info object even in _error.
          this.sendCommand(["_error", txn, { fmsVer: "FMS/3,0,1,123", capabilities: 31 }, {
            level: "error", code: "NetConnection.Connect.Rejected", description: "Connection rejected by the scripted server.",
          }]);
        } else {
          if ((o.serverWindowAckSize ?? 5_000_000) > 0) this.windowAckSize(o.serverWindowAckSize ?? 5_000_000);
          if ((o.serverPeerBandwidth ?? 5_000_000) > 0) this.setPeerBandwidth(o.serverPeerBandwidth ?? 5_000_000, 2);
          if ((o.serverChunkSize ?? 4096) > 0) this.setChunkSize(o.serverChunkSize ?? 4096);
          this.sendCommand(["_result", txn, { fmsVer: "FMS/3,0,1,123", capabilities: 31 }, {
            level: "status", code: "NetConnection.Connect.Success", description: "Connection succeeded.", objectEncoding: 0,
          }]);
        }
        o.afterConnect?.(this);
        return;
      }
      case "releaseStream":
      case "FCPublish": {
        const mode = (msg.name === "releaseStream" ? o.releaseStream : o.fcPublish) ?? "result";
        if (mode === "result") this.sendCommand(["_result", txn, null, undefined]);
        else if (mode === "error") {
          const key = typeof msg.amf[3] === "string" ? msg.amf[3] : "";
          this.sendCommand(["_error", txn, null, { level: "error", code: "NetConnection.Call.Failed", description: `Method not found (${msg.name}) for ${key}` }]);
        }
        return;
      }
      case "createStream": {
        const mode = o.createStream ?? "result";
        if (mode === "result") this.sendCommand(["_result", txn, null, o.streamId ?? 1]);
        else if (mode === "error") this.sendCommand(["_error", txn, null, { level: "error", code: "NetConnection.Call.Failed", description: "no streams left" }]);
        return;
      }
      case "publish": {
        const mode = o.publish ?? "start";
        if (mode === "silent") return;
        const key = typeof msg.amf[3] === "string" ? msg.amf[3] : "";
        if (mode === "start") {
          this.streamBegin(msg.streamId);
          this.sendOnStatus("NetStream.Publish.Start", "status", `${key} is now published.`, msg.streamId);
          o.afterPublishStart?.(this);
        } else {
          this.sendOnStatus(mode, "error", `publish refused for ${key}`, msg.streamId);
        }
        return;
      }
      default:
        return;
    }
  }

  #dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#reader.dispose();
    this.#writer.dispose();
  }
}

/** The listening server: one ScriptedConnection per accepted socket. */
export class ScriptedServer {
  readonly server: net.Server;
  readonly port: number;
  /**
   * Accepted connections that sent something, in order. A connection that
   * closes without a byte (the bridge's reachability probe between
   * reconnect attempts) is not an RTMP client and is not listed.
   */
  readonly connections: ScriptedConnection[] = [];
  /** Every accepted connection, probes included. */
  readonly accepted: ScriptedConnection[] = [];
  #waiters: ((c: ScriptedConnection) => void)[] = [];

  private constructor(server: net.Server, port: number) {
    this.server = server;
    this.port = port;
  }

  /** Starts a server on 127.0.0.1 and a free port. */
  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
    const core = await loadCoreNode();
    // Half-open allowed, so that `ignoreFin` can keep the server's side open.
    const server = net.createServer({ allowHalfOpen: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: LOOPBACK, port: 0 }, () => {
        const address = server.address();
        if (address === null || typeof address === "string") reject(new Error("scripted server: no address"));
        else resolve(address.port);
      });
    });
    const self = new ScriptedServer(server, port);
    server.on("connection", (socket) => {
      socket.setNoDelay(true);
      const c = new ScriptedConnection(core, socket, options);
      self.accepted.push(c);
      socket.once("data", () => {
        self.connections.push(c);
        for (const w of self.#waiters.splice(0)) w(c);
      });
    });
    return self;
  }

  /** rtmp://127.0.0.1:port/app/key */
  url(key = "key", app = "live"): string {
    return `rtmp://${LOOPBACK}:${this.port}/${app}/${key}`;
  }

  /** The first connection (waits for it). */
  connection(index = 0, timeoutMs = 3000): Promise<ScriptedConnection> {
    const existing = this.connections[index];
    if (existing) return Promise.resolve(existing);
    return new Promise<ScriptedConnection>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`scripted server: no connection #${index} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const c = this.connections[index];
        if (c) {
          clearTimeout(timer);
          resolve(c);
        } else {
          this.#waiters.push(check);
        }
      };
      this.#waiters.push(check);
    });
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const c of this.accepted) c.destroy();
    await Promise.all(this.accepted.map((c) => c.closed));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
