import { describe, expect, it } from "vitest";
import { seededRandom } from "../../bench/signals.js";
import {
  Fft, alignToReference, audioBandwidth, estimateDelay, noiseToMaskRatio, segmentalSnr, thresholdInQuietDb,
} from "../../bench/audio-metrics.js";

const RATE = 48000;

/** Gaussian white noise of the given RMS (Box-Muller). */
function noise(length: number, rms: number, seed: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = rms * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

function sine(length: number, hz: number, amplitude: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / RATE);
  return out;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]!);
}

/** Brick-wall band-pass through one FFT of the whole signal (length a power of two). */
function bandPass(signal: Float32Array, loHz: number, hiHz: number): Float32Array {
  const n = signal.length;
  const fft = new Fft(n);
  const re = Float64Array.from(signal);
  const im = new Float64Array(n);
  fft.transform(re, im);
  for (let k = 0; k < n; k++) {
    const hz = (Math.min(k, n - k) * RATE) / n;
    if (hz < loHz || hz > hiHz) { re[k] = 0; im[k] = 0; }
  }
  fft.transform(re, im, true);
  return Float32Array.from(re);
}

const SECOND = RATE;

describe("Fft", () => {
  it("round-trips and puts a cosine in its bin", () => {
    const fft = new Fft(64);
    const re = Float64Array.from({ length: 64 }, (_, n) => Math.cos((2 * Math.PI * 5 * n) / 64));
    const im = new Float64Array(64);
    const original = re.slice();
    fft.transform(re, im);
    expect(re[5]).toBeCloseTo(32, 9);
    expect(re[59]).toBeCloseTo(32, 9);
    expect(Math.abs(re[4]!) + Math.abs(im[6]!)).toBeLessThan(1e-9);
    fft.transform(re, im, true);
    for (let i = 0; i < 64; i++) expect(re[i]).toBeCloseTo(original[i]!, 12);
  });

  it("refuses a size that is not a power of two", () => {
    expect(() => new Fft(48)).toThrow(TypeError);
  });
});

describe("estimateDelay", () => {
  it("finds the lag of a delayed, noisy copy", () => {
    const ref = add(noise(SECOND, 0.1, 1), sine(SECOND, 440, 0.3));
    const delayed = new Float32Array(SECOND + 3000);
    delayed.set(ref, 1234);
    const test = add(delayed, noise(delayed.length, 0.01, 2));
    const estimate = estimateDelay(ref, test, 4096);
    expect(estimate.lag).toBe(1234);
    expect(estimate.correlation).toBeGreaterThan(0.99);
    const [aligned] = alignToReference([test], estimate.lag, ref.length);
    expect(segmentalSnr([ref], [aligned!], RATE).meanDb).toBeGreaterThan(15);
  });
});

describe("segmentalSnr", () => {
  it("gives the clamp maximum for identical signals", () => {
    const ref = noise(SECOND, 0.1, 3);
    const result = segmentalSnr([ref, ref], [ref, ref], RATE);
    expect(result.meanDb).toBe(35);
    expect(result.frames).toBe(50);
  });

  it("measures white noise added 20 dB below the signal within 0.5 dB", () => {
    const ref = noise(2 * SECOND, 0.2, 4);
    const test = add(ref, noise(ref.length, 0.02, 5));
    expect(Math.abs(segmentalSnr([ref], [test], RATE).meanDb - 20)).toBeLessThan(0.5);
    // A steady sine, same noise ratio (sine RMS 0.2).
    const tone = sine(2 * SECOND, 1000, 0.2 * Math.SQRT2);
    const noisy = add(tone, noise(tone.length, 0.02, 6));
    expect(Math.abs(segmentalSnr([tone], [noisy], RATE).meanDb - 20)).toBeLessThan(0.5);
  });

  it("clamps frames to [-10, 35] dB and skips silent frames", () => {
    const ref = noise(SECOND, 0.01, 7);
    ref.fill(0, SECOND / 2);
    const loud = add(ref, noise(SECOND, 1, 8));
    const result = segmentalSnr([ref], [loud], RATE);
    expect(result.meanDb).toBe(-10);
    expect(result.frames).toBe(25);
    expect(result.skipped).toBe(25);
  });
});

describe("audioBandwidth", () => {
  it("finds the edge of a low-passed noise within one group", () => {
    const full = noise(1 << 17, 0.2, 9);
    for (const cutoff of [8000, 15000]) {
      const result = audioBandwidth([bandPass(full, 0, cutoff)], RATE);
      expect(result.groupHz).toBeGreaterThan(150);
      expect(result.groupHz).toBeLessThan(250);
      expect(result.hz).toBeGreaterThanOrEqual(cutoff);
      expect(result.hz).toBeLessThanOrEqual(cutoff + result.groupHz + 1);
    }
    expect(audioBandwidth([full], RATE).hz).toBeGreaterThan(23700);
  });

  it("ignores what lies more than 60 dB below the loudest group", () => {
    const tone = add(sine(SECOND, 5000, 0.5), noise(SECOND, 1e-5, 10));
    const result = audioBandwidth([tone], RATE);
    expect(result.hz).toBeGreaterThan(5000);
    expect(result.hz).toBeLessThan(5500);
    expect(audioBandwidth([new Float32Array(SECOND)], RATE).hz).toBe(0);
  });
});

describe("noiseToMaskRatio", () => {
  it("is -Infinity for identical signals", () => {
    const ref = add(noise(SECOND, 0.05, 11), sine(SECOND, 300, 0.4));
    const result = noiseToMaskRatio([ref, ref], [ref, ref], RATE);
    expect(result.totalDb).toBe(-Infinity);
    expect(result.disturbedFraction).toBe(0);
    expect(result.frames).toBe(2 * (Math.floor((SECOND - 2048) / 1024) + 1));
    expect(result.bands).toBeGreaterThan(100);
  });

  it("scores noise 20 dB below a noise masker under 0 dB and noise 3 dB above it over 0 dB", () => {
    const ref = noise(SECOND, 0.1, 12);
    const quiet = noiseToMaskRatio([ref], [add(ref, noise(SECOND, 0.01, 13))], RATE);
    const loud = noiseToMaskRatio([ref], [add(ref, noise(SECOND, 0.14, 14))], RATE);
    expect(quiet.totalDb).toBeLessThan(-10);
    expect(quiet.disturbedFraction).toBe(0);
    expect(loud.totalDb).toBeGreaterThan(2);
    expect(loud.disturbedFraction).toBe(1);
    // 10 dB more noise, about 10 dB more NMR.
    const louder = noiseToMaskRatio([ref], [add(ref, noise(SECOND, 0.1, 13))], RATE);
    const lessLoud = noiseToMaskRatio([ref], [add(ref, noise(SECOND, 0.0316, 13))], RATE);
    expect(louder.totalDb - lessLoud.totalDb).toBeGreaterThan(8);
    expect(louder.totalDb - lessLoud.totalDb).toBeLessThan(12);
  });

  it("takes the noise from magnitude spectra by default (blind to phase), from test - reference with noise: waveform", () => {
    const ref = noise(SECOND, 0.1, 17);
    const inverted = ref.map((v) => -v);
    expect(noiseToMaskRatio([ref], [inverted], RATE).totalDb).toBe(-Infinity);
    expect(noiseToMaskRatio([ref], [inverted], RATE, { noise: "waveform" }).totalDb).toBeGreaterThan(5);
    const noisy = add(ref, noise(SECOND, 0.01, 18));
    const magnitude = noiseToMaskRatio([ref], [noisy], RATE).totalDb;
    const waveform = noiseToMaskRatio([ref], [noisy], RATE, { noise: "waveform" }).totalDb;
    // Uncorrelated noise: the magnitude difference keeps about half its power.
    expect(waveform - magnitude).toBeGreaterThan(2);
    expect(waveform - magnitude).toBeLessThan(4);
  });

  it("masks narrow-band noise next to a tone but not the same noise far above it", () => {
    const tone = sine(1 << 16, 1000, 0.5);
    const near = bandPass(noise(1 << 16, 0.02, 15), 950, 1050); // about 49 dB below the tone
    const far = bandPass(noise(1 << 16, 0.02, 15), 7900, 8100);
    const masked = noiseToMaskRatio([tone], [add(tone, near)], RATE);
    const unmasked = noiseToMaskRatio([tone], [add(tone, far)], RATE);
    expect(masked.totalDb).toBeLessThan(0);
    expect(masked.disturbedFraction).toBe(0);
    expect(unmasked.totalDb).toBeGreaterThan(0);
    expect(unmasked.disturbedFraction).toBe(1);
  });

  it("lets a tone below 80 Hz (not scored) mask noise just above it", () => {
    const bass = sine(1 << 16, 30, 0.5);
    const hum = bandPass(noise(1 << 16, 0.2, 19), 120, 160); // about 33 dB below the tone
    const result = noiseToMaskRatio([bass], [add(bass, hum)], RATE);
    expect(result.totalDb).toBeLessThan(-10);
    expect(result.disturbedFraction).toBe(0);
  });

  it("does not count noise below the threshold in quiet", () => {
    // Near-silence: 1 kHz at -100 dBFS is about -8 dB SPL, below the ~3 dB SPL threshold there.
    expect(thresholdInQuietDb(1000)).toBeGreaterThan(2);
    const silence = new Float32Array(1 << 16);
    const hiss = bandPass(noise(1 << 16, 1e-5, 16), 900, 1100);
    expect(noiseToMaskRatio([silence], [hiss], RATE).totalDb).toBeLessThan(-10);
    const audible = bandPass(noise(1 << 16, 1e-2, 16), 900, 1100);
    expect(noiseToMaskRatio([silence], [audible], RATE).totalDb).toBeGreaterThan(0);
  });

  it("refuses planes of different lengths", () => {
    expect(() => noiseToMaskRatio([new Float32Array(4096)], [new Float32Array(4000)], RATE)).toThrow(TypeError);
  });
});
