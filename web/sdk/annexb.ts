/**
 * H.264 byte-stream (Annex B) to AVCC, for encoders that emit start codes
 * and in-band parameter sets (Chromium's MediaRecorder in Matroska): split
 * NAL units, build the avcC from the SPS/PPS (ISO/IEC 14496-15 §5.3.3.1),
 * and re-frame the NAL units with 4-byte lengths.
 */
import { parseSps } from "../../server/media/avc.js";

/** True when `data` begins with a start code (00 00 01 or 00 00 00 01). */
export function isAnnexB(data: Uint8Array): boolean {
  return (data[0] === 0 && data[1] === 0 && data[2] === 1) || (data[0] === 0 && data[1] === 0 && data[2] === 0 && data[3] === 1);
}

/** The NAL units of an Annex B access unit, without their start codes. */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && data[end - 1] === 0) end--; // trailing zeros belong to the next start code
        units.push(data.subarray(start, end));
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < data.length) units.push(data.subarray(start));
  return units.filter((u) => u.length > 0);
}

/** profile_idc values whose avcC carries the chroma format and bit depths (ISO/IEC 14496-15 §5.3.3.1.2). */
const HIGH_PROFILES = new Set([100, 110, 122, 144]);

/**
 * AVCDecoderConfigurationRecord from one SPS and one PPS; for the High
 * profiles with the trailing chroma_format / bit depth fields read from the
 * SPS (no SequenceParameterSetExt).
 */
export function buildAvcC(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  if (sps.length < 4) throw new RangeError("SPS too short");
  const high = HIGH_PROFILES.has(sps[1]!);
  const out = new Uint8Array(11 + sps.length + pps.length + (high ? 4 : 0));
  out[0] = 1; // configurationVersion
  out[1] = sps[1]!; // AVCProfileIndication
  out[2] = sps[2]!; // profile_compatibility
  out[3] = sps[3]!; // AVCLevelIndication
  out[4] = 0xff; // reserved (6 bits) | lengthSizeMinusOne = 3
  out[5] = 0xe1; // reserved (3 bits) | numOfSequenceParameterSets = 1
  out[6] = sps.length >> 8;
  out[7] = sps.length & 0xff;
  out.set(sps, 8);
  let p = 8 + sps.length;
  out[p++] = 1; // numOfPictureParameterSets
  out[p++] = pps.length >> 8;
  out[p++] = pps.length & 0xff;
  out.set(pps, p);
  p += pps.length;
  if (high) {
    let info = { chromaFormatIdc: 1, bitDepthLuma: 8, bitDepthChroma: 8 };
    try {
      info = parseSps(sps);
    } catch {
      // An SPS we cannot read: 4:2:0 8-bit, what every browser encoder makes.
    }
    out[p++] = 0xfc | (info.chromaFormatIdc & 0x03); // reserved (6 bits) | chroma_format
    out[p++] = 0xf8 | ((info.bitDepthLuma - 8) & 0x07); // reserved (5 bits) | bit_depth_luma_minus8
    out[p++] = 0xf8 | ((info.bitDepthChroma - 8) & 0x07); // reserved (5 bits) | bit_depth_chroma_minus8
    out[p++] = 0; // numOfSequenceParameterSetExt
  }
  return out;
}

/** Re-frames NAL units with 4-byte big-endian lengths, leaving out parameter sets and delimiters. */
export function toAvcc(units: Uint8Array[]): Uint8Array {
  const keep = units.filter((u) => {
    const type = u[0]! & 0x1f;
    return type !== 7 && type !== 8 && type !== 9; // SPS, PPS, access unit delimiter: carried in the avcC / not needed
  });
  const out = new Uint8Array(keep.reduce((n, u) => n + 4 + u.length, 0));
  let p = 0;
  for (const u of keep) {
    out[p] = u.length >>> 24;
    out[p + 1] = (u.length >>> 16) & 0xff;
    out[p + 2] = (u.length >>> 8) & 0xff;
    out[p + 3] = u.length & 0xff;
    out.set(u, p + 4);
    p += 4 + u.length;
  }
  return out;
}

/**
 * The NAL units of an AVCC access unit (each prefixed by a 4-byte big-endian
 * length, as WebCodecs' "avc" format emits); stops at a length that runs
 * past the end (a malformed tail is ignored, not read out of bounds).
 */
export function splitAvcc(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let p = 0;
  while (p + 4 <= data.length) {
    const len = ((data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!) >>> 0;
    p += 4;
    if (len === 0 || p + len > data.length) break;
    units.push(data.subarray(p, p + len));
    p += len;
  }
  return units;
}

/**
 * The avcC to announce for a keyframe: built from the SPS and PPS the
 * keyframe carries in band when it has them (Firefox: its
 * decoderConfig.description repeats each parameter set's NAL header byte,
 * `67 67 42 ...`, which no decoder parses; the in-band ones are what the
 * decoder will see anyway), else `description` as the encoder gave it.
 */
export function avcCForKeyframe(keyframe: Uint8Array, description: Uint8Array | undefined): Uint8Array | undefined {
  const units = splitAvcc(keyframe);
  const sps = units.find((u) => (u[0]! & 0x1f) === 7);
  const pps = units.find((u) => (u[0]! & 0x1f) === 8);
  if (sps && pps && sps.length >= 4) return buildAvcC(sps, pps);
  return description;
}
