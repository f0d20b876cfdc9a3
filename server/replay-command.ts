/**
 * `golive replay <file>`: the CLI action over server/replay. Prints each
 * destination's outcome (stream keys redacted) and returns the exit code:
 *
 *   0    every destination of every session completed, nothing dropped or lost
 *   1    a destination or a session failed (ended early)
 *   4    every destination completed, but frames were dropped or lost on the
 *        way to an ingest (unless --allow-loss)
 *   2    bad usage, or the file cannot be replayed
 *   3    the bridge could not be reached
 *   130  interrupted (Ctrl-C): the sessions were stopped cleanly
 */
import type { Writable } from "node:stream";
import { Logging, LogLevel } from "mediabunny";
import { GoliveError } from "../protocol/errors.js";
import type { BridgeMessage, DestinationStats } from "../protocol/wire.js";
import {
  loadReplayMedia, normalizeBridgeUrl, replayMany, ReplayErrorCode,
  type DestinationResult, type ReplayManyResult, type ReplayMedia, type SessionResult,
} from "./replay/index.js";

/** The options commander parses (see cli.ts). */
export interface ReplayCommandOptions {
  bridge: string;
  to: string[];
  record: boolean;
  token?: string;
  realtime?: boolean;
  fast?: boolean;
  loop: number;
  /** Sending rate cap, Mbit/s. */
  maxRate?: number;
  sessions: number;
  ramp: number;
  json: boolean;
  /** Exit 0 even when frames were dropped or lost (they are still reported). */
  allowLoss?: boolean;
  /** false: end when the connection to the bridge is lost (--no-reconnect). */
  reconnect?: boolean;
}

/** Where the command writes (process.stdout/stderr by default; tests pass their own). */
export interface ReplayCommandIo {
  stdout: Pick<Writable, "write">;
  stderr: Pick<Writable, "write">;
  /** Install Ctrl-C handling (default true). */
  signals?: boolean;
}

/** Exit codes of `golive replay`. */
export const ReplayExit = { Ok: 0, Failed: 1, Usage: 2, Unreachable: 3, Loss: 4, Interrupted: 130 } as const;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const sec = (us: number): string => `${(us / 1e6).toFixed(1)} s`;

function describeMedia(m: ReplayMedia): string {
  const tracks = [
    ...(m.video ? [`H.264 ${m.video.width}x${m.video.height}`] : []),
    ...(m.audio ? [`AAC ${m.audio.sampleRate / 1000} kHz`] : []),
  ].join(" + ");
  return `${m.name} (${m.format.toUpperCase()}, ${tracks}, ${sec(m.durationUs)}, ${m.counts.video} video + ${m.counts.audio} audio frames)`;
}

/** Frames of a destination that did not reach it (dropped before sending, or lost in a reset). */
export function framesMissing(d: DestinationResult): number {
  return (d.stats?.framesDropped ?? 0) + (d.stats?.framesLost ?? 0);
}

/** What happened on the way: sent, dropped, lost, reconnects, time not live. */
function describeDelivery(s: DestinationStats): string {
  const parts = [`${s.framesSent} frames sent (${mb(s.bytesSent)})`, `${s.framesDropped} dropped`, `${s.framesLost ?? 0} lost in resets`];
  const missing = s.framesDropped + (s.framesLost ?? 0);
  if (missing > 0) parts.push(`of them ${s.audioLost ?? 0} audio, ${s.keyframesLost ?? 0} keyframes`);
  parts.push(`${s.reconnects} reconnect${s.reconnects === 1 ? "" : "s"}`, `${((s.notLiveMs ?? 0) / 1000).toFixed(1)} s not live`);
  return parts.join(", ");
}

function describeDestination(d: DestinationResult): string {
  const label = `${d.id}  ${d.target}`;
  const delivery = d.stats ? `  ${describeDelivery(d.stats)}` : "";
  if (d.outcome === "completed") return `  ${framesMissing(d) > 0 ? "LOSSY    " : "completed"}  ${label}${delivery}`;
  return `  FAILED     ${label}  ${d.code ?? "FAILED"}: ${d.message ?? "failed"}${delivery}`;
}

function describeSession(r: SessionResult, index: number, many: boolean): string[] {
  const name = `${many ? `session ${index + 1}` : "session"}${r.session ? ` ${r.session}` : ""}`;
  const lines = [`${name}: sent ${r.framesSent} frames (${mb(r.bytesSent)}) to the bridge in ${(r.elapsedMs / 1000).toFixed(1)} s${r.interrupted ? ", interrupted" : ""}`];
  if (r.resumes + r.restarts > 0) {
    lines.push(`  lost the bridge ${r.resumes + r.restarts} time(s): ${r.resumes} resumed, ${r.restarts} started again (a new publish on each destination); ${r.framesSkipped} frames skipped meanwhile`);
  }
  if (r.recording) lines.push(`  recording on the bridge: ${r.recording}`);
  for (const d of r.destinations) lines.push(describeDestination(d));
  if (r.error && !r.destinations.some((d) => d.code === r.error!.code)) lines.push(`  session failed: ${r.error.code}: ${r.error.message}`);
  for (const w of r.warnings) lines.push(`  warning: ${w.code}: ${w.message}`);
  return lines;
}

function summarize(result: ReplayManyResult): string {
  const dests = result.sessions.flatMap((s) => s.destinations);
  const completed = dests.filter((d) => d.outcome === "completed").length;
  const sessionsOk = result.sessions.filter((s) => s.ok).length;
  const head = result.sessions.length > 1 ? `${sessionsOk}/${result.sessions.length} sessions ok, ` : "";
  if (result.ok) {
    const all = `${head}all ${dests.length} destination${dests.length === 1 ? "" : "s"} completed`;
    const lossy = dests.filter((d) => framesMissing(d) > 0);
    if (lossy.length === 0) return all;
    const missing = lossy.reduce((n, d) => n + framesMissing(d), 0);
    return `${all}, but ${lossy.length} of them ${lossy.length === 1 ? "is" : "are"} missing frames (${missing} dropped or lost on the way)`;
  }
  const byCode = new Map<string, number>();
  for (const d of dests) if (d.outcome === "failed") byCode.set(d.code ?? "FAILED", (byCode.get(d.code ?? "FAILED") ?? 0) + 1);
  const codes = [...byCode].map(([code, count]) => `${count} ${code}`).join(", ");
  return `${head}${dests.length - completed} of ${dests.length} destinations failed${codes ? ` (${codes})` : ""}`;
}

/** Runs the command; resolves with the exit code. */
export async function replayCommand(file: string, opts: ReplayCommandOptions, io: ReplayCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const err = (line: string): void => void io.stderr.write(`golive replay: ${line}\n`);
  const out = (line: string): void => void io.stdout.write(`${line}\n`);

  let bridge: string;
  try {
    bridge = normalizeBridgeUrl(opts.bridge);
  } catch (e) {
    err(`--bridge: ${(e as Error).message}`);
    return ReplayExit.Usage;
  }
  if (opts.to.length === 0 && !opts.record) {
    err("nothing to publish to: give at least one --to rtmp://... (or --record to record on the bridge)");
    return ReplayExit.Usage;
  }
  if (opts.sessions > 1 && opts.to.some((u) => !u.includes("{session}"))) {
    err(`warning: ${opts.sessions} sessions share a stream key; most ingest servers accept one publisher per key (put {session} in the URL)`);
  }

  // mediabunny warns on the console about codecs it does not know; our errors say it better.
  Logging.level = LogLevel.Errors;
  let media: ReplayMedia;
  try {
    media = await loadReplayMedia(file);
  } catch (e) {
    if (e instanceof GoliveError) {
      err(`cannot replay ${file}: ${e.code}: ${e.message}`);
      return ReplayExit.Usage;
    }
    throw e;
  }
  const pacing = opts.fast ? "fast" : "realtime";
  if (!opts.json) {
    out(`replaying ${describeMedia(media)}${opts.loop > 1 ? ` x${opts.loop}` : ""} through ${bridge}, ${pacing}${opts.sessions > 1 ? `, ${opts.sessions} sessions` : ""}`);
  }

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      err("stopping: ending the sessions cleanly (Ctrl-C again to quit at once)");
      controller.abort();
    } else {
      process.exit(ReplayExit.Interrupted);
    }
  };
  const signals = io.signals ?? true;
  if (signals) process.on("SIGINT", onSigint);
  // With one session, show destination changes as they happen (a realtime replay can be long).
  const progress = opts.sessions === 1 && !opts.json
    ? (m: BridgeMessage): void => {
        if (m.type !== "destination" || m.state === "connecting") return;
        const retry = m.state === "reconnecting" && m.retryInMs !== undefined ? ` (attempt ${m.attempt ?? "?"}, next in ${(m.retryInMs / 1000).toFixed(1)} s)` : "";
        err(`${m.id}: ${m.state}${retry}${m.code ? `: ${m.code}: ${m.message ?? ""}` : ""}`);
      }
    : undefined;

  let result: ReplayManyResult;
  try {
    result = await replayMany(opts.sessions, {
      file: media,
      bridge,
      to: opts.to,
      record: opts.record,
      ...(opts.token !== undefined && { token: opts.token }),
      pacing,
      loop: opts.loop,
      ...(opts.maxRate !== undefined && { maxBitrate: opts.maxRate * 1e6 }),
      rampMs: opts.ramp,
      zeroMask: opts.sessions > 1,
      ...(opts.reconnect === false && { reconnect: false }),
      signal: controller.signal,
      ...(progress && { onMessage: progress }),
    });
  } finally {
    if (signals) process.off("SIGINT", onSigint);
  }

  if (opts.json) {
    out(JSON.stringify(result, null, 2));
  } else {
    const many = result.sessions.length > 1;
    result.sessions.forEach((s, i) => {
      // With many sessions, list the ones that failed and the first few.
      if (!many || !s.ok || i < 10) for (const line of describeSession(s, i, many)) out(line);
    });
    out(summarize(result));
  }
  if (!opts.json && pacing === "fast" && opts.maxRate === undefined && result.sessions.some((s) => s.error?.code === "BITRATE_EXCEEDED")) {
    err("the bridge refused the rate of --fast: cap it with --max-rate (e.g. --max-rate 20), or raise the bridge's bitrate limit");
  }
  if (result.sessions.some((s) => s.interrupted)) return ReplayExit.Interrupted;
  if (result.ok) {
    const lossy = result.sessions.some((s) => s.framesSkipped > 0 || s.destinations.some((d) => framesMissing(d) > 0));
    if (!lossy || opts.allowLoss) return ReplayExit.Ok;
    if (!opts.json) err("frames were dropped or lost on the way to an ingest, or skipped while reconnecting to the bridge (see above); --allow-loss accepts that");
    return ReplayExit.Loss;
  }
  if (result.sessions.length > 0 && result.sessions.every((s) => s.error?.code === ReplayErrorCode.BridgeUnreachable)) {
    if (!opts.json) err(`the bridge at ${bridge} cannot be reached: is \`golive serve\` running there?`);
    return ReplayExit.Unreachable;
  }
  return ReplayExit.Failed;
}
