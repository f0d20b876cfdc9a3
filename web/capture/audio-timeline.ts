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
 * its sample count on that block's timestamp.
 */

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
  /** Blocks held while the anchor is measured, at most (default 256). */
  maxHeldBlocks?: number;
}

export class AudioTimeline {
  readonly #sampleRate: number;
  readonly #channels: number;
  readonly #anchorBlocks: number;
  readonly #maxGapFrames: number;
  readonly #maxHeld: number;
  #seen = 0;
  #anchorUs = Number.POSITIVE_INFINITY;
  #held: RawAudioBlock[] = [];
  /** Frame after the last block out; undefined before the first. */
  #nextFrame: number | undefined;
  /** Frames of silence inserted so far. */
  #silenceFrames = 0;

  constructor(options: AudioTimelineOptions) {
    this.#sampleRate = options.sampleRate;
    this.#channels = options.channels;
    this.#anchorBlocks = options.anchorBlocks ?? 16;
    this.#maxGapFrames = options.maxGapFrames ?? options.sampleRate * 2;
    this.#maxHeld = options.maxHeldBlocks ?? 256;
    if (!(this.#sampleRate > 0) || !Number.isInteger(this.#channels) || this.#channels < 1) throw new RangeError("AudioTimeline needs a positive sample rate and channel count");
  }

  /** Capture-clock µs of context frame 0, once known. */
  get anchorUs(): number | undefined {
    return this.#seen >= this.#anchorBlocks ? this.#anchorUs : undefined;
  }

  /** Silence inserted into holes so far, frames. */
  get silenceFrames(): number {
    return this.#silenceFrames;
  }

  /** Takes one block that arrived at `arrivalUs`; returns the blocks now stamped, in order. */
  push(block: RawAudioBlock, arrivalUs: number): PcmBlock[] {
    if (block.frames <= 0) return [];
    if (this.#seen < this.#anchorBlocks) {
      this.#seen++;
      this.#anchorUs = Math.min(this.#anchorUs, arrivalUs - this.#frameUs(block.startFrame + block.frames));
      if (this.#seen < this.#anchorBlocks) {
        this.#held.push(block);
        if (this.#held.length > this.#maxHeld) this.#held.shift();
        return [];
      }
      const held = this.#held;
      this.#held = [];
      const out: PcmBlock[] = [];
      for (const b of [...held, block]) out.push(...this.#stamp(b));
      return out;
    }
    return this.#stamp(block);
  }

  #stamp(block: RawAudioBlock): PcmBlock[] {
    const out: PcmBlock[] = [];
    let discontinuity = false;
    const next = this.#nextFrame;
    if (next !== undefined && block.startFrame !== next) {
      const gap = block.startFrame - next;
      if (gap > 0 && gap <= this.#maxGapFrames) {
        this.#silenceFrames += gap;
        out.push({ planes: Array.from({ length: this.#channels }, () => new Float32Array(gap)), sampleRate: this.#sampleRate, timestampUs: this.#timeUs(next), discontinuity: false });
      } else if (gap < 0) {
        // Overlap (cannot happen with one worklet): drop what was already sent.
        const skip = -gap;
        if (skip >= block.frames) return [];
        block = { startFrame: next, frames: block.frames - skip, planes: block.planes.map((p) => p.subarray(skip)) };
      } else {
        discontinuity = true;
      }
    }
    out.push({ planes: block.planes, sampleRate: this.#sampleRate, timestampUs: this.#timeUs(block.startFrame), discontinuity });
    this.#nextFrame = block.startFrame + block.frames;
    return out;
  }

  #frameUs(frame: number): number {
    return (frame * 1e6) / this.#sampleRate;
  }

  #timeUs(frame: number): number {
    return Math.round(this.#anchorUs + this.#frameUs(frame));
  }
}

/**
 * A PcmBlock as WebCodecs AudioData ("f32-planar") where the browser has
 * the constructor, else as an object with the part of AudioData the AAC
 * encoders read (pcm.ts's AudioDataLike).
 */
export function pcmAudioData(block: PcmBlock): AudioData | AudioDataShape {
  const frames = block.planes[0]?.length ?? 0;
  const channels = block.planes.length;
  if (typeof AudioData !== "undefined") {
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
