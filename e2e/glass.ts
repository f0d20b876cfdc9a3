/**
 * Glass-to-ingest latency: a page paints a canvas black or white at known
 * instants (and, optionally, switches a tone on and off at the same
 * instants), the SDK broadcasts it, and an `ffmpeg -listen 1` decodes what
 * arrives as it arrives: video as 16x9 grey frames on its stdout, audio as
 * 48 kHz mono float PCM on a Unix socket, each flushed per decoded frame.
 * Each change of brightness, and each tone on/off edge, is timed when the
 * decoded frame that shows it reaches us. Page and ingest run on this
 * machine and read one clock (the epoch: the page's performance.timeOrigin
 * + now(), ours the same in Node), so the difference is the whole path:
 * capture, encoding, the WebSocket, the bridge, RTMP and ffmpeg's decoding.
 *
 * Audio is timed by the arrival of the PCM chunk in which the edge is
 * detected, not by the edge's position inside it: ffmpeg decodes and writes
 * one AAC frame (1024 samples, 21 ms at 48 kHz) at a time, so the ingest
 * cannot know of an edge before the whole frame holding it has arrived.
 * Where the edge sits in the frame only says when it was captured, which is
 * the page's half of the measurement.
 */
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../server/testing/ingest/dirs.js";
import { freePort, LOOPBACK } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";
import { spawnManaged, stopFfmpeg, waitForListening, type ManagedProcess } from "../server/testing/ingest/process.js";

const W = 16;
const H = 9;
/** The rate ffmpeg resamples the decoded audio to (a no-op for the SDK's 48 kHz). */
export const GLASS_AUDIO_RATE = 48_000;

/** A tone switching on (true) or off (false), as the ingest heard it. */
export interface ToneEdge {
  /** Arrival time (epoch ms) of the decoded PCM chunk in which the edge was detected. */
  atMs: number;
  on: boolean;
  /** Position of the edge in the decoded stream, samples from its first one. */
  sample: number;
}

/** An ingest that decodes on arrival and timestamps each brightness change (and tone edge). */
export interface DecodingIngest {
  rtmpUrl: string;
  /** Arrival times (epoch ms) of frames whose brightness crossed to white (true) or black (false). */
  readonly changes: Array<{ atMs: number; white: boolean }>;
  /** Arrival time (epoch ms) of the first decoded video frame, once one arrived. */
  readonly firstFrameAtMs: number | undefined;
  /** Tone edges (only with `audio: true`). */
  readonly audioEdges: ToneEdge[];
  /** Arrival time (epoch ms) of the first decoded audio, once some arrived (only with `audio: true`). */
  readonly firstAudioAtMs: number | undefined;
  /** ffmpeg's log (its warnings and errors). */
  log(): string;
  stop(): Promise<void>;
}

/** Options of {@link startDecodingIngest}. */
export interface DecodingIngestOptions {
  /**
   * Also decode the stream's first audio track and detect tone edges. The
   * publish must then carry audio: ffmpeg fails an output that has none.
   */
  audio?: boolean;
}

export async function startDecodingIngest(options: DecodingIngestOptions = {}): Promise<DecodingIngest> {
  const port = await freePort();
  const url = `rtmp://${LOOPBACK}:${port}/live/glass`;
  let audio: { dir: string; server: Server; path: string } | undefined;
  const audioEdges: ToneEdge[] = [];
  let firstAudioAtMs: number | undefined;
  if (options.audio) {
    // A second output of the same ffmpeg, on a Unix socket we listen on
    // (spawnManaged gives the child stdin/stdout/stderr only). ffmpeg
    // connects once it has opened the input, i.e. once a publisher came.
    const dir = await makeTempDir("glass");
    const path = join(dir, "audio.sock");
    const detector = new ToneEdgeDetector(GLASS_AUDIO_RATE);
    const server = createServer((socket: Socket) => {
      let pending: Buffer = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        const atMs = performance.timeOrigin + performance.now();
        firstAudioAtMs ??= atMs;
        pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
        const whole = pending.length - (pending.length % 4);
        const samples = new Float32Array(whole / 4);
        for (let i = 0; i < samples.length; i++) samples[i] = pending.readFloatLE(i * 4);
        pending = pending.subarray(whole);
        for (const edge of detector.push(samples)) audioEdges.push({ atMs, ...edge });
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    audio = { dir, server, path };
  }
  const proc: ManagedProcess = await spawnManaged("ffmpeg -listen (decoding)", requireBinary("ffmpeg"), [
    "-hide_banner", "-nostdin", "-loglevel", "warning",
    // Start decoding at the first packets: a tiny probe (analyzeduration 0
    // would mean ffmpeg's default, 5 s), and no -fflags nobuffer, which
    // throws away the packets read while probing (the publish's first
    // keyframe: nothing then decodes until the next one, 2 s later).
    // Neither adds delay once decoding runs: ffmpeg reads as data comes.
    "-flags", "low_delay", "-probesize", "32", "-analyzeduration", "1",
    "-listen", "1", "-i", url,
    "-map", "0:v:0", "-vf", `scale=${W}:${H}`, "-pix_fmt", "gray", "-f", "rawvideo", "-flush_packets", "1", "pipe:1",
    ...(audio ? ["-map", "0:a:0", "-ac", "1", "-ar", String(GLASS_AUDIO_RATE), "-f", "f32le", "-flush_packets", "1", `unix:${audio.path}`] : []),
  ]);
  try {
    await waitForListening(proc, [port], { timeoutMs: 10_000 });
  } catch (err) {
    if (audio) {
      audio.server.close();
      await removeTempDir(audio.dir);
    }
    throw err;
  }
  // stderr alone: proc.output() mixes in the raw frames of stdout.
  let stderrText = "";
  proc.child.stderr?.on("data", (d: Buffer) => {
    stderrText = (stderrText + d.toString("utf8")).slice(-65536);
  });
  const changes: Array<{ atMs: number; white: boolean }> = [];
  let firstFrameAtMs: number | undefined;
  let pending = Buffer.alloc(0);
  let white: boolean | undefined;
  proc.child.stdout?.on("data", (chunk: Buffer) => {
    const atMs = performance.timeOrigin + performance.now();
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= W * H) {
      firstFrameAtMs ??= atMs;
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
    get firstFrameAtMs() {
      return firstFrameAtMs;
    },
    audioEdges,
    get firstAudioAtMs() {
      return firstAudioAtMs;
    },
    log: () => stderrText,
    stop: async () => {
      await stopFfmpeg(proc);
      if (audio) {
        audio.server.close();
        await removeTempDir(audio.dir);
      }
    },
  };
}

/**
 * Finds where a tone switches on and off in mono PCM fed in pieces: the RMS
 * of a sliding window of `windowMs` (1 ms: one period of the bench's 1 kHz
 * tone, so a steady tone gives a steady RMS), with hysteresis (on above
 * `onRms`, off below `offRms`) and a hold-off after each edge so the ramp
 * of a decoded edge (AAC spreads a step over a few ms, with pre-echo) counts
 * once. Pure: samples in, edges (by sample position) out; no clock.
 */
export class ToneEdgeDetector {
  readonly #window: Float32Array;
  readonly #onRms: number;
  readonly #offRms: number;
  readonly #holdSamples: number;
  #pos = 0;
  #sumSq = 0;
  #filled = 0;
  #samples = 0;
  #on = false;
  #lastEdge = -Infinity;

  constructor(sampleRate: number, options: { windowMs?: number; onRms?: number; offRms?: number; holdMs?: number } = {}) {
    this.#window = new Float32Array(Math.max(1, Math.round((sampleRate * (options.windowMs ?? 1)) / 1000)));
    this.#onRms = options.onRms ?? 0.1;
    this.#offRms = options.offRms ?? 0.03;
    this.#holdSamples = Math.round((sampleRate * (options.holdMs ?? 100)) / 1000);
  }

  /** Whether the tone is on after the samples pushed so far. */
  get on(): boolean {
    return this.#on;
  }

  /** Feeds the next samples; returns the edges completed in them. */
  push(samples: Float32Array): Array<{ on: boolean; sample: number }> {
    const out: Array<{ on: boolean; sample: number }> = [];
    const win = this.#window;
    const n = win.length;
    for (let i = 0; i < samples.length; i++) {
      const x = Number.isFinite(samples[i]!) ? samples[i]! : 0;
      const old = win[this.#pos]!;
      win[this.#pos] = x;
      this.#pos = (this.#pos + 1) % n;
      this.#sumSq += x * x - old * old;
      if (this.#filled < n) this.#filled++;
      const index = this.#samples++;
      if (this.#filled < n) continue;
      // Re-sum now and then: the running sum drifts by rounding.
      if (this.#pos === 0) this.#sumSq = win.reduce((s, v) => s + v * v, 0);
      const rms = Math.sqrt(Math.max(0, this.#sumSq) / n);
      const edge = this.#on ? rms < this.#offRms : rms > this.#onRms;
      if (edge && index - this.#lastEdge >= this.#holdSamples) {
        this.#on = !this.#on;
        this.#lastEdge = index;
        out.push({ on: this.#on, sample: index });
      }
    }
    return out;
  }
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

/**
 * Pairs events of the page with what the ingest saw, in order: each flip
 * (to `white`) with the first change to the same value after both the flip
 * and the change paired before it, within `maxMs`. Unlike flipLatencies
 * this holds when the latency exceeds the flip period (Firefox's encoder
 * holds ~1.5 s), as long as the ingest sees every flip once (a flip lasts
 * many frames, so it does). Returns one latency (ms) per flip, undefined
 * where nothing matched.
 */
export function matchInOrder(flips: ReadonlyArray<{ atMs: number; white: boolean }>, seen: ReadonlyArray<{ atMs: number; white: boolean }>, maxMs = 5000): Array<number | undefined> {
  const out: Array<number | undefined> = [];
  let from = 0;
  for (const flip of flips) {
    let j = from;
    while (j < seen.length && (seen[j]!.white !== flip.white || seen[j]!.atMs < flip.atMs)) j++;
    const hit = seen[j];
    if (hit && hit.atMs - flip.atMs <= maxMs) {
      out.push(hit.atMs - flip.atMs);
      from = j + 1;
    } else {
      out.push(undefined);
    }
  }
  return out;
}
