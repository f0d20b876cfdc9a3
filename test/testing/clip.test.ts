/**
 * golive/testing's makeTestClip, checked with the real ffprobe/ffmpeg: the
 * Y4M is what ffprobe reads as WxH at fps with fps*seconds frames, white only
 * on frames n % fps == 0; the WAV is 48 kHz stereo, seconds long, with a beep
 * starting on each whole second and no dropout. Bad options throw RangeError
 * before anything is written.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestClip, type TestClip } from "../../server/testing/index.js";
import { makeTempDir, removeTempDir } from "../../server/testing/ingest/dirs.js";
import { beepTimes, decodeAudio, flashTimes, frameLuma, longestDropoutMs } from "../../server/testing/media-checks.js";
import { requireBinary } from "../../server/testing/system.js";

const exec = promisify(execFile);

interface ProbeJson {
  streams?: Array<{ codec_type?: string; codec_name?: string; width?: number; height?: number; r_frame_rate?: string; nb_read_frames?: string; sample_rate?: string; channels?: number; duration?: string; duration_ts?: number }>;
}

/** ffprobe -count_frames on one file: its first stream. */
async function probe(path: string): Promise<NonNullable<ProbeJson["streams"]>[number]> {
  const { stdout } = await exec(requireBinary("ffprobe"), ["-v", "error", "-count_frames", "-show_streams", "-of", "json", path], { maxBuffer: 16 * 1024 * 1024 });
  const stream = (JSON.parse(stdout) as ProbeJson).streams?.[0];
  if (!stream) throw new Error(`ffprobe found no stream in ${path}`);
  return stream;
}

let scratch: string;
let clip: TestClip;

beforeAll(async () => {
  // Fail with the package to install, not an ENOENT, when ffmpeg is missing.
  requireBinary("ffprobe");
  requireBinary("ffmpeg");
  scratch = await makeTempDir("testing-clip");
  // Not the defaults, so a clip that ignores its options is caught.
  clip = await makeTestClip(join(scratch, "clip"), { width: 320, height: 240, fps: 25, seconds: 3 });
});

afterAll(async () => {
  if (scratch) await removeTempDir(scratch);
});

describe("makeTestClip video", () => {
  it("returns its paths and options", () => {
    expect(clip).toEqual({ video: join(scratch, "clip", "clip.y4m"), audio: join(scratch, "clip", "clip.wav"), width: 320, height: 240, fps: 25, seconds: 3 });
  });

  it("is a Y4M that ffprobe reads as 320x240 at 25 fps with 75 frames", async () => {
    const v = await probe(clip.video);
    expect(v).toMatchObject({ codec_type: "video", codec_name: "rawvideo", width: 320, height: 240, r_frame_rate: "25/1" });
    expect(Number(v.nb_read_frames)).toBe(75);
    // Header + 75 x ("FRAME\n" + one 4:2:0 picture): no stray bytes.
    const header = `YUV4MPEG2 W320 H240 F25:1 Ip A1:1 C420jpeg\n`;
    expect((await stat(clip.video)).size).toBe(header.length + 75 * (6 + 320 * 240 * 1.5));
    expect((await readFile(clip.video)).subarray(0, header.length).toString("latin1")).toBe(header);
  });

  it("flashes white on exactly the frames n % fps == 0, and flashTimes finds them", async () => {
    const frames = await frameLuma(clip.video);
    expect(frames).toHaveLength(75);
    const bright = frames.map((f, n) => ({ n, t: f.t, y: f.y })).filter((f) => f.y > 150);
    expect(bright.map((f) => f.n)).toEqual([0, 25, 50]);
    // Flash frames are near white (235 with digits of 210), the others dark grey (48 with digits).
    for (const f of bright) expect(f.y).toBeGreaterThan(220);
    for (const f of frames.filter((_, n) => n % 25 !== 0)) expect(f.y).toBeLessThan(80);
    // Timestamps are frame numbers / fps.
    frames.forEach((f, n) => expect(f.t).toBeCloseTo(n / 25, 3));
    expect(flashTimes(frames)).toEqual([0, 1, 2]);
  });

  it("draws the frame number (frames differ from one another)", async () => {
    const frames = await frameLuma(clip.video);
    // Digits add luma: "8" lights every segment, "1" only two, so frame 8 is brighter than frame 1, and 18 than 11.
    expect(frames[8]!.y).toBeGreaterThan(frames[1]!.y);
    expect(frames[18]!.y).toBeGreaterThan(frames[11]!.y);
  });
});

describe("makeTestClip audio", () => {
  it("is a 48 kHz stereo 16-bit WAV of exactly 3 s", async () => {
    const a = await probe(clip.audio);
    expect(a).toMatchObject({ codec_type: "audio", codec_name: "pcm_s16le", sample_rate: "48000", channels: 2 });
    expect(Number(a.duration)).toBeCloseTo(3, 6);
    expect((await stat(clip.audio)).size).toBe(44 + 3 * 48000 * 4);
  });

  it("beeps at the start of every whole second, on the flashes, and has no dropout", async () => {
    const decoded = await decodeAudio(clip.audio);
    expect(decoded.rate).toBe(48000);
    expect(decoded.samples.length).toBe(3 * 48000);
    const beeps = beepTimes(decoded);
    expect(beeps).toHaveLength(3);
    // beepTimes steps 2 ms with a 10 ms window: an onset reads up to ~6 ms early.
    beeps.forEach((t, i) => expect(Math.abs(t - i), `beep ${i} at ${t} s`).toBeLessThanOrEqual(0.008));
    expect(longestDropoutMs(decoded)).toBe(0);
  });

  it("each beep lasts 100 ms and the tone under it is continuous (a silenced stretch is measured)", async () => {
    const decoded = await decodeAudio(clip.audio);
    // 1 kHz energy: inside the first 100 ms of each second, not after.
    const rms = (from: number, to: number): number => {
      let sum = 0;
      for (let i = Math.round(from * 48000); i < Math.round(to * 48000); i++) sum += decoded.samples[i]! ** 2;
      return Math.sqrt(sum / Math.round((to - from) * 48000));
    };
    for (const second of [0, 1, 2]) {
      expect(rms(second + 0.01, second + 0.09), `beep of second ${second}`).toBeGreaterThan(0.35);
      expect(rms(second + 0.2, second + 0.9), `tone of second ${second}`).toBeGreaterThan(0.1);
      expect(rms(second + 0.2, second + 0.9), `tone of second ${second}`).toBeLessThan(0.2);
    }
    // The dropout check can fail: silence 50 ms of a copy of the WAV and measure it.
    const wav = await readFile(clip.audio);
    const from = 44 + Math.round(1.5 * 48000) * 4;
    wav.fill(0, from, from + 2400 * 4);
    const holed = join(scratch, "holed.wav");
    await writeFile(holed, wav);
    const dropout = longestDropoutMs(await decodeAudio(holed));
    expect(dropout).toBeGreaterThanOrEqual(49);
    expect(dropout).toBeLessThanOrEqual(52);
  });

  it("defaults to 640x360, 30 fps, 2 s", async () => {
    const dir = join(scratch, "defaults");
    const d = await makeTestClip(dir);
    expect(d).toMatchObject({ width: 640, height: 360, fps: 30, seconds: 2 });
    const v = await probe(d.video);
    expect(v).toMatchObject({ width: 640, height: 360, r_frame_rate: "30/1" });
    expect(Number(v.nb_read_frames)).toBe(60);
    expect((await stat(d.audio)).size).toBe(44 + 2 * 48000 * 4);
  });

  it("honours sampleRate", async () => {
    const d = await makeTestClip(join(scratch, "rate"), { width: 16, height: 16, fps: 5, seconds: 1, sampleRate: 44100 });
    const a = await probe(d.audio);
    expect(a).toMatchObject({ sample_rate: "44100", channels: 2 });
    expect((await stat(d.audio)).size).toBe(44 + 44100 * 4);
  });
});

describe("makeTestClip options", () => {
  it.each([
    [{ width: 321 }, /width must be a positive even integer, got 321/],
    [{ width: 0 }, /width must be a positive even integer, got 0/],
    [{ height: -2 }, /height must be a positive even integer, got -2/],
    [{ height: Number.NaN }, /height must be a positive even integer, got NaN/],
    [{ fps: 0 }, /fps must be a positive integer, got 0/],
    [{ fps: 29.97 }, /fps must be a positive integer, got 29.97/],
    [{ seconds: 1.5 }, /seconds must be a positive integer, got 1.5/],
    [{ seconds: -1 }, /seconds must be a positive integer, got -1/],
    [{ sampleRate: 0 }, /sampleRate must be a positive integer, got 0/],
  ])("%j throws RangeError and writes nothing", async (options, message) => {
    const dir = join(scratch, `bad-${Object.keys(options)[0]}-${String(Object.values(options)[0])}`);
    const error: unknown = await makeTestClip(dir, options).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(message);
    expect(existsSync(dir)).toBe(false);
  });
});
