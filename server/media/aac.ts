/**
 * AAC decoder configuration: the AudioSpecificConfig (ISO/IEC 14496-3
 * §1.6.2.1, with GASpecificConfig §4.4.1) a browser's WebCodecs AudioEncoder
 * gives as `description`, the ADTS frame header (§1.A.2.2, ISO/IEC 13818-7
 * §6.2) of raw AAC streams, and the reverse: an AudioSpecificConfig built
 * from an ADTS header, for the FLV AAC sequence header.
 *
 * No I/O; every read is bounds-checked and every failure is a MediaError:
 * BAD_AAC_CONFIG (malformed) or UNSUPPORTED_AUDIO (valid, but not a plain
 * AAC the bridge forwards: other object types, a channel layout given by a
 * program_config_element).
 */
import { BitReader } from "./bit-reader.js";
import { MediaError, MediaErrorCode } from "./errors.js";

/** samplingFrequencyIndex 0..12 (§1.6.3.4 Table 1.18); 13 and 14 are reserved, 15 means explicit. */
export const AAC_SAMPLE_RATES: readonly number[] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
const EXPLICIT_FREQUENCY = 15;

/** Audio object types accepted (§1.5.1.1 Table 1.1): AAC Main, LC, SSR, LTP; SBR and PS (HE-AAC v1/v2). */
export const AacObjectType = { Main: 1, LC: 2, SSR: 3, LTP: 4, SBR: 5, PS: 29 } as const;
const CORE_TYPES: ReadonlySet<number> = new Set([1, 2, 3, 4]);
const AOT_ESCAPE = 31;

/** Names of the object types people are likely to send, for messages. */
const OBJECT_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "null", 1: "AAC Main", 2: "AAC LC", 3: "AAC SSR", 4: "AAC LTP", 5: "SBR", 6: "AAC Scalable", 7: "TwinVQ",
  17: "ER AAC LC", 19: "ER AAC LTP", 20: "ER AAC Scalable", 22: "ER BSAC", 23: "ER AAC LD", 29: "PS",
  34: "Layer-3 (MP3)", 36: "ALS", 39: "ER AAC ELD", 42: "USAC (xHE-AAC)",
};
const typeName = (t: number): string => `${t}${OBJECT_TYPE_NAMES[t] ? ` (${OBJECT_TYPE_NAMES[t]})` : ""}`;

/** channelConfiguration 1..7 -> output channels (§1.6.3.5 Table 1.19: 7 is 7.1, eight channels). */
const CHANNELS_OF_CONFIGURATION: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 8];
/** Channel configurations defined by later editions of 14496-3 (11: 6.1, 12: 7.1 back, 14: 7.1 top front). */
const LATER_CONFIGURATIONS: ReadonlySet<number> = new Set([11, 12, 14]);

/** A parsed AudioSpecificConfig. */
export interface AacConfig {
  /**
   * The first audioObjectType of the config: 2 for AAC LC, 5 for HE-AAC with
   * explicit hierarchical SBR signalling, 29 for HE-AAC v2.
   */
  readonly objectType: number;
  /** The object type of the core (GASpecificConfig) stream: 1..4. Equals objectType unless SBR/PS is signalled hierarchically. */
  readonly coreObjectType: number;
  /** Output sampling rate: the SBR extension rate when SBR is present, else the core rate. */
  readonly sampleRate: number;
  /** Sampling rate of the core AAC stream. */
  readonly coreSampleRate: number;
  /** Output channels: channelConfiguration mapped (7 -> 8); 2 when PS is present over a mono core (PS decodes mono to stereo). */
  readonly channels: number;
  readonly channelConfiguration: number;
  /**
   * Output samples per frame at sampleRate: 1024 or 960 (frameLengthFlag) for
   * plain AAC, doubled by dual-rate SBR. samplesPerFrame / sampleRate is
   * always one frame's duration.
   */
  readonly samplesPerFrame: number;
  /** True if SBR is signalled, hierarchically (type 5 or 29) or backward compatibly (sync extension 0x2b7). */
  readonly sbr: boolean;
  /** True if parametric stereo is signalled. */
  readonly ps: boolean;
  /** WebCodecs / RFC 6381 codec string, "mp4a.40." + objectType. */
  readonly codecString: string;
}

/** Reads GetAudioObjectType() (§1.6.2.1): 5 bits, 31 escapes to 32 + 6 more bits. */
function readObjectType(r: BitReader, field: string): number {
  const t = r.u(5, field);
  return t === AOT_ESCAPE ? 32 + r.u(6, `${field} (escaped)`) : t;
}

/** Reads samplingFrequencyIndex and, for index 15, the explicit 24-bit samplingFrequency. */
function readSampleRate(r: BitReader, field: string): number {
  const index = r.u(4, `${field}Index`);
  if (index === EXPLICIT_FREQUENCY) {
    const rate = r.u(24, field);
    if (rate === 0) throw r.error(`explicit ${field} is 0 Hz`);
    return rate;
  }
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw r.error(`${field}Index ${index} is reserved`);
  return rate;
}

/** Maps channelConfiguration to a channel count, refusing what we cannot forward. */
function channelsOf(configuration: number, fail: (code: typeof MediaErrorCode.BadAacConfig | typeof MediaErrorCode.UnsupportedAudio, message: string) => MediaError): number {
  if (configuration === 0) {
    throw fail(MediaErrorCode.UnsupportedAudio, "channelConfiguration 0 (channel layout in a program_config_element) is not supported: use channel configuration 1..7");
  }
  const channels = CHANNELS_OF_CONFIGURATION[configuration];
  if (channels !== undefined) return channels;
  if (LATER_CONFIGURATIONS.has(configuration)) {
    throw fail(MediaErrorCode.UnsupportedAudio, `channelConfiguration ${configuration} is not supported: use channel configuration 1..7`);
  }
  throw fail(MediaErrorCode.BadAacConfig, `channelConfiguration ${configuration} is reserved`);
}

/**
 * Parses an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): the WebCodecs
 * AAC `description` and the payload of an FLV AAC sequence header.
 *
 * Accepts AAC Main, LC, SSR and LTP, with SBR/PS signalled hierarchically
 * (object type 5 or 29, then the extension sampling frequency and the core
 * object type) or backward compatibly (sync extension 0x2b7 after the
 * GASpecificConfig, as FFmpeg writes to say "no SBR").
 */
export function parseAudioSpecificConfig(bytes: Uint8Array): AacConfig {
  if (bytes.byteLength < 2) {
    throw new MediaError(MediaErrorCode.BadAacConfig, `AudioSpecificConfig too short: ${bytes.byteLength} byte${bytes.byteLength === 1 ? "" : "s"}, need at least 2`);
  }
  const r = new BitReader(bytes, MediaErrorCode.BadAacConfig, "AudioSpecificConfig");
  const fail = (code: typeof MediaErrorCode.BadAacConfig | typeof MediaErrorCode.UnsupportedAudio, message: string): MediaError =>
    new MediaError(code, `AudioSpecificConfig: ${message}`);

  const objectType = readObjectType(r, "audioObjectType");
  if (objectType !== AacObjectType.SBR && objectType !== AacObjectType.PS && !CORE_TYPES.has(objectType)) {
    throw fail(MediaErrorCode.UnsupportedAudio, `audioObjectType ${typeName(objectType)} is not supported: send AAC LC (2), HE-AAC (5) or HE-AAC v2 (29)`);
  }
  const coreSampleRate = readSampleRate(r, "samplingFrequency");
  const channelConfiguration = r.u(4, "channelConfiguration");

  let sbr = false;
  let ps = false;
  let sampleRate = coreSampleRate;
  let coreObjectType = objectType;
  if (objectType === AacObjectType.SBR || objectType === AacObjectType.PS) {
    sbr = true;
    ps = objectType === AacObjectType.PS;
    sampleRate = readSampleRate(r, "extensionSamplingFrequency");
    coreObjectType = readObjectType(r, "audioObjectType");
    if (!CORE_TYPES.has(coreObjectType)) {
      throw fail(MediaErrorCode.UnsupportedAudio, `the core audioObjectType under ${typeName(objectType)} is ${typeName(coreObjectType)}; only AAC Main, LC, SSR or LTP (1..4) is supported`);
    }
  }
  const coreChannels = channelsOf(channelConfiguration, fail);

  // GASpecificConfig (§4.4.1), for object types 1..4.
  const frameLength = r.flag("frameLengthFlag") ? 960 : 1024;
  if (r.flag("dependsOnCoreCoder")) r.skip(14, "coreCoderDelay");
  r.skip(1, "extensionFlag");
  // channelConfiguration 0 (program_config_element) was refused above; layerNr is only for types 6 and 20.

  // Backward-compatible SBR/PS signalling (the tail of §1.6.2.1; see §1.6.5, §1.6.6): only without hierarchical signalling.
  if (!sbr && r.bitsLeft >= 16 && r.peek(11) === 0x2b7) {
    r.skip(11, "syncExtensionType");
    const extensionType = readObjectType(r, "extensionAudioObjectType");
    if (extensionType === AacObjectType.SBR) {
      if (r.flag("sbrPresentFlag")) {
        sbr = true;
        sampleRate = readSampleRate(r, "extensionSamplingFrequency");
        if (r.bitsLeft >= 12 && r.peek(11) === 0x548) {
          r.skip(11, "syncExtensionType");
          ps = r.flag("psPresentFlag");
        }
      }
    }
  }

  if (sbr && sampleRate !== coreSampleRate && sampleRate !== 2 * coreSampleRate) {
    throw fail(MediaErrorCode.BadAacConfig, `SBR output rate ${sampleRate} Hz must be the core rate ${coreSampleRate} Hz or twice it`);
  }
  // PS turns a mono core into stereo; with any other core it does nothing (decoders ignore it).
  const channels = ps && channelConfiguration === 1 ? 2 : coreChannels;

  return {
    objectType,
    coreObjectType,
    sampleRate,
    coreSampleRate,
    channels,
    channelConfiguration,
    samplesPerFrame: (frameLength * sampleRate) / coreSampleRate,
    sbr,
    ps,
    codecString: `mp4a.40.${objectType}`,
  };
}

/** The fields of a plain AAC AudioSpecificConfig. */
export interface AudioSpecificConfigFields {
  /** 1 (Main), 2 (LC), 3 (SSR) or 4 (LTP). */
  readonly objectType: number;
  /** Any rate from 1 to 2^24 - 1 Hz; the 13 standard rates use an index, others the explicit 24-bit field. */
  readonly sampleRate: number;
  /** 1..6 or 8 (configuration 7). */
  readonly channels: number;
  /** 1024 (default) or 960. */
  readonly samplesPerFrame?: 1024 | 960;
}

/**
 * Builds an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1 with a
 * GASpecificConfig, §4.4.1) for plain AAC, e.g. from an ADTS header, for the
 * FLV AAC sequence header: 2 bytes, or 5 with an explicit sampling frequency.
 */
export function buildAudioSpecificConfig(fields: AudioSpecificConfigFields): Uint8Array {
  const { objectType, sampleRate, channels, samplesPerFrame = 1024 } = fields;
  if (!CORE_TYPES.has(objectType)) {
    throw new MediaError(MediaErrorCode.UnsupportedAudio, `AudioSpecificConfig: cannot build one for audioObjectType ${typeName(objectType)}; only 1..4 (AAC Main, LC, SSR, LTP)`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 0xffffff) {
    throw new MediaError(MediaErrorCode.UnsupportedAudio, `AudioSpecificConfig: sample rate ${sampleRate} Hz cannot be signalled (1..16777215)`);
  }
  const configuration = CHANNELS_OF_CONFIGURATION.indexOf(channels);
  if (!Number.isInteger(channels) || configuration < 1) {
    throw new MediaError(MediaErrorCode.UnsupportedAudio, `AudioSpecificConfig: ${channels} channels have no channelConfiguration (1..6 or 8 channels)`);
  }
  if (samplesPerFrame !== 1024 && samplesPerFrame !== 960) throw new TypeError(`buildAudioSpecificConfig: samplesPerFrame must be 1024 or 960, got ${String(samplesPerFrame)}`);
  const index = AAC_SAMPLE_RATES.indexOf(sampleRate);
  const w = new BitWriter();
  w.put(5, objectType); // audioObjectType
  if (index >= 0) {
    w.put(4, index); // samplingFrequencyIndex
  } else {
    w.put(4, EXPLICIT_FREQUENCY);
    w.put(24, sampleRate); // samplingFrequency
  }
  w.put(4, configuration); // channelConfiguration
  w.put(1, samplesPerFrame === 960 ? 1 : 0); // frameLengthFlag
  w.put(1, 0); // dependsOnCoreCoder
  w.put(1, 0); // extensionFlag
  return w.finish();
}

/** MSB-first bit writer for the few bits of a config. */
class BitWriter {
  readonly #bits: number[] = [];

  put(n: number, value: number): void {
    for (let i = n - 1; i >= 0; i--) this.#bits.push(Math.floor(value / 2 ** i) % 2);
  }

  /** The bits so far, zero-padded to a whole byte. */
  finish(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.#bits.length / 8));
    this.#bits.forEach((bit, i) => {
      out[i >> 3]! |= bit << (7 - (i & 7));
    });
    return out;
  }
}

/** A parsed ADTS frame header. */
export interface AdtsHeader {
  /** profile_ObjectType + 1: 1 (Main), 2 (LC), 3 (SSR), 4 (LTP). */
  readonly objectType: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly channelConfiguration: number;
  /** aac_frame_length: the whole frame, header included, in bytes. */
  readonly frameLength: number;
  /** 7, or 9 when protection_absent is 0 (a CRC follows the fixed and variable headers). */
  readonly headerLength: number;
  /** True if the header carries a CRC (protection_absent 0). It is not verified. */
  readonly crcPresent: boolean;
  /** ID bit: 0 MPEG-4, 1 MPEG-2 AAC. */
  readonly mpegVersion: 2 | 4;
}

/** ADTS headers are 7 bytes, 9 with a CRC. */
export const ADTS_HEADER_LENGTH = 7;

/**
 * Parses the ADTS header at the start of `bytes` (ISO/IEC 14496-3 §1.A.2.2.1,
 * ISO/IEC 13818-7 §6.2): adts_fixed_header, adts_variable_header and, with
 * protection_absent 0, the CRC. Does not check that the whole frame
 * (frameLength bytes) is present: that is the caller's framing.
 *
 * One raw_data_block per frame only (number_of_raw_data_blocks_in_frame 0):
 * more is UNSUPPORTED_AUDIO, as each block would need its own FLV tag.
 */
export function parseAdtsHeader(bytes: Uint8Array): AdtsHeader {
  if (bytes.byteLength < ADTS_HEADER_LENGTH) {
    throw new MediaError(MediaErrorCode.BadAacConfig, `ADTS header too short: ${bytes.byteLength} bytes, need at least ${ADTS_HEADER_LENGTH}`);
  }
  const r = new BitReader(bytes, MediaErrorCode.BadAacConfig, "ADTS header");
  const sync = r.u(12, "syncword");
  if (sync !== 0xfff) {
    throw r.error(`syncword is 0x${sync.toString(16).padStart(3, "0")}, must be 0xfff (is this raw AAC without ADTS headers? then send an AudioSpecificConfig)`);
  }
  const id = r.u(1, "ID");
  const layer = r.u(2, "layer");
  if (layer !== 0) throw r.error(`layer is ${layer}, must be 0 (this looks like MPEG audio layer ${4 - layer}, not AAC)`);
  const crcPresent = r.u(1, "protection_absent") === 0;
  const objectType = r.u(2, "profile_ObjectType") + 1;
  if (id === 1 && objectType === 4) throw r.error("profile 3 is reserved in MPEG-2 ADTS");
  const frequencyIndex = r.u(4, "sampling_frequency_index");
  const sampleRate = AAC_SAMPLE_RATES[frequencyIndex];
  if (sampleRate === undefined) throw r.error(`sampling_frequency_index ${frequencyIndex} is ${frequencyIndex === EXPLICIT_FREQUENCY ? "not allowed in ADTS" : "reserved"}`);
  r.skip(1, "private_bit");
  const channelConfiguration = r.u(3, "channel_configuration");
  if (channelConfiguration === 0) {
    throw new MediaError(MediaErrorCode.UnsupportedAudio, "ADTS header: channel_configuration 0 (channel layout in a program_config_element) is not supported: use channel configuration 1..7");
  }
  const channels = CHANNELS_OF_CONFIGURATION[channelConfiguration]!;
  r.skip(4, "original_copy, home, copyright bits");
  const frameLength = r.u(13, "aac_frame_length");
  r.skip(11, "adts_buffer_fullness");
  const blocks = r.u(2, "number_of_raw_data_blocks_in_frame");
  if (blocks !== 0) {
    throw new MediaError(MediaErrorCode.UnsupportedAudio, `ADTS header: ${blocks + 1} raw data blocks in one frame are not supported: one per frame`);
  }
  const headerLength = crcPresent ? ADTS_HEADER_LENGTH + 2 : ADTS_HEADER_LENGTH;
  if (crcPresent) r.skip(16, "crc_check");
  if (frameLength <= headerLength) throw r.error(`aac_frame_length ${frameLength} leaves no room for data after the ${headerLength}-byte header`);
  return { objectType, sampleRate, channels, channelConfiguration, frameLength, headerLength, crcPresent, mpegVersion: id === 1 ? 2 : 4 };
}
