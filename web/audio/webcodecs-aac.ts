/**
 * The WebCodecs path: the platform's AudioEncoder with codec "mp4a.40.2"
 * (Chrome on Windows, macOS, Android; not Linux Chromium nor Firefox), raw
 * AAC out ("aac" format: no ADTS), the AudioSpecificConfig from the first
 * output's decoderConfig. Timestamps are the encoder's own.
 */
import { audioSpecificConfig } from "./aac-config.js";
import { AacEncoderError, AacErrorCode } from "./errors.js";
import { fitChannels, readPlanarF32, type AudioDataLike } from "./pcm.js";
import type { AacChunk } from "./segmented-encoder.js";

/** What the platform encoder is configured with. */
export interface WebCodecsAacConfig {
  sampleRate: number;
  channels: 1 | 2;
  bitrate: number;
}

/** AudioEncoderConfig with the AAC codec registration's `aac` member (not in TypeScript's DOM lib). */
export type AacAudioEncoderConfig = AudioEncoderConfig & { aac?: { format: "aac" | "adts" } };

/**
 * The AudioEncoderConfigs tried for AAC-LC, raw frames ("aac" format: the
 * AudioSpecificConfig comes in decoderConfig.description): constant bitrate
 * first (what RTMP ingests expect), then the platform's default mode, as not
 * every platform encoder takes a bitrateMode.
 */
export function webCodecsAacConfigs({ sampleRate, channels, bitrate }: WebCodecsAacConfig): AacAudioEncoderConfig[] {
  const base: AacAudioEncoderConfig = { codec: "mp4a.40.2", sampleRate, numberOfChannels: channels, bitrate, aac: { format: "aac" } };
  return [{ ...base, bitrateMode: "constant" }, base];
}

/** The first of webCodecsAacConfigs this browser's WebCodecs supports, or null (no AudioEncoder, or no AAC). */
export async function findWebCodecsAacConfig(config: WebCodecsAacConfig): Promise<AacAudioEncoderConfig | null> {
  if (typeof AudioEncoder === "undefined") return null;
  for (const candidate of webCodecsAacConfigs(config)) {
    try {
      if ((await AudioEncoder.isConfigSupported(candidate)).supported === true) return candidate;
    } catch {
      // A TypeError for a config this browser cannot parse: try the next.
    }
  }
  return null;
}

/** The AacEncoder of the WebCodecs path (see index.ts for the interface). */
export class WebCodecsAacEncoder {
  readonly kind = "webcodecs" as const;
  readonly codec = "mp4a.40.2";
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  #description: Uint8Array;
  readonly #encoder: AudioEncoder;
  readonly #onError: (e: Error) => void;
  #failed = false;

  /** `encoderConfig`: what findWebCodecsAacConfig found for `config`. */
  constructor(config: WebCodecsAacConfig, encoderConfig: AacAudioEncoderConfig, onChunk: (c: AacChunk) => void, onError: (e: Error) => void) {
    this.sampleRate = config.sampleRate;
    this.channels = config.channels;
    // What an LC encoder's decoderConfig says; replaced by the real one with the first chunk.
    this.#description = audioSpecificConfig(config.sampleRate, config.channels);
    this.#onError = onError;
    this.#encoder = new AudioEncoder({
      output: (chunk, metadata) => {
        const description = metadata?.decoderConfig?.description;
        if (description) this.#description = copyBufferSource(description);
        const data = new Uint8Array(chunk.byteLength);
        chunk.copyTo(data);
        const durationUs = chunk.duration ?? Math.round((1024 * 1e6) / this.sampleRate);
        onChunk({ data, timestampUs: chunk.timestamp, durationUs });
      },
      error: (err) => this.#fail(new AacEncoderError(AacErrorCode.WebCodecs, `the platform AAC encoder failed: ${err.message}`, { cause: err })),
    });
    this.#encoder.configure(encoderConfig);
  }

  /** The AudioSpecificConfig: from the encoder's decoderConfig once the first chunk is out. */
  get description(): Uint8Array {
    return this.#description;
  }

  /** Encodes `data` (not closed here: the caller owns it). */
  encode(data: AudioDataLike): void {
    if (this.#encoder.state === "closed") {
      if (this.#failed) return;
      throw new TypeError("encode() on a closed AAC encoder");
    }
    if (data.sampleRate !== this.sampleRate) {
      this.#fail(new AacEncoderError(AacErrorCode.UnsupportedInput, `AudioData at ${data.sampleRate} Hz given to an AAC encoder configured for ${this.sampleRate} Hz (no resampling: configure the encoder with the track's rate)`));
      return;
    }
    if (data.numberOfChannels === this.channels && (typeof AudioData === "undefined" || data instanceof AudioData)) {
      this.#encoder.encode(data as AudioData);
      return;
    }
    // Channel count differs (a mono microphone, a stereo encoder), or not an
    // AudioData: copy into a new AudioData with the encoder's channels.
    try {
      const planes = fitChannels(readPlanarF32(data), this.channels);
      const frames = planes[0]!.length;
      const joined = new Float32Array(frames * planes.length);
      planes.forEach((p, ch) => joined.set(p, ch * frames));
      const remapped = new AudioData({ format: "f32-planar", sampleRate: data.sampleRate, numberOfChannels: planes.length, numberOfFrames: frames, timestamp: data.timestamp, data: joined });
      this.#encoder.encode(remapped);
      remapped.close();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Resolves when every chunk of what was encoded has been delivered. */
  async flush(): Promise<void> {
    await this.#encoder.flush();
  }

  close(): void {
    if (this.#encoder.state !== "closed") this.#encoder.close();
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    if (this.#encoder.state !== "closed") this.#encoder.close();
    this.#onError(err instanceof Error ? err : new Error(String(err)));
  }
}

function copyBufferSource(source: AllowSharedBufferSource): Uint8Array {
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength).slice();
  return new Uint8Array(source).slice();
}
