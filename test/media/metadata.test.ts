/**
 * buildOnMetaData (FLV v10.1 E.5; Enhanced RTMP v2 "Enhancing onMetaData";
 * FFmpeg flvenc.c flv_write_metadata): golden files made by FFmpeg at test
 * time, whose onMetaData must come out of our parsers + builder with the same
 * properties in the same order (byte for byte once AMF0-encoded, apart from
 * the duration and filesize FFmpeg fills in after the fact), then the
 * Enhanced RTMP FourCC ids, absent tracks and API misuse.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAudioSpecificConfig } from "../../server/media/aac.js";
import { parseAvcDecoderConfig } from "../../server/media/avc.js";
import { buildOnMetaData, fourCcNumber, type OnMetaDataInput } from "../../server/media/metadata.js";
import { decodeAmf0, EcmaArray, encodeAmf0, type AmfValue } from "../../wasm/host/amf0.js";
import type { Core } from "../../wasm/host/core.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { parseAudioBody, parseVideoBody, readFlv } from "../support/flv-read.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);
let dir: string;
let core: Core;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-media-meta-"));
  core = await loadCoreNode();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** FFmpeg's property order (flvenc.c flv_write_metadata), all tracks present. */
const FFMPEG_ORDER = [
  "duration", "width", "height", "videodatarate", "framerate", "videocodecid",
  "audiodatarate", "audiosamplerate", "audiosamplesize", "stereo", "audiocodecid", "encoder", "filesize",
];

interface FlvParts {
  /** The onMetaData script tag body as FFmpeg wrote it. */
  readonly scriptBody: Uint8Array;
  readonly meta: Record<string, AmfValue>;
  readonly avcC?: Uint8Array;
  readonly asc?: Uint8Array;
}

/** Runs ffmpeg with `args` (output file last) and takes the FLV apart. */
async function makeFlv(args: readonly string[]): Promise<FlvParts> {
  await run(requireBinary("ffmpeg"), ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...args], { cwd: dir });
  const b = await readFile(join(dir, args[args.length - 1]!));
  const { tags } = readFlv(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  const script = tags[0]!;
  expect(script.type).toBe(18);
  const [event, meta] = decodeAmf0(core, script.body);
  expect(event).toBe("onMetaData");
  expect(meta).toBeInstanceOf(EcmaArray);
  let avcC: Uint8Array | undefined;
  let asc: Uint8Array | undefined;
  for (const tag of tags) {
    if (tag.type === 9 && !avcC) {
      const v = parseVideoBody(tag.body);
      if (v.kind === "legacy" && v.avcPacketType === 0) avcC = v.payload;
    } else if (tag.type === 8 && !asc) {
      const a = parseAudioBody(tag.body);
      if (a.kind === "legacy" && a.aacPacketType === 0) asc = a.payload;
    }
  }
  return { scriptBody: script.body, meta: (meta as EcmaArray).entries, ...(avcC && { avcC }), ...(asc && { asc }) };
}

/** Our onMetaData from the FLV's own codec configs, with FFmpeg's bitrates (bit_rate / 1024) and encoder string. */
function ours(parts: FlvParts, videoBitRate: number, audioBitRate: number): Record<string, number | boolean | string> {
  const encoder = parts.meta.encoder;
  if (typeof encoder !== "string") throw new Error("FFmpeg's onMetaData has no encoder string");
  const input: OnMetaDataInput = { encoder };
  const video = parts.avcC && parseAvcDecoderConfig(parts.avcC).info;
  const audio = parts.asc && parseAudioSpecificConfig(parts.asc);
  return buildOnMetaData({
    ...input,
    ...(video && { video: { codec: "avc1", width: video.width, height: video.height, ...(video.frameRate !== undefined && { frameRate: video.frameRate }), bitrateKbps: videoBitRate / 1024 } }),
    ...(audio && { audio: { codec: "mp4a", sampleRate: audio.sampleRate, channels: audio.channels, bitrateKbps: audioBitRate / 1024 } }),
  });
}

/** Encodes ["onMetaData", ECMA array] with FFmpeg's duration and filesize put in (they are known only after the file is written). */
function encodeWithFfmpegTimes(meta: Record<string, number | boolean | string>, ffmpeg: Record<string, AmfValue>): Uint8Array {
  const entries: Record<string, AmfValue> = { ...meta, duration: ffmpeg.duration, filesize: ffmpeg.filesize };
  return encodeAmf0(core, ["onMetaData", new EcmaArray(entries)]);
}

describe("golden: the onMetaData FFmpeg's flvenc writes", () => {
  it("video + audio: same properties, same order, same AMF0 bytes", async () => {
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000
    //   -t 0.5 -c:v libx264 -b:v 500k -c:a aac -b:a 128k -ac 2 -f flv av.flv
    const parts = await makeFlv([
      "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-t", "0.5", "-c:v", "libx264", "-b:v", "500k", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv", "av.flv",
    ]);
    const meta = ours(parts, 500_000, 128_000);
    expect(Object.keys(parts.meta)).toEqual(FFMPEG_ORDER);
    expect(Object.keys(meta)).toEqual(FFMPEG_ORDER);
    expect({ ...meta, duration: parts.meta.duration, filesize: parts.meta.filesize }).toEqual(parts.meta);
    expect(meta).toMatchObject({ duration: 0, filesize: 0, width: 640, height: 360, framerate: 30, videocodecid: 7, audiocodecid: 10, stereo: true });
    expect(encodeWithFfmpegTimes(meta, parts.meta)).toEqual(parts.scriptBody);
  });

  it("video only: no audio properties", async () => {
    // ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=25 -t 0.2 -c:v libx264 -b:v 1M -f flv v.flv
    const parts = await makeFlv(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "0.2", "-c:v", "libx264", "-b:v", "1M", "-f", "flv", "v.flv"]);
    const meta = ours(parts, 1_000_000, 0);
    expect(Object.keys(meta)).toEqual(["duration", "width", "height", "videodatarate", "framerate", "videocodecid", "encoder", "filesize"]);
    expect(Object.keys(meta)).toEqual(Object.keys(parts.meta));
    expect(encodeWithFfmpegTimes(meta, parts.meta)).toEqual(parts.scriptBody);
  });

  it("audio only, mono: stereo is false", async () => {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100 -ac 1 -t 0.2 -c:a aac -b:a 64k -f flv a.flv
    const parts = await makeFlv(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-ac", "1", "-t", "0.2", "-c:a", "aac", "-b:a", "64k", "-f", "flv", "a.flv"]);
    const meta = ours(parts, 0, 64_000);
    expect(Object.keys(meta)).toEqual(["duration", "audiodatarate", "audiosamplerate", "audiosamplesize", "stereo", "audiocodecid", "encoder", "filesize"]);
    expect(meta).toMatchObject({ stereo: false, audiosamplerate: 44100, audiosamplesize: 16 });
    expect(encodeWithFfmpegTimes(meta, parts.meta)).toEqual(parts.scriptBody);
  });
});

describe("buildOnMetaData", () => {
  it("a live AVC + AAC stream, every value a plain number, boolean or string", () => {
    const meta = buildOnMetaData({
      video: { codec: "avc1", width: 1280, height: 720, frameRate: 29.97, bitrateKbps: 2500 },
      audio: { codec: "mp4a", sampleRate: 48000, channels: 2, bitrateKbps: 128 },
      encoder: "golive",
    });
    expect(Object.entries(meta)).toEqual([
      ["duration", 0], ["width", 1280], ["height", 720], ["videodatarate", 2500], ["framerate", 29.97], ["videocodecid", 7],
      ["audiodatarate", 128], ["audiosamplerate", 48000], ["audiosamplesize", 16], ["stereo", true], ["audiocodecid", 10],
      ["encoder", "golive"], ["filesize", 0],
    ]);
  });

  it("no tracks and no encoder: only duration and filesize", () => {
    expect(Object.entries(buildOnMetaData({}))).toEqual([["duration", 0], ["filesize", 0]]);
  });

  it("unknown frame rate is left out and unknown bitrates are 0, as FFmpeg does", () => {
    const meta = buildOnMetaData({ video: { codec: "avc1", width: 640, height: 360 }, audio: { codec: "mp4a", sampleRate: 44100, channels: 2 } });
    expect(meta).not.toHaveProperty("framerate");
    expect(meta).toMatchObject({ videodatarate: 0, audiodatarate: 0 });
    expect(meta).not.toHaveProperty("encoder");
  });

  it("stereo is channels === 2 (FFmpeg): mono, 5.1 and 7.1 are not 'stereo'", () => {
    const stereo = (channels: number): unknown => buildOnMetaData({ audio: { codec: "mp4a", sampleRate: 48000, channels } }).stereo;
    expect([1, 2, 6, 8].map(stereo)).toEqual([false, true, false, false]);
  });

  it("Enhanced RTMP codecs: the FourCC as a big-endian UI32 (the spec's examples: 'av01' 1635135537, 'Opus' 1332770163)", () => {
    const id = (codec: "hvc1" | "av01" | "vp09"): unknown => buildOnMetaData({ video: { codec, width: 1920, height: 1080 } }).videocodecid;
    expect(id("av01")).toBe(1635135537);
    expect(id("hvc1")).toBe(0x68766331);
    expect(id("vp09")).toBe(0x76703039);
    expect(buildOnMetaData({ audio: { codec: "Opus", sampleRate: 48000, channels: 2 } }).audiocodecid).toBe(1332770163);
    expect(fourCcNumber("Opus")).toBe(0x4f707573);
    expect(() => fourCcNumber("avc")).toThrow(TypeError);
    expect(() => fourCcNumber("h\u00e9vc")).toThrow(TypeError);
  });

  it("API misuse is a TypeError: sizes and rates come from parsed configs", () => {
    const video = { codec: "avc1" as const, width: 640, height: 360 };
    const audio = { codec: "mp4a" as const, sampleRate: 48000, channels: 2 };
    expect(() => buildOnMetaData({ video: { ...video, width: 0 } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ video: { ...video, height: 360.5 } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ video: { ...video, frameRate: Number.NaN } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ video: { ...video, frameRate: 0 } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ video: { ...video, bitrateKbps: -1 } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ audio: { ...audio, sampleRate: Number.POSITIVE_INFINITY } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ audio: { ...audio, channels: 0 } })).toThrow(TypeError);
    expect(() => buildOnMetaData({ audio: { ...audio, bitrateKbps: Number.NaN } })).toThrow(TypeError);
  });
});
