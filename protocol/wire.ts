/**
 * golive wire protocol v1: browser (or any client) <-> bridge, over one
 * WebSocket at /ingest with subprotocol "golive.v1". docs/protocol.md is the
 * normative description; this module is its one codec, shared by server/ and
 * web/. Pure: no I/O, no Node or DOM APIs beyond TextEncoder/TextDecoder.
 *
 * Text frames carry one JSON control message each (an object with "type").
 * Binary frames carry media, with a 16-byte big-endian header:
 *
 *   0  u8   kind          1 = media frame (others reserved)
 *   1  u8   track         0..15, declared by a "config" message
 *   2  u8   flags         bit 0 = keyframe; bits 1..7 reserved, must be 0
 *   3  u8   reserved      must be 0
 *   4  i64  timestamp     decode timestamp, microseconds
 *   12 i32  composition   presentation - decode timestamp, microseconds
 *   16 ...  payload       avc1: length-prefixed NAL units (avcC framing);
 *                         mp4a: one raw AAC access unit (no ADTS)
 */

import { GoliveError } from "./errors.js";

/** The WebSocket subprotocol name. */
export const SUBPROTOCOL = "golive.v1";
/** The WebSocket path on the bridge. */
export const INGEST_PATH = "/ingest";
/**
 * The query parameter that carries a broadcast's session key on every
 * WebSocket URL a client opens for it (first connect, resume, restart):
 * `/ingest?session=<key>`. A load balancer hashes on it, so a resume reaches
 * the bridge that holds the session (docs/protocol.md, "Fleets").
 */
export const SESSION_KEY_PARAM = "session";

/** A new session key: 128 random bits, base64url (22 characters). */
export function newSessionKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** `url` with the session key set (replacing one already there). */
export function withSessionKey(url: string, key: string): string {
  const u = new URL(url);
  u.searchParams.set(SESSION_KEY_PARAM, key);
  return u.href;
}
/** Protocol version carried in "start". */
export const PROTOCOL_VERSION = 1;
/** Size of the binary media frame header. */
export const MEDIA_HEADER_SIZE = 16;
/** Binary message kind: a media frame. */
export const KIND_MEDIA = 1;
/** Highest track number. */
export const MAX_TRACK = 15;
/** Longest control message accepted, bytes of JSON. */
export const MAX_CONTROL_BYTES = 64 * 1024;

/** WebSocket close codes the bridge uses (RFC 6455 §7.4; 4000-4999 are ours). */
export const CloseCode = {
  /** The session ended normally (after "stop", or every destination ended). */
  Normal: 1000,
  /** The bridge is shutting down: the session has ended; start a new one (another bridge, or this one once it is back). */
  GoingAway: 1001,
  /** A malformed or out-of-order message. */
  ProtocolError: 4000,
  /** The client speaks another protocol version. */
  UnsupportedVersion: 4001,
  /** Not authorised: bad or missing token, destination not allowed, origin refused. */
  Forbidden: 4003,
  /**
   * The session a resume names is not on this bridge (a load balancer sent
   * the resume elsewhere, or the bridge that held it is gone): start a new
   * session with the same destinations at once.
   */
  SessionNotHere: 4004,
  /** A time limit passed (start, first media, idle). */
  Timeout: 4008,
  /** A limit was hit (sessions, size, bitrate, destinations). */
  LimitExceeded: 4009,
  /** Every destination failed; nothing left to publish to. */
  AllDestinationsFailed: 4010,
  /** Bridge-side failure. */
  InternalError: 4500,
} as const;
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Stable error codes carried in "error" messages. */
export const WireErrorCode = {
  BadJson: "BAD_JSON",
  BadMessage: "BAD_MESSAGE",
  UnknownType: "UNKNOWN_TYPE",
  UnsupportedVersion: "UNSUPPORTED_VERSION",
  NotStarted: "NOT_STARTED",
  AlreadyStarted: "ALREADY_STARTED",
  BadFrame: "BAD_FRAME",
  UnknownTrack: "UNKNOWN_TRACK",
  MediaBeforeConfig: "MEDIA_BEFORE_CONFIG",
  TimeWentBackwards: "TIME_WENT_BACKWARDS",
  UnsupportedCodec: "UNSUPPORTED_CODEC",
  FrameTooLarge: "FRAME_TOO_LARGE",
  NoDestinations: "NO_DESTINATIONS",
  TooManyDestinations: "TOO_MANY_DESTINATIONS",
  AllDestinationsFailed: "ALL_DESTINATIONS_FAILED",
  /** Not fatal: a session started with `interleaved` sent a frame out of time order across tracks. */
  NotInterleaved: "NOT_INTERLEAVED",
} as const;

/** A destination the client asks to publish to. */
export interface DestinationRequest {
  /** Client-chosen id, unique in the session: [A-Za-z0-9_.-]{1,64}. */
  id: string;
  /** rtmp(s)://host[:port]/app[/instance][/key]; "" (or absent on the wire) = the token's destination with this id. */
  url: string;
  /** Stream key, when not already the last path segment of url. */
  key?: string;
}

/** client -> bridge: open a session. */
export interface StartMessage {
  type: "start";
  version: number;
  destinations: DestinationRequest[];
  /** Also record the session to an FLV file on the bridge's machine. */
  record?: boolean;
  /** Authorisation token minted by the app's backend. */
  token?: string;
  /** Resume token from a previous "accepted", to continue that session. */
  resume?: string;
  /** Free-form client identification, for logs. */
  client?: string;
  /**
   * The client sends frames in non-decreasing timestamp order across tracks
   * (it interleaves, as a file demuxer does): the bridge forwards each frame
   * as it comes instead of holding it for the other track.
   */
  interleaved?: boolean;
  /**
   * The client would rather wait than lose frames (a file replayed as fast
   * as possible): the bridge sheds nothing for congestion and stops reading
   * this session's WebSocket while a destination's backlog is past its bound,
   * so the client's sends slow down. A live encoder leaves it off: it would
   * fall behind real time instead of dropping.
   */
  backpressure?: boolean;
}

/** client -> bridge: a track's codec configuration. */
export interface ConfigMessage {
  type: "config";
  track: number;
  kind: "video" | "audio";
  /** WebCodecs codec string: "avc1.64001f", "mp4a.40.2", ("hvc1...", "av01...", "opus" reserved). */
  codec: string;
  /** Decoder configuration, base64: avcC for avc1, AudioSpecificConfig for mp4a. */
  description: string;
  /** Target bitrate, bits/s (for onMetaData and congestion advice). */
  bitrate?: number;
  /** Video frame rate. */
  framerate?: number;
  /** Audio sample rate and channels (informative; the description is authoritative). */
  sampleRate?: number;
  channels?: number;
}

/** client -> bridge: end the session cleanly. */
export interface StopMessage {
  type: "stop";
}

export type ClientMessage = StartMessage | ConfigMessage | StopMessage;

/** Destination states as the client sees them. */
export type DestinationState = "connecting" | "live" | "reconnecting" | "failed" | "ended";

/** bridge -> client: the session is open. */
export interface AcceptedMessage {
  type: "accepted";
  session: string;
  resumeToken: string;
  /** True when this "accepted" answers a resume. */
  resumed: boolean;
  destinations: Array<{ id: string; url: string }>;
  /** The recording's file name on the bridge, when recording. */
  recording?: string;
  limits: { maxFrameBytes: number; maxDestinations: number };
}

/** bridge -> client: a destination changed state. */
export interface DestinationMessage {
  type: "destination";
  id: string;
  state: DestinationState;
  /** For failed (and reconnecting): why, as a stable code and a readable message. */
  code?: string;
  message?: string;
  /** Reconnect attempt number, for reconnecting. */
  attempt?: number;
  /**
   * For reconnecting: ms until the next attempt (the bridge tries sooner if
   * it sees the ingest's port answer again).
   */
  retryInMs?: number;
}

/** Per-destination counters in "stats". */
export interface DestinationStats {
  id: string;
  state: DestinationState;
  bytesSent: number;
  /** Frames handed to the ingest's connection and not lost with it. */
  framesSent: number;
  /** Frames never sent: shed for congestion, or arriving while not live. */
  framesDropped: number;
  /** Frames sent on a connection that was then reset before they were delivered. */
  framesLost: number;
  /** Of the frames dropped or lost: audio frames, and video keyframes. */
  audioLost: number;
  keyframesLost: number;
  /** The backlog: media not yet delivered to the ingest (sent or queued), ms and bytes. */
  queuedMs: number;
  queuedBytes: number;
  /** Connections lost while live. */
  reconnects: number;
  /** Time not live since first going live (reconnecting), ms. */
  notLiveMs: number;
  /**
   * How the backlog is measured: "acks" (the ingest's Acknowledgements),
   * "pending" (none yet: everything sent counts), or "socket" (the ingest
   * sends none: the bridge's own queue only).
   */
  backlogSource?: "acks" | "pending" | "socket";
  /** Rate the ingest received at over the last ~2 s, bits/s. */
  deliveryBitrate?: number;
}

/** bridge -> client: periodic counters. */
export interface StatsMessage {
  type: "stats";
  /** Session time of the newest frame, ms. */
  mediaTimeMs: number;
  bytesIn: number;
  framesIn: number;
  destinations: DestinationStats[];
}

/** bridge -> client: encode at this bitrate (congestion control). */
export interface AdviceMessage {
  type: "advice";
  /** Suggested total video bitrate, bits/s. */
  targetBitrate: number;
  reason: "congestion" | "recovered";
}

/** bridge -> client: something went wrong. */
export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
  /** True when the session ends (a close follows). */
  fatal: boolean;
}

/**
 * bridge -> client: this bridge is draining. The session ends now (its
 * destinations unpublish cleanly, close 1001 follows): start a new session
 * with the same destinations through the same URL at once (a load balancer
 * sends it to another bridge).
 */
export interface MoveMessage {
  type: "move";
  reason: string;
}

/** bridge -> client: the session is over (a close follows). */
export interface EndedMessage {
  type: "ended";
  reason: string;
}

export type BridgeMessage = AcceptedMessage | DestinationMessage | StatsMessage | AdviceMessage | ErrorMessage | MoveMessage | EndedMessage;

/** A decoded media frame; `payload` is a view into the received bytes. */
export interface MediaFrame {
  track: number;
  keyframe: boolean;
  /** Decode timestamp, microseconds. */
  timestampUs: number;
  /** Presentation - decode, microseconds. */
  compositionUs: number;
  payload: Uint8Array;
}

/** A wire protocol violation: `code` is a WireErrorCode, `closeCode` what to close with. */
export class WireError extends GoliveError {
  readonly closeCode: CloseCodeValue;

  constructor(code: string, message: string, closeCode: CloseCodeValue = CloseCode.ProtocolError) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

function bad(message: string): WireError {
  return new WireError(WireErrorCode.BadMessage, message);
}

// --- binary media frames ---------------------------------------------------

/** Encodes a media frame: header + payload, one allocation. */
export function encodeMediaFrame(frame: MediaFrame): Uint8Array {
  if (!Number.isInteger(frame.track) || frame.track < 0 || frame.track > MAX_TRACK) throw new TypeError(`track must be 0..${MAX_TRACK}`);
  if (!Number.isSafeInteger(frame.timestampUs)) throw new TypeError("timestampUs must be a safe integer");
  if (!Number.isInteger(frame.compositionUs) || frame.compositionUs < -0x80000000 || frame.compositionUs > 0x7fffffff) {
    throw new TypeError("compositionUs must be a 32-bit signed integer");
  }
  const out = new Uint8Array(MEDIA_HEADER_SIZE + frame.payload.byteLength);
  writeMediaHeader(out, frame);
  out.set(frame.payload, MEDIA_HEADER_SIZE);
  return out;
}

/** Writes the 16-byte header of `frame` at the start of `out`. */
export function writeMediaHeader(out: Uint8Array, frame: Omit<MediaFrame, "payload">): void {
  const view = new DataView(out.buffer, out.byteOffset, MEDIA_HEADER_SIZE);
  view.setUint8(0, KIND_MEDIA);
  view.setUint8(1, frame.track);
  view.setUint8(2, frame.keyframe ? 1 : 0);
  view.setUint8(3, 0);
  view.setBigInt64(4, BigInt(frame.timestampUs));
  view.setInt32(12, frame.compositionUs);
}

/** Decodes a binary message. Throws WireError(BAD_FRAME) on a malformed one. */
export function decodeMediaFrame(bytes: Uint8Array): MediaFrame {
  if (bytes.byteLength < MEDIA_HEADER_SIZE) {
    throw new WireError(WireErrorCode.BadFrame, `binary message of ${bytes.byteLength} bytes is shorter than the ${MEDIA_HEADER_SIZE}-byte media header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = view.getUint8(0);
  if (kind !== KIND_MEDIA) throw new WireError(WireErrorCode.BadFrame, `unknown binary message kind ${kind}`);
  const track = view.getUint8(1);
  if (track > MAX_TRACK) throw new WireError(WireErrorCode.BadFrame, `track ${track} is out of range 0..${MAX_TRACK}`);
  const flags = view.getUint8(2);
  if ((flags & 0xfe) !== 0 || view.getUint8(3) !== 0) throw new WireError(WireErrorCode.BadFrame, "reserved bits of the media header are set");
  const ts = view.getBigInt64(4);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER) || ts < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new WireError(WireErrorCode.BadFrame, "timestamp is out of range");
  }
  if (bytes.byteLength === MEDIA_HEADER_SIZE) throw new WireError(WireErrorCode.BadFrame, "media frame has an empty payload");
  return {
    track,
    keyframe: (flags & 1) !== 0,
    timestampUs: Number(ts),
    compositionUs: view.getInt32(12),
    payload: bytes.subarray(MEDIA_HEADER_SIZE),
  };
}

// --- JSON control messages ---------------------------------------------------

type Json = Record<string, unknown>;

function str(m: Json, key: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const v = m[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== "string") throw bad(`"${key}" must be a string`);
  if (v.length > (opts.max ?? 4096)) throw bad(`"${key}" is longer than ${opts.max ?? 4096} characters`);
  return v;
}

function num(m: Json, key: string, opts: { optional?: boolean; min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const v = m[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`"${key}" must be a finite number`);
  if (opts.integer && !Number.isInteger(v)) throw bad(`"${key}" must be an integer`);
  if (opts.min !== undefined && v < opts.min) throw bad(`"${key}" must be >= ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw bad(`"${key}" must be <= ${opts.max}`);
  return v;
}

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function parseStart(m: Json): StartMessage {
  const version = num(m, "version", { integer: true })!;
  if (version !== PROTOCOL_VERSION) {
    throw new WireError(WireErrorCode.UnsupportedVersion, `protocol version ${version} is not supported; this bridge speaks ${PROTOCOL_VERSION}`, CloseCode.UnsupportedVersion);
  }
  const list = m.destinations ?? [];
  if (!Array.isArray(list)) throw bad(`"destinations" must be an array`);
  if (list.length > 64) throw bad(`"destinations" has more than 64 entries`);
  const ids = new Set<string>();
  const destinations: DestinationRequest[] = list.map((d: unknown, i) => {
    if (typeof d !== "object" || d === null || Array.isArray(d)) throw bad(`destinations[${i}] must be an object`);
    const dj = d as Json;
    const id = str(dj, "id", { optional: true }) ?? `d${i}`;
    if (!ID_PATTERN.test(id)) throw bad(`destinations[${i}].id must match [A-Za-z0-9_.-]{1,64}`);
    if (ids.has(id)) throw bad(`destinations[${i}].id "${id}" is used twice`);
    ids.add(id);
    // Without url, the destination is the one the token grants under this id.
    const url = str(dj, "url", { optional: true, max: 2048 }) ?? "";
    const key = str(dj, "key", { optional: true, max: 2048 });
    return key === undefined ? { id, url } : { id, url, key };
  });
  const out: StartMessage = { type: "start", version, destinations };
  if (m.record !== undefined) {
    if (typeof m.record !== "boolean") throw bad(`"record" must be a boolean`);
    out.record = m.record;
  }
  const token = str(m, "token", { optional: true, max: 16384 });
  if (token !== undefined) out.token = token;
  const resume = str(m, "resume", { optional: true, max: 1024 });
  if (resume !== undefined) out.resume = resume;
  const client = str(m, "client", { optional: true, max: 256 });
  if (client !== undefined) out.client = client;
  if (m.backpressure !== undefined) {
    if (typeof m.backpressure !== "boolean") throw bad(`"backpressure" must be a boolean`);
    out.backpressure = m.backpressure;
  }
  if (m.interleaved !== undefined) {
    if (typeof m.interleaved !== "boolean") throw bad(`"interleaved" must be a boolean`);
    out.interleaved = m.interleaved;
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function parseConfig(m: Json): ConfigMessage {
  const track = num(m, "track", { integer: true, min: 0, max: MAX_TRACK })!;
  const kind = str(m, "kind");
  if (kind !== "video" && kind !== "audio") throw bad(`"kind" must be "video" or "audio"`);
  const codec = str(m, "codec", { max: 64 })!;
  const description = str(m, "description", { max: 65536 })!;
  if (!BASE64.test(description) || description.length % 4 !== 0) throw bad(`"description" must be base64`);
  const out: ConfigMessage = { type: "config", track, kind, codec, description };
  const bitrate = num(m, "bitrate", { optional: true, min: 0, max: 1e9 });
  if (bitrate !== undefined) out.bitrate = bitrate;
  const framerate = num(m, "framerate", { optional: true, min: 0, max: 1000 });
  if (framerate !== undefined) out.framerate = framerate;
  const sampleRate = num(m, "sampleRate", { optional: true, min: 0, max: 1e6 });
  if (sampleRate !== undefined) out.sampleRate = sampleRate;
  const channels = num(m, "channels", { optional: true, integer: true, min: 0, max: 64 });
  if (channels !== undefined) out.channels = channels;
  return out;
}

/** Parses and validates a text frame from a client. Throws WireError. */
export function decodeClientMessage(text: string): ClientMessage {
  if (text.length > MAX_CONTROL_BYTES) throw new WireError(WireErrorCode.BadMessage, `control message longer than ${MAX_CONTROL_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WireError(WireErrorCode.BadJson, "control message is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("control message must be a JSON object");
  const m = value as Json;
  switch (m.type) {
    case "start":
      return parseStart(m);
    case "config":
      return parseConfig(m);
    case "stop":
      return { type: "stop" };
    default:
      throw new WireError(WireErrorCode.UnknownType, `unknown control message type ${JSON.stringify(m.type)?.slice(0, 40) ?? "(none)"}`);
  }
}

/** Serialises any control message (either direction). */
export function encodeMessage(message: ClientMessage | BridgeMessage): string {
  return JSON.stringify(message);
}

/** Parses a text frame from the bridge (for clients). Light validation: the bridge is trusted. */
export function decodeBridgeMessage(text: string): BridgeMessage {
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || typeof (value as Json).type !== "string") {
    throw new WireError(WireErrorCode.BadMessage, "bridge message must be a JSON object with a type");
  }
  return value as BridgeMessage;
}

/** Base64 of bytes, for "description" (works in browsers and Node). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of a base64 string. */
export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
