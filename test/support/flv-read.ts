/**
 * A small, strict FLV file reader for tests (Adobe FLV v10.1 Annex E, with the
 * Enhanced RTMP v2 audio/video ExHeaders). It is written independently of the
 * WebAssembly writer so that golden files made by ffmpeg can be taken apart
 * and compared with what golive writes, field by field and byte by byte.
 *
 * Every length is checked before it is read; any inconsistency (bad
 * signature, truncated tag, PreviousTagSize not equal to 11 + DataSize,
 * non-zero StreamID) throws `FlvReadError`.
 */

/** A malformed FLV file. */
export class FlvReadError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = "FlvReadError";
  }
}

/** The FLV file header (E.2). */
export interface FlvFileHeader {
  readonly version: number;
  readonly hasAudio: boolean;
  readonly hasVideo: boolean;
  /** DataOffset: the header's own length, 9 for version 1. */
  readonly dataOffset: number;
  /** The header and PreviousTagSize0 exactly as in the file. */
  readonly bytes: Uint8Array;
}

/** One FLV tag (E.4.1). */
export interface FlvTag {
  /** Byte offset of the tag header in the file. */
  readonly offset: number;
  /** TagType: 8 audio, 9 video, 18 script data. */
  readonly type: number;
  /** Timestamp | TimestampExtended << 24, read as the SI32 the spec defines. */
  readonly timestamp: number;
  /** The TimestampExtended byte alone. */
  readonly timestampExtended: number;
  readonly body: Uint8Array;
  /** Tag header + body + PreviousTagSize, exactly as in the file. */
  readonly bytes: Uint8Array;
}

export interface FlvFile {
  readonly header: FlvFileHeader;
  readonly tags: readonly FlvTag[];
}

const u24 = (b: Uint8Array, at: number): number => (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
/** SI24: sign-extend a 24-bit two's complement value. */
const si24 = (b: Uint8Array, at: number): number => (u24(b, at) << 8) >> 8;
const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));

/** Parses a whole FLV file. */
export function readFlv(bytes: Uint8Array): FlvFile {
  if (bytes.byteLength < 13) throw new FlvReadError("file shorter than the 13-byte header", 0);
  if (ascii(bytes, 0, 3) !== "FLV") throw new FlvReadError("signature is not 'FLV'", 0);
  const flags = bytes[4]!;
  if ((flags & 0xfa) !== 0) throw new FlvReadError(`reserved TypeFlags bits set: 0x${flags.toString(16)}`, 4);
  const dataOffset = u32(bytes, 5);
  if (dataOffset < 9 || dataOffset + 4 > bytes.byteLength) throw new FlvReadError(`bad DataOffset ${dataOffset}`, 5);
  if (u32(bytes, dataOffset) !== 0) throw new FlvReadError("PreviousTagSize0 is not 0", dataOffset);
  const header: FlvFileHeader = {
    version: bytes[3]!,
    hasAudio: (flags & 4) !== 0,
    hasVideo: (flags & 1) !== 0,
    dataOffset,
    bytes: bytes.subarray(0, dataOffset + 4),
  };
  const tags: FlvTag[] = [];
  let at = dataOffset + 4;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < 11) throw new FlvReadError("truncated tag header", at);
    const first = bytes[at]!;
    if ((first & 0xe0) !== 0) throw new FlvReadError("Reserved/Filter bits set (encrypted tags are not supported)", at);
    const type = first & 0x1f;
    const size = u24(bytes, at + 1);
    const timestampExtended = bytes[at + 7]!;
    // E.4.1: Timestamp (UI24) + TimestampExtended (UI8, the upper 8 bits) form an SI32.
    const timestamp = (timestampExtended << 24) | u24(bytes, at + 4);
    if (u24(bytes, at + 8) !== 0) throw new FlvReadError("StreamID is not 0", at + 8);
    const end = at + 11 + size + 4;
    if (end > bytes.byteLength) throw new FlvReadError(`truncated tag body (DataSize ${size})`, at);
    const previous = u32(bytes, at + 11 + size);
    if (previous !== size + 11) throw new FlvReadError(`PreviousTagSize ${previous} != 11 + DataSize ${size}`, at + 11 + size);
    tags.push({
      offset: at,
      type,
      timestamp,
      timestampExtended,
      body: bytes.subarray(at + 11, at + 11 + size),
      bytes: bytes.subarray(at, end),
    });
    at = end;
  }
  return { header, tags };
}

/** A parsed video tag body. */
export type VideoBody =
  | {
      readonly kind: "legacy";
      readonly frameType: number;
      readonly codecId: number;
      /** AVC (codec 7) only. */
      readonly avcPacketType?: number;
      /** AVC only: SI24 composition time offset. */
      readonly cts?: number;
      readonly payload: Uint8Array;
    }
  | {
      readonly kind: "ex";
      readonly frameType: number;
      readonly packetType: number;
      readonly fourcc: string;
      /** Only CodedFrames of avc1/hvc1 carry one. */
      readonly cts?: number;
      readonly payload: Uint8Array;
    };

/** Parses a video tag body header (E.4.3.1, Enhanced RTMP v2 "ExVideoTagHeader"). */
export function parseVideoBody(body: Uint8Array): VideoBody {
  if (body.byteLength < 1) throw new FlvReadError("empty video body", 0);
  const b0 = body[0]!;
  if ((b0 & 0x80) !== 0) {
    const frameType = (b0 >> 4) & 7;
    const packetType = b0 & 0x0f;
    if (body.byteLength < 5) throw new FlvReadError("truncated ExVideoTagHeader", 0);
    const fourcc = ascii(body, 1, 4);
    if (packetType === 1 && (fourcc === "avc1" || fourcc === "hvc1")) {
      if (body.byteLength < 8) throw new FlvReadError("truncated CompositionTime", 5);
      return { kind: "ex", frameType, packetType, fourcc, cts: si24(body, 5), payload: body.subarray(8) };
    }
    return { kind: "ex", frameType, packetType, fourcc, payload: body.subarray(5) };
  }
  const frameType = b0 >> 4;
  const codecId = b0 & 0x0f;
  if (codecId !== 7) return { kind: "legacy", frameType, codecId, payload: body.subarray(1) };
  if (body.byteLength < 5) throw new FlvReadError("truncated AVCVIDEOPACKET header", 0);
  return { kind: "legacy", frameType, codecId, avcPacketType: body[1]!, cts: si24(body, 2), payload: body.subarray(5) };
}

/** A parsed audio tag body. */
export type AudioBody =
  | {
      readonly kind: "legacy";
      readonly format: number;
      readonly rate: number;
      readonly size: number;
      readonly channels: number;
      /** AAC (format 10) only. */
      readonly aacPacketType?: number;
      readonly payload: Uint8Array;
    }
  | { readonly kind: "ex"; readonly packetType: number; readonly fourcc: string; readonly payload: Uint8Array };

/** Parses an audio tag body header (E.4.2.1, Enhanced RTMP v2 "ExAudioTagHeader"). */
export function parseAudioBody(body: Uint8Array): AudioBody {
  if (body.byteLength < 1) throw new FlvReadError("empty audio body", 0);
  const b0 = body[0]!;
  const format = b0 >> 4;
  if (format === 9) {
    if (body.byteLength < 5) throw new FlvReadError("truncated ExAudioTagHeader", 0);
    return { kind: "ex", packetType: b0 & 0x0f, fourcc: ascii(body, 1, 4), payload: body.subarray(5) };
  }
  const base = { kind: "legacy" as const, format, rate: (b0 >> 2) & 3, size: (b0 >> 1) & 1, channels: b0 & 1 };
  if (format !== 10) return { ...base, payload: body.subarray(1) };
  if (body.byteLength < 2) throw new FlvReadError("truncated AACAUDIODATA header", 0);
  return { ...base, aacPacketType: body[1]!, payload: body.subarray(2) };
}
