/**
 * The load generator of the capacity benchmark, in its own process so that
 * its CPU is not counted as the bridge's: `replayMany` (server/replay) runs N
 * real-time sessions of one file from one process, over real WebSockets,
 * each masked with a random key as a browser's are.
 *
 * Driven by the harness over IPC (child_process.fork):
 *
 *   harness -> worker   {type:"start", ...}   begin the sessions
 *                       {type:"window", edge:"start"|"end"}
 *                       {type:"stop"}         stop every session cleanly
 *   worker -> harness   {type:"ready"}        media loaded
 *                       {type:"live", count}  sessions whose destination is live
 *                       {type:"window", ...}  this process's event loop delay in the window
 *                       {type:"result", ...}  per-session outcome and stats samples
 *
 * Every "stats" message the bridge sends (once a second per session) is kept
 * as a sample [wall ms, media time ms, most ms queued on a destination,
 * frames dropped], from which the harness tells whether the stream kept real
 * time. Wall time is performance.timeOrigin + performance.now(), comparable
 * across processes.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { BridgeMessage } from "../../protocol/wire.js";
import { loadReplayMedia, replayMany, type ReplayMedia } from "../../server/replay/index.js";

/** "start" from the harness. */
export interface WorkerStart {
  type: "start";
  bridge: string;
  /** Destination URL; "{session}" becomes the session number. */
  to: string;
  sessions: number;
  rampMs: number;
  loop: number;
  /** Say `interleaved` in "start" (replay's default); false: the bridge holds frames to re-order them. */
  interleaved: boolean;
}

/** One stats sample: [wall ms, media time ms, max queued ms, frames dropped]. */
export type StatsSample = [number, number, number, number];

/** What the worker reports per session. */
export interface WorkerSession {
  ok: boolean;
  error?: string;
  framesSent: number;
  wentLive: boolean;
  /** The destination's last counters: frames dropped by the bridge. */
  framesDropped: number;
  samples: StatsSample[];
}

/** Messages from the worker. */
export type WorkerMessage =
  | { type: "ready"; frames: number; durationUs: number }
  | { type: "live"; count: number }
  | { type: "failed"; session: number; code: string; message: string }
  | { type: "window"; edge: "start" | "end"; eldP50Ms: number; eldP99Ms: number; eldMaxMs: number }
  | { type: "result"; ok: boolean; elapsedMs: number; sessions: WorkerSession[] }
  | { type: "error"; message: string };

/** Messages to the worker. */
export type HarnessMessage = WorkerStart | { type: "window"; edge: "start" | "end" } | { type: "stop" };

const wallMs = (): number => performance.timeOrigin + performance.now();

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * Sends the last message, then closes the IPC channel once it is written:
 * disconnecting at once drops a message still in the pipe (the result of
 * 400 sessions is megabytes of JSON), and the harness then sees the worker
 * exit without a result.
 */
function sendLast(message: WorkerMessage): void {
  if (!process.send) return;
  process.send(message, undefined, {}, () => process.disconnect());
}

async function main(file: string): Promise<void> {
  const media: ReplayMedia = await loadReplayMedia(file);
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const abort = new AbortController();
  let started = false;
  let samples: StatsSample[][] = [];
  let live: boolean[] = [];
  let liveCount = 0;

  process.on("message", (raw: HarnessMessage) => {
    switch (raw.type) {
      case "start": {
        if (started) return;
        started = true;
        const msg = raw;
        samples = Array.from({ length: msg.sessions }, () => []);
        live = new Array<boolean>(msg.sessions).fill(false);
        const onMessage = (m: BridgeMessage, session: number): void => {
          const i = session - 1;
          if (m.type === "stats") {
            let queued = 0;
            let dropped = 0;
            for (const d of m.destinations) {
              queued = Math.max(queued, d.queuedMs);
              dropped += d.framesDropped;
            }
            samples[i]!.push([wallMs(), m.mediaTimeMs, queued, dropped]);
          } else if (m.type === "destination") {
            if (m.state === "live" && !live[i]) {
              live[i] = true;
              send({ type: "live", count: ++liveCount });
            } else if (m.state === "failed") {
              send({ type: "failed", session, code: m.code ?? "DESTINATION_FAILED", message: m.message ?? "" });
            }
          } else if (m.type === "error" && m.fatal) {
            send({ type: "failed", session, code: m.code, message: m.message });
          }
        };
        replayMany(msg.sessions, {
          file: media, bridge: msg.bridge, to: [msg.to], pacing: "realtime", loop: msg.loop, rampMs: msg.rampMs, interleaved: msg.interleaved,
          signal: abort.signal, onMessage, client: "golive-capacity-bench",
        }).then(
          (result) => {
            sendLast({
              type: "result",
              ok: result.ok,
              elapsedMs: result.elapsedMs,
              sessions: result.sessions.map((s, i) => {
                const d = s.destinations[0];
                const error = s.error ?? (d?.outcome === "failed" ? { code: d.code ?? "FAILED", message: d.message ?? "" } : undefined);
                // A session stopped by the harness ends cleanly ("stop", unpublish): ok unless something failed.
                return {
                  ok: s.ok,
                  ...(error && { error: `${error.code}: ${error.message}` }),
                  framesSent: s.framesSent,
                  wentLive: d?.wentLive ?? false,
                  framesDropped: d?.stats?.framesDropped ?? 0,
                  samples: samples[i] ?? [],
                };
              }),
            });
          },
          (err: unknown) => sendLast({ type: "error", message: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case "window":
        if (raw.edge === "start") eld.reset();
        send({ type: "window", edge: raw.edge, eldP50Ms: eld.percentile(50) / 1e6, eldP99Ms: eld.percentile(99) / 1e6, eldMaxMs: eld.max / 1e6 });
        return;
      case "stop":
        abort.abort();
        return;
    }
  });
  send({ type: "ready", frames: media.frames.length, durationUs: media.durationUs });
}

const file = process.argv[2];
if (file === undefined || !process.send) {
  process.stderr.write("load-worker: run by the capacity benchmark (child_process.fork with the media file as argument)\n");
  process.exit(2);
}
main(file).catch((err: unknown) => {
  process.exitCode = 1;
  sendLast({ type: "error", message: err instanceof Error ? err.message : String(err) });
});
