/**
 * FLV demuxer for `golive replay` (Adobe Flash Video File Format
 * Specification v10.1, Annex E): H.264 (CodecID 7) and AAC (SoundFormat 10)
 * in the legacy tag headers, as ffmpeg, OBS, nginx-rtmp and golive's own
 * recorder write them. Enhanced RTMP ExHeaders and other codecs are refused
 * with REPLAY_UNSUPPORTED_CODEC.
 *
 * File layout (E.2, E.3):
 *
 *   header        "FLV" u8 version, u8 TypeFlags, u32 DataOffset (9)
 *   u32           PreviousTagSize0 = 0
 *   then per tag: u8 Reserved(2) Filter(1) TagType(5), u24 DataSize,
 *                 u24 Timestamp, u8 TimestampExtended, u24 StreamID = 0,
 *                 DataSize bytes of body,
 *                 u32 PreviousTagSize = 11 + DataSize
 *
 * Pure and bounds-checked: no I/O, every length is checked before it is
 * read, and malformed input throws FlvDemuxError with a stable code and the
 * byte offset. `FlvDemuxer.parse` is the streaming core: it takes whole
 * units (the header, or one tag with its PreviousTagSize) and returns how
 * many bytes it consumed; `FlvStreamDemuxer` buffers chunks around it and
 * `demuxFlv` reads a whole file. Packet payloads are views of the input.
 */
import { ReplayError, ReplayErrorCode, type ReplayErrorCodeValue } from "./errors.js";

/** FLV TagType values (E.4.1). */
export const FlvTagType = { Audio: 8, Video: 9, Script: 18 } as const;

/** Size of a tag header (E.4.1). */
export const FLV_TAG_HEADER_SIZE = 11;
/** Size of the PreviousTagSize field after each tag (E.3). */
const PREVIOUS_TAG_SIZE = 4;
/** Size of the FLV version 1 file header (E.2). */
const FILE_HEADER_SIZE = 9;

/** Limits of the demuxer. */
export interface FlvDemuxOptions {
  /** Largest tag body accepted, bytes (default 16 MiB - 1: DataSize is 24 bits, so any tag). Checked before the body is waited for. */
  maxTagBytes?: number;
  /** Largest DataOffset (file header length) accepted, bytes (default 1024; version 1 files say 9). */
  maxHeaderBytes?: number;
}

/** What the file header says (E.2). TypeFlags are informative: many writers get them wrong. */
export interface FlvHeader {
  readonly version: number;
  readonly hasAudio: boolean;
  readonly hasVideo: boolean;
  /** DataOffset: the header's length. */
  readonly dataOffset: number;
}

/** Which elementary stream a packet belongs to. */
export type FlvTrackKind = "video" | "audio";

/** A sequence header: the AVCDecoderConfigurationRecord (video) or AudioSpecificConfig (audio). */
export interface FlvConfigPacket {
  readonly type: "config";
  readonly track: FlvTrackKind;
  readonly timestampMs: number;
  /** avcC or AudioSpecificConfig; a view of the input. */
  readonly data: Uint8Array;
  /** Byte offset of the tag in the file. */
  readonly offset: number;
}

/** One coded frame. */
export interface FlvFramePacket {
  readonly type: "frame";
  readonly track: FlvTrackKind;
  /** Decode timestamp, ms (the tag's SI32 Timestamp). */
  readonly dtsMs: number;
  /** Presentation - decode, ms (AVC CompositionTime; 0 for audio). */
  readonly ctsMs: number;
  /** Video FrameType 1 (key frame); always true for audio. */
  readonly keyframe: boolean;
  /** AVC: NAL units with length prefixes (avcC framing); AAC: one raw access unit. A view of the input. */
  readonly data: Uint8Array;
  /** Byte offset of the tag in the file. */
  readonly offset: number;
}

/** What the demuxer emits, in file order. */
export type FlvPacket = FlvConfigPacket | FlvFramePacket;

/** A malformed or unsupported FLV file; `offset` is where in the file. */
export class FlvDemuxError extends ReplayError {
  readonly offset: number;

  constructor(code: ReplayErrorCodeValue, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

const u24 = (b: Uint8Array, at: number): number => (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
/** SI24: a 24-bit two's complement value. */
const si24 = (b: Uint8Array, at: number): number => (u24(b, at) << 8) >> 8;

/** FLV CodecID names (E.4.3.1), for error messages. */
const VIDEO_CODECS: Record<number, string> = { 2: "Sorenson H.263", 3: "Screen video", 4: "On2 VP6", 5: "On2 VP6 with alpha", 6: "Screen video v2", 7: "AVC" };
/** FLV SoundFormat names (E.4.2.1), for error messages. */
const AUDIO_FORMATS: Record<number, string> = {
  0: "linear PCM", 1: "ADPCM", 2: "MP3", 3: "linear PCM little endian", 4: "Nellymoser 16 kHz", 5: "Nellymoser 8 kHz", 6: "Nellymoser",
  7: "G.711 A-law", 8: "G.711 mu-law", 10: "AAC", 11: "Speex", 14: "MP3 8 kHz", 15: "device-specific",
};

/** Where the demuxer is. */
type FlvDemuxState =
  /** Waiting for the file header and PreviousTagSize0. */
  | "header"
  /** Reading tags, each followed by its PreviousTagSize. */
  | "tags";

/**
 * The streaming core. Feed it bytes with `parse`; it consumes whole units
 * only and says how many bytes it took: pass the rest again, followed by
 * more. Call `finish` at the end of the input.
 */
export class FlvDemuxer {
  readonly #maxTagBytes: number;
  readonly #maxHeaderBytes: number;
  #state: FlvDemuxState = "header";
  #header: FlvHeader | undefined;
  /** File offset of the next unconsumed byte. */
  #offset = 0;

  constructor(options: FlvDemuxOptions = {}) {
    const maxTag = options.maxTagBytes ?? 0xffffff;
    const maxHeader = options.maxHeaderBytes ?? 1024;
    if (!Number.isInteger(maxTag) || maxTag < 1) throw new TypeError(`maxTagBytes must be a positive integer, got ${maxTag}`);
    if (!Number.isInteger(maxHeader) || maxHeader < FILE_HEADER_SIZE) throw new TypeError(`maxHeaderBytes must be an integer >= ${FILE_HEADER_SIZE}, got ${maxHeader}`);
    this.#maxTagBytes = maxTag;
    this.#maxHeaderBytes = maxHeader;
  }

  /** The file header, once parsed. */
  get header(): FlvHeader | undefined {
    return this.#header;
  }

  /** Bytes of the file consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Parses every whole unit at the start of `bytes`, appending packets to
   * `out`; returns the number of bytes consumed. Throws FlvDemuxError on
   * malformed input (nothing of the failing unit is consumed).
   */
  parse(bytes: Uint8Array, out: FlvPacket[]): number {
    let at = 0;
    for (;;) {
      const used = this.#state === "header" ? this.#parseHeader(bytes, at) : this.#parseTag(bytes, at, out);
      if (used === 0) return at;
      at += used;
      this.#offset += used;
    }
  }

  /** The input ended with `unconsumed` bytes left over: throws FLV_TRUNCATED unless it ended cleanly. */
  finish(unconsumed: number): void {
    if (this.#state === "header") {
      throw new FlvDemuxError(ReplayErrorCode.FlvTruncated, `the file ends inside the FLV header (${unconsumed} bytes)`, this.#offset);
    }
    if (unconsumed > 0) {
      throw new FlvDemuxError(ReplayErrorCode.FlvTruncated, `the file ends inside a tag (${unconsumed} bytes of it)`, this.#offset);
    }
  }

  /** E.2 header + PreviousTagSize0: bytes used, or 0 when more are needed. */
  #parseHeader(b: Uint8Array, at: number): number {
    const left = b.byteLength - at;
    // Check the signature as soon as its bytes are here, so garbage fails fast.
    const sig = [0x46, 0x4c, 0x56]; // "FLV"
    for (let i = 0; i < Math.min(3, left); i++) {
      if (b[at + i] !== sig[i]) throw new FlvDemuxError(ReplayErrorCode.FlvBadHeader, "not an FLV file: it does not start with \"FLV\"", this.#offset + i);
    }
    if (left < FILE_HEADER_SIZE) return 0;
    const version = b[at + 3]!;
    const flags = b[at + 4]!;
    const dataOffset = u32(b, at + 5);
    if (version === 0) throw new FlvDemuxError(ReplayErrorCode.FlvBadHeader, "FLV version 0", this.#offset + 3);
    if (dataOffset < FILE_HEADER_SIZE || dataOffset > this.#maxHeaderBytes) {
      throw new FlvDemuxError(ReplayErrorCode.FlvBadHeader, `DataOffset ${dataOffset} is outside ${FILE_HEADER_SIZE}..${this.#maxHeaderBytes}`, this.#offset + 5);
    }
    const total = dataOffset + PREVIOUS_TAG_SIZE;
    if (left < total) return 0;
    const previous = u32(b, at + dataOffset);
    if (previous !== 0) throw new FlvDemuxError(ReplayErrorCode.FlvBadHeader, `PreviousTagSize0 is ${previous}, must be 0`, this.#offset + dataOffset);
    this.#header = { version, hasAudio: (flags & 4) !== 0, hasVideo: (flags & 1) !== 0, dataOffset };
    this.#state = "tags";
    return total;
  }

  /** E.4.1 tag + PreviousTagSize: bytes used, or 0 when more are needed. */
  #parseTag(b: Uint8Array, at: number, out: FlvPacket[]): number {
    const left = b.byteLength - at;
    if (left < FLV_TAG_HEADER_SIZE) return 0;
    const offset = this.#offset;
    const first = b[at]!;
    if ((first & 0xc0) !== 0) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `reserved bits set in the tag header (0x${first.toString(16)}): not an FLV tag`, offset);
    if ((first & 0x20) !== 0) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, "encrypted tag (Filter bit set): not supported", offset);
    const type = first & 0x1f;
    const size = u24(b, at + 1);
    if (size > this.#maxTagBytes) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `tag of ${size} bytes is over the ${this.#maxTagBytes}-byte limit`, offset);
    // E.4.1: Timestamp (UI24) with TimestampExtended (UI8) as its upper 8 bits form an SI32.
    const timestamp = (b[at + 7]! << 24) | u24(b, at + 4);
    const streamId = u24(b, at + 8);
    if (streamId !== 0) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `StreamID is ${streamId}, must be 0: not an FLV tag`, offset + 8);
    const total = FLV_TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE;
    if (left < total) return 0;
    const previous = u32(b, at + FLV_TAG_HEADER_SIZE + size);
    if (previous !== FLV_TAG_HEADER_SIZE + size) {
      throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `PreviousTagSize is ${previous}, the tag's size is ${FLV_TAG_HEADER_SIZE + size}`, offset + FLV_TAG_HEADER_SIZE + size);
    }
    const body = b.subarray(at + FLV_TAG_HEADER_SIZE, at + FLV_TAG_HEADER_SIZE + size);
    if (type === FlvTagType.Video) this.#video(body, timestamp, offset, out);
    else if (type === FlvTagType.Audio) this.#audio(body, timestamp, offset, out);
    // Script data (onMetaData) and reserved tag types carry no media: skipped.
    return total;
  }

  /** E.4.3.1 VIDEODATA with an AVCVIDEOPACKET. */
  #video(body: Uint8Array, timestamp: number, offset: number, out: FlvPacket[]): void {
    if (body.byteLength === 0) return;
    const b0 = body[0]!;
    if ((b0 & 0x80) !== 0) {
      throw new FlvDemuxError(ReplayErrorCode.UnsupportedCodec, "Enhanced RTMP video (ExVideoTagHeader: HEVC, AV1, VP9...) is not supported: replay H.264 in legacy FLV tags", offset);
    }
    const frameType = b0 >> 4;
    const codecId = b0 & 0x0f;
    if (frameType === 5) return; // video info/command frame: no picture
    if (codecId !== 7) {
      throw new FlvDemuxError(ReplayErrorCode.UnsupportedCodec, `video codec ${codecId} (${VIDEO_CODECS[codecId] ?? "unknown"}) is not supported: replay H.264`, offset);
    }
    if (body.byteLength < 5) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `AVC video tag of ${body.byteLength} bytes is shorter than its 5-byte header`, offset);
    const packetType = body[1]!;
    const data = body.subarray(5);
    switch (packetType) {
      case 0: // AVC sequence header: AVCDecoderConfigurationRecord
        out.push({ type: "config", track: "video", timestampMs: timestamp, data, offset });
        return;
      case 1: // AVC NALUs
        if (data.byteLength === 0) return;
        out.push({ type: "frame", track: "video", dtsMs: timestamp, ctsMs: si24(body, 2), keyframe: frameType === 1, data, offset });
        return;
      case 2: // AVC end of sequence
        return;
      default:
        throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `AVCPacketType ${packetType} is not 0, 1 or 2`, offset + FLV_TAG_HEADER_SIZE + 1);
    }
  }

  /** E.4.2.1 AUDIODATA with an AACAUDIODATA. */
  #audio(body: Uint8Array, timestamp: number, offset: number, out: FlvPacket[]): void {
    if (body.byteLength === 0) return;
    const format = body[0]! >> 4;
    if (format === 9) {
      throw new FlvDemuxError(ReplayErrorCode.UnsupportedCodec, "Enhanced RTMP audio (ExAudioTagHeader: Opus, FLAC...) is not supported: replay AAC in legacy FLV tags", offset);
    }
    if (format !== 10) {
      throw new FlvDemuxError(ReplayErrorCode.UnsupportedCodec, `audio format ${format} (${AUDIO_FORMATS[format] ?? "unknown"}) is not supported: replay AAC`, offset);
    }
    if (body.byteLength < 2) throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, "AAC audio tag without its AACPacketType byte", offset);
    const packetType = body[1]!;
    const data = body.subarray(2);
    if (packetType === 0) {
      out.push({ type: "config", track: "audio", timestampMs: timestamp, data, offset });
    } else if (packetType === 1) {
      if (data.byteLength > 0) out.push({ type: "frame", track: "audio", dtsMs: timestamp, ctsMs: 0, keyframe: true, data, offset });
    } else {
      throw new FlvDemuxError(ReplayErrorCode.FlvBadTag, `AACPacketType ${packetType} is not 0 or 1`, offset + FLV_TAG_HEADER_SIZE + 1);
    }
  }
}

/**
 * A push-style FLV demuxer for input that arrives in chunks (a file read in
 * pieces, a socket): it keeps the partial unit between pushes.
 */
export class FlvStreamDemuxer {
  readonly #core: FlvDemuxer;
  #rest: Uint8Array = new Uint8Array(0);

  constructor(options: FlvDemuxOptions = {}) {
    this.#core = new FlvDemuxer(options);
  }

  /** The file header, once parsed. */
  get header(): FlvHeader | undefined {
    return this.#core.header;
  }

  /** Adds a chunk; returns the packets it completed. Payloads are views of the chunks (or of a joined copy). */
  push(chunk: Uint8Array): FlvPacket[] {
    let bytes = chunk;
    if (this.#rest.byteLength > 0) {
      bytes = new Uint8Array(this.#rest.byteLength + chunk.byteLength);
      bytes.set(this.#rest, 0);
      bytes.set(chunk, this.#rest.byteLength);
    }
    const out: FlvPacket[] = [];
    const used = this.#core.parse(bytes, out);
    this.#rest = bytes.subarray(used);
    return out;
  }

  /** The input is over: throws FLV_TRUNCATED if it stopped inside the header or a tag. */
  end(): void {
    this.#core.finish(this.#rest.byteLength);
  }
}

/** A whole FLV file, demuxed. */
export interface FlvFile {
  readonly header: FlvHeader;
  /** Sequence headers and frames in file order. */
  readonly packets: readonly FlvPacket[];
}

/** Demuxes a whole FLV file held in memory. Throws FlvDemuxError. */
export function demuxFlv(bytes: Uint8Array, options: FlvDemuxOptions = {}): FlvFile {
  const demuxer = new FlvDemuxer(options);
  const packets: FlvPacket[] = [];
  const used = demuxer.parse(bytes, packets);
  demuxer.finish(bytes.byteLength - used);
  return { header: demuxer.header!, packets };
}
