/**
 * AAC-LC decoder configuration: the sampling frequency table and the 2-byte
 * AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) that the FLV AAC sequence
 * header and WebCodecs' `description` carry.
 */
import { AacEncoderError, AacErrorCode } from "./errors.js";

/** sampling_frequency_index -> Hz (ISO/IEC 14496-3 Table 1.18); 13, 14 reserved, 15 explicit. */
export const AAC_SAMPLE_RATES: readonly number[] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** Samples per channel in one AAC-LC frame (frameLengthFlag 0). */
export const AAC_FRAME_SAMPLES = 1024;

/** Audio object type of AAC LC; "mp4a.40.2" names it. */
export const AAC_LC_OBJECT_TYPE = 2;

/** The sampling_frequency_index of `sampleRate`, or -1 if it has none (it would need the 24-bit explicit form). */
export function sampleRateIndex(sampleRate: number): number {
  return AAC_SAMPLE_RATES.indexOf(sampleRate);
}

/**
 * The AudioSpecificConfig of AAC-LC at `sampleRate` with `channels`
 * (1 or 2: channel_configuration equals the count), 2 bytes:
 *
 *   audioObjectType          5 bits  2 (LC)
 *   samplingFrequencyIndex   4 bits  Table 1.18
 *   channelConfiguration     4 bits  1 mono, 2 stereo
 *   GASpecificConfig         3 bits  frameLengthFlag 0 (1024), dependsOnCoreCoder 0, extensionFlag 0
 *
 * 48 kHz stereo is 0x11 0x90; 44.1 kHz stereo 0x12 0x10.
 */
export function audioSpecificConfig(sampleRate: number, channels: number): Uint8Array {
  const index = sampleRateIndex(sampleRate);
  if (index < 0) throw new TypeError(`AAC needs one of the sample rates ${AAC_SAMPLE_RATES.join(", ")} Hz, not ${sampleRate}`);
  if (channels !== 1 && channels !== 2) throw new TypeError(`channels must be 1 or 2, not ${channels}`);
  const bits = (AAC_LC_OBJECT_TYPE << 11) | (index << 7) | (channels << 3);
  return Uint8Array.of(bits >> 8, bits & 0xff);
}

/** The fields of a 2-byte AAC AudioSpecificConfig (no explicit frequency, no extensions). */
export interface AudioSpecificConfigFields {
  readonly objectType: number;
  readonly sampleRate: number;
  readonly channelConfiguration: number;
}

/**
 * Reads the object type, sample rate and channel configuration of an
 * AudioSpecificConfig that uses a frequency index (what every AAC-LC encoder
 * writes). Throws BAD_ENCODER_OUTPUT for anything shorter or escaped: it is
 * used on what an encoder produced, not on input from the network.
 */
export function readAudioSpecificConfig(bytes: Uint8Array): AudioSpecificConfigFields {
  const b0 = bytes[0];
  const b1 = bytes[1];
  if (b0 === undefined || b1 === undefined) {
    throw new AacEncoderError(AacErrorCode.BadEncoderOutput, `AudioSpecificConfig is ${bytes.byteLength} bytes, need at least 2`);
  }
  const objectType = b0 >> 3;
  const index = ((b0 & 0x07) << 1) | (b1 >> 7);
  const sampleRate = AAC_SAMPLE_RATES[index];
  if (objectType === 31 || sampleRate === undefined) {
    throw new AacEncoderError(AacErrorCode.BadEncoderOutput, `AudioSpecificConfig ${hex(bytes)} uses an escaped object type or explicit frequency`);
  }
  return { objectType, sampleRate, channelConfiguration: (b1 >> 3) & 0x0f };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
}
