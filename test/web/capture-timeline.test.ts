// AudioTimeline and DriftCorrector (web/capture/audio-timeline.ts): blocks as
// an AudioWorklet posts them, arrival times as the main thread would see
// them, and what comes out: stamps on the capture clock, continuity, and
// samples untouched when the audio clock keeps time.
import { describe, expect, it } from "vitest";
import { SampleCounter } from "../../web/capture/audio-capture.js";
import { AudioTimeline, DriftCorrector, type PcmBlock } from "../../web/capture/audio-timeline.js";

const SR = 48000;
const B = 1024;

/** A ramp whose value is the input frame index (scaled): what a resampler read where is readable off its output. */
const ramp = (start: number, n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (start + i) * 1e-6);

interface Sim {
  out: PcmBlock[];
  timeline: AudioTimeline;
}

/**
 * Feeds `seconds` of 1024-frame blocks whose frame n was captured at
 * wall = t0 + n / (SR * speed) µs and arrives `delay(n)` µs after its last frame.
 */
function simulate(seconds: number, speed: number, delay: (frame: number) => number, channels = 1): Sim {
  const timeline = new AudioTimeline({ sampleRate: SR, channels });
  const out: PcmBlock[] = [];
  const t0 = 1_700_000_000_000_000;
  for (let start = 0; start < seconds * SR; start += B) {
    const end = start + B;
    const arrival = t0 + (end * 1e6) / (SR * speed) + delay(start);
    out.push(...timeline.push({ startFrame: start, frames: B, planes: Array.from({ length: channels }, () => ramp(start, B)) }, arrival));
  }
  return { out, timeline };
}

function concat(blocks: PcmBlock[], ch = 0): Float32Array {
  const total = blocks.reduce((n, b) => n + b.planes[ch]!.length, 0);
  const all = new Float32Array(total);
  let p = 0;
  for (const b of blocks) {
    all.set(b.planes[ch]!, p);
    p += b.planes[ch]!.length;
  }
  return all;
}

describe("AudioTimeline", () => {
  it("holds blocks until the anchor is known, then stamps each at anchor + startFrame / rate, samples untouched", () => {
    const jitter = (n: number) => 2000 + ((n / B) % 7) * 900; // 2..7.4 ms late, never less
    const { out, timeline } = simulate(5, 1, jitter);
    expect(timeline.anchorUs).toBeDefined();
    expect(timeline.ratio).toBe(1);
    // Continuous stamps: each block starts where the previous ended.
    for (let i = 1; i < out.length; i++) {
      const prev = out[i - 1]!;
      expect(out[i]!.timestampUs - prev.timestampUs).toBeCloseTo((prev.planes[0]!.length * 1e6) / SR, -1);
      expect(out[i]!.discontinuity).toBe(false);
    }
    // Sample for sample the input (all but the two frames the resampler keeps in hand).
    const all = concat(out);
    expect(all.length).toBe(Math.ceil((5 * SR) / B) * B - 2);
    expect(all).toEqual(ramp(0, all.length));
    // The anchor is the least late block: 2 ms after its last frame was captured.
    expect(out[0]!.timestampUs).toBe(Math.round(1_700_000_000_000_000 + 2000));
  });

  it("a 1.5 s main-thread stall delays blocks but changes neither their samples nor their stamps", () => {
    // Blocks between 2 s and 3.5 s arrive in one burst at 3.5 s.
    const stall = (n: number) => (n >= 2 * SR && n < 3.5 * SR ? (3.5 * SR - n) * (1e6 / SR) : 1000);
    const calm = simulate(6, 1, () => 1000);
    const stalled = simulate(6, 1, stall);
    expect(stalled.timeline.ratio).toBe(1);
    expect(concat(stalled.out)).toEqual(concat(calm.out));
    expect(stalled.out.map((b) => b.timestampUs)).toEqual(calm.out.map((b) => b.timestampUs));
  });

  it("after a stall, a backlog drained almost at its own pace (WebKit: each message handled slowly) does not pass for drift", () => {
    // Blocks captured from 2 s are queued behind a stall until 3.5 s, then handled one per 0.3 block times until caught up (~4.1 s).
    const drain = (n: number) => {
      const t = n / SR;
      if (t < 2) return 1000;
      const arrival = 3.5 + 0.3 * (t - 2);
      return arrival > t ? (arrival - t) * 1e6 : 1000;
    };
    const calm = simulate(8, 1, () => 1000);
    const stalled = simulate(8, 1, drain);
    expect(stalled.timeline.ratio).toBe(1);
    expect(stalled.out.map((b) => b.timestampUs)).toEqual(calm.out.map((b) => b.timestampUs));
  });

  it("an audio clock 2.4 % slow (Firefox's mock device) is resampled: after 3 s every stamp is within 15 ms of the capture time of its samples", () => {
    const speed = 0.976;
    const { out, timeline } = simulate(12, speed, (n) => 1000 + ((n / B) % 5) * 1500);
    expect(timeline.ratio).toBeGreaterThan(1.015);
    expect(timeline.ratio).toBeLessThan(1.035);
    const t0 = 1_700_000_000_000_000;
    const anchor = timeline.anchorUs!;
    let worst = 0;
    for (const block of out) {
      // The ramp says which input frame each output frame was read at.
      const inputFrame = block.planes[0]![0]! / 1e-6;
      const capturedUs = t0 + (inputFrame * 1e6) / (SR * speed);
      if (block.timestampUs - anchor < 3e6) continue;
      worst = Math.max(worst, Math.abs(block.timestampUs - (capturedUs + (anchor - t0))));
    }
    expect(worst).toBeLessThan(15_000);
    // Still one continuous stream of output frames.
    for (let i = 1; i < out.length; i++) expect(out[i]!.timestampUs - out[i - 1]!.timestampUs).toBeCloseTo((out[i - 1]!.planes[0]!.length * 1e6) / SR, -1);
  });

  it("an audio clock 1 % fast is slowed down the same way", () => {
    const speed = 1.01;
    const { out, timeline } = simulate(12, speed, () => 1500);
    expect(timeline.ratio).toBeLessThan(0.995);
    const t0 = 1_700_000_000_000_000;
    const last = out[out.length - 1]!;
    const capturedUs = t0 + ((last.planes[0]![0]! / 1e-6) * 1e6) / (SR * speed);
    expect(Math.abs(last.timestampUs - (capturedUs + (timeline.anchorUs! - t0)))).toBeLessThan(15_000);
  });

  it("fills a short hole in the context's timeline with silence, stamped where the hole was", () => {
    const timeline = new AudioTimeline({ sampleRate: SR, channels: 2, anchorBlocks: 1 });
    const block = (start: number) => ({ startFrame: start, frames: B, planes: [ramp(start, B), ramp(start, B)] });
    const a = timeline.push(block(0), 1e12 + (B * 1e6) / SR);
    const b = timeline.push(block(3 * B), 1e12 + (4 * B * 1e6) / SR); // frames 1024..3071 never came
    expect(timeline.silenceFrames).toBe(2 * B);
    const out = [...a, ...b];
    const all = concat(out, 1);
    expect(all.length).toBe(4 * B - 2);
    expect(all.subarray(0, B)).toEqual(ramp(0, B));
    expect(all.subarray(B, 3 * B).every((v) => v === 0)).toBe(true);
    expect(all.subarray(3 * B)).toEqual(ramp(3 * B, B - 2));
    expect(out.every((o) => !o.discontinuity)).toBe(true);
  });

  it("starts a new timeline after a hole longer than maxGapFrames", () => {
    const timeline = new AudioTimeline({ sampleRate: SR, channels: 1, anchorBlocks: 1, maxGapFrames: SR });
    timeline.push({ startFrame: 0, frames: B, planes: [ramp(0, B)] }, 1e12);
    const after = timeline.push({ startFrame: 5 * SR, frames: B, planes: [ramp(5 * SR, B)] }, 1e12 + 5e6);
    expect(after[0]!.discontinuity).toBe(true);
    expect(after[0]!.timestampUs - timeline.anchorUs!).toBeCloseTo(5e6, -1);
    expect(timeline.silenceFrames).toBe(0);
  });

  it("rejects a timeline without channels", () => {
    expect(() => new AudioTimeline({ sampleRate: SR, channels: 0 })).toThrow(RangeError);
  });
});

describe("DriftCorrector", () => {
  it("at ratio 1 passes samples through exactly, two frames behind", () => {
    const d = new DriftCorrector(SR, 1);
    const r1 = d.process([ramp(0, 100)], 0);
    const r2 = d.process([ramp(100, 100)], 100);
    expect(r1.outputFrame).toBe(0);
    expect(r1.frames).toBe(98);
    expect(r2.outputFrame).toBe(98);
    expect(concat([{ planes: r1.planes, sampleRate: SR, timestampUs: 0, discontinuity: false }, { planes: r2.planes, sampleRate: SR, timestampUs: 0, discontinuity: false }])).toEqual(ramp(0, 198));
    expect(d.insertedFrames).toBe(0);
  });
});

describe("SampleCounter (track-processor audio)", () => {
  it("numbers blocks by sample count through Chromium's uneven stamps (up to ~10 ms late)", () => {
    const c = new SampleCounter(SR);
    // Stamps of 10 ms AudioData as Chromium 156 delivered them (ms): late by 0..9.3, never early.
    const stamps = [0, 9.3, 28.6, 30.7, 40, 49.5, 68.7, 70.8, 80.1, 89.5, 108.8, 110.9];
    expect(stamps.map((ms) => c.next(ms * 1000, 480))).toEqual(stamps.map((_, i) => i * 480));
    expect(c.lostFrames).toBe(0);
  });

  it("jumps over samples the browser dropped (a stamp more than 30 ms ahead of the count)", () => {
    const c = new SampleCounter(SR);
    expect(c.next(0, 480)).toBe(0);
    expect(c.next(10_000, 480)).toBe(480);
    // 200 ms of AudioData lost: the next one is stamped 220 ms.
    expect(c.next(220_000, 480)).toBe(220 * 48);
    expect(c.lostFrames).toBe(200 * 48);
    expect(c.next(230_000, 480)).toBe(230 * 48);
  });

  it("a first block delivered late does not make later ones look lost: the base follows the earliest stamps", () => {
    const c = new SampleCounter(SR);
    c.next(25_000, 480); // 25 ms late
    for (let i = 1; i < 100; i++) expect(c.next(i * 10_000 + (i % 3) * 4000, 480)).toBe(i * 480);
    expect(c.lostFrames).toBe(0);
  });
});
