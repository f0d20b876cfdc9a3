/** Messages between the Broadcaster and its video worker. */

export type VideoWorkerIn =
  | { type: "configure"; config: VideoEncoderConfig }
  /** Frames from a MediaStreamTrackProcessor readable, on the track's clock (rebased here). */
  | { type: "source"; readable: ReadableStream<VideoFrame> }
  /** A track to read with this worker's own MediaStreamTrackProcessor (Safari), on the track's clock. */
  | { type: "source-track"; track: MediaStreamTrack }
  /** From now on frames are pushed one by one ("frame"), already on the capture clock. */
  | { type: "source-frames" }
  | { type: "frame"; frame: VideoFrame }
  | { type: "bitrate"; bitrate: number }
  | { type: "keyframe" }
  | { type: "stats" }
  | { type: "stop" };

export type VideoWorkerOut =
  /** Sent once when the worker starts: what this worker realm can do. */
  | { type: "hello"; trackProcessor: boolean }
  /** The encoder took the configuration (or failed: "error"). */
  | { type: "configured" }
  | { type: "config"; description: ArrayBuffer; codec: string; width: number; height: number }
  | { type: "chunk"; data: ArrayBuffer; timestampUs: number; key: boolean; durationUs: number }
  /** A pushed frame was handed to the encoder or dropped. */
  | { type: "consumed" }
  | { type: "stats"; encoded: number; dropped: number; queue: number }
  | { type: "error"; message: string }
  | { type: "stopped" };
