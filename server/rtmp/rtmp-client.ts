/**
 * RTMP publisher state machine, without I/O (bytes in, bytes out), after
 * FFmpeg's rtmpproto.c (gen_* builds what we send, handle_* processes what
 * the server sends) and OBS's librtmp.
 *
 *   handshake -> SetChunkSize(4096) + connect(1)
 *   _result(connect) -> WindowAckSize, releaseStream, FCPublish, createStream
 *   _result(createStream) -> publish(streamName, "live") on the new stream
 *   onStatus NetStream.Publish.Start -> live: @setDataFrame, sequence
 *     headers and media, audio and video on their own chunk streams
 *   close() -> FCUnpublish + deleteStream
 *
 * Alongside: Acknowledgements every window, Ping Request -> Ping Response,
 * and the reader's limits on everything the server sends. The window we
 * announce is small (16 KiB) so that the server's Acknowledgements say, to
 * within 16 KiB, how much of what we sent has reached it: the bridge's
 * measure of the real backlog (docs/rtmp-client.md, "Backlog"). releaseStream/FCPublish errors are
 * warnings (many servers don't implement them). Every failure ends in one
 * place, `#fail`, which reports once.
 */
import {
  ChunkReader, ChunkWriter, CoreError, decodeAmf0, EcmaArray, MessageType,
  type AmfValue, type AudioTagHeader, type Core, type RtmpMessage, type VideoTagHeader,
} from "../../wasm/host/index.js";
import { RtmpError, RtmpErrorCode } from "./rtmp-errors.js";
import { RtmpHandshake } from "./rtmp-handshake.js";
import {
  Csid, genAcknowledgement, genCommand, genConnect, genPingResponse, genSetChunkSize, genSetDataFrame,
  genWindowAckSize, UserControlEvent,
} from "./rtmp-messages.js";
import { redact, type RtmpUrl } from "./rtmp-url.js";

/** Where the publish is. */
export type PublishState =
  /** Exchanging C0/C1, S0/S1/S2, C2. */
  | "handshake"
  /** connect sent; waiting for its _result. */
  | "connecting"
  /** releaseStream, FCPublish, createStream sent; waiting for the stream id. */
  | "creatingStream"
  /** publish sent; waiting for NetStream.Publish.Start. */
  | "publishing"
  /** The server accepted the publish: media may flow. */
  | "live"
  /** FCUnpublish + deleteStream sent. */
  | "closing"
  /** Ended cleanly. */
  | "closed"
  /** Ended with an error. */
  | "failed";

export interface PublishClientOptions {
  url: RtmpUrl;
  /** Outgoing chunk size, sent before connect (default 4096; at least 128). */
  chunkSize?: number;
  /**
   * Window Acknowledgement Size we announce, bytes (default 16 KiB): the
   * server acknowledges what it received from us every this many bytes, and
   * the backlog measure is as fine as this (FFmpeg and librtmp announce
   * 2,500,000 and do not read the answers).
   */
  windowAckSize?: number;
  /** flashVer in connect (default "FMLE/3.0 (compatible; golive)"). */
  flashVer?: string;
  /** Enhanced RTMP codecs to announce in connect (fourCcList); none by default. */
  fourCcList?: readonly string[];
  /** Reader limits for what the server sends. */
  maxMessageLength?: number;
  maxChunkStreams?: number;
  /** Handshake clock/random hooks for tests. */
  handshake?: ConstructorParameters<typeof RtmpHandshake>[0];
}

/** Where the state machine's output goes (the connection layer). */
export interface PublishSink {
  /** Bytes to write, in order. `mediaTimestamp` is set for audio/video messages. */
  send(bytes: Uint8Array, mediaTimestamp?: number): void;
  /** Every state change. */
  state(state: PublishState): void;
  /** Something odd but tolerated. */
  warning(message: string): void;
  /** The one fatal error; the connection must be closed. Called at most once. */
  fail(error: RtmpError): void;
}

/** Info object codes that mean "the server refused the stream key". */
const PUBLISH_FAILURES: Record<string, { code: string; text: string }> = {
  "NetStream.Publish.BadName": { code: RtmpErrorCode.PublishBadName, text: "the server rejected the stream key (NetStream.Publish.BadName: wrong key, or a stream with this key is already live)" },
  "NetStream.Publish.Rejected": { code: RtmpErrorCode.PublishRejected, text: "the server rejected the stream key (NetStream.Publish.Rejected)" },
  "NetStream.Publish.Denied": { code: RtmpErrorCode.PublishDenied, text: "the server rejected the stream key (NetStream.Publish.Denied)" },
};

/** The Window Acknowledgement Size we announce by default, bytes. */
export const DEFAULT_WINDOW_ACK_SIZE = 16 * 1024;

/**
 * Slack for servers that count the handshake in their Acknowledgements
 * (C0+C1+C2 = 3073 bytes) where others (nginx-rtmp) do not.
 */
export const HANDSHAKE_BYTES = 1 + 1536 + 1536;

export class RtmpPublishClient {
  readonly #core: Core;
  readonly #url: RtmpUrl;
  readonly #sink: PublishSink;
  readonly #opts: Required<Pick<PublishClientOptions, "chunkSize" | "windowAckSize" | "flashVer">> & PublishClientOptions;
  readonly #handshake: RtmpHandshake;
  readonly #reader: ChunkReader;
  readonly #writer: ChunkWriter;
  #state: PublishState = "handshake";
  #txn = 0;
  /** Outstanding transactions: id -> command name. */
  readonly #pending = new Map<number, string>();
  #streamId = 0;
  #bytesReceived = 0;
  #lastAck = 0;
  /** Window the server asked us to acknowledge (0 = none yet). */
  #ackWindow = 0;
  /** Bytes handed to the sink after the handshake (what the server's Acknowledgements count). */
  #sentAfterHandshake = 0;
  /** What the server acknowledged, unwrapped to 64 bits and capped at what was sent. */
  #acknowledged = 0;
  /** The last raw (32-bit) sequence number and the 64-bit position it stood for. */
  #lastAckRaw = 0;
  #ackBase = 0;
  #acksReceived = 0;

  constructor(core: Core, options: PublishClientOptions, sink: PublishSink) {
    const chunkSize = options.chunkSize ?? 4096;
    if (!Number.isInteger(chunkSize) || chunkSize < 128 || chunkSize > 0x7fffffff) {
      throw new TypeError(`chunkSize must be 128..0x7FFFFFFF, got ${chunkSize}`);
    }
    this.#core = core;
    this.#url = options.url;
    this.#sink = sink;
    this.#opts = {
      ...options,
      chunkSize,
      windowAckSize: options.windowAckSize ?? DEFAULT_WINDOW_ACK_SIZE,
      flashVer: options.flashVer ?? "FMLE/3.0 (compatible; golive)",
    };
    this.#handshake = new RtmpHandshake(options.handshake);
    this.#reader = new ChunkReader(core, {
      ...(options.maxMessageLength !== undefined && { maxMessageLength: options.maxMessageLength }),
      ...(options.maxChunkStreams !== undefined && { maxChunkStreams: options.maxChunkStreams }),
    });
    this.#writer = new ChunkWriter(core, { chunkSize: 128 });
  }

  get state(): PublishState {
    return this.#state;
  }

  /** Message stream id the server gave us (0 before createStream). */
  get streamId(): number {
    return this.#streamId;
  }

  /** Bytes received from the server so far. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes sent after the handshake: the count the server's Acknowledgements are in. */
  get bytesSent(): number {
    return this.#sentAfterHandshake;
  }

  /** Of `bytesSent`, how many the server has acknowledged receiving. */
  get bytesAcknowledged(): number {
    return this.#acknowledged;
  }

  /** Acknowledgement messages received (0: the server sends none, or not yet). */
  get acksReceived(): number {
    return this.#acksReceived;
  }

  /** The Window Acknowledgement Size announced (bytes). */
  get windowAckSize(): number {
    return this.#opts.windowAckSize;
  }

  /** Starts the handshake: sends C0+C1. */
  start(): void {
    this.#sink.state(this.#state);
    this.#sink.send(this.#handshake.start());
  }

  /** Feeds bytes from the server. Never throws: failures go to sink.fail. */
  receive(bytes: Uint8Array): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    this.#bytesReceived += bytes.byteLength;
    try {
      let data: Uint8Array | undefined = bytes;
      if (this.#state === "handshake") {
        const step = this.#handshake.receive(bytes);
        for (const w of step.warnings) this.#sink.warning(w);
        if (step.send) this.#sink.send(step.send);
        if (!step.done) return;
        this.#afterHandshake();
        data = step.rest;
      }
      if (data && data.byteLength > 0) {
        for (const msg of this.#reader.push(data)) {
          this.#handleMessage(msg);
          if (this.#isOver()) return;
        }
      }
      this.#maybeAcknowledge();
    } catch (err) {
      this.#fail(toRtmpError(err, this.#url));
    }
  }

  /** Sends @setDataFrame onMetaData (live only). */
  sendMetadata(metadata: Record<string, AmfValue>): void {
    this.#requireLive();
    const body = genSetDataFrame(this.#core, metadata);
    // Not media: no mediaTimestamp, or a mid-stream update at time 0 would
    // make the connection's queuedMs read 0 while media is backed up.
    this.#out(this.#writer.write(Csid.Data, MessageType.DataAmf0, this.#streamId, 0, body));
  }

  /** Sends one video message (sequence header or frame). Timestamp in ms. */
  sendVideo(timestamp: number, header: VideoTagHeader, payload: Uint8Array): void {
    this.#requireLive();
    this.#out(this.#writer.writeVideo(Csid.Video, this.#streamId, timestamp, header, payload), timestamp);
  }

  /** Sends one audio message (sequence header or frame). Timestamp in ms. */
  sendAudio(timestamp: number, header: AudioTagHeader, payload: Uint8Array): void {
    this.#requireLive();
    this.#out(this.#writer.writeAudio(Csid.Audio, this.#streamId, timestamp, header, payload), timestamp);
  }

  /**
   * Ends the publish: FCUnpublish + deleteStream when live (or publishing),
   * then the state is "closed". The connection layer ends the socket.
   */
  close(): void {
    if (this.#isOver() || this.#state === "closing") return;
    if (this.#streamId !== 0) {
      this.#state = "closing";
      this.#sink.state(this.#state);
      this.#command("FCUnpublish", this.#url.streamName);
      this.#command("deleteStream", this.#streamId);
    }
    this.#state = "closed";
    this.#sink.state(this.#state);
    this.#dispose();
  }

  /** Fails the publish from outside (timeouts, socket errors). */
  abort(error: RtmpError): void {
    this.#fail(error);
  }

  #isOver(): boolean {
    return this.#state === "failed" || this.#state === "closed";
  }

  /** Everything after the handshake goes out here, counted for the Acknowledgements. */
  #out(bytes: Uint8Array, mediaTimestamp?: number): void {
    this.#sentAfterHandshake += bytes.byteLength;
    this.#sink.send(bytes, mediaTimestamp);
  }

  #requireLive(): void {
    if (this.#state !== "live") {
      throw new RtmpError(RtmpErrorCode.NotLive, `cannot send media: the publish is ${this.#state}, not live`);
    }
  }

  #setState(state: PublishState): void {
    this.#state = state;
    this.#sink.state(state);
  }

  // --- gen: what we send ---------------------------------------------------

  #control(type: number, payload: Uint8Array): void {
    this.#out(this.#writer.write(Csid.Control, type, 0, 0, payload));
  }

  #command(name: string, ...args: AmfValue[]): number {
    const txn = ++this.#txn;
    this.#pending.set(txn, name);
    // NetStream commands go on the stream; NetConnection ones on stream 0.
    const onStream = name === "publish";
    const payload = genCommand(this.#core, name, txn, ...args);
    this.#out(this.#writer.write(onStream ? Csid.Data : Csid.Command, MessageType.CommandAmf0, onStream ? this.#streamId : 0, 0, payload));
    return txn;
  }

  #afterHandshake(): void {
    // Set Chunk Size first, so that connect and everything after use it.
    this.#control(MessageType.SetChunkSize, genSetChunkSize(this.#opts.chunkSize));
    this.#writer.setChunkSize(this.#opts.chunkSize);
    const txn = ++this.#txn;
    this.#pending.set(txn, "connect");
    const connect = genConnect(this.#core, txn, {
      app: this.#url.app,
      tcUrl: this.#url.tcUrl,
      flashVer: this.#opts.flashVer,
      ...(this.#opts.fourCcList && { fourCcList: this.#opts.fourCcList }),
    });
    this.#out(this.#writer.write(Csid.Command, MessageType.CommandAmf0, 0, 0, connect));
    this.#setState("connecting");
  }

  #maybeAcknowledge(): void {
    if (this.#ackWindow > 0 && this.#bytesReceived - this.#lastAck >= this.#ackWindow) {
      this.#lastAck = this.#bytesReceived;
      this.#control(MessageType.Acknowledgement, genAcknowledgement(this.#bytesReceived));
    }
  }

  // --- handle: what the server sends ---------------------------------------

  #handleMessage(msg: RtmpMessage): void {
    switch (msg.type) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
        return; // applied by the chunk reader itself
      case MessageType.Acknowledgement:
        return this.#handleAcknowledgement(msg);
      case MessageType.WindowAckSize:
        return this.#handleWindowAckSize(msg);
      case MessageType.SetPeerBandwidth:
        return this.#handleSetPeerBandwidth(msg);
      case MessageType.UserControl:
        return this.#handleUserControl(msg);
      case MessageType.CommandAmf0:
        return this.#handleCommand(msg.payload);
      case MessageType.CommandAmf3:
        // AMF3 command: a format byte (0) then AMF0 values.
        return this.#handleCommand(msg.payload.subarray(1));
      default:
        return; // data messages, audio/video from the server: not ours to use
    }
  }

  #handleWindowAckSize(msg: RtmpMessage): void {
    if (msg.payload.byteLength < 4) throw protocolViolation("Window Acknowledgement Size shorter than 4 bytes");
    const size = new DataView(msg.payload.buffer, msg.payload.byteOffset).getUint32(0);
    if (size === 0) throw protocolViolation("Window Acknowledgement Size of 0");
    this.#ackWindow = size;
  }

  /**
   * Set Peer Bandwidth: checked, not answered. §5.4.5 has the receiver
   * answer with a Window Acknowledgement Size; FFmpeg does not, and answering
   * with the server's (megabyte) size would undo the small window our
   * backlog measure needs. Our own window goes out after connect's _result.
   */
  #handleSetPeerBandwidth(msg: RtmpMessage): void {
    if (msg.payload.byteLength < 5) throw protocolViolation("Set Peer Bandwidth shorter than 5 bytes");
  }

  /**
   * Acknowledgement: the server has received this many bytes from us. The
   * 32-bit count wraps after 4 GiB (and nginx-rtmp restarts it from 0 at
   * 0xF0000000), so it is unwrapped against the last one: a step forward of
   * no more than we have sent is taken; anything else is a counter that
   * started again, and the next counts are read from here on (nothing is
   * taken as delivered that was not: at worst a window's worth reads as
   * still in flight until the next Acknowledgement).
   */
  #handleAcknowledgement(msg: RtmpMessage): void {
    if (msg.payload.byteLength < 4) throw protocolViolation("Acknowledgement shorter than 4 bytes");
    const raw = new DataView(msg.payload.buffer, msg.payload.byteOffset).getUint32(0);
    this.#acksReceived++;
    const step = (raw - this.#lastAckRaw + 0x100000000) % 0x100000000;
    const position = this.#ackBase + step;
    if (position <= this.#sentAfterHandshake + HANDSHAKE_BYTES) {
      this.#ackBase = position;
      this.#acknowledged = Math.max(this.#acknowledged, Math.min(position, this.#sentAfterHandshake));
    }
    // else: restarted counter; #ackBase stays at the last good position.
    this.#lastAckRaw = raw;
  }

  #handleUserControl(msg: RtmpMessage): void {
    if (msg.payload.byteLength < 2) throw protocolViolation("User Control message shorter than 2 bytes");
    const view = new DataView(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
    const event = view.getUint16(0);
    if (event === UserControlEvent.PingRequest) {
      if (msg.payload.byteLength < 6) throw protocolViolation("Ping Request shorter than 6 bytes");
      this.#control(MessageType.UserControl, genPingResponse(view.getUint32(2)));
    }
  }

  #handleCommand(payload: Uint8Array): void {
    let values: AmfValue[];
    try {
      values = decodeAmf0(this.#core, payload);
    } catch (err) {
      if (err instanceof CoreError) {
        throw new RtmpError(RtmpErrorCode.ProtocolViolation, `the server sent a malformed command (${err.code})`, { cause: err });
      }
      throw err;
    }
    const [name, txnValue] = values;
    if (typeof name !== "string") throw protocolViolation("command without a name");
    const txn = typeof txnValue === "number" ? txnValue : 0;
    switch (name) {
      case "_result":
        return this.#handleResult(txn, values);
      case "_error":
        return this.#handleError(txn, values);
      case "onStatus":
        return this.#handleOnStatus(values);
      case "close":
        throw new RtmpError(RtmpErrorCode.ServerClosed, "the server closed the connection (close command)");
      default:
        // onBWDone, onFCPublish, _checkbw...: informational.
        return;
    }
  }

  #handleResult(txn: number, values: AmfValue[]): void {
    const request = this.#pending.get(txn);
    if (request === undefined) return; // a result we did not ask for: ignore, as FFmpeg does
    this.#pending.delete(txn);
    switch (request) {
      case "connect": {
        if (this.#state !== "connecting") throw protocolViolation("connect result out of order");
        const info = infoObject(values);
        const code = typeof info?.code === "string" ? info.code : "NetConnection.Connect.Success";
        if (code !== "NetConnection.Connect.Success") {
          throw new RtmpError(RtmpErrorCode.ConnectRejected, `the server refused the connection${describeInfo(info, this.#url)}`);
        }
        this.#control(MessageType.WindowAckSize, genWindowAckSize(this.#opts.windowAckSize));
        this.#command("releaseStream", this.#url.streamName);
        this.#command("FCPublish", this.#url.streamName);
        this.#command("createStream");
        this.#setState("creatingStream");
        return;
      }
      case "createStream": {
        if (this.#state !== "creatingStream") throw protocolViolation("createStream result out of order");
        const id = values[3];
        if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
          throw protocolViolation("createStream result without a stream id");
        }
        this.#streamId = id;
        this.#command("publish", this.#url.streamName, "live");
        this.#setState("publishing");
        return;
      }
      default:
        return; // releaseStream, FCPublish: nothing to do
    }
  }

  #handleError(txn: number, values: AmfValue[]): void {
    const request = this.#pending.get(txn);
    this.#pending.delete(txn);
    const info = infoObject(values);
    const detail = describeInfo(info, this.#url);
    switch (request) {
      case "connect":
        throw new RtmpError(RtmpErrorCode.ConnectRejected, `the server refused the connection${detail}`);
      case "createStream":
        throw new RtmpError(RtmpErrorCode.CreateStreamFailed, `the server could not create a stream${detail}`);
      case "publish":
        throw publishError(info, detail);
      case "releaseStream":
      case "FCPublish":
      case "FCUnpublish":
        this.#sink.warning(`${request} failed${detail} (tolerated)`);
        return;
      default:
        this.#sink.warning(`the server reported an error${detail}`);
        return;
    }
  }

  #handleOnStatus(values: AmfValue[]): void {
    const info = infoObject(values);
    const code = typeof info?.code === "string" ? info.code : "";
    const level = typeof info?.level === "string" ? info.level : "";
    if (code === "NetStream.Publish.Start") {
      if (this.#state === "publishing") this.#setState("live");
      return;
    }
    if (code === "NetConnection.Connect.Rejected") {
      throw new RtmpError(RtmpErrorCode.ConnectRejected, `the server refused the connection${describeInfo(info, this.#url)}`);
    }
    if (code in PUBLISH_FAILURES || (level === "error" && code.startsWith("NetStream.Publish"))) {
      throw publishError(info, describeInfo(info, this.#url));
    }
    if (level === "error") this.#sink.warning(`the server reported${describeInfo(info, this.#url)}`);
  }

  #fail(error: RtmpError): void {
    if (this.#isOver()) return;
    this.#state = "failed";
    this.#sink.state("failed");
    this.#dispose();
    this.#sink.fail(error);
  }

  #dispose(): void {
    this.#reader.dispose();
    this.#writer.dispose();
  }
}

/**
 * The info object of a _result/_error/onStatus: the first object from the
 * command object on that has a `code`, else the first object. A connect
 * _result/_error puts the properties object (fmsVer, capabilities) before
 * the info object, so "the first object" alone would miss its code.
 */
function infoObject(values: AmfValue[]): Record<string, AmfValue> | undefined {
  let first: Record<string, AmfValue> | undefined;
  for (let i = 2; i < values.length; i++) {
    const v = values[i];
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) {
      const obj = (v instanceof EcmaArray ? v.entries : v) as Record<string, AmfValue>;
      if (typeof obj.code === "string") return obj;
      first ??= obj;
    }
  }
  return first;
}

function describeInfo(info: Record<string, AmfValue> | undefined, url: RtmpUrl): string {
  if (!info) return "";
  // Both come from the server and either may echo the stream key: redact
  // before cutting, so that no part of the key survives the cut.
  const code = typeof info.code === "string" ? redact(info.code, url.secrets) : "";
  const description = typeof info.description === "string" ? redact(info.description, url.secrets) : "";
  const parts = [code, description].filter((s) => s.length > 0).map((s) => s.slice(0, 200));
  return parts.length > 0 ? ` (${parts.join(": ")})` : "";
}

function publishError(info: Record<string, AmfValue> | undefined, detail: string): RtmpError {
  const code = typeof info?.code === "string" ? info.code : "";
  const known = PUBLISH_FAILURES[code];
  if (known) return new RtmpError(known.code, known.text);
  return new RtmpError(RtmpErrorCode.PublishFailed, `the server refused to publish the stream${detail}`);
}

function protocolViolation(what: string): RtmpError {
  return new RtmpError(RtmpErrorCode.ProtocolViolation, `the server broke the RTMP protocol: ${what}`);
}

/** Maps anything thrown while handling server bytes to an RtmpError. */
function toRtmpError(err: unknown, url: RtmpUrl): RtmpError {
  if (err instanceof RtmpError) return err;
  if (err instanceof CoreError) {
    // Keep the core's precise code (RTMP_BAD_CHUNK_SIZE, ...).
    return new RtmpError(err.code, `the server broke the RTMP protocol: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RtmpError(RtmpErrorCode.ProtocolViolation, `internal error while handling the server's data: ${redact(message, url.secrets)}`, { cause: err });
}
