/**
 * Expectations on a {@link StreamReport}, each failure one readable line:
 * "keyframe interval 4.0 s, expected <= 2 s".
 */
import type { StreamReport } from "./analyze.js";

/** What a go-live stream must be. Every field is optional; the defaults describe a healthy H.264/AAC broadcast. */
export interface StreamExpectations {
  /** Video codec (default "h264"); false: no video expected. */
  video?: "h264" | false;
  /** Audio codec (default "aac"); false: no audio expected. */
  audio?: "aac" | false;
  /** Picture size. */
  width?: number;
  height?: number;
  /** Frame rate: a number allows +-10 %, or give a range. */
  fps?: number | { min?: number; max?: number };
  /** Shortest acceptable duration, s. */
  minDurationS?: number;
  /** Longest acceptable keyframe interval, s (default 2.1: the platforms ask for 2 s). */
  maxKeyframeIntervalS?: number;
  /** Longest acceptable hole in the audio timeline, ms (default 0: continuous). */
  maxAudioGapMs?: number;
  /** Longest acceptable freeze between video frames, ms (default 500). */
  maxFrameGapMs?: number;
  /**
   * Largest acceptable |A/V offset| at the start and at the end, ms (needs a
   * report made with `sync: true` from the kit's clip or synthetic media).
   */
  maxAvOffsetMs?: number;
  /** Largest acceptable change of the A/V offset from start to end, ms (needs `sync: true`). */
  maxAvDriftMs?: number;
  /** Longest acceptable dropout in the decoded audio, ms (needs `sync: true`; default 2 when sync was measured). */
  maxAudioDropoutMs?: number;
}

const s1 = (x: number): string => x.toFixed(1);

/**
 * Everything about `report` that does not meet `expected`, one sentence per
 * problem; empty when the stream is good.
 */
export function streamProblems(report: StreamReport, expected: StreamExpectations = {}): string[] {
  const problems: string[] = [];
  if (report.error) problems.push(report.error);
  const wantVideo = expected.video ?? "h264";
  const wantAudio = expected.audio ?? "aac";
  const { video, audio, sync } = report;
  if (wantVideo && !video) problems.push(`no ${wantVideo === "h264" ? "H.264" : wantVideo} video arrived`);
  if (!wantVideo && video) problems.push(`video arrived (${video.codecString}), expected none`);
  if (wantAudio && !audio) problems.push(`no ${wantAudio === "aac" ? "AAC" : wantAudio} audio arrived`);
  if (!wantAudio && audio) problems.push(`audio arrived (${audio.codecString}), expected none`);

  if (video) {
    if (expected.width !== undefined && video.width !== expected.width) problems.push(`width ${video.width}, expected ${expected.width}`);
    if (expected.height !== undefined && video.height !== expected.height) problems.push(`height ${video.height}, expected ${expected.height}`);
    if (expected.fps !== undefined) {
      const range = typeof expected.fps === "number" ? { min: expected.fps * 0.9, max: expected.fps * 1.1 } : expected.fps;
      if ((range.min !== undefined && video.fps < range.min) || (range.max !== undefined && video.fps > range.max)) {
        const want = range.min !== undefined && range.max !== undefined ? `${s1(range.min)}..${s1(range.max)}` : range.min !== undefined ? `>= ${s1(range.min)}` : `<= ${s1(range.max!)}`;
        problems.push(`frame rate ${s1(video.fps)} fps, expected ${want}`);
      }
    }
    const maxKey = expected.maxKeyframeIntervalS ?? 2.1;
    if (video.maxKeyframeIntervalS > maxKey) problems.push(`keyframe interval ${s1(video.maxKeyframeIntervalS)} s, expected <= ${maxKey} s`);
    if (!video.startsWithKeyframe) problems.push("the video does not start with a keyframe");
    if (video.nonMonotonic > 0) problems.push(`video timestamps went backwards ${video.nonMonotonic} times`);
    const maxGap = expected.maxFrameGapMs ?? 500;
    if (video.longestFrameGapMs > maxGap) problems.push(`the video froze for ${video.longestFrameGapMs} ms between two frames, expected <= ${maxGap} ms`);
  }
  if (audio) {
    const maxGap = expected.maxAudioGapMs ?? 0;
    const over = audio.gapsMs.filter((g) => g > maxGap);
    if (over.length > 0) problems.push(`${over.length} gap(s) in the audio, longest ${s1(Math.max(...over))} ms, expected none over ${maxGap} ms`);
    if (audio.overlaps > 0) problems.push(`${audio.overlaps} audio frame(s) overlap the one before (timestamps too close)`);
  }
  if (expected.minDurationS !== undefined && report.durationS < expected.minDurationS) problems.push(`duration ${s1(report.durationS)} s, expected >= ${expected.minDurationS} s`);

  const needsSync = expected.maxAvOffsetMs !== undefined || expected.maxAvDriftMs !== undefined || expected.maxAudioDropoutMs !== undefined;
  if (needsSync && !sync) {
    problems.push("A/V sync was not measured: analyze the stream with { sync: true } (needs ffmpeg, and the kit's clip or synthetic media)");
  } else if (sync) {
    if (sync.offsetsMs.length < 2) {
      problems.push(`A/V sync could not be measured: ${sync.flashes.length} flash(es) and ${sync.beeps.length} beep(s) found (is the source the kit's clip or synthetic media?)`);
    } else {
      if (expected.maxAvOffsetMs !== undefined) {
        for (const [when, value] of [["start", sync.startOffsetMs], ["end", sync.endOffsetMs]] as const) {
          if (Math.abs(value) > expected.maxAvOffsetMs) problems.push(`A/V offset at the ${when} ${value.toFixed(0)} ms (${value > 0 ? "sound late" : "sound early"}), expected within +-${expected.maxAvOffsetMs} ms`);
        }
      }
      if (expected.maxAvDriftMs !== undefined && Math.abs(sync.driftMs) > expected.maxAvDriftMs) problems.push(`A/V drift ${sync.driftMs.toFixed(0)} ms from start to end, expected within +-${expected.maxAvDriftMs} ms`);
    }
    const maxDropout = expected.maxAudioDropoutMs ?? 2;
    if (sync.longestDropoutMs > maxDropout) problems.push(`audio dropout of ${sync.longestDropoutMs} ms in the decoded sound, expected <= ${maxDropout} ms`);
  }
  return problems;
}

/** A one-paragraph summary of a report, for failure messages and logs. */
export function describeStream(report: StreamReport): string {
  const parts: string[] = [];
  if (report.video) {
    const v = report.video;
    parts.push(`video ${v.codecString} ${v.width}x${v.height} ${s1(v.fps)} fps, ${v.frames} frames over ${s1(v.durationS)} s, keyframes every <= ${s1(v.maxKeyframeIntervalS)} s`);
  }
  if (report.audio) {
    const a = report.audio;
    parts.push(`audio ${a.codecString} ${a.sampleRate} Hz ${a.channels} ch, ${a.frames} frames over ${s1(a.durationS)} s, ${a.gapsMs.length} gap(s)`);
  }
  if (report.sync) parts.push(`A/V offset ${report.sync.startOffsetMs.toFixed(0)} ms at the start, ${report.sync.endOffsetMs.toFixed(0)} ms at the end (${report.sync.offsetsMs.length} flash/beep pairs)`);
  return `${report.path}: ${parts.join("; ") || "no media"}`;
}
