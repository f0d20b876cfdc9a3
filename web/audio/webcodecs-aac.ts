/**
 * The WebCodecs path: the platform's AudioEncoder with codec "mp4a.40.2"
 * (Chrome on Windows, macOS, Android; not Linux Chromium nor Firefox), raw
 * AAC out ("aac" format: no ADTS), the AudioSpecificConfig from the first
 * output's decoderConfig. Chunks are stamped by sample count (ChunkClock),
 * less the encoder's delay where that was measured (encoder-delay.ts): the
 * platform's own stamps follow how the input was cut (WebKitGTK stamps a
 * chunk with the time of the AudioData that completed it: measured, a first
 * AudioData of 1022 frames put every chunk 21 ms late) and leave out the
 * delay, so the sound in a chunk went in earlier than its stamp says.
 */
import { AAC_FRAME_SAMPLES, audioSpecificConfig } from "./aac-config.js";
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

/**
 * Stamps an AAC encoder's chunks by sample count. The encoder sees one
 * stream of samples: chunk m holds samples [m * 1024 - delay, ...) of it.
 * Each timeline (the first input, and the first after a hole too long to
 * fill) starts at a known stream position with a known time, so a chunk's
 * time is that of the timeline its first sample belongs to, plus the
 * samples since that timeline began. Pure.
 */
export class ChunkClock {
  readonly #rate: number;
  readonly #delayFrames: number;
  /** Timelines in stream order: stream position of their first sample, and its time. */
  #timelines: Array<{ position: number; timestampUs: number }> = [];
  /** Samples taken so far. */
  #position = 0;
  /** Chunks stamped so far. */
  #chunks = 0;
  #restart = true;

  constructor(sampleRate: number, delayFrames = 0) {
    this.#rate = sampleRate;
    this.#delayFrames = delayFrames;
  }

  /** The next input starts a new timeline (after a hole). */
  restart(): void {
    this.#restart = true;
  }

  /** Records an input of `frames` samples whose first is at `timestampUs`. */
  input(timestampUs: number, frames: number): void {
    if (this.#restart) {
      this.#timelines.push({ position: this.#position, timestampUs });
      this.#restart = false;
    }
    this.#position += frames;
  }

  /** The time of the next chunk out, µs. */
  next(): number {
    const first = this.#chunks * AAC_FRAME_SAMPLES - this.#delayFrames;
    this.#chunks++;
    // Timelines that end before this chunk begins are done with.
    while (this.#timelines.length > 1 && this.#timelines[1]!.position <= first) this.#timelines.shift();
    const timeline = this.#timelines[0] ?? { position: 0, timestampUs: 0 };
    return timeline.timestampUs + Math.round(((first - timeline.position) * 1e6) / this.#rate);
  }

  /** After a flush: the encoder starts a new stream (and a new timeline) with the next input. */
  reset(): void {
    this.#timelines = [];
    this.#position = 0;
    this.#chunks = 0;
    this.#restart = true;
  }
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
  readonly delayFrames: number | undefined;
  readonly #clock: ChunkClock;

  /**
   * `encoderConfig`: what findWebCodecsAacConfig found for `config`;
   * `delayFrames`: what measureWebCodecsAacDelay measured for it, if it could.
   */
  constructor(config: WebCodecsAacConfig, encoderConfig: AacAudioEncoderConfig, onChunk: (c: AacChunk) => void, onError: (e: Error) => void, delayFrames?: number) {
    this.sampleRate = config.sampleRate;
    this.delayFrames = delayFrames;
    this.#clock = new ChunkClock(config.sampleRate, delayFrames);
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
        onChunk({ data, timestampUs: this.#clock.next(), durationUs });
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
      this.#clock.input(data.timestamp, data.numberOfFrames);
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
      this.#clock.input(data.timestamp, frames);
      this.#encoder.encode(remapped);
      remapped.close();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The next encode() starts a new timeline (after a hole): its chunks are stamped from its timestamp. */
  restartTimeline(): void {
    this.#clock.restart();
  }

  /** Resolves when every chunk of what was encoded has been delivered; what is encoded next is a new stream. */
  async flush(): Promise<void> {
    await this.#encoder.flush();
    this.#clock.reset();
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
