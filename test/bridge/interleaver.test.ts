// The interleaver's release rules, pure and deterministic: frames carry
// "track@time" labels, arrival times are given by the test (wall-clock ms),
// and release by age is driven through dueAt/releaseDue as the session does.
import { describe, expect, it } from "vitest";
import { Interleaver, LATENESS_MEMORY_MS } from "../../server/bridge/interleaver.js";

/** One AAC frame at 48 kHz, ms. */
const AAC48 = (1024 * 1000) / 48000;

/** An interleaver with a video track (no frame duration) and an audio track of `audioMs` frames (0: none declared, the old rule), declared in that order. */
function av(audioMs = AAC48, windowMs = 1000): Interleaver<string> {
  const il = new Interleaver<string>(windowMs);
  il.addTrack("v");
  il.addTrack("a", audioMs);
  return il;
}

const push = (il: Interleaver<string>, track: "v" | "a", time: number, arrivedMs?: number): string[] => il.push(track, time, `${track}@${time}`, arrivedMs);

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Arrival {
  track: "v" | "a";
  time: number;
  at: number;
}

interface Run {
  /** Labels in the order written. */
  out: Array<{ track: "v" | "a"; time: number; heldMs: number }>;
}

/**
 * Feeds arrivals in order through `il` as the session does: before each
 * arrival, release whatever falls due by age (one timer at dueAt); at the end
 * of the feed, release by age up to `untilMs`.
 */
function feed(il: Interleaver<string>, arrivals: readonly Arrival[], untilMs = Number.POSITIVE_INFINITY): Run {
  const at = new Map<string, number>();
  const out: Run["out"] = [];
  const emit = (labels: string[], now: number): void => {
    for (const l of labels) {
      const [track, time] = l.split("@") as ["v" | "a", string];
      out.push({ track, time: Number(time), heldMs: now - at.get(l)! });
    }
  };
  const releaseUntil = (limit: number): void => {
    for (;;) {
      const due = il.dueAt();
      if (due === undefined || due > limit) return;
      const released = il.releaseDue(due);
      expect(released.length).toBeGreaterThan(0); // dueAt promised a release
      emit(released, due);
    }
  };
  for (const a of [...arrivals].sort((x, y) => x.at - y.at)) {
    releaseUntil(a.at);
    const label = `${a.track}@${a.time}`;
    at.set(label, a.at);
    emit(push(il, a.track, a.time, a.at), a.at);
  }
  releaseUntil(untilMs);
  return { out };
}

/** Cross-track inversions: frames written after a frame of the other track stamped later. */
function inversions(run: Run): number {
  const last = { v: Number.NEGATIVE_INFINITY, a: Number.NEGATIVE_INFINITY };
  let n = 0;
  for (const f of run.out) {
    if (f.time < last[f.track === "v" ? "a" : "v"]) n++;
    last[f.track] = Math.max(last[f.track], f.time);
  }
  return n;
}

/** Each track's times, in the order written. */
const timesOf = (run: Run, track: "v" | "a"): number[] => run.out.filter((f) => f.track === track).map((f) => f.time);

/**
 * A browser's feed: video at 30 fps, each frame sent `videoLagMs` after its
 * time; AAC frames stamped by counting samples (1024 at 48 kHz) and rounded
 * to ms as the session does, each sent once its last sample exists plus
 * `audioLagMs`; both with +-`jitterMs`/2 of jitter.
 */
function browserFeed(seconds: number, o: { videoLagMs: number; audioLagMs: number; jitterMs: number; seed: number; audioUntilMs?: number }): Arrival[] {
  const r = rng(o.seed);
  const out: Arrival[] = [];
  for (let i = 0; i < seconds * 30; i++) {
    const t = (i * 1000) / 30;
    out.push({ track: "v", time: Math.round(t), at: t + o.videoLagMs + (r() - 0.5) * o.jitterMs });
  }
  for (let k = 0; k * AAC48 < seconds * 1000; k++) {
    const t = k * AAC48;
    if (o.audioUntilMs !== undefined && t >= o.audioUntilMs) break;
    out.push({ track: "a", time: Math.round(t), at: t + AAC48 + o.audioLagMs + (r() - 0.5) * o.jitterMs });
  }
  return out;
}

describe("Interleaver: what did not change", () => {
  it("a frame waits for an empty track that declares no frame duration", () => {
    const il = av();
    expect(push(il, "a", 0, 0)).toEqual([]);
    expect(push(il, "a", 21, 21)).toEqual([]);
    expect(il.size).toBe(2);
    expect(il.dueAt()).toBeUndefined(); // video cannot be overdue: no frame duration
    expect(il.releaseDue(1e9)).toEqual([]);
    expect(push(il, "v", 30, 30)).toEqual(["a@0", "a@21", "v@30"]);
  });

  it("without a frame duration, a video frame waits for the next audio frame, as before", () => {
    const il = av(0);
    expect(push(il, "a", 0)).toEqual([]);
    expect(push(il, "v", 0)).toEqual(["v@0", "a@0"]);
    expect(push(il, "v", 10)).toEqual([]);
    expect(push(il, "a", 21)).toEqual(["v@10"]);
  });

  it("the window releases frames a track lags behind by windowMs of media time", () => {
    const il = av(AAC48, 100);
    expect(push(il, "v", 0)).toEqual([]);
    expect(push(il, "v", 50)).toEqual([]);
    expect(push(il, "v", 100)).toEqual(["v@0"]);
    expect(push(il, "v", 160)).toEqual(["v@50"]);
    // The late audio goes as it comes (after video stamped later); what it does not cover keeps waiting.
    expect(push(il, "a", 10)).toEqual(["a@10"]);
    expect(il.size).toBe(2);
  });

  it("windowMs 0: nothing waits", () => {
    const il = av(AAC48, 0);
    expect(push(il, "v", 100, 0)).toEqual(["v@100"]);
    expect(push(il, "a", 50, 0)).toEqual(["a@50"]);
    expect(il.dueAt()).toBeUndefined();
  });

  it("flush releases everything in time order; each track keeps its order", () => {
    const il = av();
    push(il, "v", 40);
    push(il, "v", 80);
    expect(il.flush()).toEqual(["v@40", "v@80"]);
    expect(il.size).toBe(0);
  });

  it("refuses a frame duration that is not a finite number >= 0", () => {
    const il = new Interleaver<string>(1000);
    expect(() => il.addTrack("a", -1)).toThrow(TypeError);
    expect(() => il.addTrack("a", Number.NaN)).toThrow(TypeError);
    expect(() => il.addTrack("a", Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => new Interleaver<string>(-1)).toThrow(TypeError);
  });
});

describe("Interleaver: a frame goes once the frame covering its time has arrived", () => {
  it("a video frame goes once the audio frame covering its time has arrived, not when the next one does", () => {
    const il = av();
    expect(push(il, "a", 0)).toEqual([]); // video has sent nothing: audio waits
    expect(push(il, "v", 0)).toEqual(["v@0", "a@0"]);
    // Audio at 0 covers [0, 21.33): video up to 21 needs no more audio.
    expect(push(il, "v", 21)).toEqual(["v@21"]);
    // 22 is past it: audio from 21.33 may still precede it.
    expect(push(il, "v", 22)).toEqual([]);
    // The audio frame covering 22 arrives: both go, in time order.
    expect(push(il, "a", 21)).toEqual(["a@21", "v@22"]);
    // An audio frame stamped where video already is goes at once (video never goes back in time).
    expect(push(il, "v", 43)).toEqual([]);
    expect(push(il, "a", 43)).toEqual(["v@43", "a@43"]);
  });

  it("a re-declared frame duration applies from then on (a new AudioSpecificConfig)", () => {
    const il = av(AAC48);
    push(il, "v", 0);
    push(il, "a", 0);
    il.addTrack("a", (1024 * 1000) / 24000); // 42.67 ms
    expect(push(il, "v", 40)).toEqual(["v@40"]);
    il.addTrack("a"); // no duration given: unchanged
    expect(push(il, "v", 42)).toEqual(["v@42"]);
    expect(push(il, "v", 43)).toEqual([]);
  });

  it("with AAC stamps rounded to ms, a video frame released by coverage is never later than the next audio frame", () => {
    // The session stamps each frame round((timestamp - t0) / 1000) ms; a client
    // stamps AAC frame k at first + round(k * samples * 1e6 / rate) µs. For any
    // t0, every video time the coverage releases must be <= the next audio time.
    for (const [rate, samples] of [[48000, 1024], [44100, 1024], [32000, 1024], [24000, 1024], [48000, 960], [22050, 2048]] as const) {
      const frameMs = (samples * 1000) / rate;
      for (let t0Us = 0; t0Us < 1000; t0Us += 37) {
        const ms = (k: number): number => Math.round((Math.round((k * samples * 1e6) / rate) + 500_000 - t0Us) / 1000);
        for (let k = 0; k < 60; k++) {
          const il = av(frameMs);
          push(il, "a", ms(k));
          il.flush(); // audio frame k is the last one that arrived
          // The latest whole ms its coverage lets out...
          let v = ms(k) - 1;
          while (il.push("v", v + 1, "probe").length === 1) v++;
          // ...is no later than frame k+1, and at most 1 ms short of it (the rule is tight).
          const at = `${rate} Hz, ${samples} samples, t0 ${t0Us} µs, frame ${k}`;
          expect(v, at).toBeLessThanOrEqual(ms(k + 1));
          expect(v, at).toBeGreaterThanOrEqual(ms(k + 1) - 1);
        }
      }
    }
  });

  it("a browser's feed: no frame out of cross-track order, each track complete and in order, video held at most about one audio frame", () => {
    for (const seed of [1, 2, 3]) {
      const arrivals = browserFeed(10, { videoLagMs: 6, audioLagMs: 3, jitterMs: 6, seed });
      const run = feed(av(), arrivals);
      expect(inversions(run)).toBe(0);
      for (const track of ["v", "a"] as const) {
        const sent = arrivals.filter((a) => a.track === track).map((a) => a.time);
        expect(timesOf(run, track)).toEqual(sent.slice(0, timesOf(run, track).length));
      }
      // Everything but the tail (waiting for frames after the feed's end) was written.
      expect(run.out.length).toBeGreaterThan(arrivals.length - 5);
      const video = run.out.filter((f) => f.track === "v").map((f) => f.heldMs).sort((x, y) => x - y);
      // The audio frame covering a video frame is sent once its last sample exists: up to a frame after
      // the video (audio 3 +- 3 ms after its end, video 6 +- 3 after its time, 1 ms of rounding).
      expect(video.at(-1)!).toBeLessThanOrEqual(AAC48 + 4);
      // The old rule (the next audio frame) held every video frame at least one audio frame.
      const old = feed(av(0), arrivals);
      const oldVideo = old.out.filter((f) => f.track === "v").map((f) => f.heldMs).sort((x, y) => x - y);
      expect(video[video.length >> 1]!).toBeLessThan(oldVideo[oldVideo.length >> 1]! - AAC48 + 2);
    }
  });

  it("healthy audio that reaches the bridge a little after its video is never given up on", () => {
    // Audio later than video by a few ms (a slow audio path): the covering
    // frame comes more than one frame after the video frame it covers. A rule
    // counting one frame from the video's arrival would give up on it and
    // write video ahead of audio stamped earlier; the lateness it learns says
    // when audio is due.
    for (const seed of [4, 5, 6]) {
      const run = feed(av(), browserFeed(10, { videoLagMs: 3, audioLagMs: 9, jitterMs: 6, seed }));
      expect(inversions(run)).toBe(0);
    }
  });
});

describe("Interleaver: release by age (an audio track that is overdue)", () => {
  /** 1 s of a browser's feed without jitter (video 1 ms after its time, audio 2 ms after its last sample), then audio stops. */
  function stopped(): { il: Interleaver<string>; run: Run; lastAudio: number } {
    const arrivals = browserFeed(2, { videoLagMs: 1, audioLagMs: 2, jitterMs: 0, seed: 1, audioUntilMs: 1000 });
    const lastAudio = Math.max(...arrivals.filter((a) => a.track === "a").map((a) => a.time));
    const il = av();
    return { il, run: feed(il, arrivals, 5000), lastAudio };
  }

  it("audio that stops holds video about one audio frame past when it was due, once; then video flows", () => {
    const { run, lastAudio } = stopped();
    expect(lastAudio).toBe(981); // frame 46 (981.33 ms), stamped 981: covers up to 1002.33
    // Video at 1000 (arrived at 1001.0) waited for that frame (arrived at 1004.67), as when audio flows.
    expect(run.out.find((f) => f.track === "v" && f.time === 1000)!.heldMs).toBeCloseTo(1004.67 - 1001, 1);
    const after = run.out.filter((f) => f.track === "v" && f.time > 1002);
    expect(after.map((f) => f.time)).toEqual(Array.from({ length: 29 }, (_, i) => Math.round(((31 + i) * 1000) / 30)));
    // Audio arrived 2 ms after each frame's end: lateness (arrival - stamp)
    // 23.0-23.67 ms (the stamps are rounded). The frame from 1002.33 ms was
    // thus due by 1002.33 + 23.67 = 1026.0; it is overdue one frame (21.33,
    // more than the 0.67 ms spread) later, at 1047.33. Video at 1033 (arrived
    // at 1034.33) goes then; every later video frame goes as it comes.
    expect(after[0]).toMatchObject({ time: 1033 });
    expect(after[0]!.heldMs).toBeCloseTo(1047.33 - 1034.33, 1);
    expect(after.slice(1).map((f) => f.heldMs)).toEqual(after.slice(1).map(() => 0));
    expect(inversions(run)).toBe(0);
  });

  it("dueAt is exact: nothing is released a moment before it, the frame at it", () => {
    const il = av();
    expect(push(il, "v", 0, 1)).toEqual([]);
    // Audio frames 0..2, each arriving 30 ms after its exact start (the stamps are rounded).
    expect(push(il, "a", 0, 30)).toEqual(["v@0", "a@0"]);
    expect(push(il, "a", 21, AAC48 + 30)).toEqual([]); // audio waits for video
    expect(push(il, "a", 43, 2 * AAC48 + 30)).toEqual([]);
    expect(il.dueAt()).toBeUndefined(); // video cannot be overdue
    // Video at 70: past what audio at 43 covers (64.33).
    expect(push(il, "v", 70, 71)).toEqual(["a@21", "a@43"]);
    // Lateness seen: 30, 30.33, 29.67: the frame from 64.33 is due by 64.33 + 30.33; overdue a frame (21.33 > 0.67) later.
    const due = 43 + AAC48 + (30 + 1 / 3) + AAC48;
    expect(il.dueAt()).toBeCloseTo(due, 9);
    expect(il.releaseDue(due - 0.01)).toEqual([]);
    expect(il.releaseDue(due)).toEqual(["v@70"]);
    expect(il.dueAt()).toBeUndefined();
  });

  it("audio that arrives irregularly is given the spread of its lateness, when more than a frame", () => {
    const il = av();
    push(il, "v", 0, 0);
    // Arriving 30, 70 and 60 ms after their exact start: the latest lateness 70.33, the spread 40.33 (more than 21.33).
    push(il, "a", 0, 30);
    push(il, "a", 21, AAC48 + 70);
    push(il, "a", 43, 2 * AAC48 + 60);
    expect(push(il, "v", 70, 71)).toEqual(["a@21", "a@43"]);
    const lateness = [30, AAC48 + 70 - 21, 2 * AAC48 + 60 - 43];
    const due = 43 + AAC48 + Math.max(...lateness) + (Math.max(...lateness) - Math.min(...lateness));
    expect(il.dueAt()).toBeCloseTo(due, 9);
    expect(il.releaseDue(due - 0.01)).toEqual([]);
    expect(il.releaseDue(due)).toEqual(["v@70"]);
  });

  it("a late audio frame after video went on without it is written at once, in its track's order", () => {
    const { il, run } = stopped();
    const videoOut = timesOf(run, "v");
    expect(videoOut.at(-1)).toBe(1967);
    // The audio that was missing comes now, stamped before video already written.
    expect(push(il, "a", 1003, 6000)).toEqual(["a@1003"]);
    expect(push(il, "a", 1024, 6000)).toEqual(["a@1024"]);
    // Nothing more waits, and no frame of either track was lost or reordered within its track.
    expect(il.size).toBe(0);
    const audio = [...timesOf(run, "a"), 1003, 1024];
    expect(audio).toEqual([...audio].sort((x, y) => x - y));
  });

  it("nothing is released by age before the audio track's first frame, nor for frames pushed without an arrival time", () => {
    const il = av();
    expect(push(il, "v", 0, 0)).toEqual([]);
    expect(il.dueAt()).toBeUndefined(); // no lateness known yet: the window decides
    const il2 = av();
    push(il2, "v", 0);
    push(il2, "a", 0);
    expect(push(il2, "v", 40)).toEqual([]);
    expect(il2.dueAt()).toBeUndefined();
    expect(il2.releaseDue(1e12)).toEqual([]);
  });

  it("audio late by design (an encoder working in 500 ms segments) is still waited for, up to the window", () => {
    // Each segment of 23 AAC frames arrives at once, 2 frames of lookahead and 70-100 ms of encoding after its end.
    const r = rng(9);
    const arrivals: Arrival[] = [];
    for (let i = 0; i < 300; i++) arrivals.push({ track: "v", time: Math.round((i * 1000) / 30), at: (i * 1000) / 30 + 8 });
    for (let seg = 0; seg * 23 * AAC48 < 10_000; seg++) {
      const at = (seg + 1) * 23 * AAC48 + 2 * AAC48 + 70 + r() * 30;
      for (let k = seg * 23; k < (seg + 1) * 23; k++) arrivals.push({ track: "a", time: Math.round(k * AAC48), at });
    }
    const run = feed(av(), arrivals);
    expect(inversions(run)).toBe(0);
    const video = run.out.filter((f) => f.track === "v").map((f) => f.heldMs);
    expect(Math.max(...video)).toBeGreaterThan(500); // video waited for each segment
    expect(Math.max(...video)).toBeLessThan(1000 + 10);
  });

  it("lateness is remembered for LATENESS_MEMORY_MS of the track's media time", () => {
    /**
     * Audio stalled for `stallMs` at the start (its first frames come in one
     * burst), then 20 ms after each frame's end up to `seconds`; then video
     * past it: when is that video due?
     */
    const dueAfter = (stallMs: number, seconds: number): number => {
      const il = av();
      push(il, "v", 0, 0);
      let now = 0;
      for (let k = 0; k * AAC48 <= seconds * 1000; k++) {
        now = Math.max(k * AAC48 + AAC48 + 20, stallMs);
        push(il, "a", Math.round(k * AAC48), now);
      }
      push(il, "v", seconds * 1000 + 100, now);
      return il.dueAt()!;
    };
    expect(LATENESS_MEMORY_MS).toBe(2000);
    // 2.6 s on, the burst (frames up to 0.5 s) is more than 2 s of audio back: forgotten.
    expect(dueAfter(500, 2.6)).toBeCloseTo(dueAfter(0, 2.6), 9);
    // 1.9 s on, it still counts: the audio is waited for longer.
    expect(dueAfter(500, 1.9)).toBeGreaterThan(dueAfter(0, 1.9) + 400);
  });
});
