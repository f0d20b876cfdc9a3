/**
 * What flows from a session to its sinks (RTMP destinations, the recorder):
 * validated track configurations and frames on the session's timeline (ms
 * from the session's first frame, as RTMP and FLV count time).
 */
import type { AmfValue } from "../../wasm/host/index.js";

/** A validated video track (H.264 in v1). */
export interface VideoTrack {
  kind: "video";
  track: number;
  codec: "avc1";
  /** The codec string the client declared, e.g. "avc1.64001f". */
  codecString: string;
  /** AVCDecoderConfigurationRecord: the sequence header's payload. */
  config: Uint8Array;
  width: number;
  height: number;
  frameRate?: number;
  bitrate?: number;
}

/** A validated audio track (AAC in v1). */
export interface AudioTrack {
  kind: "audio";
  track: number;
  codec: "mp4a";
  codecString: string;
  /** AudioSpecificConfig: the sequence header's payload. */
  config: Uint8Array;
  sampleRate: number;
  channels: number;
  bitrate?: number;
}

export type Track = VideoTrack | AudioTrack;

/** The session's current tracks and the onMetaData built from them. */
export interface TrackSet {
  video?: VideoTrack;
  audio?: AudioTrack;
  metadata: Record<string, AmfValue>;
  /** Bumped whenever a track config changes: sinks resend sequence headers. */
  generation: number;
}

/** One frame on the session timeline. */
export interface SessionFrame {
  kind: "video" | "audio";
  keyframe: boolean;
  /** Decode time, ms from the session start. */
  dtsMs: number;
  /** Presentation - decode, ms. */
  ctsMs: number;
  /** Codec payload (AVCC NAL units / raw AAC), a view of the received message. */
  payload: Uint8Array;
  /** process.hrtime.bigint() when the bridge received it (latency metrics). */
  receivedAt: bigint;
}
