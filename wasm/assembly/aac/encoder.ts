// A streaming AAC-LC encoder: PCM in half frames, raw_data_block()s out
// (ISO/IEC 14496-3 subpart 4; no ADTS: the AudioSpecificConfig travels
// beside the frames). One encoder per module instance.
//
// Per frame: block switching on transients seen half a frame ahead (the
// only lookahead), the MDCT with sine windows, a psychoacoustic threshold per
// scalefactor band (energy spread over Bark, a tonality-dependent offset,
// the threshold in quiet, pre-echo control), per-band M/S for stereo, then a
// rate loop that holds one offset on all bands' scalefactors (constant
// quality) within what the bit reservoir allows, the sectioning that minimises the
// frame's bits for those quantised values, and the bitstream.
import { HCB1_CODE, HCB1_LEN, HCB2_CODE, HCB2_LEN, HCB3_CODE, HCB3_LEN, HCB4_CODE, HCB4_LEN, HCB5_CODE, HCB5_LEN, HCB6_CODE, HCB6_LEN, HCB7_CODE, HCB7_LEN, HCB8_CODE, HCB8_LEN, HCB9_CODE, HCB9_LEN, HCB10_CODE, HCB10_LEN, HCB11_CODE, HCB11_LEN, SF_CODE, SF_LEN } from "./huffman-tables";
import { Mdct } from "./mdct";
import { EIGHT_SHORT, ID_CPE, ID_END, ID_FIL, ID_SCE, LONG_START, LONG_STOP, NUM_SWB_LONG, NUM_SWB_SHORT, ONLY_LONG, SWB_LONG_48, SWB_SHORT_48 } from "./tables";

export const FRAME: i32 = 1024;
const MAX_BANDS: i32 = 8 * NUM_SWB_SHORT; // 112 >= 49
const MAX_Q: i32 = 8191;
const SF_OFFSET: i32 = 100;

// ---- configuration and state ------------------------------------------------

let sampleRate: i32 = 48000;
let channels: i32 = 2;
let bitrate: i32 = 128000;
let avgBits: f64 = 0; // per frame, all channels
let reservoir: f64 = 0; // bits saved by earlier frames
let reservoirMax: f64 = 0;
let runningOffset: f64 = 0; // the rate loop's offset that holds the bitrate on average
const MIN_OFFSET: i32 = -60;
const MAX_OFFSET: i32 = 140;
let cutoffLong: i32 = NUM_SWB_LONG; // bands kept (bandwidth)
let cutoffShort: i32 = NUM_SWB_SHORT;
let framesIn: i32 = 0;
let prevSeq: i32 = ONLY_LONG;
let nonFinite: i32 = 0;
let clipped: i32 = 0;

/** PCM in: channel c's 1024 samples at input[c * 1024], floats in [-1, 1]. */
export const input = new StaticArray<f32>(2 * FRAME);
/** The last encoded frame: bytes [0, outLength). */
export const output = new StaticArray<u8>(6144 * 2 / 8 + 1024);
let outLength: i32 = 0;

// Three frames of history per channel: frames m-1, m, m+1 (block m is the first 2048).
const hist0 = new StaticArray<f64>(3 * FRAME);
const hist1 = new StaticArray<f64>(3 * FRAME);

// Transient detection: a first-difference high-pass, energies of 128-sample segments.
const hpPrev = new StaticArray<f64>(2);
const hpPrev2 = new StaticArray<f64>(2);
const segAvg = new StaticArray<f64>(2);
const segAvg1 = new StaticArray<f64>(2);
let earlyPrev: bool = false; // attack in the first half of the previous frame
let latePrev: bool = false; // ... second half of the previous frame
let latePrev2: bool = false; // ... second half of the frame before

const longMdct = new Mdct(2048);
const shortMdct = new Mdct(256);
const winLong = new StaticArray<f64>(1024); // rising half of the long sine window
const winShort = new StaticArray<f64>(128); // rising half of the short sine window
const block = new StaticArray<f64>(2048);

// Spectra in transmission order (short: grouped and interleaved), per channel.
const spec0 = new StaticArray<f64>(FRAME);
const spec1 = new StaticArray<f64>(FRAME);
const x34_0 = new StaticArray<f64>(FRAME);
const x34_1 = new StaticArray<f64>(FRAME);
const q0 = new StaticArray<i32>(FRAME);
const q1 = new StaticArray<i32>(FRAME);
const tmp = new StaticArray<f64>(FRAME);

// The frame's band layout (the same for both channels: common window).
let seq: i32 = ONLY_LONG;
let numGroups: i32 = 1;
let bandsPerGroup: i32 = NUM_SWB_LONG; // bands inside the bandwidth
let maxSfb: i32 = 0; // bands transmitted
const groupLen = new StaticArray<i32>(8);
const bandStart = new StaticArray<i32>(MAX_BANDS);
const bandWidth = new StaticArray<i32>(MAX_BANDS);
const msUsed = new StaticArray<bool>(MAX_BANDS);
let msAny: bool = false;
let msAll: bool = false;

// Per channel and band (index ch * MAX_BANDS + b, b = g * bandsPerGroup + s).
const energy = new StaticArray<f64>(2 * MAX_BANDS);
const thr = new StaticArray<f64>(2 * MAX_BANDS);
const sumSqrt = new StaticArray<f64>(2 * MAX_BANDS);
const maxX34 = new StaticArray<f64>(2 * MAX_BANDS);
const thrQuiet = new StaticArray<f64>(2 * MAX_BANDS); // threshold in quiet of the band
const sfMin = new StaticArray<i32>(2 * MAX_BANDS);
const sf = new StaticArray<i32>(2 * MAX_BANDS);
const qMax = new StaticArray<i32>(2 * MAX_BANDS);
const tx = new StaticArray<bool>(2 * MAX_BANDS); // band carries values (needs a scalefactor)
const book = new StaticArray<i32>(2 * MAX_BANDS);
const thrPrevLong = new StaticArray<f64>(2 * NUM_SWB_LONG);
const athLong = new StaticArray<f64>(NUM_SWB_LONG);
const athShort = new StaticArray<f64>(NUM_SWB_SHORT);
const barkLong = new StaticArray<f64>(NUM_SWB_LONG);
const barkShort = new StaticArray<f64>(NUM_SWB_SHORT);
const spreadLong = new StaticArray<f64>(NUM_SWB_LONG * NUM_SWB_LONG);
const spreadShort = new StaticArray<f64>(NUM_SWB_SHORT * NUM_SWB_SHORT);

// 2^(-3/16 (sf - 100)): the quantiser's step for |x|^(3/4), sf 0..255.
const quantStep = new StaticArray<f64>(256);

// Sectioning (dynamic programming over books 0..11).
const cost = new StaticArray<i32>(MAX_BANDS * 12);
const dp = new StaticArray<i32>(MAX_BANDS * 12);
const from = new StaticArray<i32>(MAX_BANDS * 12);
const INF: i32 = 0x3fffffff;

// ---- bit writer (counts only when `writing` is false) -----------------------

let writing: bool = false;
let bitPos: i32 = 0;
let acc: u32 = 0;
let accBits: i32 = 0;
let bytePos: i32 = 0;

function bitsReset(write: bool): void {
  writing = write;
  bitPos = 0;
  acc = 0;
  accBits = 0;
  bytePos = 0;
}

function put(value: u32, n: i32): void {
  bitPos += n;
  if (!writing) return;
  // n <= 24 at a time keeps acc within 32 bits.
  if (n > 24) {
    put(value >>> 16, n - 16);
    put(value & 0xffff, 16);
    bitPos -= n;
    return;
  }
  acc = (acc << n) | (value & ((<u32>1 << n) - 1));
  accBits += n;
  while (accBits >= 8) {
    accBits -= 8;
    unchecked((output[bytePos++] = <u8>(acc >>> accBits)));
  }
}

function byteAlign(): void {
  const pad = (8 - (bitPos & 7)) & 7;
  if (pad) put(0, pad);
}

// ---- set-up -----------------------------------------------------------------

/** Status codes of init(). */
export const OK: i32 = 0;
export const BAD_RATE: i32 = 1;
export const BAD_CHANNELS: i32 = 2;
export const BAD_BITRATE: i32 = 3;

function athDb(f: f64): f64 {
  // Terhardt's threshold in quiet, dB SPL (f in kHz), as in ISO/IEC 11172-3 model 2 and most encoders.
  const k = Math.max(f, 0.02) / 1000.0;
  return 3.64 * Math.pow(k, -0.8) - 6.5 * Math.exp(-0.6 * (k - 3.3) * (k - 3.3)) + 0.001 * k * k * k * k;
}

function bark(f: f64): f64 {
  return 13.0 * Math.atan(0.00076 * f) + 3.5 * Math.atan((f / 7500.0) * (f / 7500.0));
}

/** Cutoff frequency for a bitrate per channel (bandwidth against artefacts). */
function cutoffHz(bitsPerChannel: f64): f64 {
  const rates: StaticArray<f64> = [16000, 24000, 32000, 48000, 64000, 96000, 128000];
  const hz: StaticArray<f64> = [5500, 8000, 10000, 13000, 16000, 18000, 20000];
  if (bitsPerChannel <= rates[0]) return hz[0];
  for (let i = 1; i < rates.length; i++) {
    if (bitsPerChannel <= rates[i]) {
      const t = (bitsPerChannel - rates[i - 1]) / (rates[i] - rates[i - 1]);
      return hz[i - 1] + t * (hz[i] - hz[i - 1]);
    }
  }
  return hz[hz.length - 1];
}

function setupBands(offsets: StaticArray<i32>, n: i32, lines: i32, ath: StaticArray<f64>, barks: StaticArray<f64>, spread: StaticArray<f64>): i32 {
  const hzPerLine = <f64>sampleRate / (2.0 * <f64>lines);
  // A full-scale sine (amplitude 32768) has MDCT energy of about (32768 * M)^2: call it 96 dB SPL.
  const fullScale = 32768.0 * <f64>lines * 32768.0 * <f64>lines;
  const cutoff = cutoffHz(<f64>bitrate / <f64>channels);
  let kept = 0;
  for (let s = 0; s < n; s++) {
    let minDb = 1e9;
    for (let k = offsets[s]; k < offsets[s + 1]; k++) minDb = Math.min(minDb, athDb((<f64>k + 0.5) * hzPerLine));
    ath[s] = fullScale * Math.pow(10.0, (minDb - 96.0) / 10.0);
    barks[s] = bark(0.5 * <f64>(offsets[s] + offsets[s + 1]) * hzPerLine);
    if (<f64>offsets[s + 1] * hzPerLine <= cutoff + 0.5 * hzPerLine * <f64>(offsets[s + 1] - offsets[s])) kept = s + 1;
  }
  // Masking spread between bands: 15 dB per Bark towards higher bands, 27 dB per Bark towards lower ones.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dz = barks[i] - barks[j]; // target i, masker j
      const db = dz >= 0 ? -15.0 * dz : 27.0 * dz;
      spread[i * n + j] = Math.pow(10.0, db / 10.0);
    }
  }
  return kept;
}

export function init(rate: i32, chans: i32, bits: i32): i32 {
  if (rate != 48000 && rate != 44100) return BAD_RATE;
  if (chans != 1 && chans != 2) return BAD_CHANNELS;
  if (bits < 8000 * chans || bits > 6144 * chans * rate / 1024 || bits > 320000 * chans) return BAD_BITRATE;
  sampleRate = rate;
  channels = chans;
  bitrate = bits;
  avgBits = (<f64>bits * 1024.0) / <f64>rate;
  reservoirMax = Math.max(0.0, 6144.0 * <f64>chans - avgBits);
  reservoir = 0;
  runningOffset = 0;
  framesIn = 0;
  prevSeq = ONLY_LONG;
  nonFinite = 0;
  clipped = 0;
  earlyPrev = false;
  secondHalf = false;
  latePrev = false;
  latePrev2 = false;
  outLength = 0;
  for (let i = 0; i < 3 * FRAME; i++) {
    hist0[i] = 0;
    hist1[i] = 0;
  }
  for (let c = 0; c < 2; c++) {
    hpPrev[c] = 0;
    hpPrev2[c] = 0;
    segAvg[c] = 0;
    segAvg1[c] = 0;
  }
  for (let i = 0; i < 1024; i++) winLong[i] = Math.sin((Math.PI * (<f64>i + 0.5)) / 2048.0);
  for (let i = 0; i < 128; i++) winShort[i] = Math.sin((Math.PI * (<f64>i + 0.5)) / 256.0);
  for (let s = 0; s < 256; s++) quantStep[s] = Math.pow(2.0, (-3.0 / 16.0) * <f64>(s - SF_OFFSET));
  cutoffLong = setupBands(SWB_LONG_48, NUM_SWB_LONG, 1024, athLong, barkLong, spreadLong);
  cutoffShort = setupBands(SWB_SHORT_48, NUM_SWB_SHORT, 128, athShort, barkShort, spreadShort);
  for (let i = 0; i < 2 * NUM_SWB_LONG; i++) thrPrevLong[i] = 1e30;
  return OK;
}

export function nonFiniteSamples(): i32 {
  return nonFinite;
}

export function clippedSamples(): i32 {
  return clipped;
}

export function reservoirBits(): i32 {
  return <i32>reservoir;
}

// ---- input and block switching ----------------------------------------------

const HALF: i32 = FRAME / 2;

/** Takes a half frame of channel c; the first half of a frame shifts frames m, m+1 to m-1, m. */
function takeInput(c: i32, h: StaticArray<f64>, second: bool): void {
  if (!second) for (let i = 0; i < 2 * FRAME; i++) unchecked((h[i] = unchecked(h[i + FRAME])));
  const at = 2 * FRAME + (second ? HALF : 0);
  for (let i = 0; i < HALF; i++) {
    let v = <f64>unchecked(input[c * FRAME + i]);
    if (!isFinite(v)) {
      v = 0;
      nonFinite++;
    } else if (v > 1.0) {
      v = 1.0;
      clipped++;
    } else if (v < -1.0) {
      v = -1.0;
      clipped++;
    }
    unchecked((h[at + i] = v * 32768.0));
  }
}

/** Attacks in the new half frame of channel c (its four 128-sample segments): 1 if any. */
function attacks(c: i32, h: StaticArray<f64>, second: bool): i32 {
  let found = 0;
  // Onsets on the second difference (12 dB per octave: a click stands out of a loud low tone
  // or voice); stops on the first difference (speech's own energy, which the second would hide).
  let prev = hpPrev[c];
  let prev2 = hpPrev2[c];
  let avg = segAvg[c];
  let avg1 = segAvg1[c];
  const first = second ? 4 : 0;
  for (let s = first; s < first + 4; s++) {
    let e = 0.0;
    let e1 = 0.0;
    for (let i = 0; i < 128; i++) {
      const x = unchecked(h[2 * FRAME + s * 128 + i]);
      const d1 = x - prev;
      const d = d1 - (prev - prev2);
      prev2 = prev;
      prev = x;
      e += d * d;
      e1 += d1 * d1;
    }
    // An attack: a segment 15 times (12 dB) the recent average, above a floor of about -70 dBFS.
    if (e > 15.0 * avg && e > 128.0 * 10.0 * 10.0) found = 1;
    // A sound that stops dead (20 dB down at once, into near silence): short blocks keep the
    // quantisation noise of what came before out of the silence after it.
    else if (e1 * 100.0 < avg1 && avg1 > 128.0 * 100.0 * 100.0 && e1 < 128.0 * 30.0 * 30.0) found = 1;
    avg = 0.7 * avg + 0.3 * e;
    avg1 = 0.7 * avg1 + 0.3 * e1;
  }
  hpPrev[c] = prev;
  hpPrev2[c] = prev2;
  segAvg[c] = avg;
  segAvg1[c] = avg1;
  return found;
}

function decideSequence(shortNow: bool, shortNext: bool): i32 {
  if (shortNow) return EIGHT_SHORT;
  if (shortNext) return prevSeq == EIGHT_SHORT || prevSeq == LONG_START ? EIGHT_SHORT : LONG_START;
  if (prevSeq == EIGHT_SHORT || prevSeq == LONG_START) return LONG_STOP;
  return ONLY_LONG;
}

// ---- analysis ---------------------------------------------------------------

function windowLong(h: StaticArray<f64>, s: i32): void {
  // Rising half: long sine, except LONG_STOP: zeros, a short rise, ones.
  for (let i = 0; i < 1024; i++) {
    let w: f64;
    if (s == LONG_STOP) w = i < 448 ? 0.0 : i < 576 ? unchecked(winShort[i - 448]) : 1.0;
    else w = unchecked(winLong[i]);
    unchecked((block[i] = unchecked(h[i]) * w));
  }
  for (let i = 0; i < 1024; i++) {
    let w: f64;
    if (s == LONG_START) w = i < 448 ? 1.0 : i < 576 ? unchecked(winShort[127 - (i - 448)]) : 0.0;
    else w = unchecked(winLong[1023 - i]);
    unchecked((block[1024 + i] = unchecked(h[1024 + i]) * w));
  }
}

function analyse(h: StaticArray<f64>, spec: StaticArray<f64>): void {
  if (seq != EIGHT_SHORT) {
    windowLong(h, seq);
    longMdct.forward(block, 0, spec, 0);
    return;
  }
  for (let w = 0; w < 8; w++) {
    const o = 448 + 128 * w;
    for (let i = 0; i < 128; i++) {
      unchecked((block[i] = unchecked(h[o + i]) * unchecked(winShort[i])));
      unchecked((block[128 + i] = unchecked(h[o + 128 + i]) * unchecked(winShort[127 - i])));
    }
    shortMdct.forward(block, 0, spec, 128 * w);
  }
}

/** Short blocks: windows whose energies are within 9 dB of the previous one share a group. */
const windowEnergy = new StaticArray<f64>(8);

function groupWindows(): void {
  const e = windowEnergy;
  for (let w = 0; w < 8; w++) {
    let s = 0.0;
    for (let k = 0; k < SWB_SHORT_48[cutoffShort]; k++) {
      const a = unchecked(spec0[128 * w + k]);
      s += a * a;
      if (channels == 2) {
        const b = unchecked(spec1[128 * w + k]);
        s += b * b;
      }
    }
    e[w] = s + 1.0;
  }
  numGroups = 1;
  groupLen[0] = 1;
  for (let w = 1; w < 8; w++) {
    const r = e[w] / e[w - 1];
    if (r > 8.0 || r < 0.125) {
      groupLen[numGroups] = 1;
      numGroups++;
    } else groupLen[numGroups - 1]++;
  }
}

/** Reorders a short block's spectrum to the grouped, band-interleaved transmission order. */
function interleave(spec: StaticArray<f64>): void {
  let o = 0;
  let w0 = 0;
  for (let g = 0; g < numGroups; g++) {
    const len = groupLen[g];
    for (let s = 0; s < NUM_SWB_SHORT; s++) {
      const a = SWB_SHORT_48[s];
      const b = SWB_SHORT_48[s + 1];
      for (let w = w0; w < w0 + len; w++) for (let k = a; k < b; k++) unchecked((tmp[o++] = unchecked(spec[128 * w + k])));
    }
    w0 += len;
  }
  for (let i = 0; i < FRAME; i++) unchecked((spec[i] = unchecked(tmp[i])));
}

function layoutBands(): void {
  if (seq != EIGHT_SHORT) {
    numGroups = 1;
    groupLen[0] = 1;
    bandsPerGroup = cutoffLong;
    for (let s = 0; s < bandsPerGroup; s++) {
      bandStart[s] = SWB_LONG_48[s];
      bandWidth[s] = SWB_LONG_48[s + 1] - SWB_LONG_48[s];
    }
    return;
  }
  bandsPerGroup = cutoffShort;
  let o = 0;
  for (let g = 0; g < numGroups; g++) {
    const len = groupLen[g];
    for (let s = 0; s < bandsPerGroup; s++) {
      const b = g * bandsPerGroup + s;
      bandStart[b] = o + SWB_SHORT_48[s] * len;
      bandWidth[b] = (SWB_SHORT_48[s + 1] - SWB_SHORT_48[s]) * len;
    }
    o += 128 * len;
  }
}

/** Energy and masking threshold of each band of channel c. */
function psycho(c: i32, spec: StaticArray<f64>): void {
  const base = c * MAX_BANDS;
  const nb = numGroups * bandsPerGroup;
  const isShort = seq == EIGHT_SHORT;
  const n = isShort ? NUM_SWB_SHORT : NUM_SWB_LONG;
  const spread = isShort ? spreadShort : spreadLong;
  // Energies and tonality (spectral flatness of the band's lines).
  const smr = tmp; // reused: per band SMR in dB (tmp is free outside interleave)
  for (let b = 0; b < nb; b++) {
    const a = bandStart[b];
    const w = bandWidth[b];
    let e = 0.0;
    let logSum = 0.0;
    for (let k = a; k < a + w; k++) {
      const x = unchecked(spec[k]);
      const p = x * x;
      e += p;
      logSum += Math.log(p + 1e-3);
    }
    unchecked((energy[base + b] = e));
    const mean = e / <f64>w + 1e-3;
    const sfmDb = (10.0 / Math.LN10) * (logSum / <f64>w - Math.log(mean)); // <= 0; noise about -5.5
    let t = (-sfmDb - 5.5) / 20.0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    unchecked((smr[b] = 6.0 + 14.0 * t));
  }
  // Spreading inside each group, on energy densities.
  for (let g = 0; g < numGroups; g++) {
    const o = g * bandsPerGroup;
    for (let i = 0; i < bandsPerGroup; i++) {
      let m = 0.0;
      for (let j = 0; j < bandsPerGroup; j++) {
        const d = (unchecked(energy[base + o + j]) / <f64>bandWidth[o + j]) * unchecked(spread[i * n + j]);
        if (d > m) m = d;
      }
      const b = o + i;
      let t = m * <f64>bandWidth[b] * Math.pow(10.0, -unchecked(smr[b]) / 10.0);
      const e = unchecked(energy[base + b]);
      if (!isShort) {
        // Pre-echo control: the threshold may at most double from the last long block's.
        const prev = thrPrevLong[c * NUM_SWB_LONG + i];
        if (t > 2.0 * prev) t = 2.0 * prev;
      }
      // Never ask for more than 30 dB of SNR in a band.
      if (t < e * 0.001) t = e * 0.001;
      const quiet = (isShort ? athShort[i] : athLong[i]) * <f64>groupLen[g];
      if (t < quiet) t = quiet;
      unchecked((thr[base + b] = t));
      unchecked((thrQuiet[base + b] = quiet));
      if (!isShort) thrPrevLong[c * NUM_SWB_LONG + i] = t;
    }
  }
  if (isShort) for (let i = 0; i < NUM_SWB_LONG; i++) thrPrevLong[c * NUM_SWB_LONG + i] = 1e30;
}

/** Per band M/S where it needs fewer bits by perceptual entropy; rewrites spec0/spec1 and the bands' energies. */
function stereo(): void {
  const nb = numGroups * bandsPerGroup;
  msAny = false;
  msAll = true;
  for (let b = 0; b < nb; b++) {
    const a = bandStart[b];
    const w = bandWidth[b];
    let em = 0.0;
    let es = 0.0;
    for (let k = a; k < a + w; k++) {
      const l = unchecked(spec0[k]);
      const r = unchecked(spec1[k]);
      const m = 0.5 * (l + r);
      const s = 0.5 * (l - r);
      em += m * m;
      es += s * s;
    }
    const el = energy[b];
    const er = energy[MAX_BANDS + b];
    const tl = thr[b];
    const tr = thr[MAX_BANDS + b];
    const tms = Math.min(tl, tr) * 0.5;
    const w2 = <f64>w * 0.5;
    const peLr = w2 * (Math.log2(1.0 + el / tl) + Math.log2(1.0 + er / tr));
    const peMs = w2 * (Math.log2(1.0 + em / tms) + Math.log2(1.0 + es / tms));
    const use = peMs < peLr;
    msUsed[b] = use;
    if (use) {
      msAny = true;
      for (let k = a; k < a + w; k++) {
        const l = unchecked(spec0[k]);
        const r = unchecked(spec1[k]);
        unchecked((spec0[k] = 0.5 * (l + r)));
        unchecked((spec1[k] = 0.5 * (l - r)));
      }
      energy[b] = em;
      energy[MAX_BANDS + b] = es;
      thr[b] = tms;
      thr[MAX_BANDS + b] = tms;
    } else msAll = false;
  }
  if (!msAny) msAll = false;
}

// ---- quantisation -------------------------------------------------------------

// Tests: every coded band in one book (1..11), its values brought within the book's range by
// the scalefactor, so each book's codewords can be checked through a real decoder. 0: off.
let forcedBook: i32 = 0;

export function testForceBook(cb: i32): void {
  forcedBook = cb >= 1 && cb <= 11 ? cb : 0;
}

function prepare(c: i32, spec: StaticArray<f64>, x34: StaticArray<f64>): void {
  const base = c * MAX_BANDS;
  const nb = numGroups * bandsPerGroup;
  for (let b = 0; b < nb; b++) {
    const a = bandStart[b];
    const w = bandWidth[b];
    let ss = 0.0;
    let mx = 0.0;
    for (let k = a; k < a + w; k++) {
      const x = Math.abs(unchecked(spec[k]));
      const r = Math.sqrt(x);
      ss += r;
      const v = Math.sqrt(x * r);
      unchecked((x34[k] = v));
      if (v > mx) mx = v;
    }
    unchecked((sumSqrt[base + b] = ss));
    unchecked((maxX34[base + b] = mx));
    // The smallest scalefactor that keeps every value <= 8191.
    let m = 0;
    if (mx > 0) {
      m = <i32>Math.ceil(<f64>SF_OFFSET + (16.0 / 3.0) * Math.log2(mx / (<f64>MAX_Q - 0.4054)));
      if (m < 0) m = 0;
      while (m < 255 && mx * quantStep[m] + 0.4054 >= <f64>(MAX_Q + 1)) m++;
    }
    unchecked((sfMin[base + b] = m < 0 ? 0 : m));
  }
}

function quantiseBand(c: i32, b: i32, x34: StaticArray<f64>, spec: StaticArray<f64>, q: StaticArray<i32>): i32 {
  const s = sf[c * MAX_BANDS + b];
  const step = unchecked(quantStep[s]);
  const a = bandStart[b];
  const w = bandWidth[b];
  let mx = 0;
  for (let k = a; k < a + w; k++) {
    const v = <i32>(unchecked(x34[k]) * step + 0.4054);
    if (v > mx) mx = v;
    unchecked((q[k] = unchecked(spec[k]) < 0 ? -v : v));
  }
  return mx;
}

/** Scalefactors and quantised values of channel c for the rate offset `delta`. */
function quantise(c: i32, delta: i32, spec: StaticArray<f64>, x34: StaticArray<f64>, q: StaticArray<i32>): void {
  const base = c * MAX_BANDS;
  const nb = numGroups * bandsPerGroup;
  // The offset moves the masking threshold by 3/8 * 3.01 dB per step (one scalefactor step of
  // noise), never below the threshold in quiet. Bands under it are not coded: their noise is
  // their energy.
  const gain = Math.pow(2.0, (3.0 / 8.0) * <f64>delta);
  for (let b = 0; b < nb; b++) {
    const i = base + b;
    const e = unchecked(energy[i]);
    const t = Math.max(unchecked(thr[i]) * gain, unchecked(thrQuiet[i]));
    if (e <= t || unchecked(maxX34[i]) == 0) {
      tx[i] = false;
      sf[i] = 0;
      qMax[i] = 0;
      const a = bandStart[b];
      for (let k = a; k < a + bandWidth[b]; k++) unchecked((q[k] = 0));
      continue;
    }
    // The scalefactor whose quantisation noise meets t: noise ~ (4/27) a^(3/2) sum sqrt|x|, a = 2^((sf-100)/4).
    let s = <i32>Math.round(<f64>SF_OFFSET + (8.0 / 3.0) * Math.log2((6.75 * t) / unchecked(sumSqrt[i])));
    if (s < sfMin[i]) s = sfMin[i];
    if (forcedBook > 0) {
      const limit = <f64>bookLimit(forcedBook);
      const mx = unchecked(maxX34[i]);
      while (s < 255 && mx * quantStep[s] + 0.4054 >= limit + 1.0) s++;
    }
    if (s > 255) s = 255;
    sf[i] = s;
    const m = quantiseBand(c, b, x34, spec, q);
    qMax[i] = m;
    tx[i] = m > 0;
  }
  // Scalefactor differences must stay within +-60 between coded bands (Table 4.A.1):
  // only raise scalefactors (coarser, never past 8191), backwards then forwards.
  let changed = true;
  for (let round = 0; round < 4 && changed; round++) {
    changed = false;
    let next = -1;
    for (let b = nb - 1; b >= 0; b--) {
      const i = base + b;
      if (!tx[i]) continue;
      if (next >= 0 && sf[i] < next - 60) {
        sf[i] = next - 60;
        changed = true;
      }
      next = sf[i];
    }
    let last = -1;
    for (let b = 0; b < nb; b++) {
      const i = base + b;
      if (!tx[i]) continue;
      if (last >= 0 && sf[i] < last - 60) {
        sf[i] = last - 60;
        changed = true;
      }
      last = sf[i];
    }
    if (changed) {
      for (let b = 0; b < nb; b++) {
        const i = base + b;
        if (!tx[i]) continue;
        qMax[i] = quantiseBand(c, b, x34, spec, q);
        // A band quantised to zeros stays coded (a scalefactor is cheap; the differences stay valid).
      }
    }
  }
}

// ---- Huffman coding -------------------------------------------------------------

function bookLimit(cb: i32): i32 {
  if (cb <= 2) return 1;
  if (cb <= 4) return 2;
  if (cb <= 6) return 4;
  if (cb <= 8) return 7;
  if (cb <= 10) return 12;
  return MAX_Q;
}

function escBits(v: i32): i32 {
  // Escape sequence of Table 4.A.13's book: N-4 ones, a zero, N bits, N = floor(log2 v).
  let n = 4;
  while (v >= 1 << (n + 1)) n++;
  return n - 4 + 1 + n;
}

/** Bits of q[a .. a+w) in book cb (cb >= 1, the values within its limit). */
function spectralBits(q: StaticArray<i32>, a: i32, w: i32, cb: i32): i32 {
  let bits = 0;
  if (cb <= 4) {
    const lens = cb == 1 ? HCB1_LEN : cb == 2 ? HCB2_LEN : cb == 3 ? HCB3_LEN : HCB4_LEN;
    const signed = cb <= 2;
    for (let k = a; k < a + w; k += 4) {
      const v0 = unchecked(q[k]);
      const v1 = unchecked(q[k + 1]);
      const v2 = unchecked(q[k + 2]);
      const v3 = unchecked(q[k + 3]);
      if (signed) bits += unchecked(lens[27 * (v0 + 1) + 9 * (v1 + 1) + 3 * (v2 + 1) + (v3 + 1)]);
      else {
        const u0 = abs(v0);
        const u1 = abs(v1);
        const u2 = abs(v2);
        const u3 = abs(v3);
        bits += unchecked(lens[27 * u0 + 9 * u1 + 3 * u2 + u3]) + (u0 != 0 ? 1 : 0) + (u1 != 0 ? 1 : 0) + (u2 != 0 ? 1 : 0) + (u3 != 0 ? 1 : 0);
      }
    }
    return bits;
  }
  for (let k = a; k < a + w; k += 2) {
    const v0 = unchecked(q[k]);
    const v1 = unchecked(q[k + 1]);
    if (cb <= 6) {
      bits += unchecked((cb == 5 ? HCB5_LEN : HCB6_LEN)[9 * (v0 + 4) + (v1 + 4)]);
      continue;
    }
    const u0 = abs(v0);
    const u1 = abs(v1);
    const signs = (u0 != 0 ? 1 : 0) + (u1 != 0 ? 1 : 0);
    if (cb <= 8) bits += unchecked((cb == 7 ? HCB7_LEN : HCB8_LEN)[8 * u0 + u1]) + signs;
    else if (cb <= 10) bits += unchecked((cb == 9 ? HCB9_LEN : HCB10_LEN)[13 * u0 + u1]) + signs;
    else {
      bits += unchecked(HCB11_LEN[17 * min(u0, 16) + min(u1, 16)]) + signs;
      if (u0 >= 16) bits += escBits(u0);
      if (u1 >= 16) bits += escBits(u1);
    }
  }
  return bits;
}

function putEscape(v: i32): void {
  let n = 4;
  while (v >= 1 << (n + 1)) n++;
  put((<u32>1 << (n - 3)) - 2, n - 3); // n-4 ones and a zero
  put(<u32>(v - (1 << n)), n);
}

function writeSpectral(q: StaticArray<i32>, a: i32, w: i32, cb: i32): void {
  if (cb <= 4) {
    const lens = cb == 1 ? HCB1_LEN : cb == 2 ? HCB2_LEN : cb == 3 ? HCB3_LEN : HCB4_LEN;
    const codes = cb == 1 ? HCB1_CODE : cb == 2 ? HCB2_CODE : cb == 3 ? HCB3_CODE : HCB4_CODE;
    for (let k = a; k < a + w; k += 4) {
      const v0 = unchecked(q[k]);
      const v1 = unchecked(q[k + 1]);
      const v2 = unchecked(q[k + 2]);
      const v3 = unchecked(q[k + 3]);
      if (cb <= 2) {
        const i = 27 * (v0 + 1) + 9 * (v1 + 1) + 3 * (v2 + 1) + (v3 + 1);
        put(unchecked(codes[i]), unchecked(lens[i]));
      } else {
        const i = 27 * abs(v0) + 9 * abs(v1) + 3 * abs(v2) + abs(v3);
        put(unchecked(codes[i]), unchecked(lens[i]));
        if (v0 != 0) put((v0 < 0 ? 1 : 0), 1);
        if (v1 != 0) put((v1 < 0 ? 1 : 0), 1);
        if (v2 != 0) put((v2 < 0 ? 1 : 0), 1);
        if (v3 != 0) put((v3 < 0 ? 1 : 0), 1);
      }
    }
    return;
  }
  for (let k = a; k < a + w; k += 2) {
    const v0 = unchecked(q[k]);
    const v1 = unchecked(q[k + 1]);
    if (cb <= 6) {
      const i = 9 * (v0 + 4) + (v1 + 4);
      if (cb == 5) put(unchecked(HCB5_CODE[i]), unchecked(HCB5_LEN[i]));
      else put(unchecked(HCB6_CODE[i]), unchecked(HCB6_LEN[i]));
      continue;
    }
    const u0 = abs(v0);
    const u1 = abs(v1);
    if (cb <= 8) {
      const i = 8 * u0 + u1;
      if (cb == 7) put(unchecked(HCB7_CODE[i]), unchecked(HCB7_LEN[i]));
      else put(unchecked(HCB8_CODE[i]), unchecked(HCB8_LEN[i]));
    } else if (cb <= 10) {
      const i = 13 * u0 + u1;
      if (cb == 9) put(unchecked(HCB9_CODE[i]), unchecked(HCB9_LEN[i]));
      else put(unchecked(HCB10_CODE[i]), unchecked(HCB10_LEN[i]));
    } else {
      const i = 17 * min(u0, 16) + min(u1, 16);
      put(unchecked(HCB11_CODE[i]), unchecked(HCB11_LEN[i]));
    }
    if (u0 != 0) put((v0 < 0 ? 1 : 0), 1);
    if (u1 != 0) put((v1 < 0 ? 1 : 0), 1);
    if (cb == 11) {
      if (u0 >= 16) putEscape(u0);
      if (u1 >= 16) putEscape(u1);
    }
  }
}

/** Chooses each band's book: the sectioning with the fewest bits (sections end at group ends). */
function section(c: i32, q: StaticArray<i32>): void {
  const base = c * MAX_BANDS;
  const sectBits = seq == EIGHT_SHORT ? 3 : 5;
  const newSection = 4 + sectBits;
  for (let g = 0; g < numGroups; g++) {
    const o = g * bandsPerGroup;
    for (let s = 0; s < maxSfb; s++) {
      const b = o + s;
      const i = base + b;
      const row = s * 12;
      for (let cb = 0; cb < 12; cb++) unchecked((cost[row + cb] = INF));
      const m = qMax[i];
      if (!tx[i]) unchecked((cost[row] = 0));
      // The two smallest books' pairs that hold the band's values, and the escape book.
      let first = 1;
      while (bookLimit(first) < m) first += 2;
      const last = min(first + 3, 11);
      const extra: i32 = tx[i] ? 0 : 1; // an uncoded band in a coded section sends a scalefactor difference of 0
      if (forcedBook > 0 && m <= bookLimit(forcedBook)) {
        unchecked((cost[row + forcedBook] = spectralBits(q, bandStart[b], bandWidth[b], forcedBook) + extra));
        continue;
      }
      for (let cb = first; cb <= last; cb++) unchecked((cost[row + cb] = spectralBits(q, bandStart[b], bandWidth[b], cb) + extra));
      if (last < 11) unchecked((cost[row + 11] = spectralBits(q, bandStart[b], bandWidth[b], 11) + extra));
    }
    // dp[s][cb]: fewest bits for bands 0..s with band s in a section of book cb.
    for (let s = 0; s < maxSfb; s++) {
      let bestPrev = INF;
      let bestPrevCb = 0;
      if (s > 0) {
        for (let cb = 0; cb < 12; cb++) {
          const v = unchecked(dp[(s - 1) * 12 + cb]);
          if (v < bestPrev) {
            bestPrev = v;
            bestPrevCb = cb;
          }
        }
      }
      for (let cb = 0; cb < 12; cb++) {
        const k = unchecked(cost[s * 12 + cb]);
        if (k >= INF) {
          unchecked((dp[s * 12 + cb] = INF));
          continue;
        }
        if (s == 0) {
          unchecked((dp[cb] = k + newSection));
          unchecked((from[cb] = -1));
          continue;
        }
        const stay = unchecked(dp[(s - 1) * 12 + cb]);
        const change = bestPrev + newSection;
        if (stay <= change) {
          unchecked((dp[s * 12 + cb] = stay + k));
          unchecked((from[s * 12 + cb] = cb));
        } else {
          unchecked((dp[s * 12 + cb] = change + k));
          unchecked((from[s * 12 + cb] = bestPrevCb));
        }
      }
    }
    if (maxSfb == 0) continue;
    let cb = 0;
    let best = INF;
    for (let k = 0; k < 12; k++) {
      const v = unchecked(dp[(maxSfb - 1) * 12 + k]);
      if (v < best) {
        best = v;
        cb = k;
      }
    }
    for (let s = maxSfb - 1; s >= 0; s--) {
      book[base + o + s] = cb;
      cb = unchecked(from[s * 12 + cb]);
    }
  }
}

// ---- bitstream ------------------------------------------------------------------

function writeIcsInfo(): void {
  put(0, 1); // ics_reserved_bit
  put(<u32>seq, 2);
  put(0, 1); // window_shape: sine
  if (seq == EIGHT_SHORT) {
    put(<u32>maxSfb, 4);
    let grouping: u32 = 0;
    let w = 0;
    for (let g = 0; g < numGroups; g++) {
      for (let i = 0; i < groupLen[g]; i++) {
        if (w > 0) grouping = (grouping << 1) | (i > 0 ? 1 : 0);
        w++;
      }
    }
    put(grouping, 7);
  } else {
    put(<u32>maxSfb, 6);
    put(0, 1); // predictor_data_present
  }
}

function writeChannel(c: i32, q: StaticArray<i32>, common: bool): void {
  const base = c * MAX_BANDS;
  // global_gain: the first coded band's scalefactor.
  let gg = -1;
  for (let g = 0; g < numGroups && gg < 0; g++)
    for (let s = 0; s < maxSfb; s++) {
      const i = base + g * bandsPerGroup + s;
      if (book[i] != 0 && tx[i]) {
        gg = sf[i];
        break;
      }
    }
  if (gg < 0) gg = SF_OFFSET;
  put(<u32>gg, 8);
  if (!common) writeIcsInfo();
  // section_data
  const sectBits = seq == EIGHT_SHORT ? 3 : 5;
  const esc = (1 << sectBits) - 1;
  for (let g = 0; g < numGroups; g++) {
    let s = 0;
    while (s < maxSfb) {
      const cb = book[base + g * bandsPerGroup + s];
      let e = s + 1;
      while (e < maxSfb && book[base + g * bandsPerGroup + e] == cb) e++;
      put(<u32>cb, 4);
      let len = e - s;
      while (len >= esc) {
        put(<u32>esc, sectBits);
        len -= esc;
      }
      put(<u32>len, sectBits);
      s = e;
    }
  }
  // scale_factor_data
  let last = gg;
  for (let g = 0; g < numGroups; g++)
    for (let s = 0; s < maxSfb; s++) {
      const i = base + g * bandsPerGroup + s;
      if (book[i] == 0) continue;
      const v = tx[i] ? sf[i] : last;
      const d = v - last;
      put(unchecked(SF_CODE[d + 60]), unchecked(SF_LEN[d + 60]));
      last = v;
    }
  put(0, 1); // pulse_data_present
  put(0, 1); // tns_data_present
  put(0, 1); // gain_control_data_present
  // spectral_data
  for (let g = 0; g < numGroups; g++)
    for (let s = 0; s < maxSfb; s++) {
      const b = g * bandsPerGroup + s;
      const cb = book[base + b];
      if (cb != 0) writeSpectral(q, bandStart[b], bandWidth[b], cb);
    }
}

/** Non-coded bands that ended in a coded section need their quantised values (zeros) and scalefactor (the last one). */
function writeFrame(): void {
  if (channels == 1) {
    put(ID_SCE, 3);
    put(0, 4);
    writeChannel(0, q0, false);
  } else {
    put(ID_CPE, 3);
    put(0, 4);
    put(1, 1); // common_window
    writeIcsInfo();
    const mode: u32 = msAll ? 2 : msAny ? 1 : 0;
    put(mode, 2);
    if (mode == 1) for (let g = 0; g < numGroups; g++) for (let s = 0; s < maxSfb; s++) put(msUsed[g * bandsPerGroup + s] ? 1 : 0, 1);
    writeChannel(0, q0, true);
    writeChannel(1, q1, true);
  }
}

/** The frame's bits for the rate offset `delta` (everything but fill and the end). */
function trial(delta: i32): i32 {
  quantise(0, delta, spec0, x34_0, q0);
  if (channels == 2) quantise(1, delta, spec1, x34_1, q1);
  // max_sfb: the last band with a value in any group or channel.
  maxSfb = 0;
  for (let c = 0; c < channels; c++)
    for (let g = 0; g < numGroups; g++)
      for (let s = 0; s < bandsPerGroup; s++) if (tx[c * MAX_BANDS + g * bandsPerGroup + s] && s + 1 > maxSfb) maxSfb = s + 1;
  section(0, q0);
  if (channels == 2) section(1, q1);
  bitsReset(false);
  writeFrame();
  return bitPos;
}

function writeFill(bits: i32): void {
  // fill_element()s of EXT_FILL (zero bytes) until fewer than 2 bytes remain to pad.
  while (bits >= 16) {
    let count = (bits - 7) >> 3;
    if (count >= 15) count = min(count - 1, 15 + 255 - 1); // the escape byte costs one
    put(ID_FIL, 3);
    if (count < 15) put(<u32>count, 4);
    else {
      put(15, 4);
      put(<u32>(count - 15 + 1), 8);
    }
    for (let i = 0; i < count; i++) put(0, 8);
    bits -= 7 + 8 * count + (count >= 15 ? 8 : 0);
  }
}

// ---- the frame loop ---------------------------------------------------------------

let secondHalf: bool = false;

/**
 * Takes the next half frame (512 samples per channel, at input[c * 1024]);
 * returns the byte length of the AAC frame now in `output`, or 0 when none
 * is ready. Block m leaves with the first half of frame m + 1: its MDCT
 * needs frames m - 1 and m, and whether block m + 1 is short (so m must be
 * a START block) is known from the second half of frame m and the first
 * half of frame m + 1, where block m + 1's short windows lie. Half a frame
 * of lookahead.
 */
export function encodeHalf(): i32 {
  const second = secondHalf;
  secondHalf = !secondHalf;
  takeInput(0, hist0, second);
  if (channels == 2) takeInput(1, hist1, second);
  let a = attacks(0, hist0, second);
  if (channels == 2) a |= attacks(1, hist1, second);
  if (second) {
    latePrev = a != 0;
    outLength = 0;
    return 0;
  }
  const early = a != 0;
  framesIn++;
  // Block m = framesIn - 2 is short when an attack is in the second half of frame m-1 or the first half of frame m.
  const shortNow = earlyPrev || latePrev2;
  const shortNext = early || latePrev;
  latePrev2 = latePrev;
  earlyPrev = early;
  if (framesIn < 2) {
    outLength = 0;
    return 0;
  }
  seq = decideSequence(shortNow, shortNext);
  prevSeq = seq;
  analyse(hist0, spec0);
  if (channels == 2) analyse(hist1, spec1);
  if (seq == EIGHT_SHORT) {
    groupWindows();
    interleave(spec0);
    if (channels == 2) interleave(spec1);
  }
  layoutBands();
  psycho(0, spec0);
  if (channels == 2) {
    psycho(1, spec1);
    stereo();
  } else {
    msAny = false;
    msAll = false;
  }
  prepare(0, spec0, x34_0);
  if (channels == 2) prepare(1, spec1, x34_1);

  // Constant quality through a leaky bucket: every frame is coded at the running offset
  // (the same noise-to-mask ratio, in the model's terms), unless that needs more bits than
  // the reservoir holds (the offset rises until the frame fits) or so few that the reservoir
  // would overflow (it falls, spending the bits rather than padding). The running offset
  // follows the reservoir: below half full it rises, above it falls.
  // One frame may take at most part of the reservoir (more for short blocks): a loud event
  // must not leave the frames after it starved.
  const share = seq == EIGHT_SHORT ? 0.8 : 0.5;
  const maxBits = <i32>Math.min(avgBits + share * reservoir, 6144.0 * <f64>channels) - 3 - 7; // END and the byte alignment
  const minBits = <i32>(avgBits - (reservoirMax - reservoir)) - 3 - 7;
  let d = <i32>Math.round(runningOffset);
  if (d < MIN_OFFSET) d = MIN_OFFSET;
  if (d > MAX_OFFSET) d = MAX_OFFSET;
  let hi = d;
  const bits = trial(d);
  if (bits > maxBits) {
    // The smallest offset whose frame fits: bits fall as the offset grows.
    let lo = d;
    hi = MAX_OFFSET;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (trial(mid) <= maxBits) hi = mid;
      else lo = mid;
    }
  } else if (bits < minBits && d > MIN_OFFSET) {
    // The largest offset that spends at least minBits (and still fits).
    let lo = MIN_OFFSET;
    let top = d;
    if (trial(lo) < minBits) hi = lo;
    else {
      while (top - lo > 1) {
        const mid = (lo + top) >> 1;
        if (trial(mid) >= minBits) lo = mid;
        else top = mid;
      }
      hi = lo;
      if (trial(hi) > maxBits) hi = top;
    }
    // Spending was forced: the running offset was too coarse for what this signal needs.
    if (<f64>hi < runningOffset) runningOffset = <f64>hi;
  }
  trial(hi);
  lastDelta = hi;
  // At the largest offset nothing is coded: a frame of side information, which always fits.
  bitsReset(true);
  writeFrame();
  // Past a full reservoir the bits are padded (fill elements): the stream keeps its bitrate.
  coreBits = bitPos;
  const after = reservoir + avgBits - <f64>((bitPos + 3 + 7) & ~7);
  if (after > reservoirMax + 16.0) writeFill(<i32>(after - reservoirMax));
  put(ID_END, 3);
  byteAlign();
  reservoir += avgBits - <f64>bitPos;
  runningOffset += (0.3 * (0.5 * reservoirMax - reservoir)) / avgBits;
  if (runningOffset < <f64>MIN_OFFSET) runningOffset = <f64>MIN_OFFSET;
  if (runningOffset > 60.0) runningOffset = 60.0;
  outLength = bitPos >> 3;
  return outLength;
}

let lastDelta: i32 = 0;
let coreBits: i32 = 0;

/** The rate loop's offset on the scalefactors in the last frame (for tests and tuning). */
export function lastRateOffset(): i32 {
  return lastDelta;
}

/** Bits of the last frame's audio elements (without fill, end and alignment). */
export function lastCoreBits(): i32 {
  return coreBits;
}

/** Window sequence of the last frame (for tests). */
export function lastWindowSequence(): i32 {
  return seq;
}

/** max_sfb of the last frame (for tests). */
export function lastMaxSfb(): i32 {
  return maxSfb;
}

