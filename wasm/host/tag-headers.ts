/**
 * FLV tag body headers (Adobe FLV v10.1 Annex E; Enhanced RTMP v2), the part
 * of an audio/video payload that RTMP messages and FLV tags share. The core
 * writes them into its prefix region; `writeTagHeader` returns their length.
 */
import type { Core } from "./core.js";
import { CoreError } from "./status.js";

/** FLV/RTMP video frame types. */
export const FrameType = { Key: 1, Inter: 2, DisposableInter: 3, GeneratedKey: 4, Command: 5 } as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Legacy AVC packet types. */
export const AvcPacketType = { SequenceHeader: 0, Nalu: 1, EndOfSequence: 2 } as const;

/** Enhanced RTMP video packet types. */
export const ExVideoPacketType = { SequenceStart: 0, CodedFrames: 1, SequenceEnd: 2, CodedFramesX: 3 } as const;

/** Enhanced RTMP audio packet types. */
export const ExAudioPacketType = { SequenceStart: 0, CodedFrames: 1, SequenceEnd: 2 } as const;

/** A video tag body header. */
export type VideoTagHeader =
  /** Legacy AVC (codec id 7): packetType 0 avcC, 1 NALUs, 2 end of sequence. */
  | { readonly kind: "avc"; readonly frameType: number; readonly packetType: number; readonly cts: number }
  /** Enhanced RTMP: FourCC 'avc1' | 'hvc1' | 'av01' | 'vp09'. */
  | { readonly kind: "ex"; readonly frameType: number; readonly packetType: number; readonly fourcc: string; readonly cts: number };

/** An audio tag body header. */
export type AudioTagHeader =
  /** Legacy AAC (format 10), written as FFmpeg does: 44 kHz, 16-bit, stereo flags. */
  | { readonly kind: "aac"; readonly packetType: 0 | 1 }
  /** Any legacy format with explicit flags. */
  | { readonly kind: "legacy"; readonly format: number; readonly rate: number; readonly size: number; readonly channels: number; readonly aacPacketType?: 0 | 1 }
  /** Enhanced RTMP v2 audio: FourCC 'Opus' | 'mp4a' | 'fLaC' | 'ac-3' | 'ec-3' | '.mp3'. */
  | { readonly kind: "ex"; readonly packetType: number; readonly fourcc: string };

/** The big-endian u32 of a four-character code. */
export function fourccValue(fourcc: string): number {
  if (fourcc.length !== 4) throw new TypeError(`FourCC must be 4 characters, got ${JSON.stringify(fourcc)}`);
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const c = fourcc.charCodeAt(i);
    if (c > 0x7f) throw new TypeError(`FourCC must be ASCII, got ${JSON.stringify(fourcc)}`);
    v = (v << 8) | c;
  }
  return v >>> 0;
}

/** FLV_BAD_ARGUMENT (F_BAD_ARGUMENT in wasm/assembly/status.ts). */
const F_BAD_ARGUMENT = -32;

/**
 * A header field as the i32 the core takes. WebAssembly converts numbers with
 * ToInt32, which truncates 1.5 to 1 and wraps 2**32 + 1 to 1, and the core
 * would then accept them: a non-integer is API misuse (TypeError), an integer
 * outside i32 is out of range like any other (FLV_BAD_ARGUMENT).
 */
function field(name: string, v: number): number {
  if (!Number.isInteger(v)) throw new TypeError(`${name} must be an integer, got ${v}`);
  if (v < -0x80000000 || v > 0x7fffffff) throw new CoreError(F_BAD_ARGUMENT, `${name} ${v}`);
  return v;
}

/** Writes a video tag header into the prefix region; returns its length. */
export function writeVideoHeader(core: Core, h: VideoTagHeader): number {
  const frameType = field("frameType", h.frameType);
  const packetType = field("packetType", h.packetType);
  const cts = field("cts", h.cts);
  const n = h.kind === "avc"
    ? core.exports.videoHeader(frameType, 7, packetType, cts)
    : core.exports.videoHeaderEx(frameType, packetType, fourccValue(h.fourcc), cts);
  if (n < 0) throw new CoreError(n, "video tag header");
  return n;
}

/** Writes an audio tag header into the prefix region; returns its length. */
export function writeAudioHeader(core: Core, h: AudioTagHeader): number {
  let n: number;
  switch (h.kind) {
    case "aac":
      // FLV spec E.4.2.1: for AAC, rate is always 3 and type always 1.
      n = core.exports.audioHeader(10, 3, 1, 1, field("packetType", h.packetType));
      break;
    case "legacy":
      n = core.exports.audioHeader(
        field("format", h.format), field("rate", h.rate), field("size", h.size), field("channels", h.channels),
        h.aacPacketType === undefined ? -1 : field("aacPacketType", h.aacPacketType),
      );
      break;
    case "ex":
      n = core.exports.audioHeaderEx(field("packetType", h.packetType), fourccValue(h.fourcc));
      break;
  }
  if (n < 0) throw new CoreError(n, "audio tag header");
  return n;
}
