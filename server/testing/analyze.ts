/**
 * What arrived, measured from the FLV an ingest recorded: codecs, picture
 * size, frame rate, duration, keyframe spacing and audio continuity come from
 * the tags themselves (golive's own FLV demuxer and H.264/AAC config parsers;
 * no ffmpeg needed). The A/V offset needs the picture and the sound decoded,
 * so it uses ffmpeg: the flash frames of the kit's clip or synthetic source
 * against the onsets of its 1 kHz beeps.
 */
import { readFile } from "node:fs/promises";
import { parseAudioSpecificConfig } from "../media/aac.js";
import { avcCodecString, parseAvcDecoderConfig } from "../media/avc.js";
import { FlvDemuxer, FlvDemuxError, type FlvPacket } from "../replay/flv-demux.js";
import { beepTimes, decodeAudio, flashTimes, frameLuma, longestDropoutMs } from "./media-checks.js";

/** The video track of a recording. */
export interface VideoReport {
  /** "h264" (the only video codec golive sends today). */
  readonly codec: "h264";
  /** WebCodecs/RFC 6381 codec string, e.g. "avc1.64001f". */
  readonly codecString: string;
  readonly profile: string;
  /** e.g. 3.1 */
  readonly level: number;
  readonly width: number;
  readonly height: number;
  /** Coded frames in the recording. */
  readonly frames: number;
  /** Frames per second over the recording: (frames - 1) / (last dts - first dts). */
  readonly fps: number;
  /** First to last frame, s. */
  readonly durationS: number;
  /** Keyframes seen. */
  readonly keyframes: number;
  /** Seconds between consecutive keyframes (empty with fewer than two). */
  readonly keyframeIntervalsS: readonly number[];
  /** The longest of those, or, with one keyframe, from it to the last frame (s). */
  readonly maxKeyframeIntervalS: number;
  /** True when the first frame is a keyframe (a player can start at once). */
  readonly startsWithKeyframe: boolean;
  /** Decode timestamps that went backwards. */
  readonly nonMonotonic: number;
  /** The longest step between consecutive frames, ms (a freeze shows here). */
  readonly longestFrameGapMs: number;
}

/** The audio track of a recording. */
export interface AudioReport {
  /** "aac" (the only audio codec golive sends today). */
  readonly codec: "aac";
  /** e.g. "mp4a.40.2" */
  readonly codecString: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly frames: number;
  /** From the first frame's start to the last frame's end, s. */
  readonly durationS: number;
  /** One frame's duration, ms (1024 samples at 48 kHz: 21.333). */
  readonly frameMs: number;
  /**
   * Holes in the audio timeline, ms each: a frame that starts later than the
   * previous one ends (beyond the FLV millisecond rounding).
   */
  readonly gapsMs: readonly number[];
  /** Frames that start before the previous one ends (beyond the rounding). */
  readonly overlaps: number;
}

/** A/V sync measured on the kit's content (flash + beep each second). */
export interface SyncReport {
  /** Flash frames found (s, on the recording's timeline). */
  readonly flashes: readonly number[];
  /** Beep onsets found (s). */
  readonly beeps: readonly number[];
  /** For each flash with a beep within 500 ms: beep - flash, ms (positive: sound late). */
  readonly offsetsMs: readonly number[];
  /** Median offset of the first five pairs, of the last five, and of all (ms). */
  readonly startOffsetMs: number;
  readonly endOffsetMs: number;
  readonly medianOffsetMs: number;
  /** endOffsetMs - startOffsetMs. */
  readonly driftMs: number;
  /** Longest dropout in the decoded tone, ms (the tone is continuous in the source). */
  readonly longestDropoutMs: number;
}

/** Everything {@link analyzeRecording} measured. */
export interface StreamReport {
  readonly path: string;
  readonly bytes: number;
  readonly video?: VideoReport;
  readonly audio?: AudioReport;
  /** Longest track, s. */
  readonly durationS: number;
  /** Bytes at the end that were not a whole tag (a recording cut mid-write). */
  readonly truncatedBytes: number;
  /** Audio duration - video duration (each from its first frame to the end of its last), s. */
  readonly audioMinusVideoS?: number;
  /** Present when asked for (`sync: true`) and ffmpeg is installed. */
  readonly sync?: SyncReport;
  /** Why the recording could not be read as H.264/AAC FLV (then most fields are missing). */
  readonly error?: string;
}

/** Options for {@link analyzeRecording}. */
export interface AnalyzeOptions {
  /** Measure the A/V offset from flashes and beeps (needs ffmpeg; the source must be the kit's clip or synthetic media). */
  sync?: boolean;
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

function videoReport(config: Uint8Array, frames: ReadonlyArray<FlvPacket & { type: "frame" }>): VideoReport {
  const avc = parseAvcDecoderConfig(config);
  const dts = frames.map((f) => f.dtsMs);
  const first = dts[0] ?? 0;
  const last = dts[dts.length - 1] ?? 0;
  const durationS = (last - first) / 1000;
  const keys = frames.filter((f) => f.keyframe).map((f) => f.dtsMs);
  const intervals: number[] = [];
  for (let i = 1; i < keys.length; i++) intervals.push(round((keys[i]! - keys[i - 1]!) / 1000));
  let nonMonotonic = 0;
  let longestGap = 0;
  for (let i = 1; i < dts.length; i++) {
    if (dts[i]! < dts[i - 1]!) nonMonotonic++;
    longestGap = Math.max(longestGap, dts[i]! - dts[i - 1]!);
  }
  const tail = keys.length > 0 ? (last - keys[keys.length - 1]!) / 1000 : durationS;
  return {
    codec: "h264",
    codecString: avcCodecString(avc.info),
    profile: avc.info.profileName,
    level: avc.info.level,
    width: avc.info.width,
    height: avc.info.height,
    frames: frames.length,
    fps: durationS > 0 ? round((frames.length - 1) / durationS, 2) : 0,
    durationS: round(durationS),
    keyframes: keys.length,
    keyframeIntervalsS: intervals,
    maxKeyframeIntervalS: round(intervals.length > 0 ? Math.max(...intervals) : tail),
    startsWithKeyframe: frames[0]?.keyframe ?? false,
    nonMonotonic,
    longestFrameGapMs: longestGap,
  };
}

function audioReport(config: Uint8Array, frames: ReadonlyArray<FlvPacket & { type: "frame" }>): AudioReport {
  const asc = parseAudioSpecificConfig(config);
  const frameMs = (asc.samplesPerFrame / asc.sampleRate) * 1000;
  const gaps: number[] = [];
  let overlaps = 0;
  // FLV timestamps are whole milliseconds: each may be up to 1 ms off.
  const tolerance = 1.5;
  for (let i = 1; i < frames.length; i++) {
    const step = frames[i]!.dtsMs - frames[i - 1]!.dtsMs;
    if (step > frameMs + tolerance) gaps.push(round(step - frameMs, 1));
    else if (step < frameMs - tolerance) overlaps++;
  }
  const first = frames[0]?.dtsMs ?? 0;
  const last = frames[frames.length - 1]?.dtsMs ?? 0;
  return {
    codec: "aac",
    codecString: `mp4a.40.${asc.objectType}`,
    sampleRate: asc.sampleRate,
    channels: asc.channels,
    frames: frames.length,
    durationS: frames.length > 0 ? round((last - first + frameMs) / 1000) : 0,
    frameMs: round(frameMs),
    gapsMs: gaps,
    overlaps,
  };
}

/** Pairs each flash with the nearest beep within 500 ms. */
export function syncFrom(flashes: readonly number[], beeps: readonly number[], dropoutMs: number): SyncReport {
  const offsets: number[] = [];
  for (const f of flashes) {
    let best = Number.POSITIVE_INFINITY;
    for (const b of beeps) if (Math.abs(b - f) < Math.abs(best - f)) best = b;
    if (Math.abs(best - f) <= 0.5) offsets.push(round((best - f) * 1000, 1));
  }
  const start = median(offsets.slice(0, 5));
  const end = median(offsets.slice(-5));
  return {
    flashes,
    beeps,
    offsetsMs: offsets,
    startOffsetMs: start,
    endOffsetMs: end,
    medianOffsetMs: median(offsets),
    driftMs: round(end - start, 1),
    longestDropoutMs: dropoutMs,
  };
}

/**
 * Reads the FLV at `path` and measures it. A recording cut in the middle of a
 * tag is read up to its last whole tag. Never throws for bad content: what is
 * wrong goes into `error`. Throws only if the file cannot be read, or, with
 * `sync`, if ffmpeg is missing.
 */
export async function analyzeRecording(path: string, options: AnalyzeOptions = {}): Promise<StreamReport> {
  const bytes = await readFile(path);
  const demuxer = new FlvDemuxer();
  const packets: FlvPacket[] = [];
  let used = 0;
  let error: string | undefined;
  try {
    used = demuxer.parse(bytes, packets);
  } catch (e) {
    if (!(e instanceof FlvDemuxError)) throw e;
    error = e.message;
    used = demuxer.offset; // the end of the last whole tag
  }
  const configOf = (track: "video" | "audio"): Uint8Array | undefined => packets.find((p) => p.type === "config" && p.track === track)?.data;
  const framesOf = (track: "video" | "audio") => packets.filter((p): p is FlvPacket & { type: "frame" } => p.type === "frame" && p.track === track);
  const vConfig = configOf("video");
  const aConfig = configOf("audio");
  const vFrames = framesOf("video");
  const aFrames = framesOf("audio");
  let video: VideoReport | undefined;
  let audio: AudioReport | undefined;
  try {
    if (vConfig && vFrames.length > 0) video = videoReport(vConfig, vFrames);
    else if (vFrames.length > 0) error ??= "H.264 frames arrived without a sequence header (no avcC): no player can decode them";
  } catch (e) {
    error ??= `the H.264 sequence header does not parse: ${(e as Error).message}`;
  }
  try {
    if (aConfig && aFrames.length > 0) audio = audioReport(aConfig, aFrames);
    else if (aFrames.length > 0) error ??= "AAC frames arrived without a sequence header (no AudioSpecificConfig): no player can decode them";
  } catch (e) {
    error ??= `the AAC sequence header does not parse: ${(e as Error).message}`;
  }
  if (!demuxer.header && !error) error = bytes.byteLength === 0 ? "the file is empty" : "the file ends inside the FLV header";
  let sync: SyncReport | undefined;
  if (options.sync && video && audio) {
    const decoded = await decodeAudio(path);
    sync = syncFrom(flashTimes(await frameLuma(path)), beepTimes(decoded), longestDropoutMs(decoded, 1));
  }
  return {
    path,
    bytes: bytes.byteLength,
    ...(video && { video }),
    ...(audio && { audio }),
    durationS: Math.max(video?.durationS ?? 0, audio?.durationS ?? 0),
    truncatedBytes: bytes.byteLength - used,
    ...(video && audio && { audioMinusVideoS: round(audio.durationS - video.durationS - (video.fps > 0 ? 1 / video.fps : 0)) }),
    ...(sync && { sync }),
    ...(error !== undefined && { error }),
  };
}
