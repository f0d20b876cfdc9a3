/**
 * Stamps the audio blocks of a capture on the capture clock: pure (blocks and
 * arrival times in, stamped blocks out), so Node tests drive it with plain
 * arrays.
 *
 * A block's time is the time of its first sample: anchor + startFrame /
 * sampleRate, where startFrame is the AudioContext's sample index (the
 * audio thread's own count, exact whatever the main thread does) and the
 * anchor maps that count onto the capture clock. The anchor is the smallest
 * (arrival - end of block) over the first blocks, like the video clock
 * offset (clock.ts). Blocks wait until it is known.
 *
 * The timeline has no holes: a block that starts after the previous one
 * ended (the context was suspended, a device glitch) is preceded by silence
 * up to `maxGapFrames`; a longer hole starts a new timeline (`discontinuity`
 * set on the first block after it), for the encoder to flush and re-anchor
 * its sample count on that block's timestamp. And it keeps time with the
 * capture clock: DriftCorrector resamples away the difference between the
 * audio device's clock and the system's.
 */
import { ClockOffsetEstimator } from "./clock.js";

/** What the worklet posts. */
export interface RawAudioBlock {
  /** AudioContext sample index of the block's first frame. */
  startFrame: number;
  frames: number;
  /** One Float32Array of `frames` samples per channel. */
  planes: Float32Array[];
}

/** A block on the capture clock. */
export interface PcmBlock {
  planes: Float32Array[];
  sampleRate: number;
  /** Capture-clock time of the first sample, µs. */
  timestampUs: number;
  /** Set on the first block after a hole too long to fill with silence. */
  discontinuity: boolean;
}

export interface AudioTimelineOptions {
  sampleRate: number;
  channels: number;
  /** Blocks observed before the anchor is fixed (default 16). */
  anchorBlocks?: number;
  /** Longest hole filled with silence, frames (default: 2 s). */
  maxGapFrames?: number;
}

/** After a pause in the blocks' arrival (a main-thread stall), how long the drift estimate ignores them, µs: two of its windows. */
const STALL_HOLDOFF_US = 1_000_000;

export class AudioTimeline {
  readonly #sampleRate: number;
  readonly #channels: number;
  readonly #maxGapFrames: number;
  readonly #anchor: ClockOffsetEstimator;
  /** Capture-clock µs of context frame 0 (Infinity until the anchor is known). */
  #anchorUs = Number.POSITIVE_INFINITY;
  #held: Array<{ block: RawAudioBlock; arrivalUs: number }> = [];
  /** Input frame after the last block taken; undefined before the first. */
  #nextFrame: number | undefined;
  /** Frames of silence inserted so far. */
  #silenceFrames = 0;
  #lastArrivalUs = Number.NEGATIVE_INFINITY;
  /** No drift observations before this arrival time (after a pause in arrivals), µs. */
  #holdoffUntilUs = Number.NEGATIVE_INFINITY;
  readonly #drift: DriftCorrector;

  constructor(options: AudioTimelineOptions) {
    this.#sampleRate = options.sampleRate;
    this.#channels = options.channels;
    this.#anchor = new ClockOffsetEstimator(options.anchorBlocks ?? 16);
    this.#maxGapFrames = options.maxGapFrames ?? options.sampleRate * 2;
    if (!(this.#sampleRate > 0) || !Number.isInteger(this.#channels) || this.#channels < 1) throw new RangeError("AudioTimeline needs a positive sample rate and channel count");
    this.#drift = new DriftCorrector(this.#sampleRate, this.#channels);
  }

  /** Capture-clock µs of context frame 0, once known. */
  get anchorUs(): number | undefined {
    return this.#anchor.offsetUs;
  }

  /** Silence inserted into holes so far, frames. */
  get silenceFrames(): number {
    return this.#silenceFrames;
  }

  /** Output frames minus input frames so far: what drift correction added (or, negative, removed). */
  get correctionFrames(): number {
    return this.#drift.insertedFrames;
  }

  /** The current output/input rate ratio (1: the audio clock keeps time with the capture clock). */
  get ratio(): number {
    return this.#drift.ratio;
  }

  /** Takes one block that arrived at `arrivalUs`; returns the blocks now stamped, in order. */
  push(block: RawAudioBlock, arrivalUs: number): PcmBlock[] {
    if (block.frames <= 0) return [];
    if (this.#anchor.offsetUs === undefined) {
      const anchor = this.#anchor.observe(arrivalUs, this.#frameUs(block.startFrame + block.frames));
      this.#held.push({ block, arrivalUs });
      if (anchor === undefined) return [];
      this.#anchorUs = anchor;
      const held = this.#held;
      this.#held = [];
      const out: PcmBlock[] = [];
      for (const h of held) out.push(...this.#take(h.block, h.arrivalUs));
      return out;
    }
    return this.#take(block, arrivalUs);
  }

  #take(block: RawAudioBlock, arrivalUs: number): PcmBlock[] {
    const out: PcmBlock[] = [];
    const next = this.#nextFrame;
    if (next !== undefined && block.startFrame !== next) {
      const gap = block.startFrame - next;
      if (gap > 0 && gap <= this.#maxGapFrames) {
        this.#silenceFrames += gap;
        this.#emit(out, Array.from({ length: this.#channels }, () => new Float32Array(gap)), next, false);
      } else if (gap < 0) {
        // Overlap (cannot happen with one worklet): drop what was already taken.
        const skip = -gap;
        if (skip >= block.frames) return out;
        block = { startFrame: next, frames: block.frames - skip, planes: block.planes.map((p) => p.subarray(skip)) };
      } else {
        // A hole too long to fill: a new timeline from this block.
        this.#drift.restart(block.startFrame);
        this.#emit(out, block.planes, block.startFrame, true);
        this.#nextFrame = block.startFrame + block.frames;
        return out;
      }
    }
    // How late this block arrived against the anchor: the drift estimate's
    // input, from blocks in steady flow only. After a main-thread stall the
    // queued blocks arrive in a burst, all late: the first of it after a long
    // pause, the rest right behind it; neither tells how the clocks drift.
    // Where handling each message takes long (WebKit), the burst's blocks
    // come almost at their own pace, still late: nothing is observed until
    // STALL_HOLDOFF_US after a pause.
    const blockUs = this.#frameUs(block.frames);
    const sinceLast = arrivalUs - this.#lastArrivalUs;
    this.#lastArrivalUs = arrivalUs;
    if (Number.isFinite(sinceLast) && sinceLast > blockUs * 4) this.#holdoffUntilUs = arrivalUs + STALL_HOLDOFF_US;
    const steady = sinceLast >= blockUs * 0.25 && sinceLast <= blockUs * 4 && arrivalUs >= this.#holdoffUntilUs;
    this.#drift.observe(steady ? arrivalUs - this.#frameUs(block.startFrame + block.frames) - this.#anchorUs : Number.POSITIVE_INFINITY, block.frames);
    this.#emit(out, block.planes, block.startFrame, false);
    this.#nextFrame = block.startFrame + block.frames;
    return out;
  }

  #emit(out: PcmBlock[], planes: Float32Array[], startFrame: number, discontinuity: boolean): void {
    const result = this.#drift.process(planes, startFrame);
    if (result.frames === 0) return;
    out.push({ planes: result.planes, sampleRate: this.#sampleRate, timestampUs: Math.round(this.#anchorUs + this.#frameUs(result.outputFrame)), discontinuity });
  }

  #frameUs(frame: number): number {
    return (frame * 1e6) / this.#sampleRate;
  }
}

/**
 * Keeps an audio timeline on the capture clock when the audio clock (the
 * AudioContext's device) runs at another rate than the capture clock (the
 * system's): every device clock is off by some parts per million (a drift
 * of a few hundred ms an hour), and Firefox's mock audio device in headless
 * tests runs 2.4 % slow. Without correction the audio stamped by counting
 * samples slides away from the video stamped by the clock.
 *
 * The estimate: per window of `windowS` of input, the smallest lateness
 * (arrival - sample time, against the anchor) seen, i.e. how far the audio
 * clock has fallen behind (positive) or run ahead (negative); a main-thread
 * stall only makes blocks later, never earlier, so a window's minimum
 * rising faster than `maxRate` allows is capped there. The control: a PI
 * loop on the error between that lateness and the frames added so far, with
 * a dead band, sets the output/input ratio, and a streaming cubic
 * (Catmull-Rom) resampler applies it. At ratio 1 with an integer phase, the
 * output is the input sample for sample: a clock that keeps time is never
 * touched.
 */
export class DriftCorrector {
  readonly #rate: number;
  readonly #channels: number;
  readonly #windowFrames: number;
  /**
   * Largest drift corrected, as a fraction: 10 %. Real devices are off by
   * parts per million; Firefox's mock audio device in headless tests runs
   * 2-5 % slow, depending on load.
   */
  readonly #maxRate = 0.1;
  /** Errors smaller than this are left alone, µs. */
  readonly #deadbandUs = 3000;
  #windowLeft: number;
  #windowMinUs = Number.POSITIVE_INFINITY;
  #latenessUs = 0;
  /** The learnt drift (integral term), as a fraction. */
  #learnt = 0;
  #ratio = 1;
  /** Windows measured so far. */
  #windows = 0;
  /** Input history per channel, from input frame #histStart. */
  #hist: Float32Array[];
  #histLen = 0;
  /** Read position in the history, frames (fractional). */
  #pos = 0;
  /** Output frames produced so far minus input frames taken. */
  #inserted = 0;
  /** Index of the next output frame on the output timeline. */
  #outFrame: number | undefined;

  constructor(sampleRate: number, channels: number, windowS = 0.5) {
    this.#rate = sampleRate;
    this.#channels = channels;
    this.#windowFrames = Math.round(sampleRate * windowS);
    this.#windowLeft = this.#windowFrames;
    this.#hist = Array.from({ length: channels }, () => new Float32Array(4096));
  }

  get ratio(): number {
    return this.#ratio;
  }

  /** Output frames minus input frames so far (the history's lag of about two frames aside). */
  get insertedFrames(): number {
    return this.#inserted;
  }

  /** Adds one lateness observation (µs; Infinity: none) for `frames` of input. */
  observe(latenessUs: number, frames: number): void {
    this.#windowLeft -= frames;
    // Carried forward to the window's end at the drift learnt so far: the
    // minimum is then the lateness now, not at the earliest block of the window.
    const aheadUs = (Math.max(0, this.#windowLeft) * 1e6) / this.#rate;
    this.#windowMinUs = Math.min(this.#windowMinUs, latenessUs + this.#learnt * aheadUs);
    if (this.#windowLeft > 0) return;
    const windowUs = (this.#windowFrames * 1e6) / this.#rate;
    if (this.#windowMinUs === Number.POSITIVE_INFINITY) {
      // Nothing in steady flow this window: keep the ratio.
      this.#windowLeft += this.#windowFrames;
      return;
    }
    // A stall delays every block of a window: the minimum may rise no faster than drift can.
    this.#latenessUs = Math.min(this.#windowMinUs, this.#latenessUs + windowUs * this.#maxRate);
    this.#windowMinUs = Number.POSITIVE_INFINITY;
    this.#windowLeft += this.#windowFrames;
    const errorUs = this.#latenessUs - (this.#inserted * 1e6) / this.#rate;
    if (Math.abs(errorUs) < this.#deadbandUs && this.#learnt === 0) {
      this.#ratio = 1;
      this.#windows++;
      return;
    }
    const error = errorUs / windowUs; // as a fraction of a window
    this.#windows++;
    // The first correction learns the rate from all the time so far; then a PI loop.
    this.#learnt = clamp(this.#learnt === 0 ? this.#latenessUs / (this.#windows * windowUs) : this.#learnt + 0.3 * error, this.#maxRate);
    this.#ratio = 1 + clamp(this.#learnt + 0.7 * error, this.#maxRate);
  }

  /** Starts a new timeline at input frame `frame` (after a long hole): the history is dropped, the correction kept. */
  restart(frame: number): void {
    this.#histLen = 0;
    this.#pos = 0;
    this.#outFrame = frame + this.#inserted;
  }

  /**
   * Takes `planes` (input frames from `startFrame`) and returns the output
   * frames now final and the output-timeline index of the first of them.
   */
  process(planes: Float32Array[], startFrame: number): { planes: Float32Array[]; frames: number; outputFrame: number } {
    const n = planes[0]?.length ?? 0;
    this.#outFrame ??= startFrame;
    this.#append(planes, n);
    const outputFrame = this.#outFrame;
    const step = 1 / this.#ratio;
    // Output while the four taps around the read position are in hand.
    const count = Math.max(0, Math.ceil((this.#histLen - 2 - this.#pos) / step));
    const out = Array.from({ length: this.#channels }, () => new Float32Array(count));
    const exact = this.#ratio === 1 && Number.isInteger(this.#pos);
    for (let ch = 0; ch < this.#channels; ch++) {
      const h = this.#hist[ch]!;
      const o = out[ch]!;
      let pos = this.#pos;
      for (let k = 0; k < count; k++) {
        const i = Math.floor(pos);
        if (exact) {
          o[k] = h[i]!;
        } else {
          const t = pos - i;
          const y0 = h[i > 0 ? i - 1 : 0]!;
          const y1 = h[i]!;
          const y2 = h[i + 1]!;
          const y3 = h[i + 2]!;
          // Catmull-Rom: passes through y1 at t = 0 and y2 at t = 1.
          o[k] = y1 + 0.5 * t * (y2 - y0 + t * (2 * y0 - 5 * y1 + 4 * y2 - y3 + t * (3 * (y1 - y2) + y3 - y0)));
        }
        pos += step;
      }
    }
    const consumed = count * step;
    this.#pos += consumed;
    if (exact) this.#pos = Math.round(this.#pos);
    this.#inserted += count - consumed;
    this.#outFrame += count;
    // Keep one frame before the read position for the next taps.
    const drop = Math.max(0, Math.floor(this.#pos) - 1);
    if (drop > 0) {
      for (const h of this.#hist) h.copyWithin(0, drop, this.#histLen);
      this.#histLen -= drop;
      this.#pos -= drop;
    }
    return { planes: out, frames: count, outputFrame };
  }

  #append(planes: Float32Array[], n: number): void {
    if (this.#histLen + n > this.#hist[0]!.length) {
      const size = Math.max(this.#hist[0]!.length * 2, this.#histLen + n);
      this.#hist = this.#hist.map((h) => {
        const grown = new Float32Array(size);
        grown.set(h.subarray(0, this.#histLen));
        return grown;
      });
    }
    for (let ch = 0; ch < this.#channels; ch++) this.#hist[ch]!.set(planes[ch] ?? planes[0]!, this.#histLen);
    this.#histLen += n;
  }
}

function clamp(x: number, limit: number): number {
  return Math.max(-limit, Math.min(limit, x));
}

/**
 * A PcmBlock as WebCodecs AudioData ("f32-planar") where the browser has
 * the constructor and `asAudioData`, else as an object with the part of AudioData the AAC
 * encoders read (pcm.ts's AudioDataLike).
 */
export function pcmAudioData(block: PcmBlock, asAudioData = true): AudioData | AudioDataShape {
  const frames = block.planes[0]?.length ?? 0;
  const channels = block.planes.length;
  if (asAudioData && typeof AudioData !== "undefined") {
    const joined = new Float32Array(frames * channels);
    block.planes.forEach((p, ch) => joined.set(p, ch * frames));
    return new AudioData({ format: "f32-planar", sampleRate: block.sampleRate, numberOfChannels: channels, numberOfFrames: frames, timestamp: block.timestampUs, data: joined });
  }
  return {
    format: "f32-planar",
    sampleRate: block.sampleRate,
    numberOfChannels: channels,
    numberOfFrames: frames,
    timestamp: block.timestampUs,
    copyTo(destination: AllowSharedBufferSource, options: AudioDataCopyToOptions) {
      const plane = block.planes[options.planeIndex];
      if (!plane) throw new RangeError(`no plane ${options.planeIndex}`);
      const bytes = ArrayBuffer.isView(destination) ? new Uint8Array(destination.buffer, destination.byteOffset, destination.byteLength) : new Uint8Array(destination);
      bytes.set(new Uint8Array(plane.buffer, plane.byteOffset, plane.byteLength));
    },
    close() {},
  };
}

/** The part of AudioData a PcmBlock offers without WebCodecs. */
export interface AudioDataShape {
  readonly format: AudioSampleFormat;
  readonly sampleRate: number;
  readonly numberOfChannels: number;
  readonly numberOfFrames: number;
  readonly timestamp: number;
  copyTo(destination: AllowSharedBufferSource, options: AudioDataCopyToOptions): void;
  close(): void;
}
