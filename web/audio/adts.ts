/**
 * ADTS framing of AAC (ISO/IEC 14496-3 §1.A.2.2, ISO/IEC 13818-7 §6.2):
 * split what `ffmpeg -f adts` writes into raw AAC frames, and wrap raw frames
 * back into ADTS (for tests, recordings and players that want .aac files).
 *
 * adts_fixed_header + adts_variable_header, 56 bits:
 *
 *   syncword                            12  0xFFF
 *   ID                                   1  0 MPEG-4, 1 MPEG-2
 *   layer                                2  0
 *   protection_absent                    1  1: no CRC; 0: 16-bit CRC follows the header
 *   profile_ObjectType                   2  audio object type - 1 (1 = LC)
 *   sampling_frequency_index             4  Table 1.18 (15, explicit, is not allowed)
 *   private_bit                          1
 *   channel_configuration                3
 *   original_copy, home                  2
 *   copyright_id_bit, copyright_id_start 2
 *   aac_frame_length                    13  whole frame, header (and CRC) included
 *   adts_buffer_fullness                11  0x7FF: variable rate
 *   number_of_raw_data_blocks_in_frame   2  blocks - 1
 *
 * Every read is bounds-checked; a bad header throws AAC_BAD_ADTS with the
 * byte offset; an incomplete last frame is reported, not read past.
 */
import { AAC_SAMPLE_RATES, sampleRateIndex } from "./aac-config.js";
import { AacEncoderError, AacErrorCode } from "./errors.js";

/** Header length without CRC. */
export const ADTS_HEADER_LENGTH = 7;
/** aac_frame_length is 13 bits. */
export const ADTS_MAX_FRAME_LENGTH = 0x1fff;

/** One ADTS frame: its header fields and the raw AAC frame it carries. */
export interface AdtsFrame {
  /** Audio object type (profile_ObjectType + 1): 2 is LC. */
  readonly objectType: number;
  readonly sampleRate: number;
  readonly channelConfiguration: number;
  /** 7, or 9 with a CRC. */
  readonly headerLength: number;
  /** Whole frame, header included. */
  readonly frameLength: number;
  /** The raw_data_block: a view into the input, not a copy. */
  readonly payload: Uint8Array;
}

/** What parseAdtsFrames read: whole frames, and how many bytes they span. */
export interface AdtsParseResult {
  readonly frames: AdtsFrame[];
  /** Bytes consumed: the input's length unless it ends inside a frame. */
  readonly consumed: number;
}

/**
 * Reads every complete ADTS frame from the start of `bytes`. Stops before a
 * frame (or header) that is cut off, and says so through `consumed`: a
 * streaming caller keeps `bytes.subarray(consumed)` for the next call.
 */
export function parseAdtsFrames(bytes: Uint8Array): AdtsParseResult {
  const frames: AdtsFrame[] = [];
  let offset = 0;
  while (bytes.byteLength - offset >= ADTS_HEADER_LENGTH) {
    const frame = readAdtsHeader(bytes, offset);
    if (frame === null || offset + frame.frameLength > bytes.byteLength) break;
    frames.push({ ...frame, payload: bytes.subarray(offset + frame.headerLength, offset + frame.frameLength) });
    offset += frame.frameLength;
  }
  return { frames, consumed: offset };
}

/** Splits a whole ADTS stream (a file) into frames; a truncated end is AAC_BAD_ADTS. */
export function splitAdts(bytes: Uint8Array): AdtsFrame[] {
  const { frames, consumed } = parseAdtsFrames(bytes);
  if (consumed !== bytes.byteLength) {
    throw new AacEncoderError(AacErrorCode.BadAdts, `ADTS stream ends inside a frame: ${bytes.byteLength - consumed} bytes left at offset ${consumed}`);
  }
  return frames;
}

type AdtsHeader = Omit<AdtsFrame, "payload">;

/** Parses the header at `offset`; null if the CRC of a protected header is cut off. */
function readAdtsHeader(bytes: Uint8Array, offset: number): AdtsHeader | null {
  const b = (i: number): number => {
    const v = bytes[offset + i];
    if (v === undefined) throw new AacEncoderError(AacErrorCode.BadAdts, `ADTS header at offset ${offset} is truncated`);
    return v;
  };
  const fail = (what: string): AacEncoderError => new AacEncoderError(AacErrorCode.BadAdts, `ADTS header at offset ${offset}: ${what}`);
  if (b(0) !== 0xff || (b(1) & 0xf0) !== 0xf0) {
    throw fail(`syncword is 0x${((b(0) << 4) | (b(1) >> 4)).toString(16)}, must be 0xfff`);
  }
  if ((b(1) & 0x06) !== 0) throw fail(`layer is ${(b(1) >> 1) & 3}, must be 0`);
  const crcPresent = (b(1) & 0x01) === 0;
  const objectType = (b(2) >> 6) + 1;
  const frequencyIndex = (b(2) >> 2) & 0x0f;
  const sampleRate = AAC_SAMPLE_RATES[frequencyIndex];
  if (sampleRate === undefined) throw fail(`sampling_frequency_index ${frequencyIndex} is not allowed`);
  const channelConfiguration = ((b(2) & 0x01) << 2) | (b(3) >> 6);
  const frameLength = ((b(3) & 0x03) << 11) | (b(4) << 3) | (b(5) >> 5);
  const blocks = (b(6) & 0x03) + 1;
  if (blocks !== 1) throw fail(`${blocks} raw data blocks in one frame; one is supported`);
  const headerLength = crcPresent ? ADTS_HEADER_LENGTH + 2 : ADTS_HEADER_LENGTH;
  if (frameLength <= headerLength) throw fail(`aac_frame_length ${frameLength} leaves no room after the ${headerLength}-byte header`);
  if (offset + headerLength > bytes.byteLength) return null;
  return { objectType, sampleRate, channelConfiguration, headerLength, frameLength };
}

/** The fields wrapAdts writes into each header. */
export interface AdtsWrapConfig {
  /** Audio object type: 1..4 (2 is LC). */
  readonly objectType: number;
  readonly sampleRate: number;
  /** 1..7. */
  readonly channelConfiguration: number;
}

/** Prefixes one raw AAC frame with a 7-byte ADTS header (no CRC, buffer fullness 0x7FF). */
export function wrapAdts(raw: Uint8Array, config: AdtsWrapConfig): Uint8Array {
  const index = sampleRateIndex(config.sampleRate);
  if (index < 0) throw new TypeError(`ADTS cannot carry sample rate ${config.sampleRate}`);
  if (!Number.isInteger(config.objectType) || config.objectType < 1 || config.objectType > 4) {
    throw new TypeError(`ADTS carries object types 1..4, not ${config.objectType}`);
  }
  if (!Number.isInteger(config.channelConfiguration) || config.channelConfiguration < 1 || config.channelConfiguration > 7) {
    throw new TypeError(`channel configuration must be 1..7, not ${config.channelConfiguration}`);
  }
  if (raw.byteLength === 0) throw new TypeError("an AAC frame is at least 1 byte (ID_END)");
  const length = raw.byteLength + ADTS_HEADER_LENGTH;
  if (length > ADTS_MAX_FRAME_LENGTH) throw new TypeError(`an AAC frame of ${raw.byteLength} bytes does not fit ADTS (max ${ADTS_MAX_FRAME_LENGTH - ADTS_HEADER_LENGTH})`);
  const out = new Uint8Array(length);
  out[0] = 0xff; //                                       syncword 8 bits
  out[1] = 0xf1; //                                       syncword 4, ID 0, layer 00, protection_absent 1
  out[2] = ((config.objectType - 1) << 6) | (index << 2) | (config.channelConfiguration >> 2); // profile 2, sf index 4, private 0, channel 1 (msb)
  out[3] = ((config.channelConfiguration & 3) << 6) | (length >> 11); //                             channel 2, orig/home/copyright 0000, length 2 (msb)
  out[4] = (length >> 3) & 0xff; //                        length 8
  out[5] = ((length & 7) << 5) | 0x1f; //                  length 3 (lsb), fullness 5 (msb, all ones)
  out[6] = 0xfc; //                                        fullness 6 (lsb, all ones), raw data blocks 00 (one block)
  out.set(raw, ADTS_HEADER_LENGTH);
  return out;
}
