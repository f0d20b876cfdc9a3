/**
 * H.264 decoder configuration: the AVCDecoderConfigurationRecord ("avcC",
 * ISO/IEC 14496-15 §5.3.3.1) a browser's WebCodecs VideoEncoder gives as
 * `description` in "avc" format, and the sequence parameter set inside it
 * (ITU-T H.264 §7.3.2.1.1, VUI Annex E.1.1). Width, height, profile, level
 * and frame rate for onMetaData come from here, never from what the browser
 * says about its own stream.
 *
 * No I/O; every read is bounds-checked and every failure is a MediaError:
 * BAD_AVC_CONFIG (the record), BAD_SPS (the SPS), UNSUPPORTED_VIDEO (an SPS
 * that parses but that we do not accept).
 */
import { BitReader, unescapeRbsp } from "./bit-reader.js";
import { MediaError, MediaErrorCode } from "./errors.js";

/** Largest width or height accepted, in pixels (coded or cropped). */
export const MAX_PICTURE_DIMENSION = 16384;

/** profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices (§7.3.2.1.1). */
const HIGH_PROFILES: ReadonlySet<number> = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Profile names of H.264 Annex A (A.2), G (G.10) and H (H.10). */
export type AvcProfileName =
  | "Baseline"
  | "Constrained Baseline"
  | "Main"
  | "Extended"
  | "High"
  | "Progressive High"
  | "Constrained High"
  | "High 10"
  | "High 10 Intra"
  | "High 4:2:2"
  | "High 4:2:2 Intra"
  | "High 4:4:4 Predictive"
  | "High 4:4:4 Intra"
  | "CAVLC 4:4:4 Intra"
  | "Scalable Baseline"
  | "Scalable High"
  | "Multiview High"
  | "Stereo High"
  | "MFC High"
  | "MFC Depth High"
  | "Multiview Depth High"
  | "Enhanced Multiview Depth High";

/** Sample aspect ratios of aspect_ratio_idc 1..16 (H.264 Table E-1). */
const SAR_TABLE: readonly (readonly [number, number])[] = [
  [1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11],
  [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1],
];
/** aspect_ratio_idc of Extended_SAR: sar_width and sar_height follow. */
const EXTENDED_SAR = 255;

/** What an SPS says about the stream. */
export interface SpsInfo {
  readonly profileIdc: number;
  /** The byte after profile_idc: constraint_set0_flag is its bit 7, constraint_set5_flag bit 2. */
  readonly constraintFlags: number;
  readonly levelIdc: number;
  /**
   * level_idc / 10, e.g. 3.1. Level 1b is not told apart (level_idc 9 gives
   * 0.9; level_idc 11 with constraint_set3_flag in Baseline/Main/Extended
   * gives 1.1).
   */
  readonly level: number;
  readonly profileName: AvcProfileName;
  readonly seqParameterSetId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (1 when the SPS does not say, §7.4.2.1.1). */
  readonly chromaFormatIdc: number;
  readonly separateColourPlane: boolean;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  /** True when seq_scaling_matrix_present_flag was set (the lists are skipped, not kept). */
  readonly scalingMatrixPresent: boolean;
  readonly picOrderCntType: number;
  readonly maxNumRefFrames: number;
  /** False for interlaced coding (fields or MBAFF): map units are then field macroblock pairs. */
  readonly frameMbsOnly: boolean;
  /** Decoded size before cropping, in luma samples. */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /** Luma samples removed on each side by frame cropping (§7.4.2.1.1, CropUnitX/CropUnitY applied). */
  readonly crop: { readonly left: number; readonly right: number; readonly top: number; readonly bottom: number };
  /** Displayed size: coded size minus the cropping. */
  readonly width: number;
  readonly height: number;
  /** Sample aspect ratio from the VUI, if signalled (and not 0:0 / reserved). */
  readonly sar?: { readonly width: number; readonly height: number };
  /** video_signal_type from the VUI, if present. */
  readonly videoSignal?: {
    readonly videoFormat: number;
    readonly fullRange: boolean;
    readonly colourPrimaries?: number;
    readonly transferCharacteristics?: number;
    readonly matrixCoefficients?: number;
  };
  /** timing_info from the VUI, if present. */
  readonly timing?: { readonly numUnitsInTick: number; readonly timeScale: number; readonly fixedFrameRate: boolean };
  /** time_scale / (2 * num_units_in_tick) when both are > 0 (§E.2.1: a frame is two ticks). */
  readonly frameRate?: number;
  /** max_num_reorder_frames from the VUI bitstream_restriction, if present (0: no B-frame reordering). */
  readonly maxNumReorderFrames?: number;
  /** Things that are odd but not fatal, for logs. */
  readonly warnings: readonly string[];
}

/** The high-profile fields at the end of an avcC (§5.3.3.1.1), when present. */
export interface AvcHighProfileExtension {
  readonly chromaFormat: number;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  /** sequenceParameterSetExtNALUnits (NAL unit type 13). */
  readonly spsExt: readonly Uint8Array[];
}

/** A parsed AVCDecoderConfigurationRecord. */
export interface AvcDecoderConfig {
  /** AVCProfileIndication. */
  readonly profileIdc: number;
  /** profile_compatibility: the constraint flags byte. */
  readonly constraintFlags: number;
  /** AVCLevelIndication. */
  readonly levelIdc: number;
  /** Bytes of the length before each NAL unit in the samples: 1, 2 or 4. */
  readonly nalLengthSize: 1 | 2 | 4;
  /** The SPS NAL units (with their NAL header byte, still escaped), at least one. */
  readonly sps: readonly Uint8Array[];
  /** The PPS NAL units, at least one. */
  readonly pps: readonly Uint8Array[];
  /** Present when the record carries the high-profile fields. */
  readonly highProfileExtension?: AvcHighProfileExtension;
  /** The first SPS, parsed. */
  readonly info: SpsInfo;
  /** The record's and every SPS's warnings (e.g. avcC profile differs from the SPS). */
  readonly warnings: readonly string[];
}

const hex2 = (n: number): string => n.toString(16).padStart(2, "0");

/**
 * The WebCodecs / RFC 6381 codec string "avc1.PPCCLL": profile_idc,
 * constraint flags byte and level_idc in two lower-case hex digits each.
 */
export function avcCodecString(info: { readonly profileIdc: number; readonly constraintFlags: number; readonly levelIdc: number }): string {
  for (const [name, v] of [["profileIdc", info.profileIdc], ["constraintFlags", info.constraintFlags], ["levelIdc", info.levelIdc]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new TypeError(`avcCodecString: ${name} must be a byte, got ${v}`);
  }
  return `avc1.${hex2(info.profileIdc)}${hex2(info.constraintFlags)}${hex2(info.levelIdc)}`;
}

/**
 * The profile's name from profile_idc and the constraint flags (H.264 A.2,
 * G.10.1, H.10.1). A profile_idc of none of them is UNSUPPORTED_VIDEO: its SPS
 * syntax is unknown, so nothing after it could be trusted.
 */
function profileName(profileIdc: number, constraintFlags: number): AvcProfileName {
  const set = (i: number): boolean => ((constraintFlags >> (7 - i)) & 1) === 1;
  switch (profileIdc) {
    case 66:
      return set(1) ? "Constrained Baseline" : "Baseline";
    case 77:
      return "Main";
    case 88:
      return "Extended";
    case 100:
      // A.2.4.1 Progressive High: constraint_set4; A.2.4.2 Constrained High: set4 and set5.
      return set(4) ? (set(5) ? "Constrained High" : "Progressive High") : "High";
    case 110:
      return set(3) ? "High 10 Intra" : "High 10";
    case 122:
      return set(3) ? "High 4:2:2 Intra" : "High 4:2:2";
    case 244:
      return set(3) ? "High 4:4:4 Intra" : "High 4:4:4 Predictive";
    case 44:
      return "CAVLC 4:4:4 Intra";
    case 83:
      return "Scalable Baseline";
    case 86:
      return "Scalable High";
    case 118:
      return "Multiview High";
    case 128:
      return "Stereo High";
    case 134:
      return "MFC High";
    case 135:
      return "MFC Depth High";
    case 138:
      return "Multiview Depth High";
    case 139:
      return "Enhanced Multiview Depth High";
    default:
      throw new MediaError(MediaErrorCode.UnsupportedVideo, `SPS: unknown profile_idc ${profileIdc}`);
  }
}

/** Throws BAD_SPS unless lo <= value <= hi. */
function checkRange(r: BitReader, field: string, value: number, lo: number, hi: number): number {
  if (value < lo || value > hi) throw r.error(`${field} is ${value}, must be ${lo}..${hi}`);
  return value;
}

/** Skips one scaling_list() (§7.3.2.1.1.1): only the delta_scale codes are in the bitstream. */
function skipScalingList(r: BitReader, size: number, index: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) {
      const deltaScale = checkRange(r, `delta_scale of scaling list ${index}`, r.se(`delta_scale of scaling list ${index}`), -128, 127);
      nextScale = (lastScale + deltaScale + 256) % 256;
    }
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/** Skips hrd_parameters() (Annex E.1.2). */
function skipHrdParameters(r: BitReader): void {
  const cpbCnt = checkRange(r, "cpb_cnt_minus1", r.ue("cpb_cnt_minus1"), 0, 31) + 1;
  r.skip(4 + 4, "bit_rate_scale, cpb_size_scale");
  for (let i = 0; i < cpbCnt; i++) {
    r.ue("bit_rate_value_minus1");
    r.ue("cpb_size_value_minus1");
    r.skip(1, "cbr_flag");
  }
  r.skip(5 + 5 + 5 + 5, "HRD delay lengths");
}

/**
 * Parses a sequence parameter set NAL unit (ITU-T H.264 §7.3.2.1.1 and the
 * VUI of Annex E.1.1), given as it appears in an avcC: NAL header byte first,
 * emulation-prevention bytes still in (they are removed here).
 *
 * Everything up to and including the VUI timing_info is required: a
 * truncated or out-of-range field there is BAD_SPS. The rest of the VUI (HRD,
 * bitstream_restriction) and the rbsp_trailing_bits are checked too, but a
 * problem there only adds a warning, as FFmpeg tolerates a truncated VUI.
 */
export function parseSps(nal: Uint8Array): SpsInfo {
  if (nal.byteLength < 4) {
    throw new MediaError(MediaErrorCode.BadSps, `SPS too short: ${nal.byteLength} bytes, need at least 4 (NAL header, profile_idc, constraint flags, level_idc)`);
  }
  const header = nal[0]!;
  if ((header & 0x80) !== 0) throw new MediaError(MediaErrorCode.BadSps, "SPS: forbidden_zero_bit of the NAL header is 1");
  const nalType = header & 0x1f;
  if (nalType !== 7) throw new MediaError(MediaErrorCode.BadSps, `SPS: nal_unit_type is ${nalType}, an SPS is 7`);

  const r = new BitReader(unescapeRbsp(nal.subarray(1)), MediaErrorCode.BadSps, "SPS");
  const warnings: string[] = [];
  const profileIdc = r.u(8, "profile_idc");
  const constraintFlags = r.u(8, "constraint flags");
  const levelIdc = r.u(8, "level_idc");
  const name = profileName(profileIdc, constraintFlags);
  if ((constraintFlags & 3) !== 0) warnings.push(`SPS: reserved_zero_2bits is ${constraintFlags & 3}, should be 0`);
  const seqParameterSetId = checkRange(r, "seq_parameter_set_id", r.ue("seq_parameter_set_id"), 0, 31);

  // Defaults when the SPS does not carry them (§7.4.2.1.1): 4:2:0, 8 bits.
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  let scalingMatrixPresent = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = checkRange(r, "chroma_format_idc", r.ue("chroma_format_idc"), 0, 3);
    if (chromaFormatIdc === 3) separateColourPlane = r.flag("separate_colour_plane_flag");
    bitDepthLuma = 8 + checkRange(r, "bit_depth_luma_minus8", r.ue("bit_depth_luma_minus8"), 0, 6);
    bitDepthChroma = 8 + checkRange(r, "bit_depth_chroma_minus8", r.ue("bit_depth_chroma_minus8"), 0, 6);
    r.skip(1, "qpprime_y_zero_transform_bypass_flag");
    scalingMatrixPresent = r.flag("seq_scaling_matrix_present_flag");
    if (scalingMatrixPresent) {
      // Six 4x4 lists, then two 8x8 lists (six with 4:4:4).
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.flag(`seq_scaling_list_present_flag[${i}]`)) skipScalingList(r, i < 6 ? 16 : 64, i);
      }
    }
  }

  checkRange(r, "log2_max_frame_num_minus4", r.ue("log2_max_frame_num_minus4"), 0, 12);
  const picOrderCntType = checkRange(r, "pic_order_cnt_type", r.ue("pic_order_cnt_type"), 0, 2);
  if (picOrderCntType === 0) {
    checkRange(r, "log2_max_pic_order_cnt_lsb_minus4", r.ue("log2_max_pic_order_cnt_lsb_minus4"), 0, 12);
  } else if (picOrderCntType === 1) {
    r.skip(1, "delta_pic_order_always_zero_flag");
    r.se("offset_for_non_ref_pic");
    r.se("offset_for_top_to_bottom_field");
    const cycle = checkRange(r, "num_ref_frames_in_pic_order_cnt_cycle", r.ue("num_ref_frames_in_pic_order_cnt_cycle"), 0, 255);
    for (let i = 0; i < cycle; i++) r.se(`offset_for_ref_frame[${i}]`);
  }
  // MaxDpbFrames is at most 16 at every level (A.3.1 h, A.3.2 f).
  const maxNumRefFrames = checkRange(r, "max_num_ref_frames", r.ue("max_num_ref_frames"), 0, 16);
  r.skip(1, "gaps_in_frame_num_value_allowed_flag");
  const widthInMbs = r.ue("pic_width_in_mbs_minus1") + 1;
  const heightInMapUnits = r.ue("pic_height_in_map_units_minus1") + 1;
  const frameMbsOnly = r.flag("frame_mbs_only_flag");
  if (!frameMbsOnly) r.skip(1, "mb_adaptive_frame_field_flag");
  r.skip(1, "direct_8x8_inference_flag");

  // (7-13)..(7-18): sizes in luma samples.
  const codedWidth = widthInMbs * 16;
  const codedHeight = (frameMbsOnly ? 1 : 2) * heightInMapUnits * 16;
  if (codedWidth > MAX_PICTURE_DIMENSION || codedHeight > MAX_PICTURE_DIMENSION) {
    throw new MediaError(MediaErrorCode.UnsupportedVideo, `SPS: coded picture ${codedWidth}x${codedHeight} is larger than ${MAX_PICTURE_DIMENSION}x${MAX_PICTURE_DIMENSION}`);
  }

  let crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (r.flag("frame_cropping_flag")) {
    // §7.4.2.1.1 (7-19)..(7-22): offsets count in crop units.
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
    const left = r.ue("frame_crop_left_offset") * cropUnitX;
    const right = r.ue("frame_crop_right_offset") * cropUnitX;
    const top = r.ue("frame_crop_top_offset") * cropUnitY;
    const bottom = r.ue("frame_crop_bottom_offset") * cropUnitY;
    if (left + right >= codedWidth || top + bottom >= codedHeight) {
      throw r.error(`frame cropping (left ${left}, right ${right}, top ${top}, bottom ${bottom} samples) leaves nothing of the ${codedWidth}x${codedHeight} coded picture`);
    }
    crop = { left, right, top, bottom };
  }
  const width = codedWidth - crop.left - crop.right;
  const height = codedHeight - crop.top - crop.bottom;

  let sar: SpsInfo["sar"];
  let videoSignal: SpsInfo["videoSignal"];
  let timing: SpsInfo["timing"];
  let frameRate: number | undefined;
  let maxNumReorderFrames: number | undefined;
  const vuiPresent = r.flag("vui_parameters_present_flag");
  if (vuiPresent) {
    // Annex E.1.1, up to timing_info: required.
    if (r.flag("aspect_ratio_info_present_flag")) {
      const idc = r.u(8, "aspect_ratio_idc");
      if (idc === EXTENDED_SAR) {
        const w = r.u(16, "sar_width");
        const h = r.u(16, "sar_height");
        if (w > 0 && h > 0) sar = { width: w, height: h };
        else warnings.push(`SPS: Extended_SAR ${w}:${h} is unspecified`);
      } else if (idc >= 1 && idc <= SAR_TABLE.length) {
        const [w, h] = SAR_TABLE[idc - 1]!;
        sar = { width: w, height: h };
      } else if (idc !== 0) {
        warnings.push(`SPS: aspect_ratio_idc ${idc} is reserved`);
      }
    }
    if (r.flag("overscan_info_present_flag")) r.skip(1, "overscan_appropriate_flag");
    if (r.flag("video_signal_type_present_flag")) {
      const videoFormat = r.u(3, "video_format");
      const fullRange = r.flag("video_full_range_flag");
      if (r.flag("colour_description_present_flag")) {
        videoSignal = {
          videoFormat,
          fullRange,
          colourPrimaries: r.u(8, "colour_primaries"),
          transferCharacteristics: r.u(8, "transfer_characteristics"),
          matrixCoefficients: r.u(8, "matrix_coefficients"),
        };
      } else {
        videoSignal = { videoFormat, fullRange };
      }
    }
    if (r.flag("chroma_loc_info_present_flag")) {
      checkRange(r, "chroma_sample_loc_type_top_field", r.ue("chroma_sample_loc_type_top_field"), 0, 5);
      checkRange(r, "chroma_sample_loc_type_bottom_field", r.ue("chroma_sample_loc_type_bottom_field"), 0, 5);
    }
    if (r.flag("timing_info_present_flag")) {
      const numUnitsInTick = r.u(32, "num_units_in_tick");
      const timeScale = r.u(32, "time_scale");
      const fixedFrameRate = r.flag("fixed_frame_rate_flag");
      timing = { numUnitsInTick, timeScale, fixedFrameRate };
      if (numUnitsInTick > 0 && timeScale > 0) frameRate = timeScale / (2 * numUnitsInTick);
      else warnings.push(`SPS: timing_info has num_units_in_tick ${numUnitsInTick} and time_scale ${timeScale}; both must be > 0, so no frame rate`);
    }
  }

  // The rest: HRD, bitstream_restriction, rbsp_trailing_bits. Only warnings.
  try {
    if (vuiPresent) {
      const nalHrd = r.flag("nal_hrd_parameters_present_flag");
      if (nalHrd) skipHrdParameters(r);
      const vclHrd = r.flag("vcl_hrd_parameters_present_flag");
      if (vclHrd) skipHrdParameters(r);
      if (nalHrd || vclHrd) r.skip(1, "low_delay_hrd_flag");
      r.skip(1, "pic_struct_present_flag");
      if (r.flag("bitstream_restriction_flag")) {
        r.skip(1, "motion_vectors_over_pic_boundaries_flag");
        r.ue("max_bytes_per_pic_denom");
        r.ue("max_bits_per_mb_denom");
        r.ue("log2_max_mv_length_horizontal");
        r.ue("log2_max_mv_length_vertical");
        const reorder = r.ue("max_num_reorder_frames");
        r.ue("max_dec_frame_buffering");
        maxNumReorderFrames = reorder;
      }
    }
    // §7.3.2.11 rbsp_trailing_bits: a 1 bit, zero bits to the byte boundary; only zero bytes may follow.
    if (!r.flag("rbsp_stop_one_bit")) throw r.error("rbsp_stop_one_bit is 0");
    if (r.moreRbspData()) throw r.error(`${r.bitsLeft} bits after the SPS's last field are not rbsp_trailing_bits`);
  } catch (err) {
    if (!(err instanceof MediaError)) throw err;
    warnings.push(`${err.message} (after the fields golive uses; ignored)`);
  }

  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    level: levelIdc / 10,
    profileName: name,
    seqParameterSetId,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    scalingMatrixPresent,
    picOrderCntType,
    maxNumRefFrames,
    frameMbsOnly,
    codedWidth,
    codedHeight,
    crop,
    width,
    height,
    ...(sar && { sar }),
    ...(videoSignal && { videoSignal }),
    ...(timing && { timing }),
    ...(frameRate !== undefined && { frameRate }),
    ...(maxNumReorderFrames !== undefined && { maxNumReorderFrames }),
    warnings,
  };
}

/** A bounds-checked byte cursor over an avcC; every failure is BAD_AVC_CONFIG. */
class AvcCReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  get left(): number {
    return this.bytes.byteLength - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.left) {
      throw new MediaError(
        MediaErrorCode.BadAvcConfig,
        `avcC truncated: ${what} needs ${n} byte${n === 1 ? "" : "s"} at offset ${this.pos}, but the ${this.bytes.byteLength}-byte record has ${this.left} left`,
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  /** `count` parameter sets, each a u16 length and a NAL unit of `nalType`. */
  nalUnits(count: number, label: string, nalType: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const length = this.u16(`the length of ${label} ${i}`);
      if (length === 0) throw new MediaError(MediaErrorCode.BadAvcConfig, `avcC: ${label} ${i} is empty (length 0)`);
      this.need(length, `${label} ${i} (${length} bytes)`);
      const nal = this.bytes.subarray(this.pos, this.pos + length);
      this.pos += length;
      const type = nal[0]! & 0x1f;
      if (type !== nalType) {
        throw new MediaError(MediaErrorCode.BadAvcConfig, `avcC: ${label} ${i} has nal_unit_type ${type}, expected ${nalType}`);
      }
      out.push(nal);
    }
    return out;
  }
}

/**
 * Profiles without the high-profile fields. The first edition of 14496-15
 * listed the profiles that have them (100, 110, 122, 144); later editions
 * (and FFmpeg, e.g. for 244) write them for every profile but these.
 */
const AVCC_NO_EXTENSION_PROFILES: ReadonlySet<number> = new Set([66, 77, 88]);

/**
 * Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1.1), the
 * WebCodecs "avc" `description`, and the first SPS in it (parseSps).
 *
 * Requires configurationVersion 1, lengthSizeMinusOne 0, 1 or 3 (NAL length
 * size 1, 2 or 4), at least one SPS (nal_unit_type 7) and one PPS (8). The
 * high-profile fields after the PPS are optional; if any byte of them is
 * there, they must be complete. Differences between the record's
 * profile/compatibility/level (or extension) and the SPS are warnings: the
 * SPS is what the decoder uses.
 */
export function parseAvcDecoderConfig(bytes: Uint8Array): AvcDecoderConfig {
  // 5 header bytes, numOfSequenceParameterSets, numOfPictureParameterSets.
  if (bytes.byteLength < 7) {
    throw new MediaError(MediaErrorCode.BadAvcConfig, `avcC too short: ${bytes.byteLength} bytes, need at least 7`);
  }
  const c = new AvcCReader(bytes);
  const version = c.u8("configurationVersion");
  if (version !== 1) {
    const annexB = bytes[0] === 0 && bytes[1] === 0 && (bytes[2] === 1 || (bytes[2] === 0 && bytes[3] === 1));
    throw new MediaError(
      MediaErrorCode.BadAvcConfig,
      `avcC: configurationVersion is ${version}, must be 1` +
        (annexB ? " (this is an Annex B byte stream with start codes, not an avcC: configure the VideoEncoder with avc: { format: \"avc\" })" : ""),
    );
  }
  const profileIdc = c.u8("AVCProfileIndication");
  const constraintFlags = c.u8("profile_compatibility");
  const levelIdc = c.u8("AVCLevelIndication");
  const lengthSizeMinusOne = c.u8("lengthSizeMinusOne") & 3;
  if (lengthSizeMinusOne === 2) throw new MediaError(MediaErrorCode.BadAvcConfig, "avcC: lengthSizeMinusOne is 2 (NAL length size 3); only 1, 2 or 4 bytes are allowed");
  const nalLengthSize = (lengthSizeMinusOne + 1) as 1 | 2 | 4;
  const numSps = c.u8("numOfSequenceParameterSets") & 0x1f;
  if (numSps === 0) throw new MediaError(MediaErrorCode.BadAvcConfig, "avcC: numOfSequenceParameterSets is 0, need at least one SPS");
  const sps = c.nalUnits(numSps, "SPS", 7);
  const numPps = c.u8("numOfPictureParameterSets");
  if (numPps === 0) throw new MediaError(MediaErrorCode.BadAvcConfig, "avcC: numOfPictureParameterSets is 0, need at least one PPS");
  const pps = c.nalUnits(numPps, "PPS", 8);

  const warnings: string[] = [];
  let highProfileExtension: AvcHighProfileExtension | undefined;
  if (c.left > 0) {
    if (!AVCC_NO_EXTENSION_PROFILES.has(profileIdc)) {
      const chromaFormat = c.u8("chroma_format") & 3;
      const bitDepthLuma = (c.u8("bit_depth_luma_minus8") & 7) + 8;
      const bitDepthChroma = (c.u8("bit_depth_chroma_minus8") & 7) + 8;
      const numExt = c.u8("numOfSequenceParameterSetExt");
      const spsExt = c.nalUnits(numExt, "SPS extension", 13);
      highProfileExtension = { chromaFormat, bitDepthLuma, bitDepthChroma, spsExt };
    }
    if (c.left > 0) warnings.push(`avcC: ${c.left} byte${c.left === 1 ? "" : "s"} after the record ignored`);
  }

  // Parse every SPS (each must be valid); the first describes the stream.
  const parsed = sps.map((nal, i) => {
    try {
      return parseSps(nal);
    } catch (err) {
      if (err instanceof MediaError && sps.length > 1) throw new MediaError(err.code, `avcC SPS ${i}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  const info = parsed[0]!;
  parsed.forEach((p, i) => warnings.push(...p.warnings.map((w) => (sps.length > 1 ? `SPS ${i}: ${w}` : w))));

  if (profileIdc !== info.profileIdc) warnings.push(`avcC: AVCProfileIndication ${profileIdc} differs from the SPS profile_idc ${info.profileIdc}; using the SPS`);
  if (constraintFlags !== info.constraintFlags) {
    warnings.push(`avcC: profile_compatibility 0x${hex2(constraintFlags)} differs from the SPS constraint flags 0x${hex2(info.constraintFlags)}; using the SPS`);
  }
  if (levelIdc !== info.levelIdc) warnings.push(`avcC: AVCLevelIndication ${levelIdc} differs from the SPS level_idc ${info.levelIdc}; using the SPS`);
  if (highProfileExtension) {
    const x = highProfileExtension;
    if (x.chromaFormat !== info.chromaFormatIdc) warnings.push(`avcC: chroma_format ${x.chromaFormat} differs from the SPS chroma_format_idc ${info.chromaFormatIdc}`);
    if (x.bitDepthLuma !== info.bitDepthLuma) warnings.push(`avcC: luma bit depth ${x.bitDepthLuma} differs from the SPS's ${info.bitDepthLuma}`);
    if (x.bitDepthChroma !== info.bitDepthChroma) warnings.push(`avcC: chroma bit depth ${x.bitDepthChroma} differs from the SPS's ${info.bitDepthChroma}`);
  }

  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    nalLengthSize,
    sps,
    pps,
    ...(highProfileExtension && { highProfileExtension }),
    info,
    warnings,
  };
}
