/**
 * `golive replay <file>`: the CLI action over server/replay. Prints each
 * destination's outcome (stream keys redacted) and returns the exit code:
 *
 *   0    every destination of every session completed
 *   1    a destination or a session failed
 *   2    bad usage, or the file cannot be replayed
 *   3    the bridge could not be reached
 *   130  interrupted (Ctrl-C): the sessions were stopped cleanly
 */
import type { Writable } from "node:stream";
import { Logging, LogLevel } from "mediabunny";
import { GoliveError } from "../protocol/errors.js";
import type { BridgeMessage } from "../protocol/wire.js";
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
}

/** Where the command writes (process.stdout/stderr by default; tests pass their own). */
export interface ReplayCommandIo {
  stdout: Pick<Writable, "write">;
  stderr: Pick<Writable, "write">;
  /** Install Ctrl-C handling (default true). */
  signals?: boolean;
}

/** Exit codes of `golive replay`. */
export const ReplayExit = { Ok: 0, Failed: 1, Usage: 2, Unreachable: 3, Interrupted: 130 } as const;

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const sec = (us: number): string => `${(us / 1e6).toFixed(1)} s`;

function describeMedia(m: ReplayMedia): string {
  const tracks = [
    ...(m.video ? [`H.264 ${m.video.width}x${m.video.height}`] : []),
    ...(m.audio ? [`AAC ${m.audio.sampleRate / 1000} kHz`] : []),
  ].join(" + ");
  return `${m.name} (${m.format.toUpperCase()}, ${tracks}, ${sec(m.durationUs)}, ${m.counts.video} video + ${m.counts.audio} audio frames)`;
}

function describeDestination(d: DestinationResult): string {
  const label = `${d.id}  ${d.target}`;
  if (d.outcome === "completed") {
    const s = d.stats;
    return `  completed  ${label}${s ? `  (${s.framesSent} frames, ${mb(s.bytesSent)} sent)` : ""}`;
  }
  return `  FAILED     ${label}  ${d.code ?? "FAILED"}: ${d.message ?? "failed"}`;
}

function describeSession(r: SessionResult, index: number, many: boolean): string[] {
  const name = `${many ? `session ${index + 1}` : "session"}${r.session ? ` ${r.session}` : ""}`;
  const lines = [`${name}: sent ${r.framesSent} frames (${mb(r.bytesSent)}) in ${(r.elapsedMs / 1000).toFixed(1)} s${r.interrupted ? ", interrupted" : ""}`];
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
  if (result.ok) return `${head}all ${dests.length} destination${dests.length === 1 ? "" : "s"} completed`;
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
        err(`${m.id}: ${m.state}${m.code ? `: ${m.code}: ${m.message ?? ""}` : ""}`);
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
  if (result.ok) return ReplayExit.Ok;
  if (result.sessions.length > 0 && result.sessions.every((s) => s.error?.code === ReplayErrorCode.BridgeUnreachable)) {
    if (!opts.json) err(`the bridge at ${bridge} cannot be reached: is \`golive serve\` running there?`);
    return ReplayExit.Unreachable;
  }
  return ReplayExit.Failed;
}
