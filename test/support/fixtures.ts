/**
 * Golden media fixtures made by ffmpeg at test time, into a fresh directory
 * under os.tmpdir(). The exact command of each fixture is written beside it;
 * a missing ffmpeg/ffprobe fails the test with the package to install
 * (system.ts), never skips it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);

/** One ffmpeg-made FLV file: its name and the arguments after `ffmpeg`. */
export interface FlvFixtureSpec {
  readonly file: string;
  readonly args: readonly string[];
}

// 320x240 test pattern at 30 fps + a 440 Hz tone at 48 kHz, H.264 (x264,
// ultrafast, GOP 60) + AAC 96 kb/s, muxed by libavformat's flvenc.c.
const SOURCES = [
  "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
  "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
];
const CODECS = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60"];
const AUDIO = ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"];

/** The ffmpeg-made fixtures. */
export const FLV_FIXTURES = {
  /**
   * No B-frames, so every composition time offset is 0:
   *   ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=320x240:rate=30
   *     -f lavfi -i sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264 -preset ultrafast
   *     -g 60 -bf 0 -pix_fmt yuv420p -c:a aac -b:a 96k -f flv golden.flv
   */
  golden: {
    file: "golden.flv",
    args: [...SOURCES, "-t", "3", ...CODECS, "-bf", "0", ...AUDIO, "-f", "flv", "golden.flv"],
  },
  /**
   * Two B-frames, so tags are in decode order and the composition time
   * offsets (pts - dts) are non-zero. (x264 never makes pts < dts, and
   * libavformat refuses such packets, so negative offsets are hand vectors.)
   *   ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=320x240:rate=30
   *     -f lavfi -i sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264 -preset ultrafast
   *     -g 60 -bf 2 -pix_fmt yuv420p -c:a aac -b:a 96k -f flv bframes.flv
   */
  bframes: {
    file: "bframes.flv",
    args: [...SOURCES, "-t", "3", ...CODECS, "-bf", "2", ...AUDIO, "-f", "flv", "bframes.flv"],
  },
  /**
   * Timestamps starting at 20,000,000 ms (> 0xFFFFFF), so every tag uses the
   * TimestampExtended byte:
   *   ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=320x240:rate=30
   *     -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 -c:v libx264 -preset ultrafast
   *     -g 60 -bf 2 -pix_fmt yuv420p -c:a aac -b:a 96k -output_ts_offset 20000 -f flv extended.flv
   */
  extended: {
    file: "extended.flv",
    args: [...SOURCES, "-t", "1", ...CODECS, "-bf", "2", ...AUDIO, "-output_ts_offset", "20000", "-f", "flv", "extended.flv"],
  },
} as const satisfies Record<string, FlvFixtureSpec>;

export type FlvFixtureName = keyof typeof FLV_FIXTURES;

/** A temporary directory for one test file's fixtures. */
export interface FixtureDir {
  readonly path: string;
  /** Runs ffmpeg for a fixture (once per directory); returns the file's bytes. */
  flv(name: FlvFixtureName): Promise<Uint8Array>;
  /** Path of a file in the directory. */
  file(name: string): string;
  remove(): Promise<void>;
}

/** Makes a fresh fixture directory under os.tmpdir(). */
export async function makeFixtureDir(prefix = "golive-fixtures-"): Promise<FixtureDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const made = new Map<FlvFixtureName, Promise<Uint8Array>>();
  return {
    path,
    flv(name) {
      let p = made.get(name);
      if (!p) {
        const spec = FLV_FIXTURES[name];
        const ffmpeg = requireBinary("ffmpeg");
        p = run(ffmpeg, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...spec.args], { cwd: path })
          .then(() => readFile(join(path, spec.file)))
          .then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
        made.set(name, p);
      }
      return p;
    },
    file: (name) => join(path, name),
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/** What ffprobe decodes from a file: per stream, frame count and pts. */
export interface ProbedStreams {
  /** `-count_frames` nb_read_frames per codec_type. */
  readonly frameCounts: Readonly<Record<string, number>>;
  /** `-show_frames` pts (in stream time base) per media_type, in output order. */
  readonly pts: Readonly<Record<string, readonly number[]>>;
}

interface ProbeJson {
  streams?: { codec_type?: string; nb_read_frames?: string }[];
  frames?: { media_type?: string; pts?: number }[];
}

/**
 * Decodes every frame of `path` with ffprobe:
 *   ffprobe -v error -count_frames -show_entries stream=codec_type,nb_read_frames -of json FILE
 *   ffprobe -v error -show_frames -show_entries frame=media_type,pts -of json FILE
 */
export async function probeFrames(path: string): Promise<ProbedStreams> {
  const ffprobe = requireBinary("ffprobe");
  const opts = { maxBuffer: 64 * 1024 * 1024 };
  const counts = await run(ffprobe, ["-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "json", path], opts);
  const frames = await run(ffprobe, ["-v", "error", "-show_frames", "-show_entries", "frame=media_type,pts", "-of", "json", path], opts);
  const frameCounts: Record<string, number> = {};
  for (const s of (JSON.parse(counts.stdout) as ProbeJson).streams ?? []) {
    frameCounts[s.codec_type ?? "?"] = Number(s.nb_read_frames);
  }
  const pts: Record<string, number[]> = {};
  for (const f of (JSON.parse(frames.stdout) as ProbeJson).frames ?? []) {
    (pts[f.media_type ?? "?"] ??= []).push(f.pts ?? Number.NaN);
  }
  return { frameCounts, pts };
}
