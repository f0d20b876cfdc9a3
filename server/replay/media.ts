/**
 * The media `golive replay` sends: a file demuxed once (FLV or MP4) into the
 * shape the wire protocol wants, i.e. one H.264 and one AAC track with their
 * codec strings and decoder configurations, and every frame in decode order
 * across both tracks with microsecond timestamps from 0. Immutable once
 * loaded, so any number of sessions can share it.
 */
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { parseAudioSpecificConfig } from "../media/aac.js";
import { avcCodecString, parseAvcDecoderConfig } from "../media/avc.js";
import { ReplayError, ReplayErrorCode } from "./errors.js";
import { demuxFlv, type FlvDemuxOptions } from "./flv-demux.js";
import { demuxMp4 } from "./mp4-demux.js";

/** The H.264 track. */
export interface ReplayVideoTrack {
  readonly kind: "video";
  /** WebCodecs codec string, e.g. "avc1.64001f". */
  readonly codec: string;
  /** AVCDecoderConfigurationRecord of the first frame. */
  readonly description: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** From the SPS timing info, when present. */
  readonly frameRate?: number;
}

/** The AAC track. */
export interface ReplayAudioTrack {
  readonly kind: "audio";
  /** "mp4a.40.<object type>", e.g. "mp4a.40.2". */
  readonly codec: string;
  /** AudioSpecificConfig of the first frame. */
  readonly description: Uint8Array;
  readonly sampleRate: number;
  readonly channels: number;
}

/** One frame on the replay timeline. */
export interface ReplayFrame {
  readonly track: "video" | "audio";
  /** Decode time, µs from the first frame's (0 for the first frame). */
  readonly dtsUs: number;
  /** Presentation - decode, µs. */
  readonly ctsUs: number;
  readonly keyframe: boolean;
  /** AVCC-framed NAL units or one raw AAC access unit. */
  readonly data: Uint8Array;
  /** A changed decoder configuration for this frame's track: sent as "config" before the frame. */
  readonly config?: Uint8Array;
}

/** A file ready to replay. */
export interface ReplayMedia {
  /** The file's name (no directories), for messages. */
  readonly name: string;
  readonly format: "flv" | "mp4";
  readonly video?: ReplayVideoTrack;
  readonly audio?: ReplayAudioTrack;
  /** Every frame in decode order (ties: video first). */
  readonly frames: readonly ReplayFrame[];
  /** One pass, µs: from the first frame's decode time to the end of the last frame. Each --loop adds this to the timestamps. */
  readonly durationUs: number;
  readonly counts: { readonly video: number; readonly audio: number; readonly keyframes: number };
  /** The largest frame payload, bytes. */
  readonly largestFrameBytes: number;
  /** Sum of the frame payloads, bytes. */
  readonly payloadBytes: number;
}

/** Limits for loading a file. */
export interface LoadMediaOptions extends FlvDemuxOptions {
  /** Largest file accepted, bytes (default 2 GiB): the whole file is held in memory. Checked before reading. */
  maxFileBytes?: number;
}

/** One track's frames as a demuxer gives them, before merging. */
interface TrackInput {
  /** Decoder configuration of the first frame. */
  readonly description: Uint8Array;
  readonly frames: ReadonlyArray<{ dtsUs: number; ctsUs: number; keyframe: boolean; data: Uint8Array; durationUs?: number; config?: Uint8Array }>;
}

function videoTrack(description: Uint8Array): ReplayVideoTrack {
  const avc = parseAvcDecoderConfig(description);
  return {
    kind: "video",
    codec: avcCodecString(avc),
    description,
    width: avc.info.width,
    height: avc.info.height,
    ...(avc.info.frameRate !== undefined && { frameRate: avc.info.frameRate }),
  };
}

function audioTrack(description: Uint8Array): ReplayAudioTrack {
  const asc = parseAudioSpecificConfig(description);
  return { kind: "audio", codec: `mp4a.40.${asc.objectType}`, description, sampleRate: asc.sampleRate, channels: asc.channels };
}

/** End of a track's last frame: its duration if known, else the last frame step. */
function trackEnd(frames: TrackInput["frames"]): number {
  const last = frames[frames.length - 1];
  if (!last) return Number.NEGATIVE_INFINITY;
  const prev = frames[frames.length - 2];
  const step = last.durationUs ?? (prev ? last.dtsUs - prev.dtsUs : 0);
  return last.dtsUs + Math.max(0, step);
}

/** Merges the tracks by decode time and rebases the timeline to 0. Exported for tests. */
export function buildReplayMedia(name: string, format: ReplayMedia["format"], video: TrackInput | undefined, audio: TrackInput | undefined): ReplayMedia {
  const v = video && video.frames.length > 0 ? video : undefined;
  const a = audio && audio.frames.length > 0 ? audio : undefined;
  if (!v && !a) throw new ReplayError(ReplayErrorCode.NoMedia, `${name} has no H.264 video or AAC audio frames`);
  const vFrames = v?.frames ?? [];
  const aFrames = a?.frames ?? [];
  let t0 = Number.POSITIVE_INFINITY;
  for (const f of vFrames) t0 = Math.min(t0, f.dtsUs);
  for (const f of aFrames) t0 = Math.min(t0, f.dtsUs);
  const frames: ReplayFrame[] = [];
  let keyframes = 0;
  let largest = 0;
  let payload = 0;
  // Stable two-way merge: each track keeps its own order; on equal times video goes first.
  for (let i = 0, j = 0; i < vFrames.length || j < aFrames.length; ) {
    const takeVideo = j >= aFrames.length || (i < vFrames.length && vFrames[i]!.dtsUs <= aFrames[j]!.dtsUs);
    const f = takeVideo ? vFrames[i++]! : aFrames[j++]!;
    const frame: ReplayFrame = {
      track: takeVideo ? "video" : "audio",
      dtsUs: f.dtsUs - t0,
      ctsUs: f.ctsUs,
      keyframe: takeVideo ? f.keyframe : true,
      data: f.data,
      ...(f.config && { config: f.config }),
    };
    if (takeVideo && f.keyframe) keyframes++;
    largest = Math.max(largest, f.data.byteLength);
    payload += f.data.byteLength;
    frames.push(frame);
  }
  const end = Math.max(trackEnd(vFrames), trackEnd(aFrames)) - t0;
  return {
    name,
    format,
    ...(v && { video: videoTrack(v.description) }),
    ...(a && { audio: audioTrack(a.description) }),
    frames,
    // At least 1 ms, so that looping a one-frame file still moves time on.
    durationUs: Math.max(1000, end),
    counts: { video: vFrames.length, audio: aFrames.length, keyframes },
    largestFrameBytes: largest,
    payloadBytes: payload,
  };
}

const sameBytes = (x: Uint8Array, y: Uint8Array): boolean => x.byteLength === y.byteLength && x.every((b, i) => b === y[i]);

/** Replay media from a whole FLV file. Throws FlvDemuxError, MediaError, ReplayError. */
export function replayMediaFromFlv(bytes: Uint8Array, name = "input.flv", options: FlvDemuxOptions = {}): ReplayMedia {
  const { packets } = demuxFlv(bytes, options);
  type Frames = Array<{ dtsUs: number; ctsUs: number; keyframe: boolean; data: Uint8Array; config?: Uint8Array }>;
  const tracks = {
    video: { description: undefined as Uint8Array | undefined, current: undefined as Uint8Array | undefined, changed: undefined as Uint8Array | undefined, frames: [] as Frames },
    audio: { description: undefined as Uint8Array | undefined, current: undefined as Uint8Array | undefined, changed: undefined as Uint8Array | undefined, frames: [] as Frames },
  };
  for (const p of packets) {
    const t = tracks[p.track];
    if (p.type === "config") {
      // Repeated identical sequence headers (nginx-rtmp, some encoders) change nothing.
      if (t.current && sameBytes(t.current, p.data)) continue;
      if (t.frames.length === 0) t.description = p.data;
      else t.changed = p.data;
      t.current = p.data;
      continue;
    }
    if (!t.current) {
      throw new ReplayError(
        ReplayErrorCode.MissingConfig,
        `${name}: ${p.track === "video" ? "an H.264 frame comes before the AVC sequence header" : "an AAC frame comes before the AAC sequence header"} (tag at byte ${p.offset})`,
      );
    }
    const frame: Frames[number] = { dtsUs: p.dtsMs * 1000, ctsUs: p.ctsMs * 1000, keyframe: p.keyframe, data: p.data };
    if (t.changed) {
      frame.config = t.changed;
      t.changed = undefined;
    }
    t.frames.push(frame);
  }
  const track = (t: typeof tracks.video): TrackInput | undefined => (t.description ? { description: t.description, frames: t.frames } : undefined);
  return buildReplayMedia(name, "flv", track(tracks.video), track(tracks.audio));
}

/** Replay media from a whole MP4/MOV file. Throws ReplayError, MediaError. */
export async function replayMediaFromMp4(bytes: Uint8Array, name = "input.mp4"): Promise<ReplayMedia> {
  const mp4 = await demuxMp4(bytes);
  const track = (t: typeof mp4.video): TrackInput | undefined =>
    t && {
      description: t.description,
      frames: t.frames.map((f) => ({ dtsUs: f.dtsUs, ctsUs: f.ptsUs - f.dtsUs, keyframe: f.keyframe, data: f.data, durationUs: f.durationUs })),
    };
  return buildReplayMedia(name, "mp4", track(mp4.video), track(mp4.audio));
}

/** Which container the bytes start like. */
export function sniffFormat(bytes: Uint8Array): "flv" | "mp4" | undefined {
  if (bytes[0] === 0x46 && bytes[1] === 0x4c && bytes[2] === 0x56) return "flv";
  // ISO BMFF / QuickTime: a box size then a known top-level box type.
  const type = String.fromCharCode(...bytes.subarray(4, 8));
  if (["ftyp", "moov", "mdat", "free", "wide", "skip", "pnot"].includes(type)) return "mp4";
  return undefined;
}

/**
 * Reads and demuxes a file (FLV or MP4/MOV, told apart by their first
 * bytes). Throws ReplayError (REPLAY_FILE_UNREADABLE, REPLAY_UNKNOWN_FORMAT,
 * FLV_*, MP4_BAD_FILE, REPLAY_UNSUPPORTED_CODEC, ...) or MediaError for a
 * malformed codec configuration.
 */
export async function loadReplayMedia(path: string, options: LoadMediaOptions = {}): Promise<ReplayMedia> {
  const name = basename(path);
  const max = options.maxFileBytes ?? 2 * 1024 * 1024 * 1024;
  let bytes: Uint8Array;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ReplayError(ReplayErrorCode.FileUnreadable, `${path} is not a file`);
    if (info.size > max) throw new ReplayError(ReplayErrorCode.FileUnreadable, `${path} is ${info.size} bytes, over the ${max}-byte limit (it is held in memory)`);
    const buf = await readFile(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    if (err instanceof ReplayError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "no such file" : e.code === "EACCES" ? "permission denied" : e.message;
    throw new ReplayError(ReplayErrorCode.FileUnreadable, `cannot read ${path}: ${why}`, { cause: err });
  }
  switch (sniffFormat(bytes)) {
    case "flv":
      return replayMediaFromFlv(bytes, name, options);
    case "mp4":
      return replayMediaFromMp4(bytes, name);
    case undefined: {
      const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new ReplayError(ReplayErrorCode.UnknownFormat, `${name} is neither FLV nor MP4/MOV (it starts with ${head || "nothing: it is empty"})`);
    }
  }
}
