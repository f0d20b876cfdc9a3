/**
 * The benchmark's media, made with ffmpeg and cached by the hash of the
 * exact command (in $TMPDIR/golive-bench-media):
 *
 * - the FLV every design publishes: 1280x720 at 30 fps H.264 High (x264
 *   veryfast, 2.4 Mbit/s CBR-like, 2 s GOP, no B-frames, as a browser's
 *   real-time encoder makes it) + AAC-LC 48 kHz stereo 128 kbit/s: about
 *   2.6 Mbit/s in all. testsrc2 with temporal noise, so the encoder has to
 *   spend the bitrate (a clean test pattern compresses to almost nothing);
 * - the WebM a MediaRecorder would upload to a transcoding bridge: the same
 *   picture as VP8 (2.5 Mbit/s) + Opus, for the ffmpeg transcoding peers.
 */
import { createHash, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { exitStatus, run } from "../../server/testing/ingest/process.js";
import { requireBinary } from "../../server/testing/system.js";

const execFileAsync = promisify(execFile);

/** Where the media is cached between runs. */
export const BENCH_MEDIA_DIR = join(tmpdir(), "golive-bench-media");

const SOURCE = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];

/** ffmpeg arguments (output path last) of the H.264/AAC FLV. */
export function flvArgs(seconds: number): string[] {
  return [
    ...SOURCE, "-t", String(seconds), "-map", "0:v", "-map", "1:a",
    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
    "-b:v", "2400k", "-maxrate", "2400k", "-bufsize", "2400k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0",
    "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv",
  ];
}

/** ffmpeg arguments (output path last) of the VP8/Opus WebM. */
export function webmArgs(seconds: number): string[] {
  return [
    ...SOURCE, "-t", String(seconds), "-map", "0:v", "-map", "1:a",
    "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-b:v", "2500k", "-g", "60",
    "-c:a", "libopus", "-b:a", "128k", "-ac", "2", "-f", "webm",
  ];
}

/** A media file and what ffprobe says about it. */
export interface BenchMedia {
  path: string;
  /** The command that made it. */
  command: string;
  durationS: number;
  bitrate: number;
  video: string;
  audio: string;
}

async function probe(path: string): Promise<Omit<BenchMedia, "path" | "command">> {
  const { stdout } = await execFileAsync(requireBinary("ffprobe"), [
    "-v", "error", "-show_entries", "format=duration,bit_rate:stream=codec_type,codec_name,width,height,avg_frame_rate,sample_rate,channels", "-of", "json", path,
  ]);
  const info = JSON.parse(stdout) as {
    format: { duration: string; bit_rate: string };
    streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number; avg_frame_rate?: string; sample_rate?: string; channels?: number }>;
  };
  const v = info.streams.find((s) => s.codec_type === "video");
  const a = info.streams.find((s) => s.codec_type === "audio");
  return {
    durationS: Number(info.format.duration),
    bitrate: Number(info.format.bit_rate),
    video: v ? `${v.codec_name} ${v.width}x${v.height} @ ${v.avg_frame_rate}` : "none",
    audio: a ? `${a.codec_name} ${a.sample_rate} Hz x${a.channels}` : "none",
  };
}

/** Makes (or finds in the cache) the file of `args` + `ext`. */
async function cached(name: string, args: string[], ext: string): Promise<BenchMedia> {
  const ffmpeg = requireBinary("ffmpeg");
  const key = createHash("sha256").update(args.join("\0")).digest("hex").slice(0, 12);
  const path = join(BENCH_MEDIA_DIR, `${name}-${key}.${ext}`);
  const command = `ffmpeg ${args.map((a) => (/[\s,;=:]/.test(a) ? `'${a}'` : a)).join(" ")} ${name}.${ext}`;
  const existing = await stat(path).catch(() => undefined);
  if (!existing || existing.size === 0) {
    await mkdir(BENCH_MEDIA_DIR, { recursive: true });
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp.${ext}`;
    process.stderr.write(`making ${path} with ffmpeg (once; cached)\n`);
    const result = await run(`ffmpeg (${name})`, ffmpeg, ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args, temp], { timeoutMs: 600_000 });
    if (result.code !== 0) {
      await rm(temp, { force: true });
      throw new Error(`ffmpeg could not make ${name}.${ext} (status ${exitStatus(result)}):\n${result.output}`);
    }
    await rename(temp, path);
  }
  return { path, command, ...(await probe(path)) };
}

/** The FLV (H.264/AAC) of `seconds`. */
export function benchFlv(seconds: number): Promise<BenchMedia> {
  return cached(`bench-720p30-h264-aac-${seconds}s`, flvArgs(seconds), "flv");
}

/** The WebM (VP8/Opus) of `seconds`. */
export function benchWebm(seconds: number): Promise<BenchMedia> {
  return cached(`bench-720p30-vp8-opus-${seconds}s`, webmArgs(seconds), "webm");
}
