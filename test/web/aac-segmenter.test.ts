/**
 * web/audio/segmenter.ts, the plan of the segmented AAC encoder: which
 * samples each ffmpeg job gets and which of its packets are kept. A hand
 * worked example, then properties over random input lengths, AudioData
 * sizes, segment lengths and prerolls (fast-check):
 *   - the kept frames of all jobs are 0 .. ceil(N/1024) - 1, each once, in order;
 *   - a job's input is exactly the samples pushed, from a frame boundary;
 *   - every kept frame saw true input in its MDCT window and lookahead
 *     (through (k + 2 + lookahead) * 1024) and `preroll` frames before it,
 *     except at the end of the stream and the start of the timeline;
 *   - packets kept map to frames as FFmpeg's one-frame delay says:
 *     packet m of a job starting at S is frame S/1024 + m - 1;
 *   - a job is cut as soon as its input is complete, never later.
 * aac-joins.test.ts shows with a real encoder that this plan joins seamlessly.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AacSegmenter, type SegmentJob } from "../../web/audio/segmenter.js";

const F = 1024;

/** Sample i of channel ch: distinct everywhere, exact in float32. */
const sample = (ch: number, i: number): number => (ch * 100_000 + i) / 1_048_576;

function planes(channels: number, start: number, n: number): Float32Array[] {
  return Array.from({ length: channels }, (_, ch) => Float32Array.from({ length: n }, (_, i) => sample(ch, start + i)));
}

/** Pushes `total` samples in pieces, collecting jobs as they become ready, then finishes. */
function plan(seg: AacSegmenter, total: number, pieces: number[]): SegmentJob[] {
  const jobs: SegmentJob[] = [];
  let pushed = 0;
  let p = 0;
  while (pushed < total) {
    const n = Math.min(pieces[p++ % pieces.length]!, total - pushed);
    seg.push(planes(seg.channels, pushed, n));
    pushed += n;
    for (let job = seg.next(); job; job = seg.next()) jobs.push(job);
    // Never later than possible: after next() returns null, the next job's input is incomplete.
    expect(pushed).toBeLessThan((seg.nextFrame + seg.segmentFrames + 1 + seg.lookaheadFrames) * F);
  }
  const last = seg.finish();
  if (last) jobs.push(last);
  return jobs;
}

const summary = (j: SegmentJob) => ({ start: j.startSample / F, samples: j.sampleCount / F, keepFrom: j.keepFrom, keep: j.keepCount, first: j.firstFrame, packets: j.expectedPackets, final: j.final });

describe("AacSegmenter, worked example", () => {
  it("cuts 20 frames with 4 frames per job and a preroll of 2", () => {
    const seg = new AacSegmenter({ channels: 2, segmentFrames: 4, prerollFrames: 2 });
    const jobs = plan(seg, 20 * F, [20 * F]);
    expect(jobs.map(summary)).toEqual([
      // frames 0-3: input [0, 6F) = their windows [kF, (k+2)F) and lookahead up to 6F; packet 0 is priming
      { start: 0, samples: 6, keepFrom: 1, keep: 4, first: 0, packets: 7, final: false },
      // frames 4-7: input from (4 - 2)F, so 2 preroll frames; drop priming + 2; 4 frames overlap the previous job
      { start: 2, samples: 8, keepFrom: 3, keep: 4, first: 4, packets: 9, final: false },
      { start: 6, samples: 8, keepFrom: 3, keep: 4, first: 8, packets: 9, final: false },
      { start: 10, samples: 8, keepFrom: 3, keep: 4, first: 12, packets: 9, final: false },
      // 20F < (16 + 4 + 2)F: frames 16-19 wait for finish(), which takes the end as it is
      { start: 14, samples: 6, keepFrom: 3, keep: 4, first: 16, packets: 7, final: true },
    ]);
  });

  it("finishes a stream shorter than a frame, and one that ends mid-frame", () => {
    const a = plan(new AacSegmenter({ channels: 1, segmentFrames: 4, prerollFrames: 2 }), 100, [100]);
    expect(a.map(summary)).toEqual([{ start: 0, samples: 100 / F, keepFrom: 1, keep: 1, first: 0, packets: 2, final: true }]);
    const b = plan(new AacSegmenter({ channels: 1, segmentFrames: 2, prerollFrames: 1 }), 5 * F + 1, [777]);
    expect(b.map(summary)).toEqual([
      { start: 0, samples: 4, keepFrom: 1, keep: 2, first: 0, packets: 5, final: false },
      // 5F + 1 samples: frame 5 holds the one extra sample; the encoder zero-pads it
      { start: 1, samples: 4 + 1 / F, keepFrom: 2, keep: 4, first: 2, packets: 6, final: true },
    ]);
  });

  it("finish() with nothing pending plans nothing and starts a new timeline", () => {
    const seg = new AacSegmenter({ channels: 1, segmentFrames: 1, prerollFrames: 0 });
    expect(seg.finish()).toBeNull();
    const first = plan(seg, 3 * F, [3 * F]);
    // frame 0 needs input to 3F; frames 1 and 2 wait for finish()
    expect(first.map((j) => [j.firstFrame, j.keepCount])).toEqual([[0, 1], [1, 2]]);
    expect(seg.totalSamples).toBe(0);
    const again = plan(seg, 2 * F, [F]);
    expect(again.map(summary)).toEqual([
      { start: 0, samples: 2, keepFrom: 1, keep: 2, first: 0, packets: 3, final: true },
    ]);
  });

  it("refuses bad options and ragged planes (TypeError)", () => {
    expect(() => new AacSegmenter({ channels: 0, segmentFrames: 4, prerollFrames: 0 })).toThrow(TypeError);
    expect(() => new AacSegmenter({ channels: 2, segmentFrames: 0, prerollFrames: 0 })).toThrow(TypeError);
    expect(() => new AacSegmenter({ channels: 2, segmentFrames: 1.5, prerollFrames: 0 })).toThrow(TypeError);
    expect(() => new AacSegmenter({ channels: 2, segmentFrames: 4, prerollFrames: -1 })).toThrow(TypeError);
    expect(() => new AacSegmenter({ channels: 2, segmentFrames: 4, prerollFrames: 0, lookaheadFrames: -1 })).toThrow(TypeError);
    const seg = new AacSegmenter({ channels: 2, segmentFrames: 4, prerollFrames: 0 });
    expect(() => seg.push([new Float32Array(4)])).toThrow(TypeError);
    expect(() => seg.push([new Float32Array(4), new Float32Array(3)])).toThrow(TypeError);
  });
});

describe("AacSegmenter properties", () => {
  it("covers every frame once, from complete input, with the preroll", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 * F }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }).filter((p) => p.some((n) => n >= 50)),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        (total, pieces, segmentFrames, prerollFrames, channels, lookaheadFrames) => {
          const seg = new AacSegmenter({ channels, segmentFrames, prerollFrames, lookaheadFrames });
          const jobs = plan(seg, total, pieces);
          const kept: number[] = [];
          jobs.forEach((job, index) => {
            const S = job.startSample;
            const E = S + job.sampleCount;
            expect(S % F).toBe(0);
            expect(job.expectedPackets).toBe(Math.ceil(job.sampleCount / F) + 1);
            expect(job.keepFrom).toBeGreaterThanOrEqual(1); // packet 0, the priming packet, never
            expect(job.keepFrom + job.keepCount).toBeLessThanOrEqual(job.expectedPackets);
            expect(job.firstFrame).toBe(S / F + job.keepFrom - 1); // packet m is frame S/F + m - 1
            expect(job.final).toBe(index === jobs.length - 1);
            for (let k = job.firstFrame; k < job.firstFrame + job.keepCount; k++) {
              kept.push(k);
              // MDCT window [kF, (k+2)F) and the lookahead after it inside the input, unless the stream ends there.
              if (!job.final) expect((k + 2 + lookaheadFrames) * F).toBeLessThanOrEqual(E);
              else expect(E).toBe(total);
              // At least `preroll` frames of true input before the frame, unless the timeline starts later.
              expect(k * F - S).toBeGreaterThanOrEqual(Math.min(k, prerollFrames) * F);
            }
            // The input is the samples pushed, interleaved.
            const pcm = new Float32Array(job.pcm.buffer, job.pcm.byteOffset, job.pcm.byteLength / 4);
            expect(pcm.length).toBe(job.sampleCount * channels);
            for (const i of [0, job.sampleCount - 1, job.sampleCount >> 1]) {
              for (let ch = 0; ch < channels; ch++) expect(pcm[i * channels + ch]).toBe(Math.fround(sample(ch, S + i)));
            }
          });
          expect(kept).toEqual(Array.from({ length: Math.ceil(total / F) }, (_, k) => k));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("overlaps consecutive jobs by preroll + 1 + lookahead frames", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 100, max: 4000 }), (segmentFrames, prerollFrames, lookaheadFrames, piece) => {
        const seg = new AacSegmenter({ channels: 1, segmentFrames, prerollFrames, lookaheadFrames });
        const jobs = plan(seg, (segmentFrames * 6 + prerollFrames + 3) * F, [piece]).filter((j) => !j.final);
        for (let i = 1; i < jobs.length; i++) {
          const prev = jobs[i - 1]!;
          const overlap = prev.startSample + prev.sampleCount - jobs[i]!.startSample;
          const expected = Math.min(jobs[i]!.firstFrame, prerollFrames) + 1 + lookaheadFrames;
          expect(overlap).toBe(expected * F);
        }
      }),
    );
  });
});
