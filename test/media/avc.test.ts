/**
 * parseAvcDecoderConfig / parseSps / avcCodecString (ISO/IEC 14496-15
 * §5.3.3.1; ITU-T H.264 §7.3.2.1.1, Annex E.1.1).
 *
 * 1. Golden: H.264 made by ffmpeg/x264 at test time in several settings
 *    (the exact command beside each), the avcC taken from the FLV sequence
 *    header, compared with ffprobe (width, height, profile, level,
 *    r_frame_rate) and with FFmpeg's own SPS parser (the trace_headers
 *    bitstream filter prints every field it reads).
 * 2. Hand vectors for what x264 never writes (SPS scaling lists: x264 puts
 *    its matrices in the PPS; pic_order_cnt_type 1; Extended_SAR; HRD;
 *    separate colour planes), written by a small SPS writer below and
 *    checked against trace_headers too.
 * 3. One test per error code and per refusal; every truncation of every
 *    valid vector; a fast-check fuzz that only MediaError comes out.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { avcCodecString, MAX_PICTURE_DIMENSION, parseAvcDecoderConfig, parseSps, type SpsInfo } from "../../server/media/avc.js";
import { MediaError, MediaErrorCode } from "../../server/media/errors.js";
import { parseVideoBody, readFlv } from "../support/flv-read.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-media-avc-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

/** The MediaError `fn` throws; fails the test if it throws anything else (RangeError, TypeError) or nothing. */
function mediaError(fn: () => unknown): MediaError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(err)}`, { cause: err });
    return err;
  }
  throw new Error("did not throw");
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** MSB-first bit writer with the H.264 descriptors; independent of the reader under test. */
class BitWriter {
  readonly bits: number[] = [];

  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }

  flag(b: boolean): this {
    return this.u(1, b ? 1 : 0);
  }

  ue(v: number): this {
    const code = (v + 1).toString(2);
    return this.u(code.length - 1, 0).u(code.length, v + 1);
  }

  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** The bits, zero-padded to a byte. */
  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((b, i) => {
      out[i >> 3]! |= b << (7 - (i & 7));
    });
    return out;
  }

  /** rbsp_trailing_bits (§7.3.2.11), then the bytes. */
  rbsp(): Uint8Array {
    this.u(1, 1);
    while (this.bits.length % 8 !== 0) this.u(1, 0);
    return this.bytes();
  }
}

/** Emulation prevention as an encoder adds it (§7.4.1). */
function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (zeros >= 2) out.push(3);
  return Uint8Array.from(out);
}

/** A scaling_list(): target values (the rest repeat the last, as nextScale 0 says), or raw delta_scale codes. */
type ScalingList = { readonly values: readonly number[] } | { readonly deltas: readonly number[] };

interface Hrd {
  readonly cpb: readonly { readonly bitRate: number; readonly cpbSize: number; readonly cbr: boolean }[];
}

/** The fields of an SPS, as written by writeSps (defaults: 4:2:0 8-bit, POC type 0, progressive, no VUI). */
interface SpsFields {
  readonly profileIdc: number;
  readonly constraintFlags?: number;
  readonly levelIdc?: number;
  readonly spsId?: number;
  readonly chromaFormatIdc?: number;
  readonly separateColourPlane?: boolean;
  readonly bitDepthLumaMinus8?: number;
  readonly bitDepthChromaMinus8?: number;
  readonly qpprime?: boolean;
  /** undefined: seq_scaling_matrix_present_flag 0; else 8 or 12 entries, undefined = list not present. */
  readonly scalingLists?: readonly (ScalingList | undefined)[];
  readonly log2MaxFrameNumMinus4?: number;
  readonly pocType?: number;
  readonly log2MaxPocLsbMinus4?: number;
  readonly poc1?: { readonly alwaysZero: boolean; readonly nonRef: number; readonly topToBottom: number; readonly offsets: readonly number[] };
  readonly maxNumRefFrames?: number;
  readonly widthInMbs: number;
  readonly heightInMapUnits: number;
  readonly frameMbsOnly?: boolean;
  readonly mbaff?: boolean;
  /** Offsets in crop units: left, right, top, bottom. */
  readonly crop?: readonly [number, number, number, number];
  readonly vui?: {
    readonly aspectRatioIdc?: number;
    readonly sar?: readonly [number, number];
    readonly overscan?: boolean;
    readonly videoSignal?: { readonly format: number; readonly fullRange: boolean; readonly colour?: readonly [number, number, number] };
    readonly chromaLoc?: readonly [number, number];
    readonly timing?: readonly [numUnitsInTick: number, timeScale: number, fixed: boolean];
    readonly nalHrd?: Hrd;
    readonly vclHrd?: Hrd;
    readonly restriction?: { readonly reorder: number; readonly buffering: number };
  };
  /** Leave out the rbsp_stop_one_bit (only zero padding). */
  readonly noStopBit?: boolean;
  /** Extra bits written after the last field, before the stop bit. */
  readonly extraBits?: string;
}

const HIGH = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function writeHrd(w: BitWriter, hrd: Hrd): void {
  w.ue(hrd.cpb.length - 1).u(4, 2).u(4, 3); // cpb_cnt_minus1, bit_rate_scale, cpb_size_scale
  for (const c of hrd.cpb) w.ue(c.bitRate - 1).ue(c.cpbSize - 1).flag(c.cbr);
  w.u(5, 23).u(5, 23).u(5, 23).u(5, 24); // delay lengths, time_offset_length
}

/** An SPS NAL unit (header 0x67, escaped) from its fields: §7.3.2.1.1 and E.1.1, written independently of the parser. */
function writeSps(f: SpsFields): Uint8Array {
  const w = new BitWriter();
  w.u(8, f.profileIdc).u(8, f.constraintFlags ?? 0).u(8, f.levelIdc ?? 30).ue(f.spsId ?? 0);
  if (HIGH.has(f.profileIdc)) {
    const chroma = f.chromaFormatIdc ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.flag(f.separateColourPlane ?? false);
    w.ue(f.bitDepthLumaMinus8 ?? 0).ue(f.bitDepthChromaMinus8 ?? 0).flag(f.qpprime ?? false);
    w.flag(f.scalingLists !== undefined);
    f.scalingLists?.forEach((list, i) => {
      w.flag(list !== undefined);
      if (!list) return;
      if ("deltas" in list) {
        for (const d of list.deltas) w.se(d);
        return;
      }
      const size = i < 6 ? 16 : 64;
      let last = 8;
      for (let j = 0; j < size; j++) {
        const target = j < list.values.length ? list.values[j]! : 0; // 0: "repeat the last value" (or use the default list when j = 0)
        w.se((((target - last + 128) % 256) + 256) % 256 - 128);
        if (target === 0) break;
        last = target;
      }
    });
  }
  w.ue(f.log2MaxFrameNumMinus4 ?? 0);
  const pocType = f.pocType ?? 0;
  w.ue(pocType);
  if (pocType === 0) w.ue(f.log2MaxPocLsbMinus4 ?? 2);
  else if (pocType === 1) {
    const p = f.poc1 ?? { alwaysZero: false, nonRef: 0, topToBottom: 0, offsets: [] };
    w.flag(p.alwaysZero).se(p.nonRef).se(p.topToBottom).ue(p.offsets.length);
    for (const o of p.offsets) w.se(o);
  }
  w.ue(f.maxNumRefFrames ?? 1).flag(false); // gaps_in_frame_num_value_allowed_flag
  w.ue(f.widthInMbs - 1).ue(f.heightInMapUnits - 1);
  const frameMbsOnly = f.frameMbsOnly ?? true;
  w.flag(frameMbsOnly);
  if (!frameMbsOnly) w.flag(f.mbaff ?? false);
  w.flag(true); // direct_8x8_inference_flag
  w.flag(f.crop !== undefined);
  if (f.crop) for (const c of f.crop) w.ue(c);
  const v = f.vui;
  w.flag(v !== undefined);
  if (v) {
    w.flag(v.aspectRatioIdc !== undefined);
    if (v.aspectRatioIdc !== undefined) {
      w.u(8, v.aspectRatioIdc);
      if (v.aspectRatioIdc === 255) w.u(16, v.sar?.[0] ?? 0).u(16, v.sar?.[1] ?? 0);
    }
    w.flag(v.overscan !== undefined);
    if (v.overscan !== undefined) w.flag(v.overscan);
    w.flag(v.videoSignal !== undefined);
    if (v.videoSignal) {
      w.u(3, v.videoSignal.format).flag(v.videoSignal.fullRange).flag(v.videoSignal.colour !== undefined);
      if (v.videoSignal.colour) for (const c of v.videoSignal.colour) w.u(8, c);
    }
    w.flag(v.chromaLoc !== undefined);
    if (v.chromaLoc) w.ue(v.chromaLoc[0]).ue(v.chromaLoc[1]);
    w.flag(v.timing !== undefined);
    if (v.timing) w.u(32, v.timing[0]).u(32, v.timing[1]).flag(v.timing[2]);
    w.flag(v.nalHrd !== undefined);
    if (v.nalHrd) writeHrd(w, v.nalHrd);
    w.flag(v.vclHrd !== undefined);
    if (v.vclHrd) writeHrd(w, v.vclHrd);
    if (v.nalHrd || v.vclHrd) w.flag(false); // low_delay_hrd_flag
    w.flag(false); // pic_struct_present_flag
    w.flag(v.restriction !== undefined);
    if (v.restriction) w.flag(true).ue(2).ue(1).ue(16).ue(16).ue(v.restriction.reorder).ue(v.restriction.buffering);
  }
  for (const b of f.extraBits ?? "") w.u(1, b === "1" ? 1 : 0);
  const rbsp = f.noStopBit ? w.bytes() : w.rbsp();
  return concat([Uint8Array.of(0x67), escape(rbsp)]);
}

/** A minimal PPS (§7.3.2.2) for `spsId`: CAVLC, one slice group, no scaling matrix. */
function writePps(spsId = 0): Uint8Array {
  const w = new BitWriter();
  w.ue(0).ue(spsId).flag(false).flag(false).ue(0).ue(0).ue(0).flag(false).u(2, 0).se(0).se(0).se(0).flag(true).flag(false).flag(false);
  return concat([Uint8Array.of(0x68), escape(w.rbsp())]);
}

interface AvcCOptions {
  readonly sps: readonly Uint8Array[];
  readonly pps?: readonly Uint8Array[];
  readonly version?: number;
  readonly profile?: number;
  readonly compat?: number;
  readonly level?: number;
  readonly lengthSizeMinusOne?: number;
  readonly ext?: { readonly chroma: number; readonly lumaMinus8: number; readonly chromaMinus8: number; readonly spsExt?: readonly Uint8Array[] };
  readonly trailing?: Uint8Array;
}

/** An AVCDecoderConfigurationRecord (§5.3.3.1.1) around parameter sets; header fields default to the first SPS's. */
function avcC(o: AvcCOptions): Uint8Array {
  const first = o.sps[0] ?? Uint8Array.of(0x67, 0x42, 0, 30);
  const pps = o.pps ?? [writePps()];
  const sets = (list: readonly Uint8Array[]): Uint8Array[] => list.flatMap((n) => [Uint8Array.of(n.byteLength >> 8, n.byteLength & 0xff), n]);
  const parts = [
    Uint8Array.of(
      o.version ?? 1, // configurationVersion
      o.profile ?? first[1]!, // AVCProfileIndication
      o.compat ?? first[2]!, // profile_compatibility
      o.level ?? first[3]!, // AVCLevelIndication
      0xfc | (o.lengthSizeMinusOne ?? 3), // reserved '111111' + lengthSizeMinusOne
      0xe0 | o.sps.length, // reserved '111' + numOfSequenceParameterSets
    ),
    ...sets(o.sps),
    Uint8Array.of(pps.length), // numOfPictureParameterSets
    ...sets(pps),
  ];
  if (o.ext) {
    const spsExt = o.ext.spsExt ?? [];
    // reserved '111111' + chroma_format, '11111' + bit_depth_luma_minus8, '11111' + bit_depth_chroma_minus8, numOfSequenceParameterSetExt
    parts.push(Uint8Array.of(0xfc | o.ext.chroma, 0xf8 | o.ext.lumaMinus8, 0xf8 | o.ext.chromaMinus8, spsExt.length), ...sets(spsExt));
  }
  if (o.trailing) parts.push(o.trailing);
  return concat(parts);
}

/** Offset just past the PPS array of a well-formed avcC: where the optional high-profile fields start. */
function extensionOffset(record: Uint8Array): number {
  let at = 5;
  const skipSets = (count: number): void => {
    for (let i = 0; i < count; i++) at += 2 + ((record[at]! << 8) | record[at + 1]!);
  };
  const numSps = record[at++]! & 0x1f;
  skipSets(numSps);
  const numPps = record[at++]!;
  skipSets(numPps);
  return at;
}

/** The fields FFmpeg's SPS parser (cbs_h264, via the trace_headers bitstream filter) read from the first SPS. */
type Trace = Map<string, number[]>;

/**
 * Runs FFmpeg's H.264 header parser over an Annex B file and collects the first SPS's fields:
 *   ffmpeg -hide_banner -nostdin -f h264 -i FILE -c:v copy -bsf:v trace_headers -f null -
 * (FFmpeg exits non-zero for a file with no pictures; the trace is printed first.)
 */
async function traceSps(annexB: string): Promise<Trace> {
  const ffmpeg = requireBinary("ffmpeg");
  let stderr: string;
  try {
    stderr = (await run(ffmpeg, ["-hide_banner", "-nostdin", "-f", "h264", "-i", annexB, "-c:v", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"], { maxBuffer: 64 << 20 })).stderr;
  } catch (err) {
    stderr = (err as { stderr?: string }).stderr ?? "";
  }
  const fields: Trace = new Map();
  let inSps = false;
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("[trace_headers")) continue;
    const field = /\]\s+\d+\s+(\S+)\s+[01]+\s+=\s+(-?\d+)\s*$/.exec(line);
    if (!field) {
      if (/\] Sequence Parameter Set\s*$/.test(line) && fields.size === 0) inSps = true;
      else if (inSps && /\] [A-Z][A-Za-z ]+$/.test(line)) break;
      continue;
    }
    if (!inSps) continue;
    const name = field[1]!.replace(/\[\d+\]/g, "[]");
    const list = fields.get(name) ?? [];
    list.push(Number(field[2]));
    fields.set(name, list);
  }
  return fields;
}

/** A field of the trace (first occurrence), or `fallback` if FFmpeg did not read it. */
function field(t: Trace, name: string, fallback?: number): number {
  const v = t.get(name)?.[0] ?? fallback;
  if (v === undefined) throw new Error(`trace_headers did not print ${name}`);
  return v;
}

/** Crop units of H.264 Table 6-1 and (7-19)..(7-22), from the trace's fields. */
function cropUnits(t: Trace): [number, number] {
  const chromaArrayType = field(t, "separate_colour_plane_flag", 0) === 1 ? 0 : field(t, "chroma_format_idc", 1);
  const frameMbsOnly = field(t, "frame_mbs_only_flag");
  const [subW, subH] = [[1, 1], [2, 2], [2, 1], [1, 1]][chromaArrayType]!;
  return chromaArrayType === 0 ? [1, 2 - frameMbsOnly] : [subW!, subH! * (2 - frameMbsOnly)];
}

/** Everything parseSps returns, checked against what FFmpeg read from the same bits. */
function expectSameAsFfmpeg(info: SpsInfo, t: Trace): void {
  expect(t.get("rbsp_stop_one_bit"), "FFmpeg read the SPS to its stop bit").toEqual([1]);
  expect(info.profileIdc).toBe(field(t, "profile_idc"));
  expect(info.levelIdc).toBe(field(t, "level_idc"));
  let flags = field(t, "reserved_zero_2bits");
  for (let i = 0; i < 6; i++) flags |= field(t, `constraint_set${i}_flag`) << (7 - i);
  expect(info.constraintFlags).toBe(flags);
  expect(info.seqParameterSetId).toBe(field(t, "seq_parameter_set_id"));
  expect(info.chromaFormatIdc).toBe(field(t, "chroma_format_idc", 1));
  expect(info.separateColourPlane).toBe(field(t, "separate_colour_plane_flag", 0) === 1);
  expect(info.bitDepthLuma).toBe(8 + field(t, "bit_depth_luma_minus8", 0));
  expect(info.bitDepthChroma).toBe(8 + field(t, "bit_depth_chroma_minus8", 0));
  expect(info.scalingMatrixPresent).toBe(field(t, "seq_scaling_matrix_present_flag", 0) === 1);
  expect(info.picOrderCntType).toBe(field(t, "pic_order_cnt_type"));
  expect(info.maxNumRefFrames).toBe(field(t, "max_num_ref_frames"));
  expect(info.frameMbsOnly).toBe(field(t, "frame_mbs_only_flag") === 1);
  expect(info.codedWidth).toBe((field(t, "pic_width_in_mbs_minus1") + 1) * 16);
  expect(info.codedHeight).toBe((field(t, "pic_height_in_map_units_minus1") + 1) * 16 * (2 - field(t, "frame_mbs_only_flag")));
  const [ux, uy] = cropUnits(t);
  expect(info.crop).toEqual({
    left: field(t, "frame_crop_left_offset", 0) * ux,
    right: field(t, "frame_crop_right_offset", 0) * ux,
    top: field(t, "frame_crop_top_offset", 0) * uy,
    bottom: field(t, "frame_crop_bottom_offset", 0) * uy,
  });
  const idc = field(t, "aspect_ratio_idc", 0);
  if (idc === 255) expect(info.sar).toEqual({ width: field(t, "sar_width"), height: field(t, "sar_height") });
  else if (idc === 1) expect(info.sar).toEqual({ width: 1, height: 1 });
  else if (idc === 0) expect(info.sar).toBeUndefined();
  if (t.has("video_format")) {
    expect(info.videoSignal?.videoFormat).toBe(field(t, "video_format"));
    expect(info.videoSignal?.fullRange).toBe(field(t, "video_full_range_flag") === 1);
    expect(info.videoSignal?.colourPrimaries).toBe(t.get("colour_primaries")?.[0]);
    expect(info.videoSignal?.transferCharacteristics).toBe(t.get("transfer_characteristics")?.[0]);
    expect(info.videoSignal?.matrixCoefficients).toBe(t.get("matrix_coefficients")?.[0]);
  } else {
    expect(info.videoSignal).toBeUndefined();
  }
  if (t.has("num_units_in_tick")) {
    expect(info.timing).toEqual({ numUnitsInTick: field(t, "num_units_in_tick"), timeScale: field(t, "time_scale"), fixedFrameRate: field(t, "fixed_frame_rate_flag") === 1 });
  } else {
    expect(info.timing).toBeUndefined();
  }
  expect(info.maxNumReorderFrames).toBe(t.get("max_num_reorder_frames")?.[0]);
  expect(info.warnings).toEqual([]);
}

/** Annex B byte stream of parameter sets: 00 00 00 01 before each NAL unit. */
const annexB = (...nals: Uint8Array[]): Uint8Array => concat(nals.flatMap((n) => [Uint8Array.of(0, 0, 0, 1), n]));

/** The AVCDecoderConfigurationRecord of an FLV file's AVC sequence header (AVCPacketType 0). */
function avcCOf(flv: Uint8Array): Uint8Array {
  for (const tag of readFlv(flv).tags) {
    if (tag.type !== 9) continue;
    const body = parseVideoBody(tag.body);
    if (body.kind === "legacy" && body.codecId === 7 && body.avcPacketType === 0) return body.payload;
  }
  throw new Error("no AVC sequence header in the FLV file");
}

interface Probe {
  width: number;
  height: number;
  profile: string;
  level: number;
  r_frame_rate: string;
  pix_fmt: string;
  field_order?: string;
}

/**
 * ffprobe of an Annex B file (the frame rate then comes from the SPS timing_info, not from FLV millisecond timestamps):
 *   ffprobe -v error -select_streams v:0 -show_entries stream=width,height,profile,level,r_frame_rate,pix_fmt,field_order -of json FILE
 */
async function ffprobe(path: string): Promise<Probe> {
  const { stdout } = await run(requireBinary("ffprobe"), [
    "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,profile,level,r_frame_rate,pix_fmt,field_order", "-of", "json", path,
  ]);
  const stream = (JSON.parse(stdout) as { streams?: Probe[] }).streams?.[0];
  if (!stream) throw new Error(`ffprobe found no video stream in ${path}`);
  return stream;
}

const ratio = (r: string): number => {
  const [num, den] = r.split("/").map(Number);
  return num! / den!;
};

// ---------------------------------------------------------------- golden

interface GoldenCase {
  readonly name: string;
  /** Arguments after `ffmpeg -hide_banner -loglevel error -nostdin -y`, output file last. */
  readonly args: readonly string[];
  readonly expected: Partial<SpsInfo> & { readonly codecString: string };
}

const GOLDEN: readonly GoldenCase[] = [
  {
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 0.2 -c:v libx264 -profile:v baseline -f flv baseline.flv
    name: "640x360 Baseline 30 fps (368 coded rows, 8 cropped)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "0.2", "-c:v", "libx264", "-profile:v", "baseline", "-f", "flv", "baseline.flv"],
    expected: { profileName: "Constrained Baseline", codedHeight: 368, crop: { left: 0, right: 0, top: 0, bottom: 8 }, frameRate: 30, codecString: "avc1.42c01e" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -t 0.2 -c:v libx264 -profile:v main -f flv main.flv
    name: "1280x720 Main 30 fps (no cropping)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "0.2", "-c:v", "libx264", "-profile:v", "main", "-f", "flv", "main.flv"],
    expected: { profileName: "Main", crop: { left: 0, right: 0, top: 0, bottom: 0 }, frameRate: 30, codecString: "avc1.4d401f" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=25 -t 0.2 -c:v libx264 -profile:v high -f flv high1080.flv
    name: "1920x1080 High 25 fps (1088 coded rows cropped to 1080)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "0.2", "-c:v", "libx264", "-profile:v", "high", "-f", "flv", "high1080.flv"],
    expected: { profileName: "High", codedHeight: 1088, crop: { left: 0, right: 0, top: 0, bottom: 8 }, frameRate: 25, codecString: "avc1.640028" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=642x362:rate=30 -t 0.2 -c:v libx264 -f flv odd.flv
    name: "642x362 High 4:2:0 (odd crop offsets: 7 and 3 units of 2 samples)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=642x362:rate=30", "-t", "0.2", "-c:v", "libx264", "-f", "flv", "odd.flv"],
    expected: { codedWidth: 656, codedHeight: 368, crop: { left: 0, right: 14, top: 0, bottom: 6 }, chromaFormatIdc: 1, codecString: "avc1.64001e" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=322x242:rate=30,format=yuv444p,crop=321:241 -t 0.2 -c:v libx264 -profile:v high444 -f flv h444.flv
    name: "321x241 High 4:4:4 Predictive (crop unit 1x1: odd sizes)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=322x242:rate=30,format=yuv444p,crop=321:241", "-t", "0.2", "-c:v", "libx264", "-profile:v", "high444", "-f", "flv", "h444.flv"],
    expected: { profileName: "High 4:4:4 Predictive", chromaFormatIdc: 3, crop: { left: 0, right: 15, top: 0, bottom: 15 }, codecString: "avc1.f4000d" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 0.2 -c:v libx264 -pix_fmt yuv444p -profile:v high444 -qp 0 -f flv lossless.flv
    name: "640x360 High 4:4:4 lossless (qpprime_y_zero_transform_bypass_flag 1)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "0.2", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-profile:v", "high444", "-qp", "0", "-f", "flv", "lossless.flv"],
    expected: { profileName: "High 4:4:4 Predictive", chromaFormatIdc: 3, codecString: "avc1.f4001e" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=640x362:rate=30,format=yuv422p,crop=640:361 -t 0.2 -c:v libx264 -profile:v high422 -f flv h422.flv
    name: "640x361 High 4:2:2 (crop unit 2x1: odd height)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x362:rate=30,format=yuv422p,crop=640:361", "-t", "0.2", "-c:v", "libx264", "-profile:v", "high422", "-f", "flv", "h422.flv"],
    expected: { profileName: "High 4:2:2", chromaFormatIdc: 2, crop: { left: 0, right: 0, top: 0, bottom: 7 }, codecString: "avc1.7a001e" },
  },
  {
    // libx264 here is built with 10-bit support (yuv420p10le is in `ffmpeg -h encoder=libx264`):
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 0.2 -c:v libx264 -pix_fmt yuv420p10le -profile:v high10 -f flv h10.flv
    name: "640x360 High 10 (bit depth 10)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "0.2", "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-profile:v", "high10", "-f", "flv", "h10.flv"],
    expected: { profileName: "High 10", bitDepthLuma: 10, bitDepthChroma: 10, codecString: "avc1.6e001e" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=25 -t 0.2 -c:v libx264 -flags +ildct -f flv interlaced.flv
    name: "1920x1080 interlaced (frame_mbs_only_flag 0: 34 map units = 68 MB rows, crop unit 2x4)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "0.2", "-c:v", "libx264", "-flags", "+ildct", "-f", "flv", "interlaced.flv"],
    expected: { frameMbsOnly: false, codedHeight: 1088, crop: { left: 0, right: 0, top: 0, bottom: 8 }, frameRate: 25, codecString: "avc1.640028" },
  },
  {
    // ffmpeg -f lavfi -i testsrc=size=642x362:rate=30,crop=641:361 -t 0.2 -c:v libx264 -pix_fmt gray -f flv gray.flv
    name: "641x361 monochrome (chroma_format_idc 0: crop unit 1x1)",
    args: ["-f", "lavfi", "-i", "testsrc=size=642x362:rate=30,crop=641:361", "-t", "0.2", "-c:v", "libx264", "-pix_fmt", "gray", "-f", "flv", "gray.flv"],
    expected: { chromaFormatIdc: 0, crop: { left: 0, right: 15, top: 0, bottom: 7 }, codecString: "avc1.64001e" },
  },
  {
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30000/1001 -t 0.2 -c:v libx264 -profile:v baseline -f flv ntsc.flv
    name: "640x360 at 30000/1001 fps (num_units_in_tick 1001, time_scale 60000)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30000/1001", "-t", "0.2", "-c:v", "libx264", "-profile:v", "baseline", "-f", "flv", "ntsc.flv"],
    expected: { timing: { numUnitsInTick: 1001, timeScale: 60000, fixedFrameRate: false }, codecString: "avc1.42c01e" },
  },
  {
    // x264 writes custom quantisation matrices in the PPS, never in the SPS
    // (seq_scaling_matrix_present_flag stays 0): the SPS lists are covered by hand vectors below.
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 0.2 -c:v libx264 -x264-params cqm=jvt -f flv cqm.flv
    name: "640x360 High with -x264-params cqm=jvt (matrices in the PPS)",
    args: ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "0.2", "-c:v", "libx264", "-x264-params", "cqm=jvt", "-f", "flv", "cqm.flv"],
    expected: { scalingMatrixPresent: false, codecString: "avc1.64001e" },
  },
];

interface GoldenResult {
  readonly record: Uint8Array;
  readonly probe: Probe;
  readonly trace: Trace;
}

/** Makes a golden case: the FLV, then `ffmpeg -i X.flv -c copy -f h264 X.h264` (bit-exact parameter sets), ffprobe and trace_headers of that. */
async function makeGolden(c: GoldenCase): Promise<GoldenResult> {
  const ffmpeg = requireBinary("ffmpeg");
  const flvName = c.args[c.args.length - 1]!;
  const h264 = join(dir, flvName.replace(/\.flv$/, ".h264"));
  await run(ffmpeg, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...c.args], { cwd: dir });
  await run(ffmpeg, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", join(dir, flvName), "-c", "copy", "-f", "h264", h264]);
  const flv = await readFile(join(dir, flvName));
  const [probe, trace] = await Promise.all([ffprobe(h264), traceSps(h264)]);
  return { record: avcCOf(new Uint8Array(flv.buffer, flv.byteOffset, flv.byteLength)), probe, trace };
}

const golden = new Map<string, GoldenResult>();

describe("golden: x264 via ffmpeg, checked with ffprobe and FFmpeg's SPS parser", () => {
  beforeAll(async () => {
    // Two at a time: the machine has two cores and the tests run in two workers.
    for (let i = 0; i < GOLDEN.length; i += 2) {
      const batch = GOLDEN.slice(i, i + 2);
      const made = await Promise.all(batch.map(makeGolden));
      batch.forEach((c, j) => golden.set(c.name, made[j]!));
    }
  }, 120_000);

  it.each(GOLDEN)("$name", (c) => {
    const { record, probe, trace } = golden.get(c.name)!;
    const cfg = parseAvcDecoderConfig(record);
    const { info } = cfg;
    expect(cfg.warnings).toEqual([]);
    expect(cfg.nalLengthSize).toBe(4);
    expect(cfg.sps).toHaveLength(1);
    expect(cfg.pps).toHaveLength(1);
    // What ffprobe decodes.
    expect({ width: info.width, height: info.height, profile: info.profileName, level: info.levelIdc }).toEqual({
      width: probe.width,
      height: probe.height,
      profile: probe.profile,
      level: probe.level,
    });
    expect(info.level).toBe(probe.level / 10);
    expect(info.frameRate).toBeCloseTo(ratio(probe.r_frame_rate), 9);
    expect(info.frameMbsOnly).toBe(probe.field_order === "progressive");
    // What FFmpeg's own SPS parser read from the same bits.
    expectSameAsFfmpeg(info, trace);
    // The case's own point.
    const { codecString, ...fields } = c.expected;
    expect(info).toMatchObject(fields);
    expect(avcCodecString(info)).toBe(codecString);
    expect(avcCodecString(cfg)).toBe(codecString);
  });

  it("FFmpeg 5.1 writes the high-profile avcC fields for every profile but 66/77/88 (244 too) and they agree with the SPS", () => {
    for (const c of GOLDEN) {
      const cfg = parseAvcDecoderConfig(golden.get(c.name)!.record);
      if ([66, 77, 88].includes(cfg.profileIdc)) {
        expect(cfg.highProfileExtension, c.name).toBeUndefined();
        continue;
      }
      expect(cfg.highProfileExtension, c.name).toEqual({
        chromaFormat: cfg.info.chromaFormatIdc,
        bitDepthLuma: cfg.info.bitDepthLuma,
        bitDepthChroma: cfg.info.bitDepthChroma,
        spsExt: [],
      });
    }
  });

  it("every truncation of every golden avcC is a MediaError, except the cut just before the optional high-profile fields", () => {
    for (const c of GOLDEN) {
      const record = golden.get(c.name)!.record;
      const optionalFrom = extensionOffset(record);
      for (let n = 0; n < record.byteLength; n++) {
        const prefix = record.slice(0, n);
        if (n === optionalFrom) {
          expect(parseAvcDecoderConfig(prefix).highProfileExtension, `${c.name} cut at ${n}`).toBeUndefined();
          continue;
        }
        const err = mediaError(() => parseAvcDecoderConfig(prefix));
        expect(err.code, `${c.name} cut at ${n}`).toBe("BAD_AVC_CONFIG");
      }
    }
  });

  it("every truncation of every golden SPS is a MediaError, or parses with a warning", () => {
    for (const c of GOLDEN) {
      const sps = parseAvcDecoderConfig(golden.get(c.name)!.record).sps[0]!;
      for (let n = 0; n < sps.byteLength; n++) {
        let info: SpsInfo;
        try {
          info = parseSps(sps.slice(0, n));
        } catch (err) {
          expect(err, `${c.name} SPS cut at ${n}`).toBeInstanceOf(MediaError);
          continue;
        }
        expect(info.warnings.length, `${c.name} SPS cut at ${n}`).toBeGreaterThan(0);
      }
    }
  });

  it("fuzz: thousands of mutated golden avcCs throw only MediaError, and what parses is within bounds", () => {
    const records = GOLDEN.map((c) => golden.get(c.name)!.record);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: records.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (which, mutations) => {
        let bytes: Uint8Array = Uint8Array.from(records[which]!);
        for (const m of mutations) {
          const at = bytes.byteLength === 0 ? 0 : m.at % bytes.byteLength;
          if (m.kind === "flip") bytes[at]! ^= 1 << m.bit;
          else if (m.kind === "set") bytes[at] = m.value;
          else if (m.kind === "cut") bytes = bytes.slice(0, at);
          else bytes = concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        }
        expectOnlyMediaError(bytes);
      }),
      { numRuns: 4000 },
    );
  });
});

/** parseAvcDecoderConfig either throws a MediaError or returns a config whose picture is within bounds. */
function expectOnlyMediaError(bytes: Uint8Array): void {
  try {
    const cfg = parseAvcDecoderConfig(bytes);
    expect(cfg.info.width).toBeGreaterThan(0);
    expect(cfg.info.height).toBeGreaterThan(0);
    expect(cfg.info.width).toBeLessThanOrEqual(MAX_PICTURE_DIMENSION);
    expect(cfg.info.height).toBeLessThanOrEqual(MAX_PICTURE_DIMENSION);
    expect(cfg.sps.length).toBeGreaterThan(0);
    expect(cfg.pps.length).toBeGreaterThan(0);
  } catch (err) {
    if (!(err instanceof MediaError)) throw err;
    expect(Object.values(MediaErrorCode)).toContain(err.code);
  }
}

// ---------------------------------------------------------------- hand vectors

/** 640x360 Baseline at 30 fps: the base of the error tests. */
const BASELINE: SpsFields = {
  profileIdc: 66,
  constraintFlags: 0xc0,
  levelIdc: 30,
  widthInMbs: 40,
  heightInMapUnits: 23,
  crop: [0, 0, 0, 4],
  vui: { timing: [1, 60, true] },
};
const BASELINE_SPS = writeSps(BASELINE);
const PPS = writePps();

interface HandCase {
  readonly name: string;
  readonly fields: SpsFields;
  readonly expected: Partial<SpsInfo>;
}

const ramp = (n: number, f: (j: number) => number): number[] => Array.from({ length: n }, (_, j) => f(j));

const HAND: readonly HandCase[] = [
  {
    name: "High with seq_scaling_matrix: 8 lists (full, default, early end, absent, 64-entry with wrapping deltas)",
    fields: {
      profileIdc: 100,
      levelIdc: 31,
      widthInMbs: 80,
      heightInMapUnits: 45,
      scalingLists: [
        { values: ramp(16, (j) => 6 + j) }, // every delta written
        undefined,
        { values: [] }, // delta -8: nextScale 0 at j = 0, useDefaultScalingMatrixFlag
        { values: [10, 20] }, // then a delta to 0: the rest repeat 20
        undefined,
        undefined,
        { values: ramp(64, (j) => ((j * 37) % 255) + 1) }, // deltas wrap modulo 256
        { values: [255, 1] }, // 8 -> 255 is delta -9, 255 -> 1 is +2
      ],
      vui: { aspectRatioIdc: 1, timing: [1, 60, false] },
    },
    expected: { width: 1280, height: 720, scalingMatrixPresent: true, frameRate: 30, sar: { width: 1, height: 1 } },
  },
  {
    name: "High 4:4:4 Predictive with 12 scaling lists and 10-bit luma, 8-bit chroma",
    fields: {
      profileIdc: 244,
      chromaFormatIdc: 3,
      bitDepthLumaMinus8: 2,
      qpprime: true,
      widthInMbs: 21,
      heightInMapUnits: 16,
      crop: [1, 14, 0, 15],
      scalingLists: [undefined, { values: [4] }, undefined, undefined, undefined, undefined, { values: [] }, undefined, { values: ramp(64, (j) => 16 + (j >> 2)) }, undefined, { values: [200, 100, 50] }, { values: [] }],
    },
    expected: { width: 321, height: 241, chromaFormatIdc: 3, bitDepthLuma: 10, bitDepthChroma: 8, crop: { left: 1, right: 14, top: 0, bottom: 15 } },
  },
  {
    name: "Baseline with pic_order_cnt_type 1 and a 5-frame offset_for_ref_frame cycle",
    fields: {
      profileIdc: 66,
      widthInMbs: 20,
      heightInMapUnits: 15,
      pocType: 1,
      poc1: { alwaysZero: false, nonRef: -3, topToBottom: 7, offsets: [1, -2, 300, -40000, 0] },
      maxNumRefFrames: 5,
    },
    expected: { width: 320, height: 240, picOrderCntType: 1, maxNumRefFrames: 5, profileName: "Baseline" },
  },
  {
    name: "Main, POC type 2, full VUI: Extended_SAR 4:3, overscan, colour description, chroma location, 1001/60000 timing, NAL and VCL HRD, bitstream_restriction",
    fields: {
      profileIdc: 77,
      constraintFlags: 0x40,
      levelIdc: 40,
      widthInMbs: 45,
      heightInMapUnits: 36,
      pocType: 2,
      vui: {
        aspectRatioIdc: 255,
        sar: [4, 3],
        overscan: false,
        videoSignal: { format: 5, fullRange: true, colour: [1, 1, 1] },
        chromaLoc: [1, 1],
        timing: [1001, 60000, true],
        nalHrd: { cpb: [{ bitRate: 5000, cpbSize: 8000, cbr: false }, { bitRate: 3000, cpbSize: 4000, cbr: true }] },
        vclHrd: { cpb: [{ bitRate: 4000, cpbSize: 7000, cbr: false }] },
        restriction: { reorder: 0, buffering: 1 },
      },
    },
    expected: {
      width: 720,
      height: 576,
      picOrderCntType: 2,
      sar: { width: 4, height: 3 },
      videoSignal: { videoFormat: 5, fullRange: true, colourPrimaries: 1, transferCharacteristics: 1, matrixCoefficients: 1 },
      frameRate: 30000 / 1001,
      maxNumReorderFrames: 0,
    },
  },
  {
    name: "4:4:4 with separate_colour_plane_flag, interlaced: ChromaArrayType 0, crop unit 1x2",
    fields: { profileIdc: 244, chromaFormatIdc: 3, separateColourPlane: true, widthInMbs: 20, heightInMapUnits: 9, frameMbsOnly: false, mbaff: true, crop: [0, 3, 1, 2] },
    expected: { separateColourPlane: true, codedWidth: 320, codedHeight: 288, crop: { left: 0, right: 3, top: 2, bottom: 4 }, width: 317, height: 282 },
  },
  {
    name: "High 4:2:2 MBAFF: crop unit 2x2",
    fields: { profileIdc: 122, chromaFormatIdc: 2, widthInMbs: 45, heightInMapUnits: 18, frameMbsOnly: false, mbaff: true, crop: [1, 1, 1, 3] },
    expected: { profileName: "High 4:2:2", codedWidth: 720, codedHeight: 576, crop: { left: 2, right: 2, top: 2, bottom: 6 }, width: 716, height: 568 },
  },
  {
    name: "High, seq_parameter_set_id 31, 16 reference frames, the largest picture (16384x16384)",
    fields: { profileIdc: 100, levelIdc: 62, spsId: 31, maxNumRefFrames: 16, widthInMbs: 1024, heightInMapUnits: 1024, log2MaxFrameNumMinus4: 12, log2MaxPocLsbMinus4: 12 },
    expected: { seqParameterSetId: 31, maxNumRefFrames: 16, width: MAX_PICTURE_DIMENSION, height: MAX_PICTURE_DIMENSION, level: 6.2 },
  },
];

describe("hand-written SPS vectors, checked against FFmpeg's SPS parser", () => {
  const traces = new Map<string, Trace>();

  beforeAll(async () => {
    for (const c of HAND) {
      // The SPS and a PPS as an Annex B file for:
      //   ffmpeg -hide_banner -nostdin -f h264 -i FILE -c:v copy -bsf:v trace_headers -f null -
      const file = join(dir, `hand-${HAND.indexOf(c)}.h264`);
      await writeFile(file, annexB(writeSps(c.fields), writePps(c.fields.spsId ?? 0)));
      traces.set(c.name, await traceSps(file));
    }
  }, 60_000);

  it.each(HAND)("$name", (c) => {
    const sps = writeSps(c.fields);
    const info = parseSps(sps);
    expect(info).toMatchObject(c.expected);
    expectSameAsFfmpeg(info, traces.get(c.name)!);
    const cfg = parseAvcDecoderConfig(avcC({ sps: [sps], pps: [writePps(c.fields.spsId ?? 0)] }));
    expect(cfg.info).toEqual(info);
  });

  it("every truncation of every hand avcC is BAD_AVC_CONFIG; of every hand SPS, a MediaError or a warning", () => {
    for (const c of HAND) {
      const sps = writeSps(c.fields);
      const record = avcC({ sps: [sps] });
      for (let n = 0; n < record.byteLength; n++) {
        expect(mediaError(() => parseAvcDecoderConfig(record.slice(0, n))).code, `${c.name}: avcC cut at ${n}`).toBe("BAD_AVC_CONFIG");
      }
      for (let n = 0; n < sps.byteLength; n++) {
        try {
          expect(parseSps(sps.slice(0, n)).warnings.length, `${c.name}: SPS cut at ${n}`).toBeGreaterThan(0);
        } catch (err) {
          expect(err, `${c.name}: SPS cut at ${n}`).toBeInstanceOf(MediaError);
        }
      }
    }
  });
});

describe("SPS writer -> parseSps round trip (fast-check)", () => {
  const crop = fc.tuple(fc.nat(7), fc.nat(7), fc.nat(7), fc.nat(7));
  const fields: fc.Arbitrary<SpsFields> = fc
    .record({
      profileIdc: fc.constantFrom(66, 77, 88, 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135),
      constraintFlags: fc.integer({ min: 0, max: 255 }).map((b) => b & 0xfc),
      levelIdc: fc.integer({ min: 9, max: 62 }),
      spsId: fc.nat(31),
      chromaFormatIdc: fc.nat(3),
      separateColourPlane: fc.boolean(),
      bitDepthLumaMinus8: fc.nat(6),
      bitDepthChromaMinus8: fc.nat(6),
      scalingLists: fc.option(fc.array(fc.option(fc.record({ values: fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 70 }) }), { nil: undefined }), { minLength: 12, maxLength: 12 }), { nil: undefined }),
      pocType: fc.nat(2),
      poc1: fc.record({ alwaysZero: fc.boolean(), nonRef: fc.integer({ min: -1000, max: 1000 }), topToBottom: fc.integer({ min: -1000, max: 1000 }), offsets: fc.array(fc.integer({ min: -100000, max: 100000 }), { maxLength: 40 }) }),
      maxNumRefFrames: fc.nat(16),
      widthInMbs: fc.integer({ min: 9, max: 1024 }),
      heightInMapUnits: fc.integer({ min: 9, max: 512 }),
      frameMbsOnly: fc.boolean(),
      mbaff: fc.boolean(),
      crop: fc.option(crop, { nil: undefined }),
      timing: fc.option(fc.tuple(fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }), fc.boolean()), { nil: undefined }),
    })
    .map((r) => ({
      ...r,
      // 8 lists unless 4:4:4.
      scalingLists: r.scalingLists?.slice(0, r.chromaFormatIdc === 3 ? 12 : 8),
      vui: r.timing ? { timing: r.timing } : undefined,
    }));

  it("width, height, crop, chroma, bit depth and frame rate come back as written", () => {
    fc.assert(
      fc.property(fields, (f) => {
        const info = parseSps(writeSps(f));
        const high = HIGH.has(f.profileIdc);
        const chroma = high ? f.chromaFormatIdc! : 1;
        const separate = high && chroma === 3 && f.separateColourPlane!;
        const mbsOnly = f.frameMbsOnly ?? true;
        // Table 6-1 and (7-19)..(7-22).
        const arrayType = separate ? 0 : chroma;
        const unitX = arrayType === 1 || arrayType === 2 ? 2 : 1;
        const unitY = (arrayType === 1 ? 2 : 1) * (mbsOnly ? 1 : 2);
        const [l, r, t, b] = f.crop ?? [0, 0, 0, 0];
        const codedHeight = f.heightInMapUnits * 16 * (mbsOnly ? 1 : 2);
        expect(info.codedWidth).toBe(f.widthInMbs * 16);
        expect(info.codedHeight).toBe(codedHeight);
        expect(info.width).toBe(f.widthInMbs * 16 - (l + r) * unitX);
        expect(info.height).toBe(codedHeight - (t + b) * unitY);
        expect(info.chromaFormatIdc).toBe(chroma);
        expect(info.separateColourPlane).toBe(separate);
        expect(info.bitDepthLuma).toBe(high ? 8 + f.bitDepthLumaMinus8! : 8);
        expect(info.scalingMatrixPresent).toBe(high && f.scalingLists !== undefined);
        expect(info.picOrderCntType).toBe(f.pocType);
        expect(info.seqParameterSetId).toBe(f.spsId);
        expect(info.constraintFlags).toBe(f.constraintFlags);
        expect(info.frameRate).toBe(f.vui?.timing ? f.vui.timing[1] / (2 * f.vui.timing[0]) : undefined);
        expect(info.warnings).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("profile names and avcCodecString", () => {
  it.each([
    [66, 0x00, "Baseline"],
    [66, 0x40, "Constrained Baseline"],
    [66, 0xc0, "Constrained Baseline"],
    [77, 0x00, "Main"],
    [88, 0x00, "Extended"],
    [100, 0x00, "High"],
    [100, 0x08, "Progressive High"],
    [100, 0x0c, "Constrained High"],
    [110, 0x00, "High 10"],
    [110, 0x10, "High 10 Intra"],
    [122, 0x00, "High 4:2:2"],
    [122, 0x10, "High 4:2:2 Intra"],
    [244, 0x00, "High 4:4:4 Predictive"],
    [244, 0x10, "High 4:4:4 Intra"],
    [44, 0x00, "CAVLC 4:4:4 Intra"],
    [83, 0x00, "Scalable Baseline"],
    [86, 0x00, "Scalable High"],
    [118, 0x00, "Multiview High"],
    [128, 0x00, "Stereo High"],
    [134, 0x00, "MFC High"],
    [135, 0x00, "MFC Depth High"],
    [138, 0x00, "Multiview Depth High"],
    [139, 0x00, "Enhanced Multiview Depth High"],
  ] as const)("profile_idc %i, constraint flags 0x%s: %s", (profileIdc, constraintFlags, name) => {
    expect(parseSps(writeSps({ ...BASELINE, profileIdc, constraintFlags })).profileName).toBe(name);
  });

  it("avcCodecString is avc1.PPCCLL in lower-case hex", () => {
    expect(avcCodecString({ profileIdc: 66, constraintFlags: 0xe0, levelIdc: 31 })).toBe("avc1.42e01f");
    expect(avcCodecString({ profileIdc: 100, constraintFlags: 0, levelIdc: 9 })).toBe("avc1.640009");
    expect(avcCodecString(parseSps(BASELINE_SPS))).toBe("avc1.42c01e");
    expect(() => avcCodecString({ profileIdc: 256, constraintFlags: 0, levelIdc: 30 })).toThrow(TypeError);
  });

  it("the level is level_idc / 10", () => {
    expect(parseSps(writeSps({ ...BASELINE, levelIdc: 31 })).level).toBe(3.1);
    expect(parseSps(writeSps({ ...BASELINE, levelIdc: 52 })).level).toBe(5.2);
  });
});

// ---------------------------------------------------------------- errors

describe("BAD_AVC_CONFIG: a malformed avcC", () => {
  const bad = (bytes: Uint8Array): MediaError => {
    const err = mediaError(() => parseAvcDecoderConfig(bytes));
    expect(err.code).toBe(MediaErrorCode.BadAvcConfig);
    return err;
  };

  it("shorter than 7 bytes", () => {
    expect(bad(Uint8Array.of(1, 0x42, 0xc0, 0x1e, 0xff)).message).toBe("avcC too short: 5 bytes, need at least 7");
    expect(bad(new Uint8Array(0)).message).toBe("avcC too short: 0 bytes, need at least 7");
  });

  it("configurationVersion other than 1; an Annex B stream is named as such", () => {
    expect(bad(avcC({ sps: [BASELINE_SPS], version: 2 })).message).toBe("avcC: configurationVersion is 2, must be 1");
    expect(bad(annexB(BASELINE_SPS, PPS)).message).toMatch(/configurationVersion is 0, must be 1 \(this is an Annex B byte stream.*format: "avc"/);
  });

  it("lengthSizeMinusOne 2 (a 3-byte NAL length) is invalid; 0, 1 and 3 give 1, 2 and 4", () => {
    expect(bad(avcC({ sps: [BASELINE_SPS], lengthSizeMinusOne: 2 })).message).toMatch(/lengthSizeMinusOne is 2/);
    expect(parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS], lengthSizeMinusOne: 0 })).nalLengthSize).toBe(1);
    expect(parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS], lengthSizeMinusOne: 1 })).nalLengthSize).toBe(2);
    expect(parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS], lengthSizeMinusOne: 3 })).nalLengthSize).toBe(4);
  });

  it("no SPS", () => {
    expect(bad(avcC({ sps: [], profile: 66, compat: 0, level: 30 })).message).toBe("avcC: numOfSequenceParameterSets is 0, need at least one SPS");
  });

  it("no PPS", () => {
    expect(bad(avcC({ sps: [BASELINE_SPS], pps: [] })).message).toBe("avcC: numOfPictureParameterSets is 0, need at least one PPS");
  });

  it("an empty SPS or PPS", () => {
    expect(bad(avcC({ sps: [BASELINE_SPS, new Uint8Array(0)] })).message).toBe("avcC: SPS 1 is empty (length 0)");
    expect(bad(avcC({ sps: [BASELINE_SPS], pps: [new Uint8Array(0)] })).message).toBe("avcC: PPS 0 is empty (length 0)");
  });

  it("an SPS length past the end of the record", () => {
    const record = avcC({ sps: [BASELINE_SPS] });
    record[7] = 0xff; // low byte of sequenceParameterSetLength
    expect(bad(record).message).toMatch(/^avcC truncated: SPS 0 \(\d+ bytes\) needs \d+ bytes at offset 8, but the \d+-byte record has \d+ left$/);
  });

  it("a PPS where an SPS belongs, and an SPS where a PPS belongs", () => {
    expect(bad(avcC({ sps: [PPS], profile: 66, compat: 0, level: 30 })).message).toBe("avcC: SPS 0 has nal_unit_type 8, expected 7");
    expect(bad(avcC({ sps: [BASELINE_SPS], pps: [BASELINE_SPS] })).message).toBe("avcC: PPS 0 has nal_unit_type 7, expected 8");
  });

  it("high-profile fields cut short, or an SPS extension of the wrong type", () => {
    const high = writeSps({ ...BASELINE, profileIdc: 100, constraintFlags: 0 });
    const full = avcC({ sps: [high], ext: { chroma: 1, lumaMinus8: 0, chromaMinus8: 0 } });
    expect(bad(full.slice(0, full.byteLength - 2)).message).toMatch(/avcC truncated: bit_depth_chroma_minus8/);
    expect(bad(avcC({ sps: [high], ext: { chroma: 1, lumaMinus8: 0, chromaMinus8: 0, spsExt: [PPS] } })).message).toBe("avcC: SPS extension 0 has nal_unit_type 8, expected 13");
    const ok = parseAvcDecoderConfig(avcC({ sps: [high], ext: { chroma: 1, lumaMinus8: 0, chromaMinus8: 0, spsExt: [Uint8Array.of(0x6d, 0x80)] } }));
    expect(ok.highProfileExtension?.spsExt).toEqual([Uint8Array.of(0x6d, 0x80)]);
  });

  it("a bad SPS in second place names it", () => {
    const err = mediaError(() => parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS, writeSps({ ...BASELINE, spsId: 32 })] })));
    expect(err.code).toBe("BAD_SPS");
    expect(err.message).toBe("avcC SPS 1: SPS: seq_parameter_set_id is 32, must be 0..31");
  });
});

describe("BAD_SPS: a malformed SPS", () => {
  const bad = (nal: Uint8Array): string => {
    const err = mediaError(() => parseSps(nal));
    expect(err.code).toBe(MediaErrorCode.BadSps);
    // Through an avcC the code is the same.
    if (nal.byteLength > 0 && (nal[0]! & 0x1f) === 7 && nal.byteLength >= 4) {
      expect(mediaError(() => parseAvcDecoderConfig(avcC({ sps: [nal] }))).code).toBe(MediaErrorCode.BadSps);
    }
    return err.message;
  };

  it("not an SPS NAL unit (parseSps alone: nal_unit_type 8)", () => {
    expect(bad(PPS.length >= 4 ? PPS : concat([PPS, new Uint8Array(4)]))).toBe("SPS: nal_unit_type is 8, an SPS is 7");
  });

  it("forbidden_zero_bit set", () => {
    const nal = Uint8Array.from(BASELINE_SPS);
    nal[0] = 0xe7;
    expect(bad(nal)).toBe("SPS: forbidden_zero_bit of the NAL header is 1");
  });

  it("shorter than 4 bytes", () => {
    expect(bad(Uint8Array.of(0x67, 0x42, 0xc0))).toBe("SPS too short: 3 bytes, need at least 4 (NAL header, profile_idc, constraint flags, level_idc)");
  });

  it("truncated inside the fields golive needs", () => {
    expect(bad(BASELINE_SPS.slice(0, 6))).toMatch(/^SPS: truncated: reading \S+ needs/);
  });

  it.each([
    ["seq_parameter_set_id 32", { spsId: 32 }, "seq_parameter_set_id is 32, must be 0..31"],
    ["chroma_format_idc 4", { profileIdc: 100, chromaFormatIdc: 4 }, "chroma_format_idc is 4, must be 0..3"],
    ["bit_depth_luma_minus8 7", { profileIdc: 100, bitDepthLumaMinus8: 7 }, "bit_depth_luma_minus8 is 7, must be 0..6"],
    ["bit_depth_chroma_minus8 9", { profileIdc: 100, bitDepthChromaMinus8: 9 }, "bit_depth_chroma_minus8 is 9, must be 0..6"],
    ["delta_scale -129", { profileIdc: 100, scalingLists: [{ deltas: [-129] }, undefined, undefined, undefined, undefined, undefined, undefined, undefined] }, "delta_scale of scaling list 0 is -129, must be -128..127"],
    ["log2_max_frame_num_minus4 13", { log2MaxFrameNumMinus4: 13 }, "log2_max_frame_num_minus4 is 13, must be 0..12"],
    ["pic_order_cnt_type 3", { pocType: 3 }, "pic_order_cnt_type is 3, must be 0..2"],
    ["log2_max_pic_order_cnt_lsb_minus4 13", { log2MaxPocLsbMinus4: 13 }, "log2_max_pic_order_cnt_lsb_minus4 is 13, must be 0..12"],
    ["num_ref_frames_in_pic_order_cnt_cycle 256", { pocType: 1, poc1: { alwaysZero: false, nonRef: 0, topToBottom: 0, offsets: new Array<number>(256).fill(1) } }, "num_ref_frames_in_pic_order_cnt_cycle is 256, must be 0..255"],
    ["max_num_ref_frames 17", { maxNumRefFrames: 17 }, "max_num_ref_frames is 17, must be 0..16"],
    ["cropping the whole width", { crop: [160, 160, 0, 0] }, "frame cropping (left 320, right 320, top 0, bottom 0 samples) leaves nothing of the 640x368 coded picture"],
    ["cropping the whole height", { crop: [0, 0, 0, 184] }, "frame cropping (left 0, right 0, top 0, bottom 368 samples) leaves nothing of the 640x368 coded picture"],
    ["chroma_sample_loc_type 6", { vui: { chromaLoc: [6, 0] } }, "chroma_sample_loc_type_top_field is 6, must be 0..5"],
    ["timing_info cut off", { vui: { timing: [1, 60, true] }, noStopBit: true }, undefined],
  ] as [string, Partial<SpsFields>, string | undefined][])("%s", (_name, change, message) => {
    let nal = writeSps({ ...BASELINE, ...change });
    if (message === undefined) {
      // Cut the SPS inside time_scale.
      nal = nal.slice(0, nal.byteLength - 3);
      expect(bad(nal)).toMatch(/^SPS: truncated: reading time_scale needs 32 bits/);
      return;
    }
    expect(bad(nal)).toBe(`SPS: ${message}`);
  });

  it("an Exp-Golomb code with 32 leading zeros", () => {
    // NAL header, profile_idc 66, flags, level 30, then seq_parameter_set_id with 32 zero bits.
    expect(bad(Uint8Array.of(0x67, 66, 0xc0, 30, 0, 0, 0, 0, 0x80, 0))).toMatch(/^SPS: seq_parameter_set_id is an Exp-Golomb code with more than 31 leading zero bits/);
  });
});

describe("UNSUPPORTED_VIDEO: an SPS we parse but do not accept", () => {
  const unsupported = (nal: Uint8Array): string => {
    const err = mediaError(() => parseSps(nal));
    expect(err.code).toBe(MediaErrorCode.UnsupportedVideo);
    expect(mediaError(() => parseAvcDecoderConfig(avcC({ sps: [nal] }))).code).toBe(MediaErrorCode.UnsupportedVideo);
    return err.message;
  };

  it("an unknown profile_idc (its syntax is unknown)", () => {
    expect(unsupported(writeSps({ ...BASELINE, profileIdc: 99 }))).toBe("SPS: unknown profile_idc 99");
  });

  it("wider than 16384", () => {
    expect(unsupported(writeSps({ ...BASELINE, widthInMbs: 1025, crop: undefined }))).toBe("SPS: coded picture 16400x368 is larger than 16384x16384");
  });

  it("taller than 16384, also when interlaced (map units are field MB pairs)", () => {
    expect(unsupported(writeSps({ ...BASELINE, heightInMapUnits: 1025, crop: undefined }))).toBe("SPS: coded picture 640x16400 is larger than 16384x16384");
    expect(unsupported(writeSps({ ...BASELINE, heightInMapUnits: 513, frameMbsOnly: false, crop: undefined }))).toBe("SPS: coded picture 640x16416 is larger than 16384x16384");
    expect(parseSps(writeSps({ ...BASELINE, heightInMapUnits: 512, frameMbsOnly: false, crop: undefined })).height).toBe(16384);
  });
});

describe("warnings: odd but accepted", () => {
  it("avcC profile, compatibility and level differ from the SPS: the SPS wins", () => {
    const cfg = parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS], profile: 77, compat: 0x40, level: 31 }));
    expect(cfg.profileIdc).toBe(77);
    expect(cfg.info.profileIdc).toBe(66);
    expect(cfg.warnings).toEqual([
      "avcC: AVCProfileIndication 77 differs from the SPS profile_idc 66; using the SPS",
      "avcC: profile_compatibility 0x40 differs from the SPS constraint flags 0xc0; using the SPS",
      "avcC: AVCLevelIndication 31 differs from the SPS level_idc 30; using the SPS",
    ]);
  });

  it("high-profile fields that disagree with the SPS", () => {
    const high = writeSps({ ...BASELINE, profileIdc: 100, constraintFlags: 0 });
    const cfg = parseAvcDecoderConfig(avcC({ sps: [high], ext: { chroma: 3, lumaMinus8: 2, chromaMinus8: 0 } }));
    expect(cfg.warnings).toEqual(["avcC: chroma_format 3 differs from the SPS chroma_format_idc 1", "avcC: luma bit depth 10 differs from the SPS's 8"]);
  });

  it("bytes after the record; after a Baseline record they are not read as high-profile fields", () => {
    expect(parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS], trailing: Uint8Array.of(0xfd, 0xf8, 0xf8, 0) })).warnings).toEqual(["avcC: 4 bytes after the record ignored"]);
    const high = writeSps({ ...BASELINE, profileIdc: 100, constraintFlags: 0 });
    expect(parseAvcDecoderConfig(avcC({ sps: [high], ext: { chroma: 1, lumaMinus8: 0, chromaMinus8: 0 }, trailing: Uint8Array.of(0) })).warnings).toEqual(["avcC: 1 byte after the record ignored"]);
  });

  it("several SPSs: all are checked, the first describes the stream", () => {
    const second = writeSps({ ...BASELINE, spsId: 1, widthInMbs: 80, heightInMapUnits: 45, crop: undefined, vui: { aspectRatioIdc: 17 } });
    const cfg = parseAvcDecoderConfig(avcC({ sps: [BASELINE_SPS, second], pps: [PPS, writePps(1)] }));
    expect(cfg.info.width).toBe(640);
    expect(cfg.sps).toHaveLength(2);
    expect(cfg.pps).toHaveLength(2);
    expect(cfg.warnings).toEqual(["SPS 1: SPS: aspect_ratio_idc 17 is reserved"]);
  });

  it("timing_info with a zero field gives no frame rate", () => {
    const info = parseSps(writeSps({ ...BASELINE, vui: { timing: [0, 60, false] } }));
    expect(info.frameRate).toBeUndefined();
    expect(info.warnings).toEqual(["SPS: timing_info has num_units_in_tick 0 and time_scale 60; both must be > 0, so no frame rate"]);
  });

  it("Extended_SAR 0:0 is unspecified", () => {
    const info = parseSps(writeSps({ ...BASELINE, vui: { aspectRatioIdc: 255, sar: [0, 0] } }));
    expect(info.sar).toBeUndefined();
    expect(info.warnings).toEqual(["SPS: Extended_SAR 0:0 is unspecified"]);
  });

  it("reserved_zero_2bits set", () => {
    expect(parseSps(writeSps({ ...BASELINE, constraintFlags: 0xc1 })).warnings).toEqual(["SPS: reserved_zero_2bits is 1, should be 0"]);
  });

  it("no rbsp_stop_one_bit, or data after the last field", () => {
    const noStop = parseSps(writeSps({ ...BASELINE, noStopBit: true, vui: { timing: [1, 60, true], restriction: { reorder: 1, buffering: 2 } } }));
    expect(noStop.warnings).toHaveLength(1);
    expect(noStop.warnings[0]).toMatch(/rbsp_stop_one_bit/);
    const extra = parseSps(writeSps({ ...BASELINE, extraBits: "1101" }));
    expect(extra.warnings).toEqual([expect.stringMatching(/bits after the SPS's last field are not rbsp_trailing_bits/)]);
    expect(extra.width).toBe(640);
  });

  it("a VUI cut inside bitstream_restriction still gives size and frame rate (FFmpeg accepts it too)", () => {
    const full = writeSps({ ...BASELINE, vui: { timing: [1, 60, true], restriction: { reorder: 2, buffering: 4 } } });
    const info = parseSps(full.slice(0, full.byteLength - 1));
    expect(info).toMatchObject({ width: 640, height: 360, frameRate: 30 });
    expect(info.maxNumReorderFrames).toBeUndefined();
    expect(info.warnings[0]).toMatch(/^SPS: truncated: reading .* \(after the fields golive uses; ignored\)$/);
  });

  it("trailing zero bytes after the stop bit are not a warning", () => {
    expect(parseSps(concat([BASELINE_SPS, Uint8Array.of(0, 0)])).warnings).toEqual([]);
  });
});

describe("fuzz: random avcC and SPS bytes", () => {
  it("random bytes behind a plausible avcC header throw only MediaError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (tail, withHeader) => {
        const bytes = withHeader ? concat([Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, tail.byteLength >> 1, 0x67), tail]) : tail;
        expectOnlyMediaError(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it("random SPS payloads throw only MediaError; what parses is within bounds", () => {
    fc.assert(
      fc.property(fc.constantFrom(66, 77, 100, 110, 122, 244), fc.uint8Array({ minLength: 1, maxLength: 40 }), (profile, payload) => {
        try {
          const info = parseSps(concat([Uint8Array.of(0x67, profile, 0, 30), payload]));
          expect(info.width).toBeGreaterThan(0);
          expect(info.height).toBeLessThanOrEqual(MAX_PICTURE_DIMENSION);
        } catch (err) {
          if (!(err instanceof MediaError)) throw err;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("mutated hand vectors (every hand SPS in an avcC) throw only MediaError", () => {
    const records = [BASELINE_SPS, ...HAND.map((c) => writeSps(c.fields))].map((sps) => avcC({ sps: [sps] }));
    fc.assert(
      fc.property(fc.constantFrom(...records), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (record, edits) => {
        const bytes = Uint8Array.from(record);
        for (const [at, value] of edits) bytes[at % bytes.byteLength] = value;
        expectOnlyMediaError(bytes);
      }),
      { numRuns: 3000 },
    );
  });
});
