/**
 * The segment planner of the ffmpeg.wasm AAC path: which input samples go
 * into each ffmpeg job and which of the job's output frames to keep, so that
 * the kept frames of all jobs, concatenated, are the AAC stream one
 * uninterrupted encoder would have made of the whole input (same MDCT
 * windows, same lookahead), with no gap and no repeated audio at a join.
 * Pure: PCM in, job descriptions out; no I/O.
 *
 * Frame numbering. F = 1024. Output frame k is the AAC frame whose decoded
 * output (overlap-added with frame k-1) is input samples [kF, (k+1)F); its
 * timestamp is therefore the time of sample kF. Its MDCT looks at
 * [kF, (k+2)F) (ISO/IEC 14496-3 §4.6.11: 2048-sample windows, 50 % overlap)
 * and FFmpeg's psychoacoustic model also reads one frame ahead,
 * [(k+2)F, (k+3)F), to choose the window sequence (libavcodec/aacenc.c keeps
 * three frames of input: two for the MDCT, one of lookahead). So frame k is
 * final only once input reaches (k+3)F.
 *
 * FFmpeg's encoder delays by one frame (initial_padding 1024): a job whose
 * input starts at sample S (a multiple of F) outputs ceil(L/F) + 1 packets
 * for L samples, and packet m is frame k = S/F + m - 1. Packet 0 ("priming")
 * has a half-zero window; the last packets saw zeros past the job's end (in
 * the window or the lookahead).
 *
 * A job for frames [K0, K0 + n), with lookahead L = 1 (FFmpeg's):
 *
 *   input     [S, E) with S = max(0, K0 - P) * F and E = (K0 + n + 1 + L) * F
 *   keep      packets P' + 1 .. P' + n, with P' = K0 - S/F (P' = P once K0 >= P)
 *   drop      packet 0 (priming), P' preroll packets, the 1 + L packets past the end
 *
 * Consecutive jobs overlap by P + 1 + L frames: 1 for the MDCT half-window
 * that the previous job's last frame shares with this job's first, L for the
 * lookahead, which decides the window sequence (a frame before an attack is
 * LONG_START only if it saw the attack coming: without it, the two frames of
 * a join disagree and their aliasing does not cancel), and P of preroll so
 * that the encoder's state that carries from frame to frame (the input
 * low-pass filter, the psychoacoustic model's energies, the rate control's
 * lambda) has warmed up on the true signal before the first kept frame.
 * (aac-joins.test.ts measures each: without the lookahead the block before
 * an attack just after a join is ~9x noisier than in a continuous encode,
 * without the preroll ~10x.) The first job of a timeline has nothing before
 * sample 0; its frame 0 decodes, as any AAC stream's first frame, from a half
 * window (without its priming packet, which is dropped so that timestamps
 * are exact).
 *
 * finish() plans the last job: every frame up to ceil(N/F) for N samples,
 * the encoder zero-padding the end (the decoded stream is at most F - 1
 * samples longer than the input), and starts a new timeline.
 */
import { AAC_FRAME_SAMPLES as F } from "./aac-config.js";
import { interleaveF32le } from "./pcm.js";

/** Frames of an MDCT window (2048 samples). */
export const WINDOW_FRAMES = 2;
/** Frames FFmpeg's AAC encoder reads past a frame's MDCT window (libavcodec/aacenc.c: the psychoacoustic lookahead). */
export const FFMPEG_LOOKAHEAD_FRAMES = 1;

/** How jobs are cut. */
export interface SegmenterOptions {
  /** Channels of the PCM pushed (and encoded): 1 or 2. */
  readonly channels: number;
  /** Frames of new audio per job (a job is cut once they and their lookahead are in). */
  readonly segmentFrames: number;
  /** Frames encoded before a job's first kept frame beyond what the MDCT needs, for the encoder's state to warm up. */
  readonly prerollFrames: number;
  /** Frames the encoder reads past a frame's window; FFMPEG_LOOKAHEAD_FRAMES unless the encoder is not FFmpeg's. */
  readonly lookaheadFrames?: number;
}

/** One ffmpeg job: its input, and which of its output packets to keep. */
export interface SegmentJob {
  /** Index of the job's first input sample in the timeline: a multiple of 1024. */
  readonly startSample: number;
  /** Samples per channel of input. */
  readonly sampleCount: number;
  /** The input, interleaved little-endian float32 (`-f f32le`). */
  readonly pcm: Uint8Array;
  /** Packets the encoder must output for this input: ceil(sampleCount / 1024) + 1. */
  readonly expectedPackets: number;
  /** Index of the first packet to keep. */
  readonly keepFrom: number;
  /** Packets to keep from keepFrom on. */
  readonly keepCount: number;
  /** Timeline frame index of the first kept packet. */
  readonly firstFrame: number;
  /** The last job of its timeline (finish()). */
  readonly final: boolean;
}

/** Accumulates planar PCM and cuts it into overlapping ffmpeg jobs. */
export class AacSegmenter {
  readonly channels: number;
  readonly segmentFrames: number;
  readonly prerollFrames: number;
  readonly lookaheadFrames: number;
  /** Retained PCM, one buffer per channel; sample bufferStart is at index 0. */
  #planes: Float32Array[];
  #bufferStart = 0;
  #bufferLength = 0;
  /** Samples pushed in this timeline. */
  #total = 0;
  /** First frame not yet given to a job. */
  #nextFrame = 0;

  constructor(options: SegmenterOptions) {
    const { channels, segmentFrames, prerollFrames } = options;
    const lookaheadFrames = options.lookaheadFrames ?? FFMPEG_LOOKAHEAD_FRAMES;
    if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new TypeError(`channels must be 1..8, not ${channels}`);
    if (!Number.isInteger(segmentFrames) || segmentFrames < 1) throw new TypeError(`segmentFrames must be a positive integer, not ${segmentFrames}`);
    if (!Number.isInteger(prerollFrames) || prerollFrames < 0) throw new TypeError(`prerollFrames must be a non-negative integer, not ${prerollFrames}`);
    if (!Number.isInteger(lookaheadFrames) || lookaheadFrames < 0) throw new TypeError(`lookaheadFrames must be a non-negative integer, not ${lookaheadFrames}`);
    this.channels = channels;
    this.segmentFrames = segmentFrames;
    this.prerollFrames = prerollFrames;
    this.lookaheadFrames = lookaheadFrames;
    this.#planes = Array.from({ length: channels }, () => new Float32Array((segmentFrames + prerollFrames + WINDOW_FRAMES + lookaheadFrames + 1) * F));
  }

  /** Samples pushed in the current timeline. */
  get totalSamples(): number {
    return this.#total;
  }

  /** Samples pushed whose frames no job has been planned for yet. */
  get pendingSamples(): number {
    return this.#total - Math.min(this.#total, this.#nextFrame * F);
  }

  /** The next frame index a job will start at. */
  get nextFrame(): number {
    return this.#nextFrame;
  }

  /** Appends PCM: one array per channel, all the same length. */
  push(planes: readonly Float32Array[]): void {
    if (planes.length !== this.channels) throw new TypeError(`expected ${this.channels} channel planes, got ${planes.length}`);
    const n = planes[0]!.length;
    for (const p of planes) if (p.length !== n) throw new TypeError("channel planes differ in length");
    this.#reserve(n);
    for (let ch = 0; ch < this.channels; ch++) this.#planes[ch]!.set(planes[ch]!, this.#bufferLength);
    this.#bufferLength += n;
    this.#total += n;
  }

  /** The next full job, or null until enough input (new frames plus lookahead) has arrived. */
  next(): SegmentJob | null {
    const k0 = this.#nextFrame;
    // The last frame, k0 + n - 1, needs its window and lookahead: input through (k0 + n - 1 + 2 + lookahead) * F.
    const end = (k0 + this.segmentFrames + WINDOW_FRAMES + this.lookaheadFrames - 1) * F;
    if (this.#total < end) return null;
    return this.#cut(k0, this.segmentFrames, end, false);
  }

  /**
   * The last job of the timeline: every remaining frame, the encoder padding
   * the end with zeros; null if nothing remains. Then starts a new timeline
   * (sample 0 is the next sample pushed).
   */
  finish(): SegmentJob | null {
    const k0 = this.#nextFrame;
    const frames = Math.ceil(this.#total / F) - k0;
    const job = frames > 0 ? this.#cut(k0, frames, this.#total, true) : null;
    this.#bufferStart = 0;
    this.#bufferLength = 0;
    this.#total = 0;
    this.#nextFrame = 0;
    return job;
  }

  #cut(k0: number, frames: number, end: number, final: boolean): SegmentJob {
    const startFrame = Math.max(0, k0 - this.prerollFrames);
    const start = startFrame * F;
    const sampleCount = end - start;
    const pcm = interleaveF32le(this.#planes, start - this.#bufferStart, sampleCount);
    const job: SegmentJob = {
      startSample: start,
      sampleCount,
      pcm,
      expectedPackets: Math.ceil(sampleCount / F) + 1,
      keepFrom: k0 - startFrame + 1,
      keepCount: frames,
      firstFrame: k0,
      final,
    };
    this.#nextFrame = k0 + frames;
    this.#discardBefore(Math.max(0, this.#nextFrame - this.prerollFrames) * F);
    return job;
  }

  /** Drops retained samples before timeline sample `sample`. */
  #discardBefore(sample: number): void {
    const drop = Math.min(this.#bufferLength, sample - this.#bufferStart);
    if (drop <= 0) return;
    for (const p of this.#planes) p.copyWithin(0, drop, this.#bufferLength);
    this.#bufferStart += drop;
    this.#bufferLength -= drop;
  }

  /** Makes room for `n` more samples per channel. */
  #reserve(n: number): void {
    const need = this.#bufferLength + n;
    const capacity = this.#planes[0]!.length;
    if (need <= capacity) return;
    let size = capacity;
    while (size < need) size *= 2;
    this.#planes = this.#planes.map((p) => {
      const grown = new Float32Array(size);
      grown.set(p.subarray(0, this.#bufferLength));
      return grown;
    });
  }
}
