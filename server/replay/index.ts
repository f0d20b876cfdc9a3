/**
 * `golive replay` as an API: publish a media file through a golive bridge
 * over the wire protocol, exactly as a browser would.
 *
 *   const result = await replay({ file: "clip.flv", bridge: "ws://127.0.0.1:8080/ingest",
 *                                 to: ["rtmp://a.rtmp.youtube.com/live2/KEY"], pacing: "realtime" });
 *   if (!result.ok) console.error(result.error ?? result.destinations);
 *
 * `replayMany(n, options)` runs n concurrent sessions from one process, the
 * load generator of the capacity benchmark: the file is demuxed once and its
 * wire messages are shared (WireFeed), and one Pacer drives every session's
 * frames from a single timer.
 */
import type { BridgeMessage, DestinationRequest } from "../../protocol/wire.js";
import { INGEST_PATH } from "../../protocol/wire.js";
import { loadReplayMedia, type LoadMediaOptions, type ReplayMedia } from "./media.js";
import { Pacer } from "./pacer.js";
import { ReplaySession, type Pacing, type ReplaySessionOptions, type SessionResult } from "./replay-client.js";
import { WireFeed } from "./wire-feed.js";

// The parts of server/replay a caller may need besides replay() and replayMany().
export { ReplayError, ReplayErrorCode, type ReplayErrorCodeValue } from "./errors.js";
export { FlvDemuxError } from "./flv-demux.js";
export { loadReplayMedia, type ReplayMedia, type ReplayFrame, type ReplayVideoTrack, type ReplayAudioTrack, type LoadMediaOptions } from "./media.js";
export { redactDestination, ReplaySession, type DestinationResult, type Pacing, type ReplaySessionState, type SessionResult } from "./replay-client.js";

/** A destination as given to replay: an RTMP(S) URL, or the wire protocol's {id, url, key}. */
export type ReplayDestination = string | DestinationRequest;

/** Options of `replay`. */
export interface ReplayOptions
  extends Pick<ReplaySessionOptions, "record" | "pacing" | "loop" | "maxBitrate" | "token" | "client" | "waitForLive" | "connectTimeoutMs" | "acceptTimeoutMs" | "liveTimeoutMs" | "endTimeoutMs" | "highWaterBytes" | "zeroMask" | "interleaved" | "backpressure" | "reconnect" | "reconnectWindowMs" | "pingIntervalMs"> {
  /** The file (FLV or MP4/MOV), or media loaded with loadReplayMedia. */
  file: string | ReplayMedia;
  /** The bridge: ws(s)://host:port[/ingest] (http(s):// is taken as ws(s)://; a URL without a path gets /ingest). */
  bridge: string;
  /** Where to publish. String URLs get ids d1, d2, ... */
  to?: readonly ReplayDestination[];
  /** Limits for loading the file. */
  load?: LoadMediaOptions;
  /** Aborting stops the session cleanly ("stop", destinations unpublish); the result says `interrupted`. */
  signal?: AbortSignal;
  /** Every control message from the bridge. */
  onMessage?: (message: BridgeMessage) => void;
}

/** What `replay` returns. */
export interface ReplayResult extends SessionResult {
  /** What was replayed. */
  media: MediaSummary;
}

/** The replayed file, in brief. */
export interface MediaSummary {
  name: string;
  format: "flv" | "mp4";
  /** Per pass. */
  counts: { video: number; audio: number; keyframes: number };
  /** One pass, µs. */
  durationUs: number;
  width?: number;
  height?: number;
}

/** Options of `replayMany`. */
export interface ReplayManyOptions extends Omit<ReplayOptions, "to" | "onMessage"> {
  /**
   * Where each session publishes. A list applies to every session, with
   * "{session}" in a string URL replaced by the session's number (1..n), so
   * each gets its own stream key; or a function of the session number.
   */
  to?: readonly ReplayDestination[] | ((session: number) => readonly ReplayDestination[]);
  /** Spread the session starts evenly over this many ms (default 0: all at once). */
  rampMs?: number;
  /** Every control message from the bridge, with the session's number. */
  onMessage?: (message: BridgeMessage, session: number) => void;
}

/** What `replayMany` returns. */
export interface ReplayManyResult {
  /** Every session ended normally and every destination of every session completed. */
  ok: boolean;
  /** One result per session started, in session order (index 0 is session 1); fewer than n when aborted during the ramp. */
  sessions: SessionResult[];
  media: MediaSummary;
  elapsedMs: number;
}

/**
 * The bridge's ingest URL from what a person may type: ws(s):// as is,
 * http(s):// as ws(s)://, and /ingest when there is no path. Throws
 * TypeError for anything else.
 */
export function normalizeBridgeUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new TypeError(`"${input}" is not a URL: expected ws://host:port/ingest`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new TypeError(`the bridge URL must be ws:// or wss://, got ${url.protocol}//`);
  if (url.pathname === "" || url.pathname === "/") url.pathname = INGEST_PATH;
  return url.toString();
}

/** The wire protocol destinations of one session. */
export function destinationsFor(to: ReplayManyOptions["to"], session: number): DestinationRequest[] {
  const list = typeof to === "function" ? to(session) : (to ?? []);
  return list.map((d, i) => {
    const r = typeof d === "string" ? { id: `d${i + 1}`, url: d } : { ...d };
    r.url = r.url.replaceAll("{session}", String(session));
    if (r.key !== undefined) r.key = r.key.replaceAll("{session}", String(session));
    return r;
  });
}

function summary(media: ReplayMedia): MediaSummary {
  return {
    name: media.name,
    format: media.format,
    counts: { ...media.counts },
    durationUs: media.durationUs,
    ...(media.video && { width: media.video.width, height: media.video.height }),
  };
}

/** Replays a file through the bridge as one session. Throws ReplayError/MediaError for a file that cannot be replayed; bridge and destination failures are in the result. */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const { onMessage, to, ...rest } = options;
  const many = await replayMany(1, { ...rest, ...(to && { to }), ...(onMessage && { onMessage: (m: BridgeMessage) => onMessage(m) }) });
  return { ...many.sessions[0]!, media: many.media };
}

/** Runs `n` concurrent sessions of the same file (see the module comment). */
export async function replayMany(n: number, options: ReplayManyOptions): Promise<ReplayManyResult> {
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`the number of sessions must be a positive integer, got ${n}`);
  const rampMs = options.rampMs ?? 0;
  if (!(rampMs >= 0)) throw new TypeError(`rampMs must be >= 0, got ${rampMs}`);
  const bridge = normalizeBridgeUrl(options.bridge);
  const media = typeof options.file === "string" ? await loadReplayMedia(options.file, options.load) : options.file;
  const feed = new WireFeed(media);
  const pacer = new Pacer();
  const started = performance.now();
  const sessions: ReplaySession[] = [];
  const results: Array<Promise<SessionResult>> = [];
  const signal = options.signal;
  let aborted = signal?.aborted ?? false;
  const onAbort = (): void => {
    aborted = true;
    for (const s of sessions) s.stop();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (let i = 1; i <= n; i++) {
      if (i > 1 && rampMs > 0) await new Promise((r) => setTimeout(r, rampMs / n));
      if (aborted) break;
      const session = new ReplaySession({
        bridge,
        destinations: destinationsFor(options.to, i),
        feed,
        pacer,
        ...pick(options),
        ...(options.onMessage && { onMessage: (m: BridgeMessage) => options.onMessage!(m, i) }),
      });
      sessions.push(session);
      results.push(session.start());
    }
    const sessionResults = await Promise.all(results);
    return {
      ok: sessionResults.length === n && sessionResults.every((r) => r.ok),
      sessions: sessionResults,
      media: summary(media),
      elapsedMs: performance.now() - started,
    };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The session options that pass through unchanged. */
type PassThrough = Partial<Omit<ReplaySessionOptions, "bridge" | "destinations" | "feed" | "pacer" | "onMessage">>;

function pick(o: ReplayManyOptions): PassThrough {
  const out: PassThrough = {};
  if (o.record !== undefined) out.record = o.record;
  if (o.pacing !== undefined) out.pacing = o.pacing satisfies Pacing;
  if (o.loop !== undefined) out.loop = o.loop;
  if (o.maxBitrate !== undefined) out.maxBitrate = o.maxBitrate;
  if (o.token !== undefined) out.token = o.token;
  if (o.client !== undefined) out.client = o.client;
  if (o.waitForLive !== undefined) out.waitForLive = o.waitForLive;
  if (o.connectTimeoutMs !== undefined) out.connectTimeoutMs = o.connectTimeoutMs;
  if (o.acceptTimeoutMs !== undefined) out.acceptTimeoutMs = o.acceptTimeoutMs;
  if (o.liveTimeoutMs !== undefined) out.liveTimeoutMs = o.liveTimeoutMs;
  if (o.endTimeoutMs !== undefined) out.endTimeoutMs = o.endTimeoutMs;
  if (o.highWaterBytes !== undefined) out.highWaterBytes = o.highWaterBytes;
  if (o.zeroMask !== undefined) out.zeroMask = o.zeroMask;
  if (o.interleaved !== undefined) out.interleaved = o.interleaved;
  if (o.backpressure !== undefined) out.backpressure = o.backpressure;
  if (o.reconnect !== undefined) out.reconnect = o.reconnect;
  if (o.reconnectWindowMs !== undefined) out.reconnectWindowMs = o.reconnectWindowMs;
  if (o.pingIntervalMs !== undefined) out.pingIntervalMs = o.pingIntervalMs;
  return out;
}
