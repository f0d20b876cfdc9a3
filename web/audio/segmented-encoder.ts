/**
 * AAC from a command-line encoder run on segments (ffmpeg.wasm in the
 * browser; the native ffmpeg in Node tests): PCM from AudioData is planned
 * into overlapping jobs (segmenter.ts), at most one job runs at a time, the
 * rest wait in a bounded queue, and each job's ADTS output is split and
 * trimmed to the frames the plan keeps. Timestamps count samples, never the
 * clock: frame k of a timeline is stamped
 * firstInputTimestampUs + round(k * 1024 * 1e6 / sampleRate).
 *
 * Encoding runs ahead of real time (ffmpeg.wasm: 5-7x with the default
 * segments, 13x with long ones), so the queue is short in steady state; if it grows past maxBacklogMs of
 * audio, encoding cannot keep up and the encoder fails with AAC_BACKLOG
 * rather than drift or drop audio.
 */
import { AAC_FRAME_SAMPLES as F, AAC_LC_OBJECT_TYPE, audioSpecificConfig } from "./aac-config.js";
import { splitAdts } from "./adts.js";
import { AacEncoderError, AacErrorCode } from "./errors.js";
import { fitChannels, readPlanarF32, type AudioDataLike } from "./pcm.js";
import { AacSegmenter, type SegmentJob } from "./segmenter.js";

/** One raw AAC frame and its time. */
export interface AacChunk {
  /** One raw AAC frame (raw_data_block), no ADTS header. */
  data: Uint8Array;
  /** Presentation (= decode) time of the frame's first decoded sample, microseconds. */
  timestampUs: number;
  /** Microseconds until the next frame's timestamp: 1024 samples (21333 or 21334 µs at 48 kHz, alternating so they add up exactly). */
  durationUs: number;
}

/** Runs one encode job: f32le PCM in, an ADTS stream out. Called for one job at a time. */
export interface AacJobRunner {
  run(pcm: Uint8Array, job: { sampleRate: number; channels: number; bitrate: number }): Promise<Uint8Array>;
  /** Frees the runner (terminates ffmpeg.wasm's Worker). */
  close(): void;
}

/** Tuning of the segmented encoder; the defaults suit live streaming. */
export interface SegmentedEncoderOptions {
  sampleRate: number;
  channels: 1 | 2;
  bitrate: number;
  /** New audio per job, milliseconds (rounded to whole 1024-sample frames). Default 500. */
  segmentMs?: number;
  /** Frames encoded before each job's first kept frame beyond the MDCT's own overlap. Default 8. */
  prerollFrames?: number;
  /** Audio waiting for the encoder beyond which it fails with AAC_BACKLOG, milliseconds. Default 20000. */
  maxBacklogMs?: number;
  /** Frames the encoder reads past a frame's MDCT window: 1 for FFmpeg's AAC encoder (the default). */
  lookaheadFrames?: number;
}

/**
 * 500 ms: audio then reaches the bridge about 0.65 s after capture (the
 * segment, two frames of lookahead, 70-100 ms of ffmpeg.wasm per job),
 * inside the bridge's 1 s audio/video reorder window; ffmpeg.wasm still runs
 * 5-7x faster than real time (aac-ffmpeg.test.ts prints the speed). Longer
 * segments are faster (1 s: ~11x) but late for that window.
 */
export const DEFAULT_SEGMENT_MS = 500;
/**
 * 8 frames: FFmpeg's AAC encoder settles (rate control lambda, psychoacoustic
 * energies, input low-pass) over its first 8-12 frames; with 8 frames of
 * preroll a join block measures like any other block of the stream, with 0
 * about 10x worse (aac-joins.test.ts). Costs 10 extra frames per job.
 */
export const DEFAULT_PREROLL_FRAMES = 8;
export const DEFAULT_MAX_BACKLOG_MS = 20_000;

/** A job and the timeline it belongs to. */
interface QueuedJob {
  readonly job: SegmentJob;
  readonly baseTimestampUs: number;
}

/** The encoder's lifecycle. */
type State =
  /** Taking AudioData. */
  | "open"
  /** An error was reported through onError; input is ignored. */
  | "failed"
  /** close() was called. */
  | "closed";

/** The AacEncoder of the ffmpeg path (see index.ts for the interface). */
export class SegmentedAacEncoder {
  readonly kind = "ffmpeg" as const;
  /** FFmpeg's one frame (initial_padding): the priming packet is dropped and the rest stamped by sample count. */
  readonly delayFrames = 1024;
  readonly codec = "mp4a.40.2";
  readonly description: Uint8Array;
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly #bitrate: number;
  readonly #runner: AacJobRunner;
  readonly #segmenter: AacSegmenter;
  readonly #maxBacklogSamples: number;
  readonly #onChunk: (c: AacChunk) => void;
  readonly #onError: (e: Error) => void;
  #state: State = "open";
  #error: Error | undefined;
  /** Timestamp of sample 0 of the current timeline; undefined until its first AudioData. */
  #baseTimestampUs: number | undefined;
  readonly #queue: QueuedJob[] = [];
  /** The job ffmpeg is running, if any. */
  #running: SegmentJob | undefined;
  /** Resolved when the queue is empty and no job runs (flush() waits on these). */
  #idleWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(runner: AacJobRunner, options: SegmentedEncoderOptions, onChunk: (c: AacChunk) => void, onError: (e: Error) => void) {
    const { sampleRate, channels, bitrate } = options;
    this.description = audioSpecificConfig(sampleRate, channels);
    if (!Number.isInteger(bitrate) || bitrate < 8000 || bitrate > 512_000) throw new TypeError(`bitrate must be 8000..512000 bits/s, not ${bitrate}`);
    const segmentMs = options.segmentMs ?? DEFAULT_SEGMENT_MS;
    const maxBacklogMs = options.maxBacklogMs ?? DEFAULT_MAX_BACKLOG_MS;
    if (!(segmentMs > 0)) throw new TypeError(`segmentMs must be positive, not ${segmentMs}`);
    if (!(maxBacklogMs > segmentMs)) throw new TypeError(`maxBacklogMs (${maxBacklogMs}) must exceed segmentMs (${segmentMs})`);
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.#bitrate = bitrate;
    this.#runner = runner;
    this.#segmenter = new AacSegmenter({
      channels,
      segmentFrames: Math.max(1, Math.round((segmentMs * sampleRate) / 1000 / F)),
      prerollFrames: options.prerollFrames ?? DEFAULT_PREROLL_FRAMES,
      ...(options.lookaheadFrames !== undefined && { lookaheadFrames: options.lookaheadFrames }),
    });
    this.#maxBacklogSamples = Math.round((maxBacklogMs * sampleRate) / 1000);
    this.#onChunk = onChunk;
    this.#onError = onError;
  }

  /** Frames per job, as planned. */
  get segmentFrames(): number {
    return this.#segmenter.segmentFrames;
  }

  /** Audio taken but not yet delivered as chunks (buffered, queued, being encoded), in samples per channel. */
  get backlogSamples(): number {
    let n = this.#segmenter.pendingSamples + (this.#running ? this.#running.keepCount * F : 0);
    for (const { job } of this.#queue) n += job.keepCount * F;
    return n;
  }

  /**
   * Takes the samples of `data` (copied at once: the caller may close it as
   * soon as this returns). Its timestamp matters only for the first
   * AudioData of a timeline; after that the sample count is the clock.
   */
  encode(data: AudioDataLike): void {
    if (this.#state === "closed") throw new TypeError("encode() on a closed AAC encoder");
    if (data.format === null) throw new TypeError("encode() with a closed AudioData");
    if (this.#state === "failed") return;
    try {
      if (data.sampleRate !== this.sampleRate) {
        throw new AacEncoderError(AacErrorCode.UnsupportedInput, `AudioData at ${data.sampleRate} Hz given to an AAC encoder configured for ${this.sampleRate} Hz (no resampling: configure the encoder with the track's rate)`);
      }
      const planes = fitChannels(readPlanarF32(data), this.channels);
      if (planes[0]!.length === 0) return;
      this.#baseTimestampUs ??= data.timestamp;
      this.#segmenter.push(planes);
      for (let job = this.#segmenter.next(); job; job = this.#segmenter.next()) this.#enqueue(job);
      const backlog = this.backlogSamples;
      if (backlog > this.#maxBacklogSamples) {
        throw new AacEncoderError(AacErrorCode.Backlog, `${Math.round((backlog / this.sampleRate) * 1000)} ms of audio wait for the AAC encoder (limit ${Math.round((this.#maxBacklogSamples / this.sampleRate) * 1000)} ms): it does not keep up with real time`);
      }
      this.#pump();
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Encodes everything taken so far (the end padded with silence to a whole
   * frame) and resolves when its chunks have been delivered. The next
   * encode() starts a new timeline from its AudioData's timestamp.
   */
  async flush(): Promise<void> {
    if (this.#state === "closed") throw new TypeError("flush() on a closed AAC encoder");
    if (this.#state === "failed") throw this.#error ?? new Error("the AAC encoder failed");
    const job = this.#segmenter.finish();
    if (job) this.#enqueue(job);
    this.#baseTimestampUs = undefined;
    const idle = new Promise<void>((resolve, reject) => this.#idleWaiters.push({ resolve, reject }));
    this.#pump();
    return idle;
  }

  /** Stops at once: queued audio is dropped, ffmpeg.wasm's Worker is terminated. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#queue.length = 0;
    this.#runner.close();
    this.#settleWaiters(new TypeError("the AAC encoder was closed"));
  }

  #enqueue(job: SegmentJob): void {
    this.#queue.push({ job, baseTimestampUs: this.#baseTimestampUs ?? 0 });
  }

  /** Starts the next job unless one runs; settles flush() waiters when idle. */
  #pump(): void {
    if (this.#running || this.#state !== "open") return;
    const next = this.#queue.shift();
    if (!next) {
      this.#settleWaiters();
      return;
    }
    this.#running = next.job;
    this.#runner.run(next.job.pcm, { sampleRate: this.sampleRate, channels: this.channels, bitrate: this.#bitrate }).then(
      (adts) => {
        this.#running = undefined;
        if (this.#state !== "open") return;
        try {
          this.#emit(next, adts);
        } catch (err) {
          this.#fail(err);
          return;
        }
        this.#pump();
      },
      (err: unknown) => {
        this.#running = undefined;
        if (this.#state === "open") this.#fail(err);
      },
    );
  }

  /** Splits one job's output, checks it against the plan and delivers the kept frames. */
  #emit({ job, baseTimestampUs }: QueuedJob, adts: Uint8Array): void {
    const frames = splitAdts(adts);
    if (frames.length !== job.expectedPackets) {
      throw new AacEncoderError(AacErrorCode.BadEncoderOutput, `the encoder made ${frames.length} AAC frames of ${job.sampleCount} samples; the segment plan needs ${job.expectedPackets} (ceil(samples / 1024) + 1 priming)`);
    }
    const channelConfiguration = this.channels;
    for (let i = job.keepFrom; i < job.keepFrom + job.keepCount; i++) {
      const frame = frames[i]!;
      if (frame.objectType !== AAC_LC_OBJECT_TYPE || frame.sampleRate !== this.sampleRate || frame.channelConfiguration !== channelConfiguration) {
        throw new AacEncoderError(AacErrorCode.BadEncoderOutput, `the encoder made object type ${frame.objectType}, ${frame.sampleRate} Hz, channel configuration ${frame.channelConfiguration}; configured AAC-LC (2), ${this.sampleRate} Hz, ${channelConfiguration}`);
      }
      const k = job.firstFrame + (i - job.keepFrom);
      const timestampUs = baseTimestampUs + this.#offsetUs(k);
      const durationUs = this.#offsetUs(k + 1) - this.#offsetUs(k);
      this.#onChunk({ data: frame.payload.slice(), timestampUs, durationUs });
    }
  }

  /** Microseconds from a timeline's start to frame k, rounded: never accumulates error. */
  #offsetUs(k: number): number {
    return Math.round((k * F * 1e6) / this.sampleRate);
  }

  #fail(err: unknown): void {
    if (this.#state !== "open") return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.#state = "failed";
    this.#error = error;
    this.#queue.length = 0;
    this.#runner.close();
    this.#settleWaiters(error);
    this.#onError(error);
  }

  #settleWaiters(error?: Error): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }
}
