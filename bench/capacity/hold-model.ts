/**
 * How long the bridge's A/V interleaver holds frames by design, on a perfect
 * machine: every frame of the replayed file arrives exactly at its decode
 * time (real-time pacing), goes through the bridge's own Interleaver
 * (server/bridge/interleaver.ts) with the session's track durations (an AAC
 * frame covers 1024 samples; video frames cover nothing), and is released
 * by its rules: a video frame once the audio frame covering its time has
 * arrived (with a file's real-time pacing: at once), an audio frame when
 * the next video frame arrives (up to 33.3 ms at 30 fps). The bridge's latency histogram measures from a
 * frame's arrival to its write, so this hold is part of every figure it
 * reports; the model separates it from the processing time.
 */
import { Interleaver } from "../../server/bridge/interleaver.js";
import type { ReplayMedia } from "../../server/replay/index.js";
import type { HistogramDelta } from "./prometheus.js";

/** The bucket bounds of golive_frame_latency_seconds (server/metrics.ts), seconds. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** The hold of every frame of one pass, ms, in file order. */
export function interleaveHolds(media: ReplayMedia, reorderWindowMs = 1000): number[] {
  const il = new Interleaver<number>(reorderWindowMs);
  if (media.video) il.addTrack("video");
  if (media.audio) il.addTrack("audio", (1024 * 1000) / media.audio.sampleRate);
  const arrival: number[] = [];
  const hold: number[] = new Array<number>(media.frames.length).fill(NaN);
  media.frames.forEach((f, i) => {
    const now = f.dtsUs / 1000;
    arrival.push(now);
    for (const j of il.push(f.track, Math.round(f.dtsUs / 1000), i, now)) hold[j] = now - arrival[j]!;
  });
  return hold.filter((h) => !Number.isNaN(h)); // the last frames of the pass wait for the next one: left out
}

/** The holds as a histogram with the bridge's buckets, to compare with its histogram the same way. */
export function holdHistogram(holdsMs: readonly number[]): HistogramDelta {
  const bounds = [...LATENCY_BUCKETS, Infinity];
  const counts = new Array<number>(bounds.length).fill(0);
  for (const h of holdsMs) {
    const s = h / 1000;
    const b = bounds.findIndex((le) => s <= le);
    counts[b]!++;
  }
  let lo = 0;
  const bins = bounds.map((hi, i) => {
    const bin = { lo, hi, count: counts[i]! };
    lo = hi;
    return bin;
  });
  return { bins, total: holdsMs.length };
}
