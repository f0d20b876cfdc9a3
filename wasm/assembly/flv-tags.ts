// FLV tag writer (Adobe FLV v10.1, Annex E) and the tag body headers shared
// with RTMP (an RTMP audio/video message body is exactly an FLV tag body).
//
// Legacy video body header (E.4.3.1):   [frameType:4 | codecId:4]
//   and for AVC (codecId 7):            [AVCPacketType:8][compositionTime:SI24]
// Enhanced RTMP (v1/v2) video header:   [1:1 | frameType:3 | packetType:4][FourCC:32]
//   then, for CodedFrames of avc1/hvc1: [compositionTime:SI24]
// Legacy audio body header (E.4.2.1):   [format:4 | rate:2 | size:1 | type:1]
//   and for AAC (format 10):            [AACPacketType:8]
// Enhanced RTMP v2 audio header:        [9:4 | packetType:4][FourCC:32]
//
// The header goes into the 64-byte prefix region (chunk-writer.ts), from where
// both chunkWrite() and flvTag() copy it in front of the payload.

import { put24be, put32be, put8 } from "./bytes";
import { prefixPtr } from "./chunk-writer";
import { F_BAD_ARGUMENT, F_NO_SPACE, F_TOO_LONG } from "./status";

/** Enhanced RTMP video packet types (2 is SequenceEnd; 4.. are not written here). */
const VPT_SEQUENCE_START: i32 = 0;
const VPT_CODED_FRAMES: i32 = 1;
const VPT_CODED_FRAMES_X: i32 = 3;

/** FourCCs that carry a composition time in CodedFrames. */
const FOURCC_AVC1: u32 = 0x61766331; // 'avc1'
const FOURCC_HVC1: u32 = 0x68766331; // 'hvc1'

/** Writes the 9-byte FLV header and PreviousTagSize0 (13 bytes) at `out`. */
export function flvHeader(hasAudio: i32, hasVideo: i32, out: usize): i32 {
  put8(out, 0x46); // 'F'
  put8(out + 1, 0x4c); // 'L'
  put8(out + 2, 0x56); // 'V'
  put8(out + 3, 1); // version
  put8(out + 4, (hasAudio != 0 ? 4 : 0) | (hasVideo != 0 ? 1 : 0)); // TypeFlags
  put32be(out + 5, 9); // DataOffset: header size
  put32be(out + 9, 0); // PreviousTagSize0
  return 13;
}

/**
 * Checks a tag's arguments; returns 0 or a negative status. `written` is how
 * many bytes the call will write into `outCap`.
 */
function checkTag(type: i32, timestamp: u32, prefixLen: i32, payloadLen: i32, written: u64, outCap: i32): i32 {
  if (type != 8 && type != 9 && type != 18) return F_BAD_ARGUMENT;
  if (prefixLen < 0 || prefixLen > 64 || payloadLen < 0) return F_BAD_ARGUMENT;
  // E.4.1: Timestamp (UI24) and TimestampExtended (UI8, the upper 8 bits)
  // together form an SI32; from 2^31 on a reader sees a negative time.
  if (timestamp > 0x7fffffff) return F_BAD_ARGUMENT;
  if (<u32>prefixLen + <u32>payloadLen > 0xffffff) return F_TOO_LONG;
  if (written > <u64>outCap) return F_NO_SPACE;
  return 0;
}

/** The 11-byte tag header and the prefix (the tag body header) after it. */
function putTagHead(out: usize, type: i32, timestamp: u32, prefixLen: i32, size: u32): void {
  put8(out, <u32>type); // Filter 0, TagType
  put24be(out + 1, size); // DataSize
  put24be(out + 4, timestamp & 0xffffff); // Timestamp, low 24 bits
  put8(out + 7, timestamp >> 24); // TimestampExtended, high 8 bits
  put24be(out + 8, 0); // StreamID, always 0
  memory.copy(out + 11, prefixPtr(), <usize>prefixLen);
}

/**
 * Writes one FLV tag: 11-byte header, body (`prefixLen` bytes of the prefix
 * region, then `payloadLen` bytes at `payloadPtr`), PreviousTagSize. The
 * timestamp is 0..0x7FFFFFFF ms. Returns the bytes written or a negative status.
 */
export function flvTag(type: i32, timestamp: u32, prefixLen: i32, payloadPtr: usize, payloadLen: i32, out: usize, outCap: i32): i32 {
  const size = <u32>prefixLen + <u32>payloadLen;
  const status = checkTag(type, timestamp, prefixLen, payloadLen, <u64>size + 15, outCap);
  if (status < 0) return status;
  putTagHead(out, type, timestamp, prefixLen, size);
  memory.copy(out + 11 + <usize>prefixLen, payloadPtr, <usize>payloadLen);
  put32be(out + 11 + <usize>size, size + 11); // PreviousTagSize
  return <i32>(size + 15);
}

/**
 * The same tag as flvTag without its payload bytes: writes the 11-byte
 * header and the prefix, then the 4-byte PreviousTagSize right after them
 * (11 + prefixLen + 4 bytes). Returns the size of the whole tag; the host puts
 * the payload between the prefix and the PreviousTagSize, copying it once
 * from its own array.
 */
export function flvTagHeaders(type: i32, timestamp: u32, prefixLen: i32, payloadLen: i32, out: usize, outCap: i32): i32 {
  const size = <u32>prefixLen + <u32>payloadLen;
  const status = checkTag(type, timestamp, prefixLen, payloadLen, <u64>prefixLen + 15, outCap);
  if (status < 0) return status;
  putTagHead(out, type, timestamp, prefixLen, size);
  put32be(out + 11 + <usize>prefixLen, size + 11); // PreviousTagSize
  return <i32>(size + 15);
}

/**
 * Legacy video tag body header into the prefix region. codecId 7 (AVC) adds
 * AVCPacketType and the signed 24-bit composition time (0 unless NALUs).
 * Returns its length.
 */
export function videoHeader(frameType: i32, codecId: i32, avcPacketType: i32, cts: i32): i32 {
  if (frameType < 1 || frameType > 5 || codecId < 1 || codecId > 15) return F_BAD_ARGUMENT;
  const p = prefixPtr();
  put8(p, (<u32>frameType << 4) | <u32>codecId);
  if (codecId != 7) return 1;
  if (avcPacketType < 0 || avcPacketType > 2 || cts < -0x800000 || cts > 0x7fffff) return F_BAD_ARGUMENT;
  // E.4.3.1: CompositionTime is "IF AVCPacketType == 1 composition time
  // offset ELSE 0"; a non-zero one elsewhere would be written and misread.
  if (avcPacketType != 1 && cts != 0) return F_BAD_ARGUMENT;
  put8(p + 1, <u32>avcPacketType);
  put24be(p + 2, <u32>cts & 0xffffff);
  return 5;
}

/**
 * Enhanced RTMP video tag body header into the prefix region. `fourcc` is the
 * big-endian u32 of e.g. 'avc1', 'hvc1', 'av01', 'vp09'. `cts` must be 0
 * unless the header carries one (CodedFrames of avc1/hvc1). Returns its length.
 */
export function videoHeaderEx(frameType: i32, packetType: i32, fourcc: u32, cts: i32): i32 {
  // Enhanced RTMP v2, ExVideoTagHeader: with FrameType 5 (command) a reader
  // takes the byte after the header as a VideoCommand instead of a FourCC,
  // so a command frame cannot be written by this function.
  if (frameType < 1 || frameType > 4) return F_BAD_ARGUMENT;
  if (packetType < VPT_SEQUENCE_START || packetType > VPT_CODED_FRAMES_X) return F_BAD_ARGUMENT;
  if (cts < -0x800000 || cts > 0x7fffff) return F_BAD_ARGUMENT;
  // Enhanced RTMP v2, ExVideoTagBody: only CodedFrames of avc1/hvc1 carry a
  // CompositionTime (CodedFramesX implies 0, the other FourCCs have none);
  // a non-zero cts anywhere else would be silently dropped, so refuse it.
  const hasCts = packetType == VPT_CODED_FRAMES && (fourcc == FOURCC_AVC1 || fourcc == FOURCC_HVC1);
  if (!hasCts && cts != 0) return F_BAD_ARGUMENT;
  const p = prefixPtr();
  put8(p, 0x80 | (<u32>frameType << 4) | <u32>packetType); // IsExHeader | FrameType | PacketType
  put32be(p + 1, fourcc); // FourCC
  if (!hasCts) return 5;
  put24be(p + 5, <u32>cts & 0xffffff); // CompositionTime SI24
  return 8;
}

/**
 * Legacy audio tag body header into the prefix region. For AAC (format 10)
 * pass aacPacketType 0 (AudioSpecificConfig) or 1 (raw); else pass -1.
 * Returns its length. Format 9 (ExHeader) is audioHeaderEx's.
 */
export function audioHeader(format: i32, rate: i32, size: i32, channels: i32, aacPacketType: i32): i32 {
  if (format < 0 || format > 15 || rate < 0 || rate > 3 || size < 0 || size > 1 || channels < 0 || channels > 1) {
    return F_BAD_ARGUMENT;
  }
  // SoundFormat 9 is "reserved" in E.4.2.1 and the ExHeader marker in
  // Enhanced RTMP v2: a reader would expect a FourCC after this byte.
  if (format == 9) return F_BAD_ARGUMENT;
  // AACPacketType exists for AAC only (E.4.2.1 AUDIODATA).
  if (format == 10 ? aacPacketType < 0 || aacPacketType > 1 : aacPacketType != -1) return F_BAD_ARGUMENT;
  const p = prefixPtr();
  put8(p, (<u32>format << 4) | (<u32>rate << 2) | (<u32>size << 1) | <u32>channels);
  if (format != 10) return 1;
  put8(p + 1, <u32>aacPacketType); // AACPacketType
  return 2;
}

/**
 * Enhanced RTMP v2 audio tag body header (SoundFormat 9 = ExHeader) into the
 * prefix region: packetType 0 SequenceStart, 1 CodedFrames, 2 SequenceEnd.
 * Returns its length.
 */
export function audioHeaderEx(packetType: i32, fourcc: u32): i32 {
  if (packetType < 0 || packetType > 2) return F_BAD_ARGUMENT;
  const p = prefixPtr();
  put8(p, (9 << 4) | <u32>packetType);
  put32be(p + 1, fourcc);
  return 5;
}
