/**
 * Node-side analysis for the AAC join tests (aac-joins.test.ts with native
 * ffmpeg, aac-ffmpeg.test.ts with ffmpeg.wasm in Chromium): the test tone
 * and the block-by-block measurements that show a segment join as a gap, a
 * repeat or a click. The page's bundle uses only tone().
 *
 * Each 1024-sample block b of the decoded stream (samples [1024b, 1024(b+1)),
 * which frame b decodes to) is fitted, per channel, with a sinusoid at the
 * channel's known frequency (least squares on sin and cos). Against the
 * ideal tone (amplitude 0.5, phase 0 at sample 0):
 *   - phase: a lost or repeated 1024-sample frame moves the phase of every
 *     later block by 2*pi*440*1024/48000 = 139 deg (660 Hz: 208 deg);
 *   - amplitude: a gap (silence) drops it towards 0;
 *   - residual (decoded minus the fitted tone, RMS): a click, or aliasing
 *     that failed to cancel because two frames of a join saw different
 *     input, is broadband energy the fit cannot absorb.
 * Block 0 is not judged: the first frame of any AAC stream decodes from half
 * a window (nothing before it to overlap-add with).
 */
export const TONE_RATE = 48_000;
/** Per-channel frequencies: different, so a channel swap or mis-interleave shows. */
export const TONE_HZ = [440, 660] as const;
export const TONE_AMPLITUDE = 0.5;
const F = 1024;

/** Sample i of channel ch of the test tone. */
export function tone(ch: number, i: number): number {
  const hz = TONE_HZ[ch % TONE_HZ.length]!;
  return TONE_AMPLITUDE * Math.sin((2 * Math.PI * hz * i) / TONE_RATE);
}

/** Block measurements of a decoded tone. */
export interface ToneReport {
  /** Blocks judged: 1 .. floor(input / 1024) - 1. */
  blocks: number;
  /** Largest |phase - ideal| of any block and channel, degrees. */
  phaseMaxDeg: number;
  /** Smallest and largest fitted amplitude / ideal amplitude. */
  ampMin: number;
  ampMax: number;
  /** Residual RMS (all channels) of blocks that are not joins: median and max. */
  floorMedian: number;
  floorMax: number;
  /** Residual RMS of join blocks (whose frame overlap-adds with the previous job's last frame): count, median and max. */
  joins: number;
  joinMedian: number;
  joinMax: number;
  /** Decoded against the ideal tone over the judged blocks, dB. */
  snrDb: number;
}

/**
 * Measures `decoded` (interleaved, `channels` channels) against the tone for
 * the first `inputSamples` samples; `joinFrames` are the first frames of every
 * job but the first.
 */
export function analyseTone(decoded: Float32Array, channels: number, inputSamples: number, joinFrames: readonly number[]): ToneReport {
  const blocks = Math.floor(inputSamples / F);
  const joins = new Set(joinFrames);
  const floor: number[] = [];
  const join: number[] = [];
  let phaseMaxDeg = 0;
  let ampMin = Infinity;
  let ampMax = 0;
  let signal = 0;
  let noise = 0;
  for (let b = 1; b < blocks; b++) {
    let residual2 = 0;
    for (let ch = 0; ch < channels; ch++) {
      const w = (2 * Math.PI * TONE_HZ[ch % TONE_HZ.length]!) / TONE_RATE;
      // Normal equations of x ~ a sin(wi) + c cos(wi).
      let ss = 0, sc = 0, cc = 0, xs = 0, xc = 0;
      for (let i = b * F; i < (b + 1) * F; i++) {
        const s = Math.sin(w * i), c = Math.cos(w * i), x = decoded[i * channels + ch] ?? 0;
        ss += s * s; sc += s * c; cc += c * c; xs += x * s; xc += x * c;
      }
      const det = ss * cc - sc * sc;
      const a = (xs * cc - xc * sc) / det;
      const c = (xc * ss - xs * sc) / det;
      phaseMaxDeg = Math.max(phaseMaxDeg, Math.abs((Math.atan2(c, a) * 180) / Math.PI));
      const amp = Math.hypot(a, c) / TONE_AMPLITUDE;
      ampMin = Math.min(ampMin, amp);
      ampMax = Math.max(ampMax, amp);
      for (let i = b * F; i < (b + 1) * F; i++) {
        const x = decoded[i * channels + ch] ?? 0;
        const r = x - (a * Math.sin(w * i) + c * Math.cos(w * i));
        const e = x - tone(ch, i);
        residual2 += r * r;
        signal += x * x;
        noise += e * e;
      }
    }
    (joins.has(b) ? join : floor).push(Math.sqrt(residual2 / (F * channels)));
  }
  const median = (v: number[]): number => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] ?? 0;
  return {
    blocks: blocks - 1,
    phaseMaxDeg,
    ampMin,
    ampMax,
    floorMedian: median(floor),
    floorMax: Math.max(0, ...floor),
    joins: join.length,
    joinMedian: median(join),
    joinMax: Math.max(0, ...join),
    snrDb: 10 * Math.log10(signal / noise),
  };
}

/** One line for the test output. */
export function describeReport(r: ToneReport): string {
  const f = (v: number): string => v.toFixed(4);
  return `${r.joins} joins; SNR ${r.snrDb.toFixed(1)} dB; phase within ${r.phaseMaxDeg.toFixed(1)} deg; amplitude ${r.ampMin.toFixed(2)}..${r.ampMax.toFixed(2)}; residual RMS: non-join median ${f(r.floorMedian)} max ${f(r.floorMax)}, join median ${f(r.joinMedian)} max ${f(r.joinMax)}`;
}

/**
 * What a seamless stream must measure. Thresholds from the measurements
 * printed by aac-joins.test.ts and aac-ffmpeg.test.ts (FFmpeg 5.1's AAC
 * encoder at 128 kbit/s, native and ffmpeg.wasm giving the same numbers; the
 * default preroll of 8 frames):
 *   - phase within 45 deg: measured <= 14 deg, as an unsegmented encode of the
 *     same tone (the encoder's own wobble on two pure tones); one lost or
 *     repeated frame moves later blocks by 139 (440 Hz) / 208 (660 Hz) deg;
 *   - amplitude 0.5 .. 1.5: measured 0.78 .. 1.27, as unsegmented;
 *     a lost frame leaves a block near 0.2;
 *   - no join block worse than the worst other block (the encoder's own
 *     noise elsewhere; stereo: joins <= 0.045 against 0.059);
 *   - with 10 joins or more (fewer make a meaningless median), the median
 *     join block within 2x the median other block: measured 0.9 .. 1.3x;
 *     no overlap (naive segmenting) measures 18x, a preroll of 0 about 10x.
 */
export const SEAMLESS = { phaseMaxDeg: 45, ampMin: 0.5, ampMax: 1.5, joinMedianOverFloor: 2, minJoinsForMedian: 10 } as const;

/** The SEAMLESS checks `r` fails, as readable strings; empty if none. */
export function seamlessViolations(r: ToneReport): string[] {
  const out: string[] = [];
  if (!(r.phaseMaxDeg < SEAMLESS.phaseMaxDeg)) out.push(`phase off by ${r.phaseMaxDeg.toFixed(1)} deg`);
  if (!(r.ampMin > SEAMLESS.ampMin)) out.push(`amplitude down to ${r.ampMin.toFixed(2)}`);
  if (!(r.ampMax < SEAMLESS.ampMax)) out.push(`amplitude up to ${r.ampMax.toFixed(2)}`);
  if (!(r.joinMax <= r.floorMax)) out.push(`worst join ${r.joinMax.toFixed(4)} above the worst other block ${r.floorMax.toFixed(4)}`);
  if (r.joins >= SEAMLESS.minJoinsForMedian && !(r.joinMedian <= SEAMLESS.joinMedianOverFloor * r.floorMedian)) {
    out.push(`median join ${(r.joinMedian / r.floorMedian).toFixed(1)}x the median other block`);
  }
  return out;
}
