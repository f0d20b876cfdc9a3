/**
 * AAC-LC for the browser SDK: WebCodecs' AudioEncoder where the platform has
 * AAC (Chrome on Windows, macOS, Android; Safari), else golive's own
 * encoder (AssemblyScript in a worker, frame by frame: wasm-aac.ts). On
 * request, FFmpeg's AAC encoder in ffmpeg.wasm, run on overlapping segments
 * whose kept frames join without a gap, repeat or click (segmenter.ts).
 *
 *   const enc = await createAacEncoder({ sampleRate: 48000, channels: 2, bitrate: 128000 },
 *     (chunk) => send(chunk), (err) => stop(err));
 *   sendConfig(enc.codec, enc.description);   // "mp4a.40.2", AudioSpecificConfig
 *   for await (const data of audioDataStream) { enc.encode(data); data.close(); }
 *   await enc.flush(); enc.close();
 */
import { AAC_SAMPLE_RATES, sampleRateIndex } from "./aac-config.js";
import type { AudioDataLike } from "./pcm.js";
import type { AacChunk } from "./segmented-encoder.js";
import { AacEncoderError, AacErrorCode } from "./errors.js";
import { measureWebCodecsAacDelay } from "./encoder-delay.js";
import { findWebCodecsAacConfig, WebCodecsAacEncoder } from "./webcodecs-aac.js";

export type { AacChunk } from "./segmented-encoder.js";
export { AacEncoderError, AacErrorCode, type AacErrorCodeValue } from "./errors.js";
export { audioSpecificConfig } from "./aac-config.js";
export { splitAdts, parseAdtsFrames, wrapAdts, type AdtsFrame } from "./adts.js";
export type { AudioDataLike } from "./pcm.js";

/** What to encode. */
export interface AacEncoderConfig {
  /** One of the AAC sampling frequencies (48000, 44100, ...): the AudioData's rate; there is no resampling. */
  sampleRate: number;
  /** Channels encoded; AudioData with another count is up- or down-mixed. */
  channels: 1 | 2;
  /** Bits per second, e.g. 128000. */
  bitrate: number;
  /**
   * Which encoder: "auto" (default) takes WebCodecs where it has AAC, else
   * "wasm"; "webcodecs", "wasm" or "ffmpeg" insist on one (creation fails
   * if it cannot run here).
   */
  encoder?: AacEncoderChoice;
  /** The wasm path: where aac.wasm is served (default: bundled beside the SDK). */
  wasm?: { wasmURL?: string };
  /** The ffmpeg.wasm path (only when asked for with encoder: "ffmpeg"). */
  ffmpeg?: {
    /** URL of @ffmpeg/core's ffmpeg-core.js (ESM); default: the copy bundled with the app. */
    coreURL?: string;
    /** URL of ffmpeg-core.wasm; default: the copy bundled with the app. */
    wasmURL?: string;
    /**
     * New audio per ffmpeg job, milliseconds: latency against per-job
     * overhead. Default 500, which keeps audio inside the bridge's 1 s
     * reorder window; audio lags capture by about this plus 100 ms.
     */
    segmentMs?: number;
    /** Audio allowed to wait for ffmpeg before the encoder fails with AAC_BACKLOG, milliseconds. Default 20000. */
    maxBacklogMs?: number;
  };
}

/** Which AAC encoder to use. */
export type AacEncoderChoice = "auto" | "webcodecs" | "wasm" | "ffmpeg";

/** An AAC-LC encoder: AudioData in, raw AAC frames out. */
export interface AacEncoder {
  /** Where AAC comes from: the platform's WebCodecs, golive's wasm encoder, or ffmpeg.wasm. */
  readonly kind: "webcodecs" | "wasm" | "ffmpeg";
  /** Codec string "mp4a.40.2" and the AudioSpecificConfig (2 bytes for LC). */
  readonly codec: string;
  readonly description: Uint8Array;
  readonly sampleRate: number;
  readonly channels: number;
  /**
   * PCM in: WebCodecs AudioData (any sample format), or an object with the
   * part of it the encoders read (AudioDataLike), at the configured sample
   * rate. The caller still owns `data` and may close it when this returns.
   */
  encode(data: AudioDataLike): void;
  /**
   * The encoder's delay, frames, as its chunks' timestamps account for it
   * (encoder-delay.ts): the wasm encoder's one frame; the platform encoder's
   * as measured before going live, or undefined when it could not be
   * measured (its chunks are then stamped by sample count alone, and the
   * sound is late by the delay).
   */
  readonly delayFrames?: number;
  /** Where the encoder keeps its own timeline (wasm): the next encode() starts a new one, after a hole. */
  restartTimeline?(): void;
  /** Encodes what is buffered and resolves once its chunks have been delivered. */
  flush(): Promise<void>;
  /** Stops at once; pending audio is dropped. */
  close(): void;
}

/**
 * Creates an AAC encoder (see AacEncoderConfig.encoder): by default
 * WebCodecs when `AudioEncoder.isConfigSupported` accepts "mp4a.40.2" with
 * this config, else golive's wasm encoder. The chosen encoder is loaded
 * here, so one that cannot start rejects now (AAC_WASM_LOAD,
 * AAC_FFMPEG_LOAD, AAC_WEBCODECS) rather than mid-stream. Throws TypeError
 * for a config AAC cannot carry.
 */
export async function createAacEncoder(config: AacEncoderConfig, onChunk: (c: AacChunk) => void, onError: (e: Error) => void): Promise<AacEncoder> {
  validateConfig(config);
  const choice = config.encoder ?? "auto";
  if (choice === "ffmpeg") return createFfmpegAacEncoder(config, onChunk, onError);
  if (choice === "auto" || choice === "webcodecs") {
    const encoderConfig = await findWebCodecsAacConfig(config);
    if (encoderConfig) return new WebCodecsAacEncoder(config, encoderConfig, onChunk, onError, await platformDelay(encoderConfig));
    if (choice === "webcodecs") throw new AacEncoderError(AacErrorCode.WebCodecs, "this browser's WebCodecs has no AAC encoder for this configuration");
  }
  const { WasmAacEncoder } = await import("./wasm-aac.js");
  return WasmAacEncoder.create({ sampleRate: config.sampleRate, channels: config.channels, bitrate: config.bitrate, ...(config.wasm?.wasmURL && { wasmURL: config.wasm.wasmURL }) }, onChunk, onError);
}

/**
 * The platform encoders' delays measured on this page, by configuration:
 * measured (~0.1 s) the first time one is used, and again next time if it
 * could not be.
 */
const delays = new Map<string, Promise<number | undefined>>();

function platformDelay(config: AudioEncoderConfig): Promise<number | undefined> {
  const key = JSON.stringify(config);
  let delay = delays.get(key);
  if (!delay) {
    delay = measureWebCodecsAacDelay(config).then((frames) => {
      if (frames === undefined) delays.delete(key);
      return frames;
    });
    delays.set(key, delay);
  }
  return delay;
}

/**
 * Creates the ffmpeg.wasm AAC encoder whatever WebCodecs can do (for tests,
 * and for identical output on every platform).
 */
export async function createFfmpegAacEncoder(config: AacEncoderConfig, onChunk: (c: AacChunk) => void, onError: (e: Error) => void): Promise<AacEncoder> {
  validateConfig(config);
  const [{ loadFfmpegRunner }, { SegmentedAacEncoder }] = await Promise.all([import("./ffmpeg-runner.js"), import("./segmented-encoder.js")]);
  const runner = await loadFfmpegRunner(config.ffmpeg);
  try {
    return new SegmentedAacEncoder(runner, { sampleRate: config.sampleRate, channels: config.channels, bitrate: config.bitrate, ...config.ffmpeg }, onChunk, onError);
  } catch (err) {
    runner.close();
    throw err;
  }
}

function validateConfig(config: AacEncoderConfig): void {
  if (sampleRateIndex(config.sampleRate) < 0) throw new TypeError(`AAC sample rate must be one of ${AAC_SAMPLE_RATES.join(", ")} Hz, not ${config.sampleRate}`);
  if (config.channels !== 1 && config.channels !== 2) throw new TypeError(`channels must be 1 or 2, not ${String(config.channels)}`);
  if (!Number.isInteger(config.bitrate) || config.bitrate < 8000 || config.bitrate > 512_000) throw new TypeError(`bitrate must be an integer 8000..512000 bits/s, not ${config.bitrate}`);
}
