/**
 * golive/testing's analyzeRecording and streamProblems on real FLVs: ffmpeg
 * encodes the kit's own clip (libx264 + AAC) with a 1 s or a 4 s GOP, and
 * with the sound 200 ms late; a small FLV tag rewriter (below, independent of
 * golive's demuxer) then cuts holes in the audio, drops sequence headers,
 * truncates and corrupts copies. Every number is cross-checked against
 * ffprobe or the tags themselves.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeRecording, describeStream, makeTestClip, streamProblems, type StreamReport, type TestClip } from "../../server/testing/index.js";
import { makeTempDir, removeTempDir } from "../../server/testing/ingest/dirs.js";
import { ffprobeFrames, type ProbeResult } from "../../server/testing/ingest/media.js";
import { requireBinary } from "../../server/testing/system.js";

const exec = promisify(execFile);

// ---------------------------------------------------------------------------
// A minimal FLV tag reader/rewriter (Annex E): 9-byte header + PreviousTagSize0,
// then tags of an 11-byte header, the body and a 4-byte PreviousTagSize.

interface Tag {
  /** 8 audio, 9 video, 18 script. */
  readonly type: number;
  /** Timestamp | TimestampExtended << 24, ms. */
  readonly ts: number;
  /** Offset of the tag header in the file. */
  readonly start: number;
  /** Offset just past its PreviousTagSize. */
  readonly end: number;
  readonly body: Buffer;
}

function readTags(file: Buffer): { header: Buffer; tags: Tag[] } {
  if (file.toString("latin1", 0, 3) !== "FLV") throw new Error("test FLV reader: not an FLV file");
  const dataOffset = file.readUInt32BE(5);
  const header = file.subarray(0, dataOffset + 4);
  const tags: Tag[] = [];
  let at = dataOffset + 4;
  while (at < file.length) {
    const size = file.readUIntBE(at + 1, 3);
    const end = at + 11 + size + 4;
    if (end > file.length) throw new Error(`test FLV reader: tag at ${at} runs past the end`);
    if (file.readUInt32BE(at + 11 + size) !== 11 + size) throw new Error(`test FLV reader: bad PreviousTagSize at ${at + 11 + size}`);
    tags.push({ type: file[at]! & 0x1f, ts: (file[at + 7]! << 24) | file.readUIntBE(at + 4, 3), start: at, end, body: file.subarray(at + 11, at + 11 + size) });
    at = end;
  }
  return { header, tags };
}

/** The file with only the tags `keep` says yes to, byte for byte otherwise. */
function rewrite(file: Buffer, keep: (tag: Tag) => boolean): Buffer {
  const { header, tags } = readTags(file);
  return Buffer.concat([header, ...tags.filter(keep).map((t) => file.subarray(t.start, t.end))]);
}

/** AAC raw frames (AACPacketType 1), AVC NALU tags (AVCPacketType 1), and the sequence headers (packet type 0). */
const isAudioFrame = (t: Tag): boolean => t.type === 8 && t.body[1] === 1;
const isVideoFrame = (t: Tag): boolean => t.type === 9 && t.body[1] === 1;
const isVideoConfig = (t: Tag): boolean => t.type === 9 && t.body[1] === 0;
const isKeyframe = (t: Tag): boolean => isVideoFrame(t) && t.body[0]! >> 4 === 1;

// ---------------------------------------------------------------------------

let scratch: string;
let clip: TestClip;
/** 1 s GOP, in sync. */
let good: string;
/** 4 s GOP, in sync. */
let longGop: string;
/** 1 s GOP, audio input delayed by 200 ms (-itsoffset 0.2). */
let late: string;
let goodProbe: ProbeResult;
let goodReport: StreamReport;

/** libx264 ultrafast + AAC from the clip, `gop` frames between keyframes (no scene-cut keyframes: the flashes would make some). */
async function encode(out: string, gop: number, audioDelayS = 0): Promise<string> {
  await exec(requireBinary("ffmpeg"), [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-i", clip.video,
    ...(audioDelayS > 0 ? ["-itsoffset", String(audioDelayS)] : []), "-i", clip.audio,
    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-r", "30",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "96k",
    "-f", "flv", out,
  ]);
  return out;
}

beforeAll(async () => {
  requireBinary("ffmpeg");
  requireBinary("ffprobe");
  scratch = await makeTempDir("testing-analyze");
  clip = await makeTestClip(join(scratch, "clip"), { width: 320, height: 180, fps: 30, seconds: 6 });
  [good, longGop, late] = await Promise.all([
    encode(join(scratch, "good.flv"), 30),
    encode(join(scratch, "long-gop.flv"), 120),
    encode(join(scratch, "late.flv"), 30, 0.2),
  ]);
  goodProbe = await ffprobeFrames(good);
  goodReport = await analyzeRecording(good);
}, 120_000);

afterAll(async () => {
  if (scratch) await removeTempDir(scratch);
});

describe("analyzeRecording: what arrived", () => {
  it("reads codecs, picture size, frame rate and duration of an H.264/AAC FLV", async () => {
    const { tags } = readTags(await readFile(good));
    // The codec string comes from the avcC's profile, compatibility and level bytes (RFC 6381).
    const avcC = tags.find(isVideoConfig)!.body.subarray(5);
    const hex = (b: number): string => b.toString(16).padStart(2, "0");
    const expectedCodec = `avc1.${hex(avcC[1]!)}${hex(avcC[2]!)}${hex(avcC[3]!)}`;
    expect(expectedCodec).toMatch(/^avc1\.42c0[0-9a-f]{2}$/); // ultrafast: Constrained Baseline

    const r = goodReport;
    expect(r.error).toBeUndefined();
    expect(r.path).toBe(good);
    expect(r.bytes).toBe((await readFile(good)).length);
    expect(r.truncatedBytes).toBe(0);
    expect(r.sync).toBeUndefined();
    expect(r.video).toMatchObject({ codec: "h264", codecString: expectedCodec, profile: "Constrained Baseline", level: avcC[3]! / 10, width: 320, height: 180 });
    expect(goodProbe.video).toMatchObject({ codecName: "h264", profile: "Constrained Baseline", width: 320, height: 180 });

    const v = r.video!;
    const videoDts = tags.filter(isVideoFrame).map((t) => t.ts);
    expect(v.frames).toBe(180); // 6 s at 30 fps
    expect(v.frames).toBe(goodProbe.counts.video);
    expect(v.fps).toBeGreaterThan(29.9);
    expect(v.fps).toBeLessThan(30.1);
    expect(v.durationS).toBeCloseTo((videoDts.at(-1)! - videoDts[0]!) / 1000, 3);
    expect(v.durationS).toBeCloseTo(179 / 30, 1);
    expect(v.startsWithKeyframe).toBe(true);
    expect(v.nonMonotonic).toBe(0);
    expect(v.longestFrameGapMs).toBeLessThanOrEqual(34);

    const a = r.audio!;
    expect(a).toMatchObject({ codec: "aac", codecString: "mp4a.40.2", sampleRate: 48000, channels: 2, frameMs: 21.333, gapsMs: [], overlaps: 0 });
    expect(goodProbe.audio).toMatchObject({ codecName: "aac", sampleRate: 48000, channels: 2 });
    expect(a.frames).toBe(goodProbe.counts.audio);
    expect(a.frames).toBe(tags.filter(isAudioFrame).length);
    // 6 s of sound plus the encoder's priming and last-frame padding.
    expect(a.durationS).toBeGreaterThan(5.98);
    expect(a.durationS).toBeLessThan(6.07);
    expect(r.durationS).toBe(Math.max(v.durationS, a.durationS));
    expect(Math.abs(r.audioMinusVideoS!)).toBeLessThan(0.06);
  });

  it("measures keyframe intervals: ~1 s with -g 30, ~4 s with -g 120", async () => {
    const v = goodReport.video!;
    expect(v.keyframes).toBe(6);
    expect(v.keyframeIntervalsS).toHaveLength(5);
    for (const s of v.keyframeIntervalsS) expect(Math.abs(s - 1)).toBeLessThanOrEqual(0.034);
    expect(v.maxKeyframeIntervalS).toBe(Math.max(...v.keyframeIntervalsS));
    // Cross-check with ffprobe's keyframe flags.
    expect(goodProbe.packets.filter((p) => p.stream === "video" && p.keyframe)).toHaveLength(6);

    const long = await analyzeRecording(longGop);
    expect(long.error).toBeUndefined();
    expect(long.video).toMatchObject({ keyframes: 2, frames: 180, startsWithKeyframe: true });
    expect(long.video!.keyframeIntervalsS).toHaveLength(1);
    expect(Math.abs(long.video!.keyframeIntervalsS[0]! - 4)).toBeLessThanOrEqual(0.034);
    expect(long.video!.maxKeyframeIntervalS).toBe(long.video!.keyframeIntervalsS[0]);
    const keyTs = readTags(await readFile(longGop)).tags.filter(isKeyframe).map((t) => t.ts);
    expect(keyTs).toHaveLength(2);
    expect(long.video!.keyframeIntervalsS[0]).toBeCloseTo((keyTs[1]! - keyTs[0]!) / 1000, 3);
  });

  it("with { sync: true }: A/V offset near 0 for an aligned encode", async () => {
    const r = await analyzeRecording(good, { sync: true });
    const s = r.sync!;
    expect(s, "sync report").toBeDefined();
    expect(s.flashes).toHaveLength(6);
    expect(s.beeps).toHaveLength(6);
    // One flash per second of the recording's timeline.
    s.flashes.forEach((t, i) => expect(t - s.flashes[0]!).toBeCloseTo(i, 1));
    expect(s.offsetsMs).toHaveLength(6);
    for (const o of s.offsetsMs) expect(Math.abs(o), `offsets ${s.offsetsMs.join(", ")}`).toBeLessThanOrEqual(40);
    for (const o of [s.startOffsetMs, s.endOffsetMs, s.medianOffsetMs]) expect(Math.abs(o)).toBeLessThanOrEqual(40);
    expect(Math.abs(s.driftMs)).toBeLessThanOrEqual(10);
    expect(s.longestDropoutMs).toBeLessThanOrEqual(2);
    // Everything else is the same report as without sync.
    expect({ ...r, sync: undefined }).toEqual({ ...goodReport, sync: undefined });
  });

  it("with { sync: true }: A/V offset near +200 ms (sound late) when the audio is delayed 200 ms", async () => {
    const s = (await analyzeRecording(late, { sync: true })).sync!;
    expect(s.offsetsMs).toHaveLength(6);
    // offset = beep - flash: positive when the sound comes after the picture.
    for (const o of s.offsetsMs) expect(Math.abs(o - 200), `offsets ${s.offsetsMs.join(", ")}`).toBeLessThanOrEqual(40);
    for (const o of [s.startOffsetMs, s.endOffsetMs, s.medianOffsetMs]) expect(Math.abs(o - 200)).toBeLessThanOrEqual(40);
    expect(Math.abs(s.driftMs)).toBeLessThanOrEqual(10);
    s.beeps.forEach((b, i) => expect(b).toBeGreaterThan(s.flashes[i]!));
  });
});

describe("streamProblems: readable messages", () => {
  const healthy = { width: 320, height: 180, fps: 30, minDurationS: 5.5, maxAvOffsetMs: 80, maxAvDriftMs: 40, maxAudioDropoutMs: 2 };

  it("is empty for the good file, with every expectation set", async () => {
    const r = await analyzeRecording(good, { sync: true });
    expect(streamProblems(r, healthy)).toEqual([]);
    expect(streamProblems(r)).toEqual([]);
    expect(describeStream(r)).toMatch(/^.*good\.flv: video avc1\.42c0[0-9a-f]{2} 320x180 30\.0 fps, 180 frames over 6\.0 s, keyframes every <= 1\.0 s; audio mp4a\.40\.2 48000 Hz 2 ch, \d+ frames over 6\.0 s, 0 gap\(s\); A\/V offset -?\d+ ms at the start, -?\d+ ms at the end \(6 flash\/beep pairs\)$/);
  });

  it("a 4 s GOP gives exactly 'keyframe interval 4.0 s, expected <= 2.1 s'", async () => {
    const r = await analyzeRecording(longGop);
    expect(streamProblems(r)).toEqual(["keyframe interval 4.0 s, expected <= 2.1 s"]);
    expect(streamProblems(r, { maxKeyframeIntervalS: 4.5 })).toEqual([]);
  });

  it("sound 200 ms late gives 'A/V offset at the start/end ... (sound late), expected within +-80 ms'", async () => {
    const r = await analyzeRecording(late, { sync: true });
    const problems = streamProblems(r, healthy);
    expect(problems, problems.join("\n")).toHaveLength(2);
    const match = problems.map((p) => /^A\/V offset at the (start|end) (\d+) ms \(sound late\), expected within \+-80 ms$/.exec(p));
    expect(match.map((m) => m?.[1])).toEqual(["start", "end"]);
    for (const m of match) expect(Math.abs(Number(m![2]) - 200)).toBeLessThanOrEqual(40);
    expect(streamProblems(r, { ...healthy, maxAvOffsetMs: 250 })).toEqual([]);
  });

  it("wrong size, rate and duration are each one line; sync expectations without sync say how to measure", () => {
    expect(streamProblems(goodReport, { width: 640, height: 360, fps: 60, minDurationS: 10 })).toEqual([
      "width 320, expected 640",
      "height 180, expected 360",
      "frame rate 30.0 fps, expected 54.0..66.0",
      "duration 6.0 s, expected >= 10 s",
    ]);
    expect(streamProblems(goodReport, { maxAvOffsetMs: 80 })).toEqual([
      "A/V sync was not measured: analyze the stream with { sync: true } (needs ffmpeg, and the kit's clip or synthetic media)",
    ]);
  });
});

describe("analyzeRecording: damaged recordings", () => {
  it("an audio hole of ~200 ms shows in audio.gapsMs and as one message", async () => {
    const bytes = await readFile(good);
    const holed = join(scratch, "audio-gap.flv");
    await writeFile(holed, rewrite(bytes, (t) => !(isAudioFrame(t) && t.ts >= 2000 && t.ts < 2200)));
    // What the hole is, from the kept tags: the step over it minus one AAC frame.
    const kept = readTags(await readFile(holed)).tags.filter(isAudioFrame).map((t) => t.ts);
    const steps = kept.slice(1).map((ts, i) => ts - kept[i]!);
    const hole = Math.max(...steps) - 1024 / 48;
    expect(hole).toBeGreaterThan(190);
    expect(hole).toBeLessThan(230);

    const r = await analyzeRecording(holed);
    expect(r.error).toBeUndefined();
    expect(r.audio!.gapsMs).toHaveLength(1);
    expect(Math.abs(r.audio!.gapsMs[0]! - hole)).toBeLessThanOrEqual(0.1);
    expect(r.audio!.frames).toBe(kept.length);
    expect(goodReport.audio!.frames - kept.length).toBeGreaterThanOrEqual(9); // ~200 ms of 21.3 ms frames
    expect(r.audio!.overlaps).toBe(0);
    expect(r.video).toEqual(goodReport.video);
    expect(streamProblems(r)).toEqual([`1 gap(s) in the audio, longest ${r.audio!.gapsMs[0]!.toFixed(1)} ms, expected none over 0 ms`]);
    expect(streamProblems(r, { maxAudioGapMs: 250 })).toEqual([]);
  });

  it("a file cut in the middle of a tag reports the cut bytes and still measures what came before", async () => {
    const bytes = await readFile(good);
    const { tags } = readTags(bytes);
    const cutTag = tags.find((t) => isVideoFrame(t) && t.ts >= 3000)!;
    const cut = cutTag.start + 11 + Math.floor(cutTag.body.length / 2);
    const truncated = join(scratch, "truncated.flv");
    await writeFile(truncated, bytes.subarray(0, cut));

    const r = await analyzeRecording(truncated, { sync: true });
    expect(r.error).toBeUndefined();
    expect(r.bytes).toBe(cut);
    expect(r.truncatedBytes).toBe(cut - cutTag.start);
    const before = tags.filter((t) => t.end <= cutTag.start);
    expect(r.video!.frames).toBe(before.filter(isVideoFrame).length);
    expect(r.audio!.frames).toBe(before.filter(isAudioFrame).length);
    expect(r.video!.frames).toBeGreaterThan(80);
    expect(r.video!.frames).toBeLessThan(100);
    expect(r.video).toMatchObject({ width: 320, height: 180, keyframes: 3, startsWithKeyframe: true });
    expect(r.durationS).toBeGreaterThan(2.9);
    expect(r.durationS).toBeLessThan(3.1);
    // ffmpeg decodes the cut file too: 3 flashes, in sync.
    expect(r.sync!.offsetsMs).toHaveLength(3);
    for (const o of r.sync!.offsetsMs) expect(Math.abs(o)).toBeLessThanOrEqual(40);
    expect(streamProblems(r, { width: 320, height: 180 })).toEqual([]);
  });

  it("a file cut inside the FLV header says so, without throwing", async () => {
    const path = join(scratch, "header-only.flv");
    await writeFile(path, (await readFile(good)).subarray(0, 6));
    const r = await analyzeRecording(path, { sync: true });
    expect(r.error).toBe("the file ends inside the FLV header");
    expect(r.truncatedBytes).toBe(6);
    expect(r.video).toBeUndefined();
  });

  it("a non-FLV file gives `error`, no throw, no tracks; streamProblems leads with it", async () => {
    const r = await analyzeRecording(clip.audio, { sync: true });
    expect(r.error).toMatch(/not an FLV file: it does not start with "FLV"/);
    expect(r.video).toBeUndefined();
    expect(r.audio).toBeUndefined();
    expect(r.sync).toBeUndefined();
    expect(r.durationS).toBe(0);
    expect(streamProblems(r)).toEqual([r.error, "no H.264 video arrived", "no AAC audio arrived"]);
    expect(describeStream(r)).toBe(`${clip.audio}: no media`);

    const empty = join(scratch, "empty.flv");
    await writeFile(empty, "");
    expect(await analyzeRecording(empty)).toEqual({ path: empty, bytes: 0, durationS: 0, truncatedBytes: 0, error: "the file is empty" });
  });

  it("a missing file rejects (it cannot be read)", async () => {
    await expect(analyzeRecording(join(scratch, "missing.flv"))).rejects.toThrow(/ENOENT/);
  });

  it("a corrupt tag in the middle gives `error` and the tracks up to it", async () => {
    const bytes = Buffer.from(await readFile(good));
    const { tags } = readTags(bytes);
    const bad = tags.find((t) => isVideoFrame(t) && t.ts >= 2000)!;
    bytes.writeUInt32BE(12345, bad.end - 4); // its PreviousTagSize
    const path = join(scratch, "corrupt.flv");
    await writeFile(path, bytes);
    const r = await analyzeRecording(path);
    expect(r.error).toMatch(/PreviousTagSize is 12345/);
    const before = tags.filter((t) => t.end <= bad.start);
    expect(r.video!.frames).toBe(before.filter(isVideoFrame).length);
    expect(r.audio!.frames).toBe(before.filter(isAudioFrame).length);
    expect(r.truncatedBytes).toBeGreaterThan(0);
    expect(streamProblems(r)[0]).toBe(r.error);
  });

  it("no audio: no audio report, and 'no AAC audio arrived' unless audio: false", async () => {
    const path = join(scratch, "video-only.flv");
    await writeFile(path, rewrite(await readFile(good), (t) => t.type !== 8));
    const r = await analyzeRecording(path);
    expect(r.error).toBeUndefined();
    expect(r.audio).toBeUndefined();
    expect(r.audioMinusVideoS).toBeUndefined();
    expect(r.video).toEqual(goodReport.video);
    expect(streamProblems(r)).toEqual(["no AAC audio arrived"]);
    expect(streamProblems(r, { audio: false })).toEqual([]);
    expect(streamProblems(goodReport, { audio: false })).toEqual(["audio arrived (mp4a.40.2), expected none"]);
  });

  it("H.264 frames without their sequence header are an error", async () => {
    const path = join(scratch, "no-avcc.flv");
    await writeFile(path, rewrite(await readFile(good), (t) => !isVideoConfig(t)));
    const r = await analyzeRecording(path);
    expect(r.error).toBe("H.264 frames arrived without a sequence header (no avcC): no player can decode them");
    expect(r.video).toBeUndefined();
    expect(r.audio).toEqual(goodReport.audio);
    expect(streamProblems(r)).toEqual([r.error, "no H.264 video arrived"]);
  });
});
