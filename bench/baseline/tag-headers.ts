/**
 * FLV tag body headers (Adobe FLV v10.1 Annex E; Enhanced RTMP v2) in plain
 * TypeScript: the bench's reference for wasm/assembly/flv-tags.ts. Used only
 * by bench/core.ts, never by the product.
 *
 * Like the core, a header is written into one shared scratch (`prefix`) and
 * its length returned; the tag and chunk writers copy it in front of the
 * payload, so a frame is written in one pass without concatenation.
 */
import { fourccValue, type AudioTagHeader, type VideoTagHeader } from "../../wasm/host/tag-headers.js";
import { put24be, put32be } from "./bytes.js";

/** The last tag body header written (at most 8 bytes are used). */
export const prefix = new Uint8Array(16);

const FOURCC_AVC1 = 0x61766331; // 'avc1'
const FOURCC_HVC1 = 0x68766331; // 'hvc1'
/** Enhanced RTMP CodedFrames: the packet type that carries a composition time. */
const EX_CODED_FRAMES = 1;

function checkRange(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be ${lo}..${hi}, got ${v}`);
}

/**
 * Writes a video tag body header into `prefix`; returns its length. A
 * composition time is accepted only where the header carries one.
 */
export function writeVideoHeader(h: VideoTagHeader): number {
  checkRange("cts", h.cts, -0x800000, 0x7fffff);
  switch (h.kind) {
    case "avc":
      checkRange("frameType", h.frameType, 1, 5);
      checkRange("AVC packet type", h.packetType, 0, 2);
      // E.4.3.1: CompositionTime is 0 unless AVCPacketType is 1 (NALUs).
      if (h.packetType !== 1 && h.cts !== 0) throw new RangeError("cts must be 0 unless AVC packet type is 1");
      prefix[0] = (h.frameType << 4) | 7; // FrameType:4 | CodecID:4 (7 = AVC)
      prefix[1] = h.packetType; // AVCPacketType
      put24be(prefix, 2, h.cts & 0xffffff); // CompositionTime, SI24
      return 5;
    case "ex": {
      // FrameType 5 (command) has no FourCC in an ExVideoTagHeader.
      checkRange("frameType", h.frameType, 1, 4);
      checkRange("video packet type", h.packetType, 0, 3);
      const fourcc = fourccValue(h.fourcc);
      // Only CodedFrames of avc1/hvc1 carry a CompositionTime.
      const hasCts = h.packetType === EX_CODED_FRAMES && (fourcc === FOURCC_AVC1 || fourcc === FOURCC_HVC1);
      if (!hasCts && h.cts !== 0) throw new RangeError("cts must be 0 unless the header carries one");
      prefix[0] = 0x80 | (h.frameType << 4) | h.packetType; // IsExHeader:1 | FrameType:3 | PacketType:4
      put32be(prefix, 1, fourcc); // FourCC
      if (!hasCts) return 5;
      put24be(prefix, 5, h.cts & 0xffffff); // CompositionTime, SI24
      return 8;
    }
  }
}

/** Writes an audio tag body header into `prefix`; returns its length. */
export function writeAudioHeader(h: AudioTagHeader): number {
  switch (h.kind) {
    case "aac":
      // FLV spec E.4.2.1: for AAC, rate is always 3 (44 kHz) and type 1 (stereo).
      prefix[0] = (10 << 4) | (3 << 2) | (1 << 1) | 1; // SoundFormat:4 | SoundRate:2 | SoundSize:1 | SoundType:1
      prefix[1] = h.packetType; // AACPacketType
      return 2;
    case "legacy":
      checkRange("sound format", h.format, 0, 15);
      checkRange("sound rate", h.rate, 0, 3);
      checkRange("sound size", h.size, 0, 1);
      checkRange("sound type", h.channels, 0, 1);
      // SoundFormat 9 is the Enhanced RTMP ExHeader marker: use kind "ex".
      if (h.format === 9) throw new RangeError("sound format 9 is the ExHeader marker");
      // AACPacketType exists for AAC (format 10) only.
      if (h.format !== 10) {
        if (h.aacPacketType !== undefined) throw new RangeError("AAC packet type given for a non-AAC format");
        prefix[0] = (h.format << 4) | (h.rate << 2) | (h.size << 1) | h.channels;
        return 1;
      }
      checkRange("AAC packet type", h.aacPacketType ?? -1, 0, 1);
      prefix[0] = (h.format << 4) | (h.rate << 2) | (h.size << 1) | h.channels;
      prefix[1] = h.aacPacketType ?? 0; // AACPacketType
      return 2;
    case "ex":
      checkRange("audio packet type", h.packetType, 0, 2);
      prefix[0] = (9 << 4) | h.packetType; // SoundFormat 9 = ExHeader | AudioPacketType
      put32be(prefix, 1, fourccValue(h.fourcc)); // FourCC
      return 5;
  }
}
