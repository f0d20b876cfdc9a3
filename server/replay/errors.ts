/**
 * Errors of `golive replay`: the file cannot be replayed (FLV/MP4 demuxing,
 * codecs), or the session with the bridge went wrong (unreachable, timed
 * out, closed early). Each has a stable `code` and a message a person can act
 * on; the CLI prints both, never a stack trace.
 */
import { GoliveError } from "../../protocol/errors.js";

/** Codes of the replay tool, with what they mean. */
export const ReplayErrorCode = {
  /** The file could not be read (missing, a directory, no permission, over maxFileBytes). */
  FileUnreadable: "REPLAY_FILE_UNREADABLE",
  /** The file is neither FLV nor MP4/MOV. */
  UnknownFormat: "REPLAY_UNKNOWN_FORMAT",
  /** The FLV file header is malformed (signature, version, DataOffset). */
  FlvBadHeader: "FLV_BAD_HEADER",
  /** The FLV file ends inside the header or a tag. */
  FlvTruncated: "FLV_TRUNCATED",
  /** An FLV tag is malformed (reserved bits, StreamID, PreviousTagSize, too large, body too short). */
  FlvBadTag: "FLV_BAD_TAG",
  /** The MP4 file could not be parsed. */
  Mp4Bad: "MP4_BAD_FILE",
  /** A track's codec is not H.264 or AAC, the only codecs of wire protocol v1. */
  UnsupportedCodec: "REPLAY_UNSUPPORTED_CODEC",
  /** A frame came before its track's decoder configuration (sequence header). */
  MissingConfig: "REPLAY_MISSING_CONFIG",
  /** The file has no H.264 video and no AAC audio frames. */
  NoMedia: "REPLAY_NO_MEDIA",
  /** A frame is larger than the bridge accepts (accepted.limits.maxFrameBytes). */
  FrameTooLarge: "REPLAY_FRAME_TOO_LARGE",
  /** The WebSocket to the bridge did not open (refused, DNS, HTTP error, timeout). */
  BridgeUnreachable: "BRIDGE_UNREACHABLE",
  /** The bridge closed the WebSocket before the session ended. */
  BridgeClosed: "BRIDGE_CLOSED",
  /** The bridge did not answer in time ("accepted", a destination going live, "ended"). */
  Timeout: "REPLAY_TIMEOUT",
  /** The bridge broke the protocol (an unparsable message, a message out of order). */
  BridgeProtocol: "BRIDGE_PROTOCOL_ERROR",
  /** A destination was still connecting when the session ended. */
  NeverLive: "DESTINATION_NEVER_LIVE",
  /** A destination was live but never reported that it ended. */
  NotEnded: "DESTINATION_NOT_ENDED",
} as const;

/** One of the ReplayErrorCode values. */
export type ReplayErrorCodeValue = (typeof ReplayErrorCode)[keyof typeof ReplayErrorCode];

/** A replay failure; `code` is a ReplayErrorCodeValue. */
export class ReplayError extends GoliveError {
  declare readonly code: ReplayErrorCodeValue;

  constructor(code: ReplayErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
