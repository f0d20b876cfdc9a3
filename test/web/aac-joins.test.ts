/**
 * The seamless-join property of the segmented AAC encoder, in Node, with the
 * system's ffmpeg standing in for ffmpeg.wasm (the same FFmpeg 5.1 AAC
 * encoder and command; aac-ffmpeg.test.ts repeats the main case with
 * ffmpeg.wasm in Chromium and measures the same numbers). SegmentedAacEncoder
 * cuts a 440 Hz (left) / 660 Hz (right) tone into overlapping jobs; the kept
 * frames are wrapped as ADTS, decoded by ffmpeg and compared with the ideal
 * tone block by block, with no time shift (frame k decodes to input samples
 * [1024k, 1024(k+1)); pages/aac/analysis.ts says what is measured).
 *
 * Thresholds: SEAMLESS in pages/aac/analysis.ts, with the measurements
 * behind them. A tone cannot show the lookahead at work (it never switches
 * windows): attacks placed just after the joins do. The last tests show
 * each check failing on a broken stream: naive segmenting, no preroll, no
 * lookahead, a lost or a repeated frame.
 */
import { describe, expect, it } from "vitest";
import { splitAdts, wrapAdts } from "../../web/audio/adts.js";
import type { AudioDataLike } from "../../web/audio/pcm.js";
import { SegmentedAacEncoder, type AacChunk, type SegmentedEncoderOptions } from "../../web/audio/segmented-encoder.js";
import { analyseTone, describeReport, seamlessViolations, tone, TONE_RATE } from "./pages/aac/analysis.js";
import { concatBytes, decodeAdts, nativeRunner } from "./pages/aac/native-ffmpeg.js";

const F = 1024;

type Format = "f32" | "f32-planar" | "s16";

/** Sample i of channel ch of a test signal. */
type Signal = (ch: number, i: number) => number;

/** An AudioData stand-in holding samples [start, start + frames) of `signal` in `format`. */
function signalData(signal: Signal, format: Format, channels: number, start: number, frames: number, timestamp: number): AudioDataLike {
  return {
    format,
    numberOfChannels: channels,
    numberOfFrames: frames,
    sampleRate: TONE_RATE,
    timestamp,
    copyTo(dest, { planeIndex }) {
      const buffer = dest as ArrayBuffer;
      if (format === "f32-planar") {
        const out = new Float32Array(buffer);
        for (let i = 0; i < frames; i++) out[i] = signal(planeIndex, start + i);
        return;
      }
      const out = format === "s16" ? new Int16Array(buffer) : new Float32Array(buffer);
      const scale = format === "s16" ? 0x7fff : 1;
      for (let i = 0; i < frames; i++) for (let ch = 0; ch < channels; ch++) out[i * channels + ch] = format === "s16" ? Math.round(signal(ch, start + i) * scale) : signal(ch, start + i);
    },
  };
}

interface Encoded {
  chunks: AacChunk[];
  jobs: number;
  /** First frame of every job but the first. */
  joins: number[];
  adts: Uint8Array;
}

/** Encodes `seconds` of the tone, fed as `piece`-frame AudioData starting at `t0` µs. */
function encodeTone(seconds: number, piece: number, format: Format, options: Partial<SegmentedEncoderOptions>, t0 = 0): Promise<Encoded> {
  return encodeSignal(tone, seconds, piece, format, options, t0);
}

/** Encodes `seconds` of `signal`, fed as `piece`-frame AudioData starting at `t0` µs. */
async function encodeSignal(signal: Signal, seconds: number, piece: number, format: Format, options: Partial<SegmentedEncoderOptions>, t0 = 0): Promise<Encoded> {
  const runner = nativeRunner();
  const chunks: AacChunk[] = [];
  const errors: Error[] = [];
  const channels = options.channels ?? 2;
  const encoder = new SegmentedAacEncoder(runner, { sampleRate: TONE_RATE, channels, bitrate: 128_000, ...options }, (c) => chunks.push(c), (e) => errors.push(e));
  const total = Math.round(seconds * TONE_RATE);
  for (let start = 0; start < total; start += piece) {
    encoder.encode(signalData(signal, format, channels, start, Math.min(piece, total - start), t0 + Math.round((start * 1e6) / TONE_RATE)));
  }
  await encoder.flush();
  expect(errors).toEqual([]);
  const joins: number[] = [];
  for (let k = encoder.segmentFrames; k < chunks.length; k += encoder.segmentFrames) joins.push(k);
  return { chunks, jobs: runner.jobs, joins, adts: adtsOf(chunks.map((c) => c.data), channels) };
}

function adtsOf(frames: Uint8Array[], channels: number): Uint8Array {
  return concatBytes(frames.map((f) => wrapAdts(f, { objectType: 2, sampleRate: TONE_RATE, channelConfiguration: channels })));
}


// Each test spawns ffmpeg for every job: seconds alone, more on a loaded machine.
describe("segmented AAC joins (native ffmpeg)", { timeout: 120_000 }, () => {
  it("10 s of stereo in 0.5 s segments decodes to the continuous tone: no gap, repeat or click at 20 joins", async () => {
    const seconds = 10;
    const total = seconds * TONE_RATE;
    const t0 = 3_000_000;
    const enc = await encodeTone(seconds, 480, "f32-planar", { segmentMs: 500 }, t0);
    expect(enc.joins).toHaveLength(20); // 469 frames in jobs of 23
    expect(enc.chunks).toHaveLength(Math.ceil(total / F));
    enc.chunks.forEach((c, k) => {
      expect(c.timestampUs).toBe(t0 + Math.round((k * F * 1e6) / TONE_RATE));
      expect(c.durationUs).toBe(Math.round(((k + 1) * F * 1e6) / TONE_RATE) - Math.round((k * F * 1e6) / TONE_RATE));
    });
    const decoded = await decodeAdts(enc.adts, 2);
    const decodedSamples = decoded.length / 2;
    expect(decodedSamples).toBe(enc.chunks.length * F);
    expect(decodedSamples - total).toBeGreaterThanOrEqual(0);
    expect(decodedSamples - total).toBeLessThan(F);
    const report = analyseTone(decoded, 2, total, enc.joins);
    console.log(`native ffmpeg, 0.5 s segments (${enc.jobs} jobs): ${describeReport(report)}`);
    expect(seamlessViolations(report)).toEqual([]);
  });

  it("mono s16 AudioData of 1024 frames in 0.25 s segments, and interleaved f32 stereo in 1 s segments", async () => {
    for (const [format, channels, piece, segmentMs, seconds] of [["s16", 1, 1024, 250, 3], ["f32", 2, 441, 1000, 11]] as const) {
      const total = seconds * TONE_RATE;
      const enc = await encodeTone(seconds, piece, format, { channels, segmentMs });
      expect(enc.joins.length).toBeGreaterThanOrEqual(10);
      const decoded = await decodeAdts(enc.adts, channels);
      expect(decoded.length / channels).toBe(Math.ceil(total / F) * F);
      const report = analyseTone(decoded, channels, total, enc.joins);
      console.log(`native ffmpeg, ${format} ${channels} ch, ${segmentMs} ms segments (${enc.jobs} jobs): ${describeReport(report)}`);
      expect(seamlessViolations(report)).toEqual([]);
    }
  });

  describe("attacks just after joins", () => {
    // A quiet tone (0.1) with a decaying 3 kHz burst (an attack: FFmpeg switches
    // to short windows for it) 1.2 frames after every join, and the same burst
    // 11.2 frames after every join as a control. An attack in frame k + 1 needs
    // frame k to be LONG_START: the previous job's last kept frame must have
    // seen it in its lookahead, else the join's two frames disagree on the
    // window and their aliasing lands in the block before the attack. That
    // block is measured (decoded minus input, RMS): median over the join
    // attacks against median over the controls.
    const seconds = 6;
    const segmentFrames = 23; // 500 ms
    const total = seconds * TONE_RATE;
    const signal = new Float32Array(total);
    /** The blocks measured: the one before each attack (for a join attack, the join block itself). */
    const attacks: { join: number[]; control: number[] } = { join: [], control: [] };
    for (let i = 0; i < total; i++) signal[i] = 0.1 * Math.sin((2 * Math.PI * 440 * i) / TONE_RATE);
    for (let j = segmentFrames; (j + segmentFrames) * F < total; j += segmentFrames) {
      for (const [offset, list] of [[1.2, attacks.join], [11.2, attacks.control]] as const) {
        const at = Math.round((j + offset) * F);
        for (let n = 0; n < 400; n++) signal[at + n]! += 0.8 * Math.exp(-n / 80) * Math.sin((2 * Math.PI * 3000 * n) / TONE_RATE);
        list.push(Math.floor(at / F) - 1);
      }
    }
    const source: Signal = (ch, i) => signal[i]! * (ch === 0 ? 1 : 0.9);

    async function measure(options: Partial<SegmentedEncoderOptions>): Promise<{ join: number; control: number }> {
      const enc = await encodeSignal(source, seconds, 480, "f32-planar", { segmentMs: 500, ...options });
      expect(enc.joins.slice(0, attacks.join.length)).toEqual(attacks.join);
      const decoded = await decodeAdts(enc.adts, 2);
      const blockError = (b: number): number => {
        let e2 = 0;
        for (let i = b * F; i < (b + 1) * F; i++) for (let ch = 0; ch < 2; ch++) e2 += (decoded[i * 2 + ch]! - Math.fround(source(ch, i))) ** 2;
        return Math.sqrt(e2 / (2 * F));
      };
      const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
      return { join: median(attacks.join.map(blockError)), control: median(attacks.control.map(blockError)) };
    }

    it("are coded as well as attacks mid-segment; without the lookahead or the preroll they are not", async () => {
      // Measured: 0.0015 against 0.0017 (a continuous encode: 0.0018 / 0.0019);
      // without lookahead 0.0151 (9x), without preroll 0.0134 (8x).
      const seamless = await measure({});
      const noLookahead = await measure({ lookaheadFrames: 0 });
      const noPreroll = await measure({ prerollFrames: 0 });
      for (const [what, m] of [["default", seamless], ["lookahead 0", noLookahead], ["preroll 0", noPreroll]] as const) {
        console.log(`attacks, ${what}: block before an attack just after a join ${m.join.toFixed(4)}, mid-segment ${m.control.toFixed(4)} (median RMS error)`);
      }
      expect(seamless.join).toBeLessThanOrEqual(2 * seamless.control);
      expect(noLookahead.join).toBeGreaterThan(4 * noLookahead.control);
      expect(noPreroll.join).toBeGreaterThan(4 * noPreroll.control);
    });
  });

  describe("the checks fail where they should", () => {
    it("naive segmenting (each segment encoded alone, priming dropped) clicks at every join", async () => {
      const total = 5 * TONE_RATE;
      const segment = 23 * F;
      const runner = nativeRunner();
      const kept: Uint8Array[] = [];
      const joins: number[] = [];
      for (let start = 0; start < total; start += segment) {
        const n = Math.min(segment, total - start);
        const pcm = new Float32Array(n * 2);
        for (let i = 0; i < n; i++) for (let ch = 0; ch < 2; ch++) pcm[i * 2 + ch] = tone(ch, start + i);
        const frames = splitAdts(await runner.run(new Uint8Array(pcm.buffer), { sampleRate: TONE_RATE, channels: 2, bitrate: 128_000 }));
        kept.push(...frames.slice(1, 1 + Math.ceil(n / F)).map((f) => f.payload));
        if (start) joins.push(start / F);
      }
      const report = analyseTone(await decodeAdts(adtsOf(kept, 2), 2), 2, total, joins);
      console.log(`naive segmenting: ${describeReport(report)}`);
      const violations = seamlessViolations(report);
      expect(violations).toContainEqual(expect.stringMatching(/^worst join/));
      expect(violations).toContainEqual(expect.stringMatching(/^median join/));
      expect(report.joinMedian).toBeGreaterThan(5 * report.floorMedian);
    });

    it("without preroll (the encoder's state cold at each job's first kept frame) the joins stand out", async () => {
      const enc = await encodeTone(5, 480, "f32-planar", { segmentMs: 500, prerollFrames: 0 });
      const report = analyseTone(await decodeAdts(enc.adts, 2), 2, 5 * TONE_RATE, enc.joins);
      console.log(`preroll 0: ${describeReport(report)}`);
      expect(seamlessViolations(report)).toContainEqual(expect.stringMatching(/^median join/));
    });

    it("a lost or a repeated frame moves the phase of everything after it", async () => {
      const enc = await encodeTone(3, 480, "f32-planar", { segmentMs: 500 });
      const frames = enc.chunks.map((c) => c.data);
      const lost = [...frames.slice(0, 60), ...frames.slice(61)];
      const repeated = [...frames.slice(0, 61), ...frames.slice(60)];
      for (const [what, stream] of [["lost", lost], ["repeated", repeated]] as const) {
        const report = analyseTone(await decodeAdts(adtsOf(stream, 2), 2), 2, 3 * TONE_RATE - 2 * F, enc.joins);
        console.log(`frame 60 ${what}: ${describeReport(report)}`);
        expect(report.phaseMaxDeg).toBeGreaterThan(100);
        expect(seamlessViolations(report)).toContainEqual(expect.stringMatching(/^phase off/));
      }
    });
  });
});
