/**
 * The host side of the AAC-LC encoder in wasm/build/aac.wasm, for any
 * JavaScript environment (browser page, worker, AudioWorklet, Node): planar
 * float PCM in, raw AAC frames (no ADTS) out as soon as each is encoded.
 *
 * Timing: the MDCT overlaps blocks, so frame k (counting from 0) decodes to
 * the input samples that start at (k - 1) * 1024: frame 0 is the decoder's
 * priming frame. The encoder looks half a frame ahead (block switching):
 * `encode()` returns frame k once input up to sample (k + 1) * 1024 + 512
 * is in, so a sample leaves 1536 to 2560 samples (32-53 ms at 48 kHz)
 * after it came in.
 */
import { GoliveError } from "../../protocol/errors.js";

/** What to encode. */
export interface AacEncodeConfig {
  /** 48000 or 44100. */
  sampleRate: number;
  channels: 1 | 2;
  /** Bits per second: 8000 per channel up to 320000 per channel. */
  bitrate: number;
}

/** Error codes of the wasm AAC encoder. */
export const AacWasmErrorCode = {
  /** The configuration is outside what the encoder takes (rate, channels, bitrate). */
  Config: "AAC_WASM_CONFIG",
  /** The module could not be loaded or instantiated. */
  Load: "AAC_WASM_LOAD",
  /** The module trapped (a bug: the encoder is unusable from then on). */
  Trap: "AAC_WASM_TRAP",
  /** encode() or flush() after close(). */
  Closed: "AAC_WASM_CLOSED",
} as const;

export type AacWasmErrorCodeValue = (typeof AacWasmErrorCode)[keyof typeof AacWasmErrorCode];

export class AacWasmError extends GoliveError {
  declare readonly code: AacWasmErrorCodeValue;

  constructor(code: AacWasmErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Samples per channel per AAC frame. */
export const AAC_WASM_FRAME = 1024;
/** Samples per channel the module takes per call. */
const HALF = AAC_WASM_FRAME / 2;

interface Exports {
  memory: WebAssembly.Memory;
  init(rate: number, channels: number, bitrate: number): number;
  encodeHalf(): number;
  inputPtr(): number;
  outputPtr(): number;
  nonFiniteSamples(): number;
  clippedSamples(): number;
  reservoirBits(): number;
  lastWindowSequence(): number;
  lastMaxSfb(): number;
  lastRateOffset(): number;
  lastCoreBits(): number;
  testForceBook(cb: number): void;
}

const RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** The AudioSpecificConfig of AAC-LC (2 bytes). */
function ascOf(sampleRate: number, channels: number): Uint8Array {
  const sfi = RATES.indexOf(sampleRate);
  return new Uint8Array([(2 << 3) | (sfi >> 1), ((sfi & 1) << 7) | (channels << 3)]);
}

/** Checks a config; throws AacWasmError(AAC_WASM_CONFIG) with what is wrong. */
export function checkAacWasmConfig(config: AacEncodeConfig): void {
  const { sampleRate, channels, bitrate } = config;
  if (sampleRate !== 48000 && sampleRate !== 44100) throw new AacWasmError(AacWasmErrorCode.Config, `the wasm AAC encoder takes 48000 or 44100 Hz, not ${sampleRate}`);
  if (channels !== 1 && channels !== 2) throw new AacWasmError(AacWasmErrorCode.Config, `the wasm AAC encoder takes 1 or 2 channels, not ${String(channels)}`);
  const max = Math.min(320_000 * channels, Math.floor((6144 * channels * sampleRate) / 1024));
  if (!Number.isInteger(bitrate) || bitrate < 8000 * channels || bitrate > max)
    throw new AacWasmError(AacWasmErrorCode.Config, `bitrate must be an integer ${8000 * channels}..${max} bits/s for ${channels} channel(s), not ${bitrate}`);
}

/** An AAC-LC encoder instance (one wasm instance each). */
export class AacWasmEncoder {
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly bitrate: number;
  readonly codec = "mp4a.40.2";
  /** AudioSpecificConfig, 2 bytes. */
  readonly audioSpecificConfig: Uint8Array;
  /** Frame k decodes to the input from sample (k - 1) * 1024: one frame of priming. */
  readonly primingSamples = AAC_WASM_FRAME;
  readonly #x: Exports;
  readonly #pending: Float32Array[];
  #fill = 0;
  #framesOut = 0;
  #samplesIn = 0;
  #closed = false;

  constructor(module: WebAssembly.Module, config: AacEncodeConfig) {
    checkAacWasmConfig(config);
    this.sampleRate = config.sampleRate;
    this.channels = config.channels;
    this.bitrate = config.bitrate;
    this.audioSpecificConfig = ascOf(config.sampleRate, config.channels);
    let instance: WebAssembly.Instance;
    // AssemblyScript strings: UTF-16LE, their byte length in the 4 bytes before them.
    const text = (ptr: number): string => {
      if (!ptr) return "";
      const buffer = (instance.exports.memory as WebAssembly.Memory).buffer;
      const bytes = new Uint32Array(buffer, ptr - 4, 1)[0]!;
      return String.fromCharCode(...new Uint16Array(buffer, ptr, bytes >>> 1));
    };
    try {
      instance = new WebAssembly.Instance(module, {
        env: {
          abort(msg: number, file: number, line: number, column: number): never {
            throw new AacWasmError(AacWasmErrorCode.Trap, `the AAC encoder aborted: ${text(msg)} at ${text(file)}:${line}:${column}`);
          },
        },
      });
    } catch (err) {
      throw new AacWasmError(AacWasmErrorCode.Load, `could not instantiate the AAC encoder: ${(err as Error).message}`, { cause: err });
    }
    this.#x = instance.exports as unknown as Exports;
    const status = this.#x.init(config.sampleRate, config.channels, config.bitrate);
    if (status !== 0) throw new AacWasmError(AacWasmErrorCode.Config, `the AAC encoder refused ${JSON.stringify(config)} (status ${status})`);
    this.#pending = Array.from({ length: config.channels }, () => new Float32Array(HALF));
  }

  /** Frames returned so far. */
  get framesOut(): number {
    return this.#framesOut;
  }

  /** Input samples (per channel) taken so far. */
  get samplesIn(): number {
    return this.#samplesIn;
  }

  /** Samples replaced because they were NaN or infinite (they are coded as 0). */
  get nonFiniteSamples(): number {
    return this.#x.nonFiniteSamples();
  }

  /** Samples beyond [-1, 1], coded clipped. */
  get clippedSamples(): number {
    return this.#x.clippedSamples();
  }

  /** Window sequence of the last frame (0 long, 1 start, 2 eight short, 3 stop). */
  get lastWindowSequence(): number {
    return this.#x.lastWindowSequence();
  }

  /** The last frame's numbers: the rate loop's scalefactor offset, its audio bits (no fill), max_sfb. */
  get lastFrameStats(): { rateOffset: number; coreBits: number; maxSfb: number } {
    return { rateOffset: this.#x.lastRateOffset(), coreBits: this.#x.lastCoreBits(), maxSfb: this.#x.lastMaxSfb() };
  }

  /**
   * Tests only: code every band with Huffman book `cb` (1..11; 0: off), the
   * scalefactors coarsened so the values fit it. Proves each book's
   * codewords through a real decoder.
   */
  testForceBook(cb: number): void {
    this.#x.testForceBook(cb);
  }

  /** Bits in the bit reservoir. */
  get reservoirBits(): number {
    return this.#x.reservoirBits();
  }

  /**
   * PCM in, one plane per channel, any length (all planes the same length);
   * a mono encoder takes the mean of two planes, a stereo one repeats a
   * single plane. Returns the frames completed by this input, in order.
   */
  encode(planes: readonly Float32Array[]): Uint8Array[] {
    if (this.#closed) throw new AacWasmError(AacWasmErrorCode.Closed, "encode() after close()");
    if (planes.length === 0) throw new TypeError("encode() needs at least one plane");
    const length = planes[0]!.length;
    for (const p of planes) if (p.length !== length) throw new TypeError("encode(): planes of different lengths");
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < length) {
      const n = Math.min(HALF - this.#fill, length - at);
      this.#copyIn(planes, at, n);
      at += n;
      this.#fill += n;
      if (this.#fill === HALF) {
        const frame = this.#encodeHalf();
        if (frame) out.push(frame);
      }
    }
    this.#samplesIn += length;
    return out;
  }

  /**
   * Encodes what is buffered, padded with silence, and the frames the
   * lookahead held: after flush() every input sample is in a returned frame.
   */
  flush(): Uint8Array[] {
    if (this.#closed) throw new AacWasmError(AacWasmErrorCode.Closed, "flush() after close()");
    const out: Uint8Array[] = [];
    // Frames owed: one per 1024 input samples (rounded up), plus the priming frame.
    const owed = Math.ceil(this.#samplesIn / AAC_WASM_FRAME) + 1;
    while (this.#framesOut < owed) {
      for (const p of this.#pending) p.fill(0, this.#fill);
      this.#fill = HALF;
      const frame = this.#encodeHalf();
      if (frame) out.push(frame);
    }
    return out;
  }

  close(): void {
    this.#closed = true;
  }

  #copyIn(planes: readonly Float32Array[], at: number, n: number): void {
    if (this.channels === planes.length) {
      for (let c = 0; c < this.channels; c++) this.#pending[c]!.set(planes[c]!.subarray(at, at + n), this.#fill);
    } else if (this.channels === 1) {
      const dst = this.#pending[0]!;
      const k = 1 / planes.length;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (const p of planes) s += p[at + i]!;
        dst[this.#fill + i] = s * k;
      }
    } else {
      for (const dst of this.#pending) dst.set(planes[0]!.subarray(at, at + n), this.#fill);
    }
  }

  #encodeHalf(): Uint8Array | null {
    const x = this.#x;
    const input = new Float32Array(x.memory.buffer, x.inputPtr(), 2 * AAC_WASM_FRAME);
    for (let c = 0; c < this.channels; c++) input.set(this.#pending[c]!, c * AAC_WASM_FRAME);
    this.#fill = 0;
    let bytes: number;
    try {
      bytes = x.encodeHalf();
    } catch (err) {
      this.#closed = true;
      if (err instanceof AacWasmError) throw err;
      throw new AacWasmError(AacWasmErrorCode.Trap, `the AAC encoder trapped: ${(err as Error).message}`, { cause: err });
    }
    if (bytes === 0) return null;
    this.#framesOut++;
    return new Uint8Array(x.memory.buffer, x.outputPtr(), bytes).slice();
  }
}
