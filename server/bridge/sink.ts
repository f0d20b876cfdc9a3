/**
 * A sink receives a session's tracks and frames: an RTMP(S) destination or
 * the local recording. Sinks are isolated: one failing, slow or rejected
 * sink never throws into the session or holds the others back.
 */
import type { DestinationState, DestinationStats } from "../../protocol/wire.js";
import type { SessionFrame, TrackSet } from "./media-types.js";

/** A state change, with the reason for failures. */
export interface SinkStateChange {
  state: DestinationState;
  code?: string;
  message?: string;
  attempt?: number;
  retryInMs?: number;
}

export interface Sink {
  /** The id the client gave (or "recording"). */
  readonly id: string;
  /** What the client may see of the target (URL with the key redacted, or the file name). */
  readonly target: string;
  readonly state: DestinationState;
  /** Starts connecting (or opening the file). */
  start(): void;
  /** The session's tracks changed (or are first known). */
  setTracks(tracks: TrackSet): void;
  /** One frame, in session time order. */
  send(frame: SessionFrame): void;
  /** Ends cleanly (unpublish / close the file). Never rejects. */
  stop(): Promise<void>;
  stats(): DestinationStats;
}

/** What a sink reports to its session. */
export interface SinkEvents {
  state(sink: Sink, change: SinkStateChange): void;
  /** Bytes written to the network or disk (for metrics). */
  bytesOut(sink: Sink, bytes: number): void;
  /** A frame was written; `receivedAt` is when the bridge got it. */
  frameOut(sink: Sink, frame: SessionFrame): void;
}

/**
 * Start-of-stream gate shared by sinks: video starts at a keyframe (earlier
 * inter frames cannot be decoded and are skipped); audio needs no gate and
 * passes from the first frame, so nothing audible is lost.
 */
export function startsStream(frame: SessionFrame, tracks: TrackSet | undefined): boolean {
  if (frame.kind === "audio" || !tracks?.video) return true;
  return frame.keyframe;
}

/** A point a sink may (re)start from: a video keyframe, or any frame without video. */
export function isRandomAccess(frame: SessionFrame, tracks: TrackSet | undefined): boolean {
  if (tracks?.video) return frame.kind === "video" && frame.keyframe;
  return true;
}
