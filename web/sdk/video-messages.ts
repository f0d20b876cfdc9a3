/** Messages between the Broadcaster and its video worker. */

export type VideoWorkerIn =
  | { type: "configure"; config: VideoEncoderConfig }
  | { type: "source"; readable: ReadableStream<VideoFrame> }
  | { type: "bitrate"; bitrate: number }
  | { type: "keyframe" }
  | { type: "stats" }
  | { type: "stop" };

export type VideoWorkerOut =
  | { type: "config"; description: ArrayBuffer; codec: string; width: number; height: number }
  | { type: "chunk"; data: ArrayBuffer; timestampUs: number; key: boolean; durationUs: number }
  | { type: "stats"; encoded: number; dropped: number; queue: number }
  | { type: "error"; message: string }
  | { type: "stopped" };
