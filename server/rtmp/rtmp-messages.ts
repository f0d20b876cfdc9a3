/**
 * Builders for the messages a publisher sends (RTMP 1.0 §5.4, §6.2, §7.2),
 * named gen* after FFmpeg's rtmpproto.c. Each returns the message payload;
 * the client chunks it on the right chunk stream. No I/O.
 */
import { EcmaArray, encodeAmf0, type AmfObject, type AmfValue, type Core } from "../../wasm/host/index.js";

/** Chunk stream ids we send on, as FFmpeg/librtmp lay them out. */
export const Csid = {
  /** Protocol control messages (§5.4: must be 2). */
  Control: 2,
  /** NetConnection commands: connect, createStream, releaseStream, FCPublish... */
  Command: 3,
  /** Audio. */
  Audio: 4,
  /** Metadata (@setDataFrame) and NetStream commands (publish). */
  Data: 5,
  /** Video. */
  Video: 6,
} as const;

/** User Control event types (§6.2). */
export const UserControlEvent = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0);
  return b;
}

/** Set Chunk Size (type 1): 31-bit size, bit 31 zero. */
export function genSetChunkSize(size: number): Uint8Array {
  return u32(size & 0x7fffffff);
}

/** Acknowledgement (type 3): bytes received so far, modulo 2^32. */
export function genAcknowledgement(bytesReceived: number): Uint8Array {
  return u32(bytesReceived % 0x100000000);
}

/** Window Acknowledgement Size (type 5). */
export function genWindowAckSize(size: number): Uint8Array {
  return u32(size);
}

/** User Control Ping Response (type 4, event 7) echoing the request's timestamp. */
export function genPingResponse(timestamp: number): Uint8Array {
  const b = new Uint8Array(6);
  const v = new DataView(b.buffer);
  v.setUint16(0, UserControlEvent.PingResponse);
  v.setUint32(2, timestamp >>> 0);
  return b;
}

/** What `connect` says about us. */
export interface ConnectParams {
  app: string;
  tcUrl: string;
  /** flashVer: FFmpeg and OBS send "FMLE/3.0 (compatible; ...)" when publishing. */
  flashVer: string;
  /** Enhanced RTMP: codecs we may send, e.g. ["avc1", "hvc1", "av01", "Opus"]. Omitted when empty. */
  fourCcList?: readonly string[];
}

/** connect(transactionId, commandObject) (§7.2.1.1). */
export function genConnect(core: Core, txn: number, p: ConnectParams): Uint8Array {
  const obj: AmfObject = {
    app: p.app,
    type: "nonprivate",
    flashVer: p.flashVer,
    tcUrl: p.tcUrl,
  };
  if (p.fourCcList && p.fourCcList.length > 0) obj.fourCcList = [...p.fourCcList];
  return encodeAmf0(core, ["connect", txn, obj]);
}

/** A NetConnection/NetStream command with a null command object: name(txn, null, ...args). */
export function genCommand(core: Core, name: string, txn: number, ...args: AmfValue[]): Uint8Array {
  return encodeAmf0(core, [name, txn, null, ...args]);
}

/** @setDataFrame("onMetaData", metadata): the stream's metadata, sent as data (type 18). */
export function genSetDataFrame(core: Core, metadata: Record<string, AmfValue>): Uint8Array {
  return encodeAmf0(core, ["@setDataFrame", "onMetaData", new EcmaArray(metadata)]);
}
