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

/** Writes a video tag header into the prefix region; returns its length. */
export function writeVideoHeader(core: Core, h: VideoTagHeader): number {
  const n = h.kind === "avc"
    ? core.exports.videoHeader(h.frameType, 7, h.packetType, h.cts)
    : core.exports.videoHeaderEx(h.frameType, h.packetType, fourccValue(h.fourcc), h.cts);
  if (n < 0) throw new CoreError(n, "video tag header");
  return n;
}

/** Writes an audio tag header into the prefix region; returns its length. */
export function writeAudioHeader(core: Core, h: AudioTagHeader): number {
  let n: number;
  switch (h.kind) {
    case "aac":
      // FLV spec E.4.2.1: for AAC, rate is always 3 and type always 1.
      n = core.exports.audioHeader(10, 3, 1, 1, h.packetType);
      break;
    case "legacy":
      n = core.exports.audioHeader(h.format, h.rate, h.size, h.channels, h.aacPacketType ?? -1);
      break;
    case "ex":
      n = core.exports.audioHeaderEx(h.packetType, fourccValue(h.fourcc));
      break;
  }
  if (n < 0) throw new CoreError(n, "audio tag header");
  return n;
}
