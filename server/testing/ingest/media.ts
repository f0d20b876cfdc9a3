/**
 * Media helpers for integration tests, all driving the real ffmpeg/ffprobe:
 * a cached test FLV, publishing a file to an RTMP(S) URL, pulling a live
 * stream back to a file, and a packet-level probe of what arrived.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFile, mkdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { requireBinary } from "../system.js";
import { exitStatus, run, spawnManaged, stopFfmpeg, type ManagedProcess } from "./process.js";

const execFileAsync = promisify(execFile);

/** One elementary stream as ffprobe sees it. */
export interface ProbeStream {
  /** Stream index in the container. */
  readonly index: number;
  /** `video` or `audio` (data streams are left out). */
  readonly type: "video" | "audio";
  /** ffprobe `codec_name`, e.g. `h264`, `aac`. */
  readonly codecName: string;
  /** ffprobe `profile`, e.g. `Constrained Baseline`, `LC`. */
  readonly profile: string | undefined;
  /** Video width in pixels. */
  readonly width: number | undefined;
  /** Video height in pixels. */
  readonly height: number | undefined;
  /** Audio sample rate in Hz. */
  readonly sampleRate: number | undefined;
  /** Audio channel count. */
  readonly channels: number | undefined;
}

/** One demuxed packet (one FLV audio/video tag). */
export interface ProbePacket {
  /** Which elementary stream it belongs to. */
  readonly stream: "video" | "audio";
  /** Presentation time in ms (FLV time base is 1/1000, so this is exact for FLV). */
  readonly ptsMs: number;
  /** Decode time in ms. */
  readonly dtsMs: number;
  /** ffprobe's `K` flag. */
  readonly keyframe: boolean;
  /** Payload bytes (the codec data, without the FLV tag header). */
  readonly size: number;
}

/** What {@link ffprobeFrames} found in a file. */
export interface ProbeResult {
  /** Audio and video streams, in container order. */
  readonly streams: readonly ProbeStream[];
  /** The first video stream, if any. */
  readonly video: ProbeStream | undefined;
  /** The first audio stream, if any. */
  readonly audio: ProbeStream | undefined;
  /** Audio and video packets in file order. */
  readonly packets: readonly ProbePacket[];
  /** Packet counts per stream type. */
  readonly counts: { readonly video: number; readonly audio: number };
}

interface FfprobeJson {
  streams?: Array<{ index: number; codec_type?: string; codec_name?: string; profile?: string; width?: number; height?: number; sample_rate?: string; channels?: number; time_base?: string }>;
  packets?: Array<{ stream_index: number; pts?: number; dts?: number; flags?: string; size?: string }>;
}

/** `num/den` time base -> milliseconds per tick. */
function msPerTick(timeBase: string | undefined): number {
  const [num, den] = (timeBase ?? "1/1000").split("/").map(Number);
  if (!num || !den) return 1;
  return (num / den) * 1000;
}

/**
 * Probes `path` with `ffprobe -v error -show_streams -show_packets -of json`
 * and returns per-stream codec/size and every audio/video packet with its
 * timestamps, keyframe flag and size. Throws with ffprobe's stderr if the file
 * does not parse.
 */
export async function ffprobeFrames(path: string): Promise<ProbeResult> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(requireBinary("ffprobe"), ["-v", "error", "-show_streams", "-show_packets", "-of", "json", path], { maxBuffer: 256 * 1024 * 1024, timeout: 30_000 }));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`ffprobe failed on ${path}: ${(error as Error).message}\n${stderr.slice(0, 4000)}`);
  }
  const json = JSON.parse(stdout) as FfprobeJson;
  const streams: ProbeStream[] = [];
  const byIndex = new Map<number, { type: "video" | "audio"; msPerTick: number }>();
  for (const s of json.streams ?? []) {
    if (s.codec_type !== "video" && s.codec_type !== "audio") continue;
    byIndex.set(s.index, { type: s.codec_type, msPerTick: msPerTick(s.time_base) });
    streams.push({
      index: s.index,
      type: s.codec_type,
      codecName: s.codec_name ?? "unknown",
      profile: s.profile,
      width: s.width,
      height: s.height,
      sampleRate: s.sample_rate === undefined ? undefined : Number(s.sample_rate),
      channels: s.channels,
    });
  }
  const packets: ProbePacket[] = [];
  const counts = { video: 0, audio: 0 };
  for (const p of json.packets ?? []) {
    const info = byIndex.get(p.stream_index);
    if (!info) continue;
    const dts = p.dts ?? p.pts;
    const pts = p.pts ?? p.dts;
    if (dts === undefined || pts === undefined) throw new Error(`ffprobe: packet without timestamps in ${path} (stream ${p.stream_index})`);
    packets.push({
      stream: info.type,
      ptsMs: Math.round(pts * info.msPerTick),
      dtsMs: Math.round(dts * info.msPerTick),
      keyframe: (p.flags ?? "").includes("K"),
      size: Number(p.size ?? 0),
    });
    counts[info.type]++;
  }
  return { streams, video: streams.find((s) => s.type === "video"), audio: streams.find((s) => s.type === "audio"), packets, counts };
}

/** Options for {@link makeTestFlv}. */
export interface TestFlvOptions {
  /** Duration in seconds (default 3). */
  seconds?: number;
  /** Keyframe interval in frames at 30 fps (default 60: a keyframe every 2 s). */
  gop?: number;
}

/** Bump to invalidate every cached test FLV (e.g. when the command changes). */
const TEST_FLV_CACHE_VERSION = 1;

/** Where cached test media lives (shared by all test workers and runs). */
export const TEST_MEDIA_CACHE_DIR = join(tmpdir(), "golive-test-media");

/** The ffmpeg arguments of {@link makeTestFlv} for one output path. */
function testFlvArgs(out: string, seconds: number, gop: number): string[] {
  return [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", String(seconds),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k",
    "-f", "flv", out,
  ];
}

const pendingTestFlv = new Map<string, Promise<string>>();

/**
 * Path of the cached test FLV for these options, generating it on first use:
 *
 *     ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 \
 *       -t SECONDS -c:v libx264 -preset ultrafast -tune zerolatency -g GOP -keyint_min GOP \
 *       -sc_threshold 0 -bf 0 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv out.flv
 *
 * (3 s -> 90 video frames, H.264 Constrained Baseline 640x360 30 fps, no
 * B-frames; mono AAC-LC 44.1 kHz.) The cache file name hashes the arguments;
 * it is written to a temporary name and renamed, so parallel workers never see
 * half a file.
 */
export function cachedTestFlv(options: TestFlvOptions = {}): Promise<string> {
  const seconds = options.seconds ?? 3;
  const gop = options.gop ?? 60;
  if (!(seconds > 0) || !Number.isInteger(gop) || gop < 1) throw new TypeError(`makeTestFlv: bad options ${JSON.stringify(options)}`);
  const key = createHash("sha256")
    .update(JSON.stringify([TEST_FLV_CACHE_VERSION, testFlvArgs("OUT", seconds, gop)]))
    .digest("hex")
    .slice(0, 16);
  const cached = join(TEST_MEDIA_CACHE_DIR, `testsrc2-640x360-30fps-${seconds}s-gop${gop}-${key}.flv`);
  let pending = pendingTestFlv.get(cached);
  if (!pending) {
    pending = (async () => {
      const existing = await stat(cached).catch(() => undefined);
      if (existing && existing.size > 0) return cached;
      await mkdir(TEST_MEDIA_CACHE_DIR, { recursive: true });
      const temp = `${cached}.${process.pid}.${randomBytes(4).toString("hex")}.tmp.flv`;
      const result = await run("ffmpeg (test flv)", requireBinary("ffmpeg"), testFlvArgs(temp, seconds, gop), { timeoutMs: 60_000 });
      if (result.code !== 0) {
        await rm(temp, { force: true });
        throw new Error(`makeTestFlv: ffmpeg failed (status ${exitStatus(result)}):\n${result.output}`);
      }
      await rename(temp, cached);
      return cached;
    })();
    pendingTestFlv.set(cached, pending);
    pending.catch(() => pendingTestFlv.delete(cached));
  }
  return pending;
}

/** Copies the cached test FLV (see {@link cachedTestFlv}) to `path` and returns `path`. */
export async function makeTestFlv(path: string, options: TestFlvOptions = {}): Promise<string> {
  const cached = await cachedTestFlv(options);
  await mkdir(dirname(path), { recursive: true });
  await copyFile(cached, path);
  return path;
}

/** Options for {@link publishFile}. */
export interface PublishFileOptions {
  /** Send at the file's own pace (`-re`, default true). */
  realtime?: boolean;
  /** For rtmps://: verify the server certificate (`-tls_verify 1`) against this CA file (`-ca_file`). */
  caFile?: string;
  /** Kill the publisher after this long (default 30 s). */
  timeoutMs?: number;
}

/** How a publish ended. */
export interface PublishResult {
  /** Shell-style exit status: 0 is a publish ffmpeg considered complete. */
  readonly status: number;
  /** ffmpeg's stderr (warnings and errors only). */
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly elapsedMs: number;
}

/**
 * Publishes a file as-is, the reference publisher for the harness:
 * `ffmpeg -re -i INPUT -c copy [-tls_verify 1 -ca_file CA] -f flv URL`.
 * ffmpeg 5.1 (Debian, GnuTLS) checks both the chain and the hostname when
 * `-tls_verify 1` is given. Resolves with the exit status; never throws for a
 * failed publish (tests assert on it).
 */
export async function publishFile(input: string, url: string, options: PublishFileOptions = {}): Promise<PublishResult> {
  const args = ["-hide_banner", "-nostdin", "-loglevel", "warning"];
  if (options.realtime ?? true) args.push("-re");
  args.push("-i", input, "-c", "copy");
  if (options.caFile !== undefined) args.push("-tls_verify", "1", "-ca_file", options.caFile);
  args.push("-f", "flv", url);
  const started = Date.now();
  const result = await run("ffmpeg (publish)", requireBinary("ffmpeg"), args, { timeoutMs: options.timeoutMs ?? 30_000 });
  return { status: exitStatus(result), stderr: result.output, elapsedMs: Date.now() - started };
}

/** A running `ffmpeg -i rtmp://... -c copy out.flv` player. */
export interface Puller {
  /** The ffmpeg process. */
  readonly pid: number;
  /** The file being written. */
  readonly outPath: string;
  /** ffmpeg's stderr so far. */
  stderr(): string;
  /** Waits for ffmpeg to exit by itself; resolves with its status, rejects after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<number>;
  /**
   * SIGINT twice (ffmpeg finishes the file cleanly), SIGKILL after 5 s;
   * resolves with the status: 255 is ffmpeg's "exiting normally, received
   * signal" (file complete), 137 means it had to be SIGKILLed.
   */
  stop(): Promise<number>;
}

/**
 * Plays `url` and copies the stream into `outPath` (FLV). Neither nginx-rtmp
 * nor node-media-server ends the play when the publisher leaves (NMS keeps
 * players attached through its 30 s publish grace window), so call `stop()`
 * once the publish is over. It can be started before the publish: both
 * servers park a player until a publisher arrives.
 */
export async function pullToFile(url: string, outPath: string): Promise<Puller> {
  await mkdir(dirname(outPath), { recursive: true });
  const proc = await spawnManaged("ffmpeg (pull)", requireBinary("ffmpeg"), ["-hide_banner", "-nostdin", "-loglevel", "warning", "-y", "-i", url, "-c", "copy", "-f", "flv", outPath]);
  return {
    pid: proc.pid,
    outPath,
    stderr: proc.output,
    waitForExit: (timeoutMs) => waitForExit(proc, timeoutMs),
    stop: async () => exitStatus(await stopFfmpeg(proc)),
  };
}

/** Waits for `proc` to exit by itself and returns its status; rejects (leaving it running) after `timeoutMs`. */
export async function waitForExit(proc: ManagedProcess, timeoutMs: number): Promise<number> {
  const exit = await Promise.race([proc.exited, sleep(timeoutMs).then(() => undefined)]);
  if (!exit) throw new Error(`${proc.name} (pid ${proc.pid}) still running after ${timeoutMs} ms\n${proc.output()}`);
  return exitStatus(exit);
}

/**
 * Waits until `path` exists, is non-empty, and its size has not changed for
 * `quietMs`: the way to know a server has flushed a recording after the
 * publisher left (neither nginx-rtmp nor NMS reports it otherwise).
 */
export async function waitForStableFile(path: string, options: { quietMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const quietMs = options.quietMs ?? 300;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  let since = Date.now();
  for (;;) {
    const size = (await stat(path).catch(() => undefined))?.size ?? -1;
    if (size !== lastSize) {
      lastSize = size;
      since = Date.now();
    } else if (size > 0 && Date.now() - since >= quietMs) {
      return size;
    }
    if (Date.now() > deadline) throw new Error(`${path} did not settle within ${timeoutMs} ms (size ${size})`);
    await sleep(50);
  }
}
