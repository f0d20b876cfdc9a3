/**
 * Errors of the AAC encoder (web/audio). They reach the application through
 * the encoder's `onError` callback: a stable `code` for programs and logs, a
 * message a developer can act on. API misuse (a bad config, encode() after
 * close()) throws `TypeError` instead.
 */
import { GoliveError } from "../../protocol/errors.js";

/** Codes of the AAC encoder, with what they mean. */
export const AacErrorCode = {
  /** ffmpeg.wasm (its Worker, ffmpeg-core.js or ffmpeg-core.wasm) could not be loaded. */
  FfmpegLoad: "AAC_FFMPEG_LOAD",
  /** An ffmpeg.wasm job failed: ffmpeg exited with a non-zero status, or returned no output. */
  FfmpegExec: "AAC_FFMPEG_EXEC",
  /** ffmpeg.wasm itself broke during a job (a WebAssembly trap such as "memory access out of bounds", a dead Worker); a fresh instance may work. */
  FfmpegCrashed: "AAC_FFMPEG_CRASHED",
  /** The encoder's output is not what the segment plan expects (frame count, ADTS framing, config). */
  BadEncoderOutput: "AAC_BAD_ENCODER_OUTPUT",
  /** An ADTS stream is malformed or truncated (ISO/IEC 14496-3 §1.A.2). */
  BadAdts: "AAC_BAD_ADTS",
  /** AudioData the encoder cannot take: another sample rate, no channels, an unknown sample format. */
  UnsupportedInput: "AAC_UNSUPPORTED_INPUT",
  /** More PCM waits for ffmpeg.wasm than the backlog limit allows: encoding does not keep up. */
  Backlog: "AAC_BACKLOG",
  /** golive's wasm AAC encoder (its worker or aac.wasm) could not be loaded. */
  WasmLoad: "AAC_WASM_LOAD",
  /** golive's wasm AAC encoder stopped (its worker died or the module trapped). */
  WasmFailed: "AAC_WASM_FAILED",
  /** The platform's WebCodecs AudioEncoder reported an error. */
  WebCodecs: "AAC_WEBCODECS",
} as const;

/** One of the AacErrorCode values. */
export type AacErrorCodeValue = (typeof AacErrorCode)[keyof typeof AacErrorCode];

/** A failure of the AAC encoder; `code` says which (AacErrorCode). */
export class AacEncoderError extends GoliveError {
  declare readonly code: AacErrorCodeValue;

  constructor(code: AacErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
