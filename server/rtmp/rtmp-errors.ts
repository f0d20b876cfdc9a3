/**
 * Errors of the RTMP client. Each has a stable code (logs, metrics, the wire
 * protocol) and a message a person can act on. Stream keys never appear in
 * them: URLs are always shown redacted.
 */
import { GoliveError } from "../../protocol/errors.js";

/** Codes of the RTMP client, with what they mean. */
export const RtmpErrorCode = {
  /** The stream URL cannot be used (syntax, scheme, missing app or key). */
  BadUrl: "RTMP_BAD_URL",
  /** The host name did not resolve. */
  DnsFailed: "RTMP_DNS_FAILED",
  /** Nothing listens on that host and port. */
  ConnectionRefused: "RTMP_CONNECTION_REFUSED",
  /** The TCP connection did not open in time. */
  ConnectTimeout: "RTMP_CONNECT_TIMEOUT",
  /** Another socket error (unreachable network, reset before the handshake...). */
  NetworkError: "RTMP_NETWORK_ERROR",
  /** TLS failed: the certificate is not trusted or not for this host. */
  TlsFailed: "RTMP_TLS_FAILED",
  /** The server did not complete the handshake in time. */
  HandshakeTimeout: "RTMP_HANDSHAKE_TIMEOUT",
  /** The server answered the handshake with an RTMP version other than 3. */
  BadVersion: "RTMP_BAD_VERSION",
  /** The server did not confirm the publish in time. */
  StartTimeout: "RTMP_START_TIMEOUT",
  /** NetConnection.Connect.Rejected (or another connect failure). */
  ConnectRejected: "RTMP_CONNECT_REJECTED",
  /** createStream failed. */
  CreateStreamFailed: "RTMP_CREATE_STREAM_FAILED",
  /** NetStream.Publish.BadName: the stream key is wrong or already in use. */
  PublishBadName: "PUBLISH_BAD_NAME",
  /** NetStream.Publish.Rejected. */
  PublishRejected: "PUBLISH_REJECTED",
  /** NetStream.Publish.Denied. */
  PublishDenied: "PUBLISH_DENIED",
  /** Another publish failure reported by the server. */
  PublishFailed: "PUBLISH_FAILED",
  /** The server closed the connection. */
  ServerClosed: "RTMP_SERVER_CLOSED",
  /** The server broke the protocol (bad AMF, bad command, bad control message). */
  ProtocolViolation: "RTMP_PROTOCOL_VIOLATION",
  /** Used after close(), or before the publish is live. */
  NotLive: "RTMP_NOT_LIVE",
} as const;
export type RtmpErrorCodeValue = (typeof RtmpErrorCode)[keyof typeof RtmpErrorCode];

/** An RTMP client failure. `code` is an RtmpErrorCodeValue or a core code, e.g. RTMP_BAD_CHUNK_SIZE. */
export class RtmpError extends GoliveError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
