/**
 * The peer designs: one ffmpeg process per stream, as every open-source
 * browser-to-RTMP bridge runs it.
 *
 * - copy:      `ffmpeg -re -i file.flv -c copy -f flv rtmp://...`: what a
 *              bridge costs when the browser already sends H.264/AAC (the
 *              cheapest per-process design);
 * - transcode: `ffmpeg -re -i file.webm -c:v libx264 -preset veryfast ...`:
 *              what it costs when the browser sends MediaRecorder's
 *              VP8/Opus WebM (the common design).
 *
 * Each ffmpeg prints its progress once a second (`-progress pipe:1
 * -stats_period 1`): out_time, the media time it has written, is what tells
 * whether it keeps real time, as the bridge's "stats" do for golive.
 */
import { spawnManaged, type ManagedProcess } from "../../server/testing/ingest/process.js";
import { requireBinary } from "../../server/testing/system.js";
import type { StatsSample } from "./load-worker.js";

/** Which peer. */
export type PeerKind = "copy" | "transcode";

/** Options of {@link startPeers}. */
export interface PeerOptions {
  kind: PeerKind;
  /** Input file: the FLV for copy, the WebM for transcode. */
  file: string;
  /** Destination URL; "{session}" becomes 1..count. */
  to: string;
  count: number;
  /** Spread the starts over this many ms. */
  rampMs: number;
}

/** Running peers. */
export interface Peers {
  readonly pids: number[];
  /** The command of peer 1, stream key shown as KEY. */
  readonly command: string;
  /** Peers whose progress shows media written. */
  running(): number;
  /** Progress samples per peer: [wall ms, media ms written, 0, 0]. */
  samples(): StatsSample[][];
  /** Peers that exited before stop(), with their output. */
  exited(): Array<{ peer: number; output: string }>;
  /** Stops every peer (SIGKILL: nothing to finish cleanly on the ingest side). */
  stop(): Promise<void>;
}

/**
 * The ffmpeg arguments of one peer, destination last. The input always
 * loops: starting hundreds of processes can take far longer than the ramp on
 * a busy machine (53 s for 200 once), and a peer that reached the end of the
 * file would leave the window early; stop() ends them.
 */
export function peerArgs(kind: PeerKind, file: string, to: string): string[] {
  const input = ["-re", "-stream_loop", "-1", "-i", file];
  const codec = kind === "copy"
    ? ["-c", "copy"]
    : ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g", "60", "-pix_fmt", "yuv420p",
      "-c:a", "aac", "-b:a", "128k", "-ar", "48000"];
  return ["-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-stats_period", "1", ...input, ...codec, "-f", "flv", to];
}

const wallMs = (): number => performance.timeOrigin + performance.now();

/** Starts `count` peers, `rampMs` apart in all; resolves once all are spawned. */
export async function startPeers(options: PeerOptions): Promise<Peers> {
  const ffmpeg = requireBinary("ffmpeg");
  const procs: ManagedProcess[] = [];
  const samples: StatsSample[][] = [];
  const progressed: boolean[] = [];
  let stopping = false;
  const early: Array<{ peer: number; output: string }> = [];
  const gap = options.count > 1 ? options.rampMs / options.count : 0;
  try {
    for (let i = 1; i <= options.count; i++) {
      if (i > 1 && gap > 0) await new Promise((r) => setTimeout(r, gap));
      const url = options.to.replaceAll("{session}", String(i));
      const proc = await spawnManaged(`ffmpeg ${options.kind} ${i}`, ffmpeg, peerArgs(options.kind, options.file, url));
      const mine: StatsSample[] = [];
      samples.push(mine);
      progressed.push(false);
      let pending = "";
      proc.child.stdout?.on("data", (chunk: Buffer) => {
        pending += chunk.toString("latin1");
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          // out_time_us is the media time written (out_time_ms is, despite its name, also in µs).
          if (line.startsWith("out_time_us=")) {
            const us = Number(line.slice("out_time_us=".length));
            if (Number.isFinite(us) && us > 0) {
              progressed[i - 1] = true;
              mine.push([wallMs(), us / 1000, 0, 0]);
            }
          }
        }
      });
      void proc.exited.then(() => {
        if (!stopping) early.push({ peer: i, output: proc.output().split("\n").filter((l) => !/^[a-z_]+=/.test(l)).join("\n").slice(-2000) });
      });
      procs.push(proc);
    }
  } catch (err) {
    stopping = true;
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    throw err;
  }
  const shown = peerArgs(options.kind, options.file, options.to.replaceAll("{session}", "KEY"));
  return {
    pids: procs.map((p) => p.pid),
    command: `ffmpeg ${shown.map((a) => (a === options.file ? (options.kind === "copy" ? "file.flv" : "file.webm") : a)).join(" ")}`,
    running: () => progressed.filter(Boolean).length,
    samples: () => samples,
    exited: () => early,
    async stop() {
      stopping = true;
      await Promise.all(procs.map((p) => p.stop("SIGKILL", 5000)));
    },
  };
}
