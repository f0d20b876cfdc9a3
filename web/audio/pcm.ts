/**
 * PCM plumbing between WebCodecs AudioData and ffmpeg's `-f f32le` input:
 * read any AudioData sample format into planar float32, fit the channel
 * count to the encoder's, and interleave to little-endian float32 bytes.
 *
 * No I/O and no DOM globals: AudioData is used through the structural
 * AudioDataLike, so Node tests pass plain objects.
 */
import { AacEncoderError, AacErrorCode } from "./errors.js";

/** The part of WebCodecs' AudioData the encoder reads. */
export type AudioDataLike = Pick<AudioData, "format" | "numberOfChannels" | "numberOfFrames" | "sampleRate" | "timestamp" | "copyTo">;

/** Bytes per sample and how to turn one stored sample into a float in [-1, 1). */
const FORMATS = {
  u8: { bytes: 1, planar: false },
  s16: { bytes: 2, planar: false },
  s32: { bytes: 4, planar: false },
  f32: { bytes: 4, planar: false },
  "u8-planar": { bytes: 1, planar: true },
  "s16-planar": { bytes: 2, planar: true },
  "s32-planar": { bytes: 4, planar: true },
  "f32-planar": { bytes: 4, planar: true },
} as const satisfies Record<AudioSampleFormat, { bytes: number; planar: boolean }>;

/**
 * Copies the samples of `data` out as one Float32Array per channel, in the
 * data's own channel count. Integer formats are scaled to [-1, 1): u8 is
 * offset binary around 128, s16 / s32 divide by 2^15 / 2^31.
 */
export function readPlanarF32(data: AudioDataLike): Float32Array[] {
  const format = data.format;
  if (format === null) throw new AacEncoderError(AacErrorCode.UnsupportedInput, "AudioData has no format (it was closed before encode())");
  const layout = (FORMATS as Record<string, { bytes: number; planar: boolean } | undefined>)[format];
  if (!layout) throw new AacEncoderError(AacErrorCode.UnsupportedInput, `AudioData sample format ${format} is not supported`);
  const channels = data.numberOfChannels;
  const frames = data.numberOfFrames;
  if (channels < 1) throw new AacEncoderError(AacErrorCode.UnsupportedInput, "AudioData has no channels");
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  if (frames === 0) return out;
  if (layout.planar) {
    const raw = new ArrayBuffer(frames * layout.bytes);
    for (let ch = 0; ch < channels; ch++) {
      data.copyTo(raw, { planeIndex: ch, format });
      convert(format, raw, out[ch]!, 0, 1);
    }
  } else {
    const raw = new ArrayBuffer(frames * channels * layout.bytes);
    data.copyTo(raw, { planeIndex: 0, format });
    for (let ch = 0; ch < channels; ch++) convert(format, raw, out[ch]!, ch, channels);
  }
  return out;
}

/** Writes samples ch, ch + stride, ... of `raw` (in `format`) to `dst` as floats. */
function convert(format: AudioSampleFormat, raw: ArrayBuffer, dst: Float32Array, ch: number, stride: number): void {
  const n = dst.length;
  switch (format) {
    case "f32":
    case "f32-planar": {
      const src = new Float32Array(raw);
      for (let i = 0; i < n; i++) dst[i] = src[i * stride + ch]!;
      return;
    }
    case "s16":
    case "s16-planar": {
      const src = new Int16Array(raw);
      for (let i = 0; i < n; i++) dst[i] = src[i * stride + ch]! / 0x8000;
      return;
    }
    case "s32":
    case "s32-planar": {
      const src = new Int32Array(raw);
      for (let i = 0; i < n; i++) dst[i] = src[i * stride + ch]! / 0x80000000;
      return;
    }
    case "u8":
    case "u8-planar": {
      const src = new Uint8Array(raw);
      for (let i = 0; i < n; i++) dst[i] = (src[i * stride + ch]! - 128) / 128;
      return;
    }
  }
}

/**
 * Fits `planes` to `channels`: mono is copied to both sides of stereo;
 * stereo (or more) becomes mono as the mean of the first two channels; more
 * than two channels into stereo keep the first two (front left, front right).
 */
export function fitChannels(planes: Float32Array[], channels: 1 | 2): Float32Array[] {
  const first = planes[0];
  if (!first) throw new AacEncoderError(AacErrorCode.UnsupportedInput, "AudioData has no channels");
  if (planes.length === channels) return planes;
  if (channels === 2) return [first, planes[1] ?? first];
  const second = planes[1]!;
  const mono = new Float32Array(first.length);
  for (let i = 0; i < mono.length; i++) mono[i] = (first[i]! + second[i]!) * 0.5;
  return [mono];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Interleaves `count` samples from `start` of each plane into little-endian
 * float32 bytes (ffmpeg's `-f f32le`): L0 R0 L1 R1 ...
 */
export function interleaveF32le(planes: readonly Float32Array[], start: number, count: number): Uint8Array {
  const channels = planes.length;
  for (const p of planes) {
    if (start < 0 || count < 0 || start + count > p.length) throw new RangeError(`samples ${start}..${start + count} are outside a plane of ${p.length}`);
  }
  const bytes = new Uint8Array(count * channels * 4);
  if (LITTLE_ENDIAN_HOST) {
    const out = new Float32Array(bytes.buffer);
    for (let ch = 0; ch < channels; ch++) {
      const p = planes[ch]!;
      for (let i = 0; i < count; i++) out[i * channels + ch] = p[start + i]!;
    }
  } else {
    const view = new DataView(bytes.buffer);
    for (let ch = 0; ch < channels; ch++) {
      const p = planes[ch]!;
      for (let i = 0; i < count; i++) view.setFloat32((i * channels + ch) * 4, p[start + i]!, true);
    }
  }
  return bytes;
}
