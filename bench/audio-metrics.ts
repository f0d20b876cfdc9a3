/**
 * Objective audio quality measures for `npm run bench:aac` (bench/aac-quality.ts):
 * a decoded signal against the reference it was encoded from. All pure
 * functions over Float32Array planes (one per channel, samples in [-1, 1]);
 * no I/O. docs/benchmarks.md ("AAC quality") says why each measure and what
 * it leaves out.
 *
 * - estimateDelay / alignToReference: the encoder delay, by cross-correlation.
 * - noiseToMaskRatio: a simplified NMR after the FFT ear model of ITU-R
 *   BS.1387-1 (PEAQ, Basic version): 0.25-Bark bands scored from 80 Hz to
 *   18 kHz (lower ones still mask)
 *   (Bark = 7 asinh(f / 650 Hz)), level-dependent two-slope spreading, the
 *   masking offset of BS.1387, the threshold in quiet (Terhardt 1979) with a
 *   full-scale sine taken as 92 dB SPL, the noise as the difference of the
 *   magnitude spectra (BS.1387's error signal); reports PEAQ's Total NMR and relative
 *   disturbed frames. No outer/middle-ear filter, no temporal spreading, no
 *   non-linear (exponent 0.4) addition of maskers: see the doc.
 * - segmentalSnr: mean per-frame SNR over 20 ms frames, each clamped to
 *   [-10, 35] dB, silent frames skipped.
 * - audioBandwidth: the highest ~200 Hz group of the long-term spectrum
 *   within 60 dB of the loudest group.
 */

// ---------------------------------------------------------------------------
// FFT

/** An in-place radix-2 complex FFT of one power-of-two size, tables computed once. */
export class Fft {
  readonly size: number;
  readonly #reverse: Uint32Array;
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0) {
      throw new TypeError(`FFT size must be a power of two >= 2, not ${size}`);
    }
    this.size = size;
    const bits = Math.log2(size);
    this.#reverse = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.#reverse[i] = r;
    }
    this.#cos = new Float64Array(size / 2);
    this.#sin = new Float64Array(size / 2);
    for (let i = 0; i < size / 2; i++) {
      this.#cos[i] = Math.cos((2 * Math.PI * i) / size);
      this.#sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
  }

  /** X[k] = sum x[n] e^(-2 pi i k n / N), in place; `inverse` uses e^(+...) and divides by N. */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.size;
    if (re.length !== n || im.length !== n) throw new TypeError(`FFT of size ${n} given arrays of ${re.length} and ${im.length}`);
    const rev = this.#reverse;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        const tr = re[i]!; re[i] = re[j]!; re[j] = tr;
        const ti = im[i]!; im[i] = im[j]!; im[j] = ti;
      }
    }
    const sign = inverse ? -1 : 1;
    for (let len = 2; len <= n; len <<= 1) {
      const half = len >> 1;
      const step = n / len;
      for (let start = 0; start < n; start += len) {
        for (let k = 0; k < half; k++) {
          const wr = this.#cos[k * step]!;
          const wi = sign * this.#sin[k * step]!;
          const a = start + k;
          const b = a + half;
          const br = re[b]!;
          const bi = im[b]!;
          const tr = br * wr - bi * wi;
          const ti = br * wi + bi * wr;
          re[b] = re[a]! - tr; im[b] = im[a]! - ti;
          re[a] = re[a]! + tr; im[a] = im[a]! + ti;
        }
      }
    }
    if (inverse) {
      for (let i = 0; i < n; i++) { re[i] = re[i]! / n; im[i] = im[i]! / n; }
    }
  }
}

const fftCache = new Map<number, Fft>();
function fftOf(size: number): Fft {
  let fft = fftCache.get(size);
  if (fft === undefined) { fft = new Fft(size); fftCache.set(size, fft); }
  return fft;
}

/** The periodic Hann window of `size` samples (what spectral analysis wants). */
export function hann(size: number): Float64Array {
  const w = new Float64Array(size);
  for (let i = 0; i < size; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size);
  return w;
}

/**
 * The periodic 4-term Blackman-Harris window (sidelobes below -92 dB): for
 * the long-term spectrum, so that a loud tone's leakage cannot pass for
 * energy 60 dB further up.
 */
export function blackmanHarris(size: number): Float64Array {
  const w = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const x = (2 * Math.PI * i) / size;
    w[i] = 0.35875 - 0.48829 * Math.cos(x) + 0.14128 * Math.cos(2 * x) - 0.01168 * Math.cos(3 * x);
  }
  return w;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function checkPlanes(reference: readonly Float32Array[], test: readonly Float32Array[]): void {
  if (reference.length === 0) throw new TypeError("no channels");
  if (reference.length !== test.length) throw new TypeError(`reference has ${reference.length} channels, test ${test.length}`);
  const length = reference[0]!.length;
  for (const plane of [...reference, ...test]) {
    if (plane.length !== length) throw new TypeError(`planes differ in length (${plane.length} vs ${length}): align them first`);
  }
}

// ---------------------------------------------------------------------------
// Alignment

/** Where `test` best matches `reference`, and how well. */
export interface DelayEstimate {
  /** Samples by which `test` lags `reference`: test[n + lag] ~ reference[n]. */
  readonly lag: number;
  /** Normalized cross-correlation at `lag` (1: identical shape). */
  readonly correlation: number;
}

/** Sums the planes into one (for alignment: every channel shares the delay). */
export function monoSum(planes: readonly Float32Array[]): Float32Array {
  const length = Math.max(0, ...planes.map((p) => p.length));
  const out = new Float32Array(length);
  for (const plane of planes) for (let i = 0; i < plane.length; i++) out[i] = out[i]! + plane[i]!;
  return out;
}

/**
 * The lag in [minLag, maxLag] (default [-maxLag, maxLag]) that maximizes the
 * cross-correlation of `reference` and `test` (computed whole, through one
 * FFT of both).
 */
export function estimateDelay(reference: Float32Array, test: Float32Array, maxLag: number, minLag = -maxLag): DelayEstimate {
  if (!(minLag <= maxLag)) throw new TypeError(`lag range ${minLag}..${maxLag} is empty`);
  const size = nextPowerOfTwo(reference.length + test.length);
  const fft = fftOf(size);
  const ar = new Float64Array(size);
  const ai = new Float64Array(size);
  const br = new Float64Array(size);
  const bi = new Float64Array(size);
  ar.set(reference);
  br.set(test);
  fft.transform(ar, ai);
  fft.transform(br, bi);
  // c[d] = sum_n r[n] t[n + d]  <=>  C = conj(R) T
  for (let k = 0; k < size; k++) {
    const re = ar[k]! * br[k]! + ai[k]! * bi[k]!;
    const im = ar[k]! * bi[k]! - ai[k]! * br[k]!;
    ar[k] = re;
    ai[k] = im;
  }
  fft.transform(ar, ai, true);
  let bestLag = 0;
  let best = -Infinity;
  for (let lag = minLag; lag <= maxLag; lag++) {
    const v = ar[(lag + size) % size]!;
    if (v > best) { best = v; bestLag = lag; }
  }
  let er = 0;
  let et = 0;
  for (let n = 0; n < reference.length; n++) {
    const r = reference[n]!;
    const t = test[n + bestLag] ?? 0;
    er += r * r;
    et += t * t;
  }
  const norm = Math.sqrt(er * et);
  return { lag: bestLag, correlation: norm > 0 ? best / norm : 0 };
}

/** `test` moved `lag` samples earlier and cut (or zero-padded) to `length`. */
export function alignToReference(test: readonly Float32Array[], lag: number, length: number): Float32Array[] {
  return test.map((plane) => {
    const out = new Float32Array(length);
    for (let n = 0; n < length; n++) out[n] = plane[n + lag] ?? 0;
    return out;
  });
}

// ---------------------------------------------------------------------------
// Noise-to-mask ratio

/** Options of noiseToMaskRatio; the defaults are BS.1387's where it has one. */
export interface NmrOptions {
  /** Analysis frame, samples (Hann window, 50% overlap). Default: the power of two nearest 43 ms (2048 at 48 and 44.1 kHz). */
  readonly frameSize?: number;
  /** Band width in Bark. Default 0.25 (PEAQ's FFT model). */
  readonly barkResolution?: number;
  /** Lowest and highest scored frequency, Hz. Default 80 and 18000 (PEAQ), the latter capped at Nyquist. Lower bins still mask. */
  readonly lowHz?: number;
  readonly highHz?: number;
  /** Sound pressure level of a full-scale sine, dB SPL. Default 92 (PEAQ's listening level). */
  readonly fullScaleSpl?: number;
  /** A frame counts as disturbed when its worst band's NMR exceeds this, dB. Default 1.5 (PEAQ's RelDistFramesB). */
  readonly disturbedDb?: number;
  /**
   * How the noise spectrum is formed, per FFT bin: "magnitude" (the default,
   * PEAQ's error signal) is (|R| - |T|)^2, blind to phase; "waveform" is
   * |T - R|^2, the spectrum of test - reference.
   */
  readonly noise?: "magnitude" | "waveform";
}

/** What noiseToMaskRatio measured. */
export interface NmrResult {
  /** 10 log10 of the noise-to-mask ratio averaged (linearly) over bands, frames and channels: PEAQ's Total NMR. -Infinity when test equals reference. */
  readonly totalDb: number;
  /** Fraction (0..1) of frames (per channel) whose worst band is above `disturbedDb`. */
  readonly disturbedFraction: number;
  /** The NMR (dB) of the worst frame: its band-averaged ratio. */
  readonly worstFrameDb: number;
  /** Frames analysed, summed over channels. */
  readonly frames: number;
  /** Bands per frame that are scored (lowHz..highHz). */
  readonly bands: number;
}

/** Bark (Schroeder's approximation, used by BS.1387): 7 asinh(f / 650). */
export function hzToBark(hz: number): number {
  return 7 * Math.asinh(hz / 650);
}

/** The inverse of hzToBark. */
export function barkToHz(bark: number): number {
  return 650 * Math.sinh(bark / 7);
}

/** Threshold in quiet, dB SPL (Terhardt 1979, as used by MPEG psychoacoustic models). */
export function thresholdInQuietDb(hz: number): number {
  const k = Math.max(hz, 20) / 1000;
  return 3.64 * k ** -0.8 - 6.5 * Math.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * k ** 4;
}

/** One frame size's band layout: which FFT bins (with what weight) make each band, and the per-band constants. */
interface BandLayout {
  readonly frameSize: number;
  /** Per band: first bin and the weights of bins first..first+weights.length-1. */
  readonly first: Int32Array;
  readonly weights: Float64Array[];
  /** Band centre, Hz and Bark. */
  readonly centreHz: Float64Array;
  /** Linear masking offset 10^(-m/10) of BS.1387: m = 3 dB up to 12 Bark, 0.25 dB per Bark above. */
  readonly offset: Float64Array;
  /** Threshold in quiet at the band centre, in the mean-square units of the band energies. */
  readonly quiet: Float64Array;
  /** Spread of a flat 0 dB SPL excitation: what the spreading is normalized by (BS.1387). */
  readonly norm: Float64Array;
  readonly resolution: number;
  readonly lowerSlope: number;
  /** Bands below this index (under lowHz) only mask; the NMR is averaged over the rest. */
  readonly scoredFrom: number;
}

/** Lower spreading slope (towards lower frequencies), dB/Bark (BS.1387). */
const LOWER_SLOPE_DB = 27;

/** Upper slope (towards higher frequencies), dB/Bark, of a masker at `hz` and `levelDb` SPL: 24 + 230/f - 0.2 L (BS.1387), never below 4. */
function upperSlopeDb(hz: number, levelDb: number): number {
  return Math.max(4, 24 + 230 / hz - 0.2 * Math.max(levelDb, 0));
}

function bandLayout(sampleRate: number, frameSize: number, options: NmrOptions): BandLayout {
  const resolution = options.barkResolution ?? 0.25;
  const lowHz = options.lowHz ?? 80;
  const highHz = Math.min(options.highHz ?? 18000, sampleRate / 2);
  const fullScaleSpl = options.fullScaleSpl ?? 92;
  if (!(highHz > lowHz)) throw new TypeError(`band range ${lowHz}..${highHz} Hz is empty`);
  const zLow = hzToBark(lowHz);
  const zHigh = hzToBark(highHz);
  const binHz = sampleRate / frameSize;
  // Band edges in Bark: the scored bands from zLow up, and below them masker-only
  // bands down to the first bin (a 40 Hz tone still masks noise at 80 Hz).
  const zFloor = hzToBark(binHz / 2);
  const below = Math.max(0, Math.ceil((zLow - zFloor) / resolution - 1e-9));
  const edges: number[] = [];
  for (let i = below; i > 0; i--) edges.push(Math.max(zFloor, zLow - i * resolution));
  for (let i = 0; ; i++) {
    const z = zLow + i * resolution;
    if (z >= zHigh - 1e-9) break;
    edges.push(z);
  }
  edges.push(zHigh);
  const count = edges.length - 1;
  const first = new Int32Array(count);
  const weights: Float64Array[] = [];
  const centreHz = new Float64Array(count);
  const offset = new Float64Array(count);
  const quiet = new Float64Array(count);
  for (let b = 0; b < count; b++) {
    const fLo = barkToHz(edges[b]!);
    const fHi = barkToHz(edges[b + 1]!);
    // Bin k covers [(k - 1/2), (k + 1/2)) * binHz; a band takes the overlapping fraction of each.
    const k0 = Math.max(1, Math.floor(fLo / binHz + 0.5));
    const k1 = Math.min(frameSize / 2 - 1, Math.floor(fHi / binHz + 0.5));
    const w: number[] = [];
    for (let k = k0; k <= k1; k++) {
      const overlap = Math.min(fHi, (k + 0.5) * binHz) - Math.max(fLo, (k - 0.5) * binHz);
      w.push(Math.max(0, overlap) / binHz);
    }
    first[b] = k0;
    weights.push(Float64Array.from(w));
    const zc = (edges[b]! + edges[b + 1]!) / 2;
    centreHz[b] = barkToHz(zc);
    const m = zc <= 12 ? 3 : 0.25 * zc;
    offset[b] = 10 ** (-m / 10);
    quiet[b] = 0.5 * 10 ** ((thresholdInQuietDb(centreHz[b]!) - fullScaleSpl) / 10);
  }
  const layout = {
    frameSize, first, weights, centreHz, offset, quiet, norm: new Float64Array(count), resolution, lowerSlope: LOWER_SLOPE_DB, scoredFrom: below,
  };
  // Normalization: the spreading of a flat excitation at 0 dB SPL, so that a flat quiet spectrum spreads onto itself.
  const flat = new Float64Array(count).fill(1);
  const flatLevels = new Float64Array(count).fill(0);
  spread(layout, flat, flatLevels, layout.norm);
  return layout;
}

/**
 * out[k] = sum_j energy[j] * s(j, k): s is 1 at k = j and falls by
 * LOWER_SLOPE_DB per Bark below j and by upperSlopeDb(f_j, L_j) per Bark above.
 */
function spread(layout: BandLayout, energy: Float64Array, levelsDb: Float64Array, out: Float64Array): void {
  const count = energy.length;
  out.fill(0);
  const down = 10 ** ((-layout.lowerSlope * layout.resolution) / 10);
  for (let j = 0; j < count; j++) {
    const e = energy[j]!;
    if (e === 0) continue;
    const up = 10 ** ((-upperSlopeDb(layout.centreHz[j]!, levelsDb[j]!) * layout.resolution) / 10);
    let w = 1;
    for (let k = j; k < count && w > 1e-12; k++) { out[k] = out[k]! + e * w; w *= up; }
    w = down;
    for (let k = j - 1; k >= 0 && w > 1e-12; k--) { out[k] = out[k]! + e * w; w *= down; }
  }
}

/**
 * Band energies of one frame's power spectrum, in mean-square units (a
 * full-scale sine gives 0.5 in its band): `scale` is 2 / (N sum w^2).
 */
function bandEnergies(layout: BandLayout, power: Float64Array, scale: number, out: Float64Array): void {
  for (let b = 0; b < out.length; b++) {
    const w = layout.weights[b]!;
    const k0 = layout.first[b]!;
    let sum = 0;
    for (let i = 0; i < w.length; i++) sum += w[i]! * power[k0 + i]!;
    out[b] = sum * scale;
  }
}

/** The power of two nearest 43 ms at `sampleRate` (2048 at 48 kHz, as in PEAQ). */
export function defaultFrameSize(sampleRate: number): number {
  return 2 ** Math.round(Math.log2(0.0427 * sampleRate));
}

/**
 * Noise-to-mask ratio of `test` against `reference` (same channels, same
 * length, already aligned). Per 50%-overlapped Hann frame and channel: the
 * reference's band energies give the masking threshold (spread across
 * bands, lowered by the masking offset, never below the threshold in quiet);
 * the noise is the difference of the magnitude spectra (or, with
 * `noise: "waveform"`, the spectrum of test - reference) in the same bands;
 * the frame's NMR is the noise/mask ratio averaged over bands.
 */
export function noiseToMaskRatio(
  reference: readonly Float32Array[],
  test: readonly Float32Array[],
  sampleRate: number,
  options: NmrOptions = {},
): NmrResult {
  checkPlanes(reference, test);
  const frameSize = options.frameSize ?? defaultFrameSize(sampleRate);
  const fullScaleSpl = options.fullScaleSpl ?? 92;
  const disturbedDb = options.disturbedDb ?? 1.5;
  const waveformNoise = (options.noise ?? "magnitude") === "waveform";
  const layout = bandLayout(sampleRate, frameSize, options);
  const count = layout.first.length;
  const fft = fftOf(frameSize);
  const window = hann(frameSize);
  let windowPower = 0;
  for (const w of window) windowPower += w * w;
  const scale = 2 / (frameSize * windowPower);
  const hop = frameSize / 2;
  const length = reference[0]!.length;

  const rr = new Float64Array(frameSize);
  const ri = new Float64Array(frameSize);
  const tr = new Float64Array(frameSize);
  const ti = new Float64Array(frameSize);
  const refPower = new Float64Array(frameSize / 2);
  const noisePower = new Float64Array(frameSize / 2);
  const signal = new Float64Array(count);
  const levels = new Float64Array(count);
  const noise = new Float64Array(count);
  const spreadOut = new Float64Array(count);

  let frames = 0;
  let disturbed = 0;
  let ratioSum = 0;
  let worst = -Infinity;
  for (let c = 0; c < reference.length; c++) {
    const ref = reference[c]!;
    const tst = test[c]!;
    for (let start = 0; start + frameSize <= length; start += hop) {
      for (let n = 0; n < frameSize; n++) {
        rr[n] = window[n]! * ref[start + n]!;
        tr[n] = window[n]! * tst[start + n]!;
      }
      ri.fill(0);
      ti.fill(0);
      fft.transform(rr, ri);
      fft.transform(tr, ti);
      for (let k = 0; k < frameSize / 2; k++) {
        const r2 = rr[k]! * rr[k]! + ri[k]! * ri[k]!;
        refPower[k] = r2;
        if (waveformNoise) {
          const dr = tr[k]! - rr[k]!;
          const di = ti[k]! - ri[k]!;
          noisePower[k] = dr * dr + di * di;
        } else {
          const d = Math.sqrt(r2) - Math.sqrt(tr[k]! * tr[k]! + ti[k]! * ti[k]!);
          noisePower[k] = d * d;
        }
      }
      bandEnergies(layout, refPower, scale, signal);
      bandEnergies(layout, noisePower, scale, noise);
      for (let b = 0; b < count; b++) levels[b] = signal[b]! > 0 ? 10 * Math.log10(signal[b]! / 0.5) + fullScaleSpl : -Infinity;
      spread(layout, signal, levels, spreadOut);
      let frameSum = 0;
      let frameMax = 0;
      for (let b = layout.scoredFrom; b < count; b++) {
        const mask = Math.max((spreadOut[b]! / layout.norm[b]!) * layout.offset[b]!, layout.quiet[b]!);
        const ratio = noise[b]! / mask;
        frameSum += ratio;
        if (ratio > frameMax) frameMax = ratio;
      }
      const frameRatio = frameSum / (count - layout.scoredFrom);
      ratioSum += frameRatio;
      worst = Math.max(worst, frameRatio > 0 ? 10 * Math.log10(frameRatio) : -Infinity);
      if (frameMax > 0 && 10 * Math.log10(frameMax) > disturbedDb) disturbed++;
      frames++;
    }
  }
  if (frames === 0) throw new TypeError(`signal of ${length} samples is shorter than one ${frameSize}-sample frame`);
  const mean = ratioSum / frames;
  return {
    totalDb: mean > 0 ? 10 * Math.log10(mean) : -Infinity,
    disturbedFraction: disturbed / frames,
    worstFrameDb: worst,
    frames,
    bands: count - layout.scoredFrom,
  };
}

// ---------------------------------------------------------------------------
// Segmental SNR

/** Options of segmentalSnr. */
export interface SegmentalSnrOptions {
  /** Frame length, seconds (non-overlapping). Default 0.02. */
  readonly frameSeconds?: number;
  /** Per-frame clamp, dB. Default [-10, 35]. */
  readonly minDb?: number;
  readonly maxDb?: number;
  /** Frames whose reference RMS (all channels) is below this, dBFS (RMS relative to 1.0), are skipped. Default -60. */
  readonly silenceDb?: number;
}

/** What segmentalSnr measured. */
export interface SegmentalSnrResult {
  /** Mean of the clamped per-frame SNRs, dB; NaN if every frame was silent. */
  readonly meanDb: number;
  /** Frames averaged. */
  readonly frames: number;
  /** Silent frames left out. */
  readonly skipped: number;
}

/**
 * Segmental SNR: per frame (all channels together) 10 log10(sum ref^2 /
 * sum (test - ref)^2), clamped, averaged over the frames that are not silent.
 * A partial last frame is left out.
 */
export function segmentalSnr(
  reference: readonly Float32Array[],
  test: readonly Float32Array[],
  sampleRate: number,
  options: SegmentalSnrOptions = {},
): SegmentalSnrResult {
  checkPlanes(reference, test);
  const frameLength = Math.round((options.frameSeconds ?? 0.02) * sampleRate);
  const minDb = options.minDb ?? -10;
  const maxDb = options.maxDb ?? 35;
  const silence = 10 ** ((options.silenceDb ?? -60) / 10);
  const length = reference[0]!.length;
  let sum = 0;
  let frames = 0;
  let skipped = 0;
  for (let start = 0; start + frameLength <= length; start += frameLength) {
    let signal = 0;
    let noise = 0;
    for (let c = 0; c < reference.length; c++) {
      const ref = reference[c]!;
      const tst = test[c]!;
      for (let n = start; n < start + frameLength; n++) {
        const r = ref[n]!;
        const d = tst[n]! - r;
        signal += r * r;
        noise += d * d;
      }
    }
    if (signal / (frameLength * reference.length) < silence) { skipped++; continue; }
    const snr = noise === 0 ? maxDb : 10 * Math.log10(signal / noise);
    sum += Math.min(maxDb, Math.max(minDb, snr));
    frames++;
  }
  return { meanDb: frames === 0 ? NaN : sum / frames, frames, skipped };
}

// ---------------------------------------------------------------------------
// Bandwidth

/** Options of audioBandwidth. */
export interface BandwidthOptions {
  /** FFT size of the long-term spectrum (Blackman-Harris, 50% overlap). Default 4096. */
  readonly fftSize?: number;
  /** Width of the bin groups compared, Hz (rounded to whole bins). Default 200. */
  readonly groupHz?: number;
  /** A group has energy if it is within this many dB of the loudest group. Default 60. */
  readonly rangeDb?: number;
}

/** What audioBandwidth measured. */
export interface BandwidthResult {
  /** Upper edge of the highest group within rangeDb of the loudest, Hz; 0 for silence. */
  readonly hz: number;
  /** The actual group width, Hz. */
  readonly groupHz: number;
}

/**
 * Audio bandwidth: the long-term power spectrum (Welch: Blackman-Harris
 * frames, 50% overlap, averaged over frames and summed over channels) in groups of
 * about `groupHz`; the answer is the upper edge of the highest group whose
 * energy is within `rangeDb` of the loudest group.
 */
export function audioBandwidth(planes: readonly Float32Array[], sampleRate: number, options: BandwidthOptions = {}): BandwidthResult {
  const size = options.fftSize ?? 4096;
  const binHz = sampleRate / size;
  const groupBins = Math.max(1, Math.round((options.groupHz ?? 200) / binHz));
  const rangeDb = options.rangeDb ?? 60;
  const fft = fftOf(size);
  const window = blackmanHarris(size);
  const power = new Float64Array(size / 2);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (const plane of planes) {
    for (let start = 0; start + size <= plane.length; start += size / 2) {
      for (let n = 0; n < size; n++) re[n] = window[n]! * plane[start + n]!;
      im.fill(0);
      fft.transform(re, im);
      for (let k = 0; k < size / 2; k++) power[k] = power[k]! + re[k]! * re[k]! + im[k]! * im[k]!;
    }
  }
  // Groups start at bin 1 (DC left out).
  const groups: number[] = [];
  for (let k = 1; k < size / 2; k += groupBins) {
    let sum = 0;
    for (let i = k; i < Math.min(k + groupBins, size / 2); i++) sum += power[i]!;
    groups.push(sum);
  }
  const peak = Math.max(0, ...groups);
  const groupHz = groupBins * binHz;
  if (peak === 0) return { hz: 0, groupHz };
  const floor = peak * 10 ** (-rangeDb / 10);
  let top = 0;
  for (let g = 0; g < groups.length; g++) if (groups[g]! >= floor) top = g;
  return { hz: Math.min(sampleRate / 2, (1 + (top + 1) * groupBins - 0.5) * binHz), groupHz };
}
