/**
 * Errors of the media config parsers (server/media): what a browser sent as
 * a decoder configuration (WebCodecs `description`: an avcC record or an
 * AudioSpecificConfig) is malformed, or well formed but not something the
 * bridge accepts. Messages are written for the developer of the browser
 * client: they name the structure, the field and the numbers involved.
 */
import { GoliveError } from "../../protocol/errors.js";

/** Codes of the media parsers, with what they mean. */
export const MediaErrorCode = {
  /** The AVCDecoderConfigurationRecord (avcC) is malformed (ISO/IEC 14496-15 §5.3.3.1). */
  BadAvcConfig: "BAD_AVC_CONFIG",
  /** A sequence parameter set is malformed or truncated (ITU-T H.264 §7.3.2.1.1). */
  BadSps: "BAD_SPS",
  /** The H.264 stream is valid but not accepted (unknown profile, picture too large). */
  UnsupportedVideo: "UNSUPPORTED_VIDEO",
  /** The AudioSpecificConfig or ADTS header is malformed (ISO/IEC 14496-3 §1.6.2.1, §1.A.2). */
  BadAacConfig: "BAD_AAC_CONFIG",
  /** The AAC config is valid but not accepted (object type, channel layout from a PCE). */
  UnsupportedAudio: "UNSUPPORTED_AUDIO",
} as const;

/** One of the MediaErrorCode values. */
export type MediaErrorCodeValue = (typeof MediaErrorCode)[keyof typeof MediaErrorCode];

/** A media config the bridge refuses; `code` says why (MediaErrorCode). */
export class MediaError extends GoliveError {
  declare readonly code: MediaErrorCodeValue;

  constructor(code: MediaErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
