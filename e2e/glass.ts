/**
 * Glass-to-ingest latency: a page paints a canvas black or white at known
 * instants, the SDK broadcasts it, and an `ffmpeg -listen 1` decodes what
 * arrives as it arrives (16x9 grey frames on its stdout, flushed per frame);
 * each change of brightness is timed when its frame reaches us. Page and
 * ingest run on this machine and read one clock (the epoch: the page's
 * performance.timeOrigin + now(), ours the same in Node), so the difference
 * is the whole path: capture, encoding, the WebSocket, the bridge, RTMP and
 * ffmpeg's decoding.
 */
import { freePort, LOOPBACK } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";
import { spawnManaged, stopFfmpeg, waitForListening, type ManagedProcess } from "../server/testing/ingest/process.js";

const W = 16;
const H = 9;

/** An ingest that decodes on arrival and timestamps each brightness change. */
export interface DecodingIngest {
  rtmpUrl: string;
  /** Arrival times (epoch ms) of frames whose brightness crossed to white (true) or black (false). */
  readonly changes: Array<{ atMs: number; white: boolean }>;
  stop(): Promise<void>;
}

export async function startDecodingIngest(): Promise<DecodingIngest> {
  const port = await freePort();
  const url = `rtmp://${LOOPBACK}:${port}/live/glass`;
  const proc: ManagedProcess = await spawnManaged("ffmpeg -listen (decoding)", requireBinary("ffmpeg"), [
    "-hide_banner", "-nostdin", "-loglevel", "warning",
    "-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "32768", "-analyzeduration", "0",
    "-listen", "1", "-i", url,
    "-map", "0:v:0", "-vf", `scale=${W}:${H}`, "-pix_fmt", "gray", "-f", "rawvideo", "-flush_packets", "1", "pipe:1",
  ]);
  await waitForListening(proc, [port], { timeoutMs: 10_000 });
  const changes: Array<{ atMs: number; white: boolean }> = [];
  let pending = Buffer.alloc(0);
  let white: boolean | undefined;
  proc.child.stdout?.on("data", (chunk: Buffer) => {
    const atMs = performance.timeOrigin + performance.now();
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= W * H) {
      let sum = 0;
      for (let i = 0; i < W * H; i++) sum += pending[i]!;
      pending = pending.subarray(W * H);
      const mean = sum / (W * H);
      const now = mean > 128;
      if (white !== undefined && now !== white) changes.push({ atMs, white: now });
      white = now;
    }
  });
  return {
    rtmpUrl: `rtmp://${LOOPBACK}:${port}/live`,
    changes,
    stop: async () => {
      await stopFfmpeg(proc);
    },
  };
}

/**
 * Runs in the page: a canvas (and no sound) that turns white or black every
 * `periodMs`, recording the epoch time of each paint in window.__flips.
 */
export function flippingCanvasSource(periodMs: number): void {
  const canvas = document.createElement("canvas");
  canvas.width = 1280;
  canvas.height = 720;
  const ctx = canvas.getContext("2d")!;
  const flips: Array<{ atMs: number; white: boolean }> = [];
  let white = false;
  let next = performance.now() + periodMs;
  const paint = (): void => {
    ctx.fillStyle = white ? "#ffffff" : "#000000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  paint();
  const loop = (t: number): void => {
    if (t >= next) {
      white = !white;
      paint();
      flips.push({ atMs: performance.timeOrigin + performance.now(), white });
      next += periodMs;
    } else {
      // Repaint the same: a canvas stream sends frames only for painted canvases.
      paint();
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  Object.assign(window, { __glassCanvas: canvas, __flips: flips });
}

/** Each flip's latency: the first arrival of its colour after it was painted (ms). */
export function flipLatencies(flips: ReadonlyArray<{ atMs: number; white: boolean }>, changes: ReadonlyArray<{ atMs: number; white: boolean }>): number[] {
  const out: number[] = [];
  for (const flip of flips) {
    const seen = changes.find((c) => c.white === flip.white && c.atMs >= flip.atMs);
    if (seen && seen.atMs - flip.atMs < 5000) out.push(seen.atMs - flip.atMs);
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
