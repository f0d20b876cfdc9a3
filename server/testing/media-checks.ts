/**
 * What the e2e tests measure in a recording: keyframe spacing, frame rate,
 * flashes in the video (mean luma) and beeps in the audio (1 kHz energy),
 * gaps in the audio (short-window RMS of the tone). ffmpeg decodes; the
 * arithmetic is here.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { requireBinary } from "./system.js";

const exec = promisify(execFile);

/**
 * A path as a value inside a filtergraph: escaped once for the option value
 * (\\ : ') and again for the graph (\\ ' [ ] , ;).
 */
function filterPath(path: string): string {
  return path.replace(/[\\:']/g, "\\$&").replace(/[\\'[\],;]/g, "\\$&");
}

/** Mean luma per decoded video frame with its pts (s), via signalstats. */
export async function frameLuma(path: string): Promise<Array<{ t: number; y: number }>> {
  const { stdout } = await exec(requireBinary("ffprobe"), [
    "-v", "error", "-f", "lavfi", "-i", `movie=${filterPath(path)},signalstats`,
    "-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0",
  ], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim().split("\n").filter(Boolean).map((line) => {
    const [t, y] = line.split(",");
    return { t: Number(t), y: Number(y) };
  });
}

/** Decoded mono audio at 48 kHz as f32 samples, and where the stream starts (s). */
export async function decodeAudio(path: string): Promise<{ samples: Float32Array; rate: number; startTime: number }> {
  const { stdout: start } = await exec(requireBinary("ffprobe"), ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=start_time", "-of", "csv=p=0", path]);
  const { stdout } = await exec(requireBinary("ffmpeg"), ["-v", "error", "-i", path, "-map", "a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"], { encoding: "buffer", maxBuffer: 512 * 1024 * 1024 });
  const buf = stdout as unknown as Buffer;
  const samples = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength - (buf.byteLength % 4)));
  return { samples, rate: 48000, startTime: Number(start.trim()) || 0 };
}

/** Times (s) where the video flashes: frames much brighter than the median. */
export function flashTimes(frames: Array<{ t: number; y: number }>): number[] {
  const sorted = frames.map((f) => f.y).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const out: number[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const prev = frames[i - 1];
    if (f.y > median + 60 && (!prev || prev.y <= median + 60)) out.push(f.t);
  }
  return out;
}

/** Goertzel power of `freq` in samples[from, from+n). */
function tonePower(samples: Float32Array, from: number, n: number, freq: number, rate: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < from + n && i < samples.length; i++) {
    const s0 = samples[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (n * n);
}

/** Times (s) where a 1 kHz beep starts (2 ms resolution). */
export function beepTimes(audio: { samples: Float32Array; rate: number; startTime: number }): number[] {
  const { samples, rate, startTime } = audio;
  const step = Math.round(rate * 0.002);
  const win = Math.round(rate * 0.01);
  const powers: number[] = [];
  for (let i = 0; i + win < samples.length; i += step) powers.push(tonePower(samples, i, win, 1000, rate));
  let peak = 0;
  for (const p of powers) if (p > peak) peak = p; // not Math.max(...): one argument per 2 ms overflows the stack on long recordings
  const out: number[] = [];
  let on = false;
  for (let j = 0; j < powers.length; j++) {
    const now = powers[j]! > peak * 0.25;
    if (now && !on) out.push(startTime + (j * step) / rate);
    on = now;
  }
  return out;
}

/**
 * Longest stretch (ms) where the audio's short-window RMS falls below a
 * fraction of its median: a gap, dropout or discontinuity in the tone.
 */
export function longestDropoutMs(audio: { samples: Float32Array; rate: number }, windowMs = 1, fraction = 0.3): number {
  const { samples, rate } = audio;
  const win = Math.max(1, Math.round((rate * windowMs) / 1000));
  const rms: number[] = [];
  for (let i = 0; i + win <= samples.length; i += win) {
    let sum = 0;
    for (let j = i; j < i + win; j++) sum += samples[j]! * samples[j]!;
    rms.push(Math.sqrt(sum / win));
  }
  // Skip the first and last 100 ms (encoder start-up and end).
  const skip = Math.round(100 / windowMs);
  const body = rms.slice(skip, rms.length - skip);
  const sorted = [...body].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let longest = 0;
  let run = 0;
  for (const r of body) {
    run = r < median * fraction ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest * windowMs;
}
