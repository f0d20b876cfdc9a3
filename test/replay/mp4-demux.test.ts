/**
 * MP4 demuxing for replay (server/replay/mp4-demux.ts over mediabunny) and
 * file loading (server/replay/media.ts): ffmpeg-made MP4s, whose frames,
 * configurations and timestamps must match what ffprobe reads; truncated,
 * foreign-codec and non-media files give typed errors.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { Logging, LogLevel } from "mediabunny";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAvcDecoderConfig } from "../../server/media/avc.js";
import { ReplayError } from "../../server/replay/errors.js";
import { loadReplayMedia, replayMediaFromMp4, sniffFormat } from "../../server/replay/media.js";
import { decodeTimestamps, demuxMp4, type Mp4Track } from "../../server/replay/mp4-demux.js";
import { makeFixtureDir, type FixtureDir } from "../support/fixtures.js";
import { ffprobeFrames, type ProbeResult } from "../support/ingest.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);
let fixtures: FixtureDir;

/**
 * 3 s of 320x240 testsrc2 at 30 fps + a 440 Hz tone, H.264 (libx264 defaults:
 * High profile, 3 B-frames) + AAC, moov first:
 *   ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000
 *     -t 3 -c:v libx264 -pix_fmt yuv420p -g 30 -c:a aac -b:a 96k -movflags +faststart clip.mp4
 */
const CLIP_ARGS = [
  "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
  "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart",
];

async function ffmpeg(args: readonly string[], out: string): Promise<string> {
  const path = fixtures.file(out);
  await run(requireBinary("ffmpeg"), ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...args, path]);
  return path;
}

let clip: string;
let probe: ProbeResult;

beforeAll(async () => {
  Logging.level = LogLevel.Errors; // its console warning about 'mp4v' is what our error says
  fixtures = await makeFixtureDir("golive-replay-mp4-");
  clip = await ffmpeg(CLIP_ARGS, "clip.mp4");
  probe = await ffprobeFrames(clip);
});

afterAll(async () => {
  await fixtures.remove();
});

/** Our frames against ffprobe's packets of one stream, in decode order. */
function expectTrackMatchesProbe(track: Mp4Track, kind: "video" | "audio"): void {
  const theirs = probe.packets.filter((p) => p.stream === kind);
  expect(track.frames.length, `${kind} count`).toBe(theirs.length);
  track.frames.forEach((f, i) => {
    const p = theirs[i]!;
    expect(Math.abs(f.ptsUs / 1000 - p.ptsMs), `${kind} ${i} pts`).toBeLessThanOrEqual(1);
    expect(f.keyframe, `${kind} ${i} key`).toBe(p.keyframe);
    expect(f.data.byteLength, `${kind} ${i} size`).toBe(p.size);
  });
}

describe("MP4 demuxing (mediabunny)", () => {
  it("gives the avcC and AudioSpecificConfig with their codec strings", async () => {
    const mp4 = await demuxMp4(new Uint8Array(await readFile(clip)));
    expect(mp4.video!.codec).toMatch(/^avc1\.64/); // High profile
    const avc = parseAvcDecoderConfig(mp4.video!.description);
    expect([avc.info.width, avc.info.height]).toEqual([320, 240]);
    expect(mp4.audio!.codec).toBe("mp4a.40.2");
    expect(mp4.audio!.description[0]! >> 3).toBe(2); // audioObjectType 2: AAC LC
  });

  it("frames in decode order with ffprobe's pts, key flags and sizes; decode times are ffprobe's up to a constant", async () => {
    const mp4 = await demuxMp4(new Uint8Array(await readFile(clip)));
    expect(mp4.video!.frames).toHaveLength(90);
    expectTrackMatchesProbe(mp4.video!, "video");
    expectTrackMatchesProbe(mp4.audio!, "audio");
    expect(mp4.video!.frames.some((f) => f.ptsUs !== f.dtsUs)).toBe(true); // B-frames: composition offsets
    const theirs = probe.packets.filter((p) => p.stream === "video");
    const offset = mp4.video!.frames[0]!.dtsUs / 1000 - theirs[0]!.dtsMs;
    mp4.video!.frames.forEach((f, i) => {
      expect(f.dtsUs, `dts ${i} <= pts`).toBeLessThanOrEqual(f.ptsUs);
      if (i > 0) expect(f.dtsUs, `dts ${i} rises`).toBeGreaterThanOrEqual(mp4.video!.frames[i - 1]!.dtsUs);
      expect(Math.abs(f.dtsUs / 1000 - theirs[i]!.dtsMs - offset), `dts ${i}`).toBeLessThanOrEqual(1);
    });
    const audio = probe.packets.filter((p) => p.stream === "audio");
    mp4.audio!.frames.forEach((f, i) => expect(Math.abs(f.dtsUs / 1000 - audio[i]!.dtsMs), `audio dts ${i}`).toBeLessThanOrEqual(1));
  });

  it("decodeTimestamps: sorted presentation times, shifted back just enough", () => {
    expect(decodeTimestamps([0, 33, 66])).toEqual([0, 33, 66]); // no reordering: unchanged
    // I P B B (pts 0 3 1 2): one frame of delay.
    expect(decodeTimestamps([0, 3, 1, 2])).toEqual([-1, 0, 1, 2]);
    // I P B b b with a B-pyramid (pts 0 4 2 1 3): two frames of delay.
    expect(decodeTimestamps([0, 4, 2, 1, 3])).toEqual([-2, -1, 0, 1, 2]);
    expect(decodeTimestamps([])).toEqual([]);
  });

  it("builds replay media: tracks merged by decode time from 0, composition offsets kept", async () => {
    const m = await replayMediaFromMp4(new Uint8Array(await readFile(clip)), "clip.mp4");
    expect(m.format).toBe("mp4");
    expect(m.video).toMatchObject({ width: 320, height: 240 });
    expect(m.audio).toMatchObject({ codec: "mp4a.40.2", sampleRate: 48000, channels: 1 });
    expect(m.frames[0]!.dtsUs).toBe(0);
    for (let i = 1; i < m.frames.length; i++) expect(m.frames[i]!.dtsUs).toBeGreaterThanOrEqual(m.frames[i - 1]!.dtsUs);
    expect(m.counts).toEqual({ video: 90, audio: probe.counts.audio, keyframes: probe.packets.filter((p) => p.stream === "video" && p.keyframe).length });
    expect(m.frames.some((f) => f.ctsUs > 0)).toBe(true);
    expect(m.durationUs).toBeGreaterThan(3_000_000);
    expect(m.durationUs).toBeLessThan(3_200_000);
  });
});

async function replayErrorOf(p: Promise<unknown>): Promise<ReplayError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (e instanceof ReplayError) return e;
  throw new Error(`expected a ReplayError, got ${String(e)}`);
}

describe("MP4 and file errors", () => {
  it("MP4_BAD_FILE: a file cut short (mediabunny would stop quietly)", async () => {
    const bytes = new Uint8Array(await readFile(clip));
    const e = await replayErrorOf(demuxMp4(bytes.subarray(0, Math.floor(bytes.byteLength / 3))));
    expect(e.code).toBe("MP4_BAD_FILE");
    expect(e.message).toMatch(/truncated: the video track lists 90 samples, the data holds \d+/);
  });

  it("REPLAY_UNSUPPORTED_CODEC: MPEG-4 Part 2 video, MP3 audio", async () => {
    const mpeg4 = await ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "mpeg4"], "mpeg4.mp4");
    expect((await replayErrorOf(loadReplayMedia(mpeg4))).message).toMatch(/video track is 'mp4v', not H\.264/);
    const mp3 = await ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "1", "-c:a", "libmp3lame"], "mp3.mp4");
    const e = await replayErrorOf(loadReplayMedia(mp3));
    expect(e.code).toBe("REPLAY_UNSUPPORTED_CODEC");
    expect(e.message).toMatch(/audio track is mp3, not AAC/);
  });

  it("REPLAY_NO_MEDIA: an MP4 header with no tracks", async () => {
    const bytes = new Uint8Array(await readFile(clip));
    const path = fixtures.file("header-only.mp4");
    await writeFile(path, bytes.subarray(0, 32)); // the ftyp box and nothing else
    expect((await replayErrorOf(loadReplayMedia(path))).code).toMatch(/^(REPLAY_NO_MEDIA|MP4_BAD_FILE)$/);
  });

  it("REPLAY_FILE_UNREADABLE: missing file, a directory, over maxFileBytes", async () => {
    const missing = await replayErrorOf(loadReplayMedia(fixtures.file("nope.flv")));
    expect([missing.code, missing.message]).toEqual(["REPLAY_FILE_UNREADABLE", `cannot read ${fixtures.file("nope.flv")}: no such file`]);
    expect((await replayErrorOf(loadReplayMedia(fixtures.path))).message).toMatch(/is not a file/);
    expect((await replayErrorOf(loadReplayMedia(clip, { maxFileBytes: 1000 }))).message).toMatch(/over the 1000-byte limit/);
  });

  it("REPLAY_UNKNOWN_FORMAT: neither FLV nor MP4, with the first bytes shown", async () => {
    const path = fixtures.file("notes.txt");
    await writeFile(path, "hello, world");
    const e = await replayErrorOf(loadReplayMedia(path));
    expect(e.code).toBe("REPLAY_UNKNOWN_FORMAT");
    expect(e.message).toBe("notes.txt is neither FLV nor MP4/MOV (it starts with 68 65 6c 6c 6f 2c 20 77)");
    const empty = fixtures.file("empty.mp4");
    await writeFile(empty, "");
    expect((await replayErrorOf(loadReplayMedia(empty))).message).toMatch(/nothing: it is empty/);
  });

  it("sniffs FLV and ISO BMFF by their first bytes", () => {
    expect(sniffFormat(Uint8Array.from([0x46, 0x4c, 0x56, 1]))).toBe("flv");
    expect(sniffFormat(Uint8Array.from([0, 0, 0, 0x20, ...Buffer.from("ftypisom")]))).toBe("mp4");
    expect(sniffFormat(Uint8Array.from([0, 0, 0, 8, ...Buffer.from("moov")]))).toBe("mp4");
    expect(sniffFormat(Uint8Array.from([0x1a, 0x45, 0xdf, 0xa3]))).toBeUndefined(); // Matroska
  });
});
