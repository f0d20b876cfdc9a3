/**
 * FLV tag writer (Adobe FLV v10.1 Annex E; Enhanced RTMP v2) over the
 * WebAssembly core: golden files made by ffmpeg at test time, taken apart by
 * test/support/flv-read.ts and written again tag by tag, which must give
 * ffmpeg's bytes exactly and decode in ffprobe to the same frames; then hand
 * vectors for every header form, timestamps and each error code.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAmf0, EcmaArray, encodeAmf0, type AmfValue } from "../../wasm/host/amf0.js";
import type { Core } from "../../wasm/host/core.js";
import { FlvWriter, TagType } from "../../wasm/host/flv-writer.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { CoreError } from "../../wasm/host/status.js";
import type { AudioTagHeader, VideoTagHeader } from "../../wasm/host/tag-headers.js";
import { makeFixtureDir, probeFrames, type FixtureDir, type FlvFixtureName } from "../support/fixtures.js";
import { FlvReadError, parseAudioBody, parseVideoBody, readFlv, type FlvTag } from "../support/flv-read.js";

let core: Core;
let flv: FlvWriter;
let fixtures: FixtureDir;

beforeAll(async () => {
  core = await loadCoreNode();
  flv = new FlvWriter(core);
  fixtures = await makeFixtureDir("golive-flv-");
});

afterAll(async () => {
  await fixtures.remove();
});

// ---------------------------------------------------------------- helpers

/** Bytes from numbers (one byte each) and ASCII strings (their characters). */
function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else for (const c of p) out.push(c.charCodeAt(0));
  }
  return Uint8Array.from(out);
}

function concat(arrays: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.byteLength;
  }
  return out;
}

/** Where two byte arrays first differ, or undefined (keeps failure output short). */
function firstDifference(actual: Uint8Array, expected: Uint8Array): string | undefined {
  const n = Math.min(actual.byteLength, expected.byteLength);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) return `byte ${i}: 0x${actual[i]!.toString(16)} != 0x${expected[i]!.toString(16)}`;
  }
  return actual.byteLength === expected.byteLength ? undefined : `length ${actual.byteLength} != ${expected.byteLength}`;
}

/** The CoreError code `fn` throws; anything else thrown (or nothing) fails. */
function coreErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof CoreError) return e.code;
    throw e;
  }
  throw new Error("expected a CoreError, but the call succeeded");
}

/** Re-creates an ffmpeg audio or video tag with FlvWriter from its parsed fields. */
function rewriteMediaTag(tag: FlvTag): Uint8Array {
  if (tag.type === TagType.Video) {
    const v = parseVideoBody(tag.body);
    if (v.kind !== "legacy" || v.codecId !== 7) throw new Error(`not an AVC tag at ${tag.offset}`);
    return flv.videoTag(tag.timestamp, { kind: "avc", frameType: v.frameType, packetType: v.avcPacketType!, cts: v.cts! }, v.payload);
  }
  if (tag.type === TagType.Audio) {
    const a = parseAudioBody(tag.body);
    if (a.kind !== "legacy" || a.format !== 10) throw new Error(`not an AAC tag at ${tag.offset}`);
    // FFmpeg writes AAC with the 44 kHz / 16-bit / stereo flags (0xAF), as kind "aac" does.
    expect([a.rate, a.size, a.channels]).toEqual([3, 1, 1]);
    return flv.audioTag(tag.timestamp, { kind: "aac", packetType: a.aacPacketType as 0 | 1 }, a.payload);
  }
  throw new Error(`unexpected tag type ${tag.type} at ${tag.offset}`);
}

// ---------------------------------------------------------------- ffmpeg golden files

const GOLDEN: { name: FlvFixtureName; check: (tags: readonly FlvTag[]) => void }[] = [
  {
    name: "golden",
    check: (tags) => {
      // -bf 0: frames in presentation order, so every composition time is 0.
      const cts = tags.filter((t) => t.type === TagType.Video).map((t) => parseVideoBody(t.body).cts);
      expect(cts.every((c) => c === 0)).toBe(true);
    },
  },
  {
    name: "bframes",
    check: (tags) => {
      // -bf 2: decode order differs from presentation order: non-zero offsets.
      const cts = tags.filter((t) => t.type === TagType.Video).map((t) => parseVideoBody(t.body).cts ?? 0);
      expect(cts.filter((c) => c > 0).length).toBeGreaterThan(10);
    },
  },
  {
    name: "extended",
    check: (tags) => {
      // -output_ts_offset 20000: every frame is past 0xFFFFFF ms (the
      // sequence headers stay at 0).
      const isConfig = (t: FlvTag): boolean => {
        if (t.type === TagType.Video) {
          const v = parseVideoBody(t.body);
          return v.kind === "legacy" && v.avcPacketType === 0;
        }
        const a = parseAudioBody(t.body);
        return a.kind === "legacy" && a.aacPacketType === 0;
      };
      const media = tags.filter((t) => t.type !== TagType.Script && !isConfig(t));
      expect(media.length).toBeGreaterThan(50);
      expect(media.every((t) => t.timestamp > 0xffffff && t.timestampExtended === t.timestamp >>> 24)).toBe(true);
      expect(media.some((t) => t.timestampExtended === 0x01)).toBe(true);
    },
  },
];

describe.each(GOLDEN)("ffmpeg golden file: $name", ({ name, check }) => {
  let file: Uint8Array;
  let tags: readonly FlvTag[];

  beforeAll(async () => {
    file = await fixtures.flv(name);
    tags = readFlv(file).tags;
  });

  it("is what the fixture claims: an AVC + AAC FLV with onMetaData first", () => {
    const { header } = readFlv(file);
    expect(header).toMatchObject({ version: 1, hasAudio: true, hasVideo: true, dataOffset: 9 });
    expect(tags[0]!.type).toBe(TagType.Script);
    const video = tags.filter((t) => t.type === TagType.Video);
    const audio = tags.filter((t) => t.type === TagType.Audio);
    expect(video.length).toBeGreaterThan(25);
    expect(audio.length).toBeGreaterThan(40);
    // Sequence headers first: AVCDecoderConfigurationRecord, AudioSpecificConfig.
    expect(parseVideoBody(video[0]!.body)).toMatchObject({ kind: "legacy", frameType: 1, codecId: 7, avcPacketType: 0, cts: 0 });
    expect(parseAudioBody(audio[0]!.body)).toMatchObject({ kind: "legacy", format: 10, aacPacketType: 0 });
    // ffmpeg ends H.264 with an end-of-sequence tag.
    expect(parseVideoBody(video[video.length - 1]!.body)).toMatchObject({ avcPacketType: 2, payload: new Uint8Array(0) });
    check(tags);
  });

  it("FlvWriter.header(true, true) equals ffmpeg's first 13 bytes", () => {
    expect(flv.header(true, true)).toEqual(file.subarray(0, 13));
  });

  it("every video tag written from its parsed frameType, AVCPacketType, cts and NALUs equals ffmpeg's bytes", () => {
    const video = tags.filter((t) => t.type === TagType.Video);
    for (const tag of video) {
      expect(firstDifference(rewriteMediaTag(tag), tag.bytes), `video tag at byte ${tag.offset}`).toBeUndefined();
    }
  });

  it("every audio tag written from its parsed AACPacketType and payload equals ffmpeg's bytes", () => {
    const audio = tags.filter((t) => t.type === TagType.Audio);
    for (const tag of audio) {
      expect(firstDifference(rewriteMediaTag(tag), tag.bytes), `audio tag at byte ${tag.offset}`).toBeUndefined();
    }
  });

  it("ffmpeg's onMetaData decodes with decodeAmf0, and re-encoding it gives the same tag", () => {
    const script = tags[0]!;
    const [event, meta, ...rest] = decodeAmf0(core, script.body);
    expect(event).toBe("onMetaData");
    expect(rest).toEqual([]);
    expect(meta).toBeInstanceOf(EcmaArray);
    expect((meta as EcmaArray).entries).toMatchObject({ width: 320, height: 240, framerate: 30, videocodecid: 7, audiocodecid: 10, audiosamplerate: 48000 });
    const body = encodeAmf0(core, [event!, meta!]);
    expect(firstDifference(body, script.body)).toBeUndefined();
    expect(firstDifference(flv.tag(TagType.Script, script.timestamp, body), script.bytes)).toBeUndefined();
  });

  it("the whole file written by FlvWriter is ffmpeg's file, byte for byte", () => {
    const script = tags[0]!;
    const parts = [
      flv.header(true, true),
      flv.tag(TagType.Script, 0, encodeAmf0(core, decodeAmf0(core, script.body))),
      ...tags.slice(1).map(rewriteMediaTag),
    ];
    expect(firstDifference(concat(parts), file)).toBeUndefined();
  });

  it("a file written by FlvWriter with its own onMetaData decodes in ffprobe to the same frames and pts", async () => {
    const meta = new EcmaArray({
      duration: 3, width: 320, height: 240, framerate: 30, videocodecid: 7, audiocodecid: 10,
      audiosamplerate: 48000, audiosamplesize: 16, stereo: false, encoder: "golive",
    });
    const parts = [flv.header(true, true), flv.tag(TagType.Script, 0, encodeAmf0(core, ["onMetaData", meta])), ...tags.slice(1).map(rewriteMediaTag)];
    const ours = fixtures.file(`${name}-golive.flv`);
    await writeFile(ours, concat(parts));
    const [theirs, mine] = await Promise.all([probeFrames(fixtures.file(`${name}.flv`)), probeFrames(ours)]);
    expect(theirs.frameCounts.video).toBeGreaterThan(25);
    expect(theirs.frameCounts.audio).toBeGreaterThan(40);
    expect(mine.frameCounts).toEqual(theirs.frameCounts);
    expect(mine.pts.video).toEqual(theirs.pts.video);
    expect(mine.pts.audio).toEqual(theirs.pts.audio);
    expect(mine.pts.video).toHaveLength(theirs.frameCounts.video!);
  }, 60_000);
});

// ---------------------------------------------------------------- the test reader itself

describe("test/support/flv-read.ts", () => {
  const file = concat([bytes("FLV", 0x01, 0x01, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00), bytes(
    0x09, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // video tag, DataSize 2, ts 0
    0x27, 0xaa, //                                                     inter frame, codec 7 (truncated AVC header)
    0x00, 0x00, 0x00, 0x0d, //                                         PreviousTagSize 13
  )]);

  it("reads a well-formed file", () => {
    const { tags } = readFlv(file);
    expect(tags).toHaveLength(1);
    expect(tags[0]).toMatchObject({ type: 9, timestamp: 0, body: bytes(0x27, 0xaa) });
  });

  it("rejects a wrong PreviousTagSize, a truncated tag and a bad signature", () => {
    const badSize = file.slice();
    badSize[badSize.length - 1] = 0x0c;
    expect(() => readFlv(badSize)).toThrow(FlvReadError);
    expect(() => readFlv(file.subarray(0, file.length - 1))).toThrow(FlvReadError);
    const badSig = file.slice();
    badSig[0] = 0x47;
    expect(() => readFlv(badSig)).toThrow(FlvReadError);
    expect(() => parseVideoBody(readFlv(file).tags[0]!.body)).toThrow(FlvReadError);
  });
});

// ---------------------------------------------------------------- hand vectors

describe("FLV file header (E.2)", () => {
  it("writes signature, version, TypeFlags, DataOffset and PreviousTagSize0", () => {
    expect(flv.header(true, true)).toEqual(bytes(
      "FLV", //                  Signature
      0x01, //                   Version 1
      0x05, //                   TypeFlags: 0b00000101 = audio (bit 2) | video (bit 0)
      0x00, 0x00, 0x00, 0x09, // DataOffset: the header is 9 bytes
      0x00, 0x00, 0x00, 0x00, // PreviousTagSize0: always 0
    ));
    expect(flv.header(true, false)[4]).toBe(0x04);
    expect(flv.header(false, true)[4]).toBe(0x01);
    expect(flv.header(false, false)[4]).toBe(0x00);
  });
});

/** A whole video tag: 11-byte header at `ts`, the body, PreviousTagSize. */
function videoTag(ts: number, header: VideoTagHeader, payload: number[] = [0xaa, 0xbb]): Uint8Array {
  return flv.videoTag(ts, header, Uint8Array.from(payload));
}

/** Just the tag body header bytes FlvWriter put between tag header and payload. */
function videoHeaderBytes(header: VideoTagHeader): Uint8Array {
  const tag = videoTag(0, header, []);
  return tag.subarray(11, tag.length - 4);
}

function audioHeaderBytes(header: AudioTagHeader): Uint8Array {
  const tag = flv.audioTag(0, header, new Uint8Array(0));
  return tag.subarray(11, tag.length - 4);
}

describe("legacy AVC video tags (E.4.3.1)", () => {
  it("writes a whole tag: header, AVCVIDEOPACKET header, payload, PreviousTagSize", () => {
    expect(videoTag(40, { kind: "avc", frameType: 1, packetType: 1, cts: 0x0102 })).toEqual(bytes(
      0x09, //             TagType 9 (video); Reserved/Filter 0
      0x00, 0x00, 0x07, // DataSize 7: 5 header bytes + 2 payload bytes
      0x00, 0x00, 0x28, // Timestamp 40 ms (low 24 bits)
      0x00, //             TimestampExtended (upper 8 bits)
      0x00, 0x00, 0x00, // StreamID: always 0
      0x17, //             FrameType 1 (key) << 4 | CodecID 7 (AVC)
      0x01, //             AVCPacketType 1: NALUs
      0x00, 0x01, 0x02, // CompositionTime SI24 = 258
      0xaa, 0xbb, //       payload
      0x00, 0x00, 0x00, 0x12, // PreviousTagSize 18 = 11 + 7
    ));
  });

  it("writes sequence header and end of sequence with CompositionTime 0", () => {
    expect(videoHeaderBytes({ kind: "avc", frameType: 1, packetType: 0, cts: 0 })).toEqual(bytes(0x17, 0x00, 0x00, 0x00, 0x00));
    expect(videoHeaderBytes({ kind: "avc", frameType: 1, packetType: 2, cts: 0 })).toEqual(bytes(0x17, 0x02, 0x00, 0x00, 0x00));
    expect(videoHeaderBytes({ kind: "avc", frameType: 2, packetType: 1, cts: 0 })).toEqual(bytes(0x27, 0x01, 0x00, 0x00, 0x00));
  });

  it("writes negative composition times as two's complement SI24", () => {
    const cts = (c: number): Uint8Array => videoHeaderBytes({ kind: "avc", frameType: 2, packetType: 1, cts: c }).subarray(2);
    expect(cts(-1)).toEqual(bytes(0xff, 0xff, 0xff));
    expect(cts(-2)).toEqual(bytes(0xff, 0xff, 0xfe));
    expect(cts(-33)).toEqual(bytes(0xff, 0xff, 0xdf));
    expect(cts(-0x800000)).toEqual(bytes(0x80, 0x00, 0x00)); // SI24 minimum
    expect(cts(0x7fffff)).toEqual(bytes(0x7f, 0xff, 0xff)); // SI24 maximum
    // ...and an independent reader gets the same numbers back.
    for (const c of [-1, -33, -0x800000, 0x7fffff, 0, 1234]) {
      expect(parseVideoBody(videoHeaderBytes({ kind: "avc", frameType: 2, packetType: 1, cts: c })).cts).toBe(c);
    }
  });
});

describe("Enhanced RTMP v2 video tags (ExVideoTagHeader)", () => {
  const ex = (frameType: number, packetType: number, fourcc: string, cts = 0): VideoTagHeader => ({ kind: "ex", frameType, packetType, fourcc, cts });

  it("avc1/hvc1 CodedFrames carry an SI24 CompositionTime", () => {
    expect(videoHeaderBytes(ex(1, 1, "avc1", 0x10))).toEqual(bytes(
      0x91, //             IsExHeader 1 | FrameType 1 (key) << 4 | PacketType 1 (CodedFrames)
      "avc1", //           FourCC
      0x00, 0x00, 0x10, // CompositionTime SI24 = 16
    ));
    expect(videoHeaderBytes(ex(2, 1, "hvc1", -33))).toEqual(bytes(
      0xa1, //             IsExHeader | FrameType 2 (inter) | CodedFrames
      "hvc1", //           FourCC
      0xff, 0xff, 0xdf, // CompositionTime SI24 = -33
    ));
    expect(parseVideoBody(videoHeaderBytes(ex(2, 1, "hvc1", -33)))).toMatchObject({ kind: "ex", frameType: 2, packetType: 1, fourcc: "hvc1", cts: -33 });
  });

  it("CodedFramesX has no CompositionTime (it is implied 0)", () => {
    expect(videoHeaderBytes(ex(2, 3, "hvc1"))).toEqual(bytes(
      0xa3, // IsExHeader | FrameType 2 | PacketType 3 (CodedFramesX)
      "hvc1", // FourCC, then the payload directly
    ));
    expect(videoHeaderBytes(ex(1, 3, "avc1"))).toEqual(bytes(0x93, "avc1"));
  });

  it("SequenceStart, SequenceEnd and other FourCCs' CodedFrames have no CompositionTime", () => {
    expect(videoHeaderBytes(ex(1, 0, "av01"))).toEqual(bytes(
      0x90, //   IsExHeader | FrameType 1 | PacketType 0 (SequenceStart): av1C follows
      "av01", // FourCC
    ));
    expect(videoHeaderBytes(ex(1, 0, "vp09"))).toEqual(bytes(0x90, "vp09")); // vpcC follows
    expect(videoHeaderBytes(ex(1, 0, "hvc1"))).toEqual(bytes(0x90, "hvc1")); // hvcC follows
    expect(videoHeaderBytes(ex(2, 1, "av01"))).toEqual(bytes(0xa1, "av01")); // AV1 CodedFrames: no cts
    expect(videoHeaderBytes(ex(2, 1, "vp09"))).toEqual(bytes(0xa1, "vp09"));
    expect(videoHeaderBytes(ex(1, 2, "vp09"))).toEqual(bytes(0x92, "vp09")); // SequenceEnd
  });

  it("writes whole tags with the ExHeader in front of the payload", () => {
    expect(videoTag(0x1000000, ex(1, 1, "hvc1", 2), [0x01])).toEqual(bytes(
      0x09, 0x00, 0x00, 0x09, // video, DataSize 9 = 8 + 1
      0x00, 0x00, 0x00, 0x01, // Timestamp 0x000000, TimestampExtended 0x01: 16,777,216 ms
      0x00, 0x00, 0x00, //       StreamID
      0x91, "hvc1", 0x00, 0x00, 0x02, // ExVideoTagHeader + CompositionTime 2
      0x01, //                   payload
      0x00, 0x00, 0x00, 0x14, // PreviousTagSize 20
    ));
  });
});

describe("audio tags (E.4.2.1; Enhanced RTMP v2 ExAudioTagHeader)", () => {
  it("AAC: 0xAF then AACPacketType", () => {
    expect(flv.audioTag(23, { kind: "aac", packetType: 0 }, bytes(0x11, 0x90))).toEqual(bytes(
      0x08, //             TagType 8 (audio)
      0x00, 0x00, 0x04, // DataSize 4
      0x00, 0x00, 0x17, // Timestamp 23
      0x00, //             TimestampExtended
      0x00, 0x00, 0x00, // StreamID
      0xaf, //             SoundFormat 10 (AAC) << 4 | SoundRate 3 << 2 | SoundSize 1 << 1 | SoundType 1
      0x00, //             AACPacketType 0: AudioSpecificConfig
      0x11, 0x90, //       AudioSpecificConfig: AAC LC, 48 kHz, stereo
      0x00, 0x00, 0x00, 0x0f, // PreviousTagSize 15
    ));
    expect(audioHeaderBytes({ kind: "aac", packetType: 1 })).toEqual(bytes(0xaf, 0x01)); // raw AAC frame
  });

  it("legacy flags for other formats, with no AACPacketType", () => {
    // MP3 (2) << 4 | 44 kHz (3) << 2 | 16-bit (1) << 1 | stereo (1)
    expect(audioHeaderBytes({ kind: "legacy", format: 2, rate: 3, size: 1, channels: 1 })).toEqual(bytes(0x2f));
    // G.711 A-law (7) << 4 | 5.5 kHz (0) << 2 | 16-bit (1) << 1 | mono (0)
    expect(audioHeaderBytes({ kind: "legacy", format: 7, rate: 0, size: 1, channels: 0 })).toEqual(bytes(0x72));
    // Linear PCM little-endian (3), 22 kHz (2), 8-bit (0), mono (0)
    expect(audioHeaderBytes({ kind: "legacy", format: 3, rate: 2, size: 0, channels: 0 })).toEqual(bytes(0x38));
    // AAC through the legacy form, with explicit flags
    expect(audioHeaderBytes({ kind: "legacy", format: 10, rate: 3, size: 1, channels: 0, aacPacketType: 1 })).toEqual(bytes(0xae, 0x01));
  });

  it("Opus ExHeader: SequenceStart, CodedFrames, SequenceEnd", () => {
    expect(audioHeaderBytes({ kind: "ex", packetType: 0, fourcc: "Opus" })).toEqual(bytes(
      0x90, //   SoundFormat 9 (ExHeader) << 4 | AudioPacketType 0 (SequenceStart): OpusHead follows
      "Opus", // FourCC
    ));
    expect(audioHeaderBytes({ kind: "ex", packetType: 1, fourcc: "Opus" })).toEqual(bytes(0x91, "Opus")); // CodedFrames
    expect(audioHeaderBytes({ kind: "ex", packetType: 2, fourcc: "Opus" })).toEqual(bytes(0x92, "Opus")); // SequenceEnd
    expect(parseAudioBody(audioHeaderBytes({ kind: "ex", packetType: 1, fourcc: "fLaC" }))).toMatchObject({ kind: "ex", packetType: 1, fourcc: "fLaC" });
  });
});

describe("timestamps (E.4.1: Timestamp UI24 + TimestampExtended UI8 = SI32 ms)", () => {
  /** Bytes 4..7 of a tag: Timestamp and TimestampExtended. */
  const ts = (t: number): Uint8Array => flv.tag(TagType.Script, t, bytes(0x05)).subarray(4, 8);

  it("puts bits 24..31 in the TimestampExtended byte", () => {
    expect(ts(0)).toEqual(bytes(0x00, 0x00, 0x00, 0x00));
    expect(ts(0xffffff)).toEqual(bytes(0xff, 0xff, 0xff, 0x00)); // the most UI24 holds alone
    expect(ts(0x1000000)).toEqual(bytes(0x00, 0x00, 0x00, 0x01)); // one more: low bits 0, extended 1
    expect(ts(0x12345678)).toEqual(bytes(0x34, 0x56, 0x78, 0x12));
    expect(ts(0x7fffffff)).toEqual(bytes(0xff, 0xff, 0xff, 0x7f)); // the largest SI32
    for (const t of [0, 0xffffff, 0x1000000, 0x12345678, 0x7fffffff]) {
      expect(readFlv(concat([flv.header(false, false), flv.tag(TagType.Script, t, bytes(0x05))])).tags[0]!.timestamp).toBe(t);
    }
  });

  it("refuses timestamps an SI32 reader would see as negative, and non-integers", () => {
    for (const t of [0x80000000, 0xffffffff, 2 ** 32, -1]) {
      expect(coreErrorCode(() => flv.tag(TagType.Script, t, bytes(0x05))), `timestamp ${t}`).toBe("FLV_BAD_ARGUMENT");
    }
    for (const t of [1.5, Number.NaN, Infinity]) {
      expect(() => flv.tag(TagType.Script, t, bytes(0x05))).toThrow(TypeError);
    }
    // The core refuses it too, for callers of the raw export.
    const out = core.output.ensure(64);
    expect(core.exports.flvTag(18, 0x80000000 | 0, 0, 0, 0, out, 64)).toBe(-32);
  });
});

describe("script data tags", () => {
  it("tag() writes a script tag whose body decodes to what was encoded", () => {
    const values: AmfValue[] = ["onMetaData", new EcmaArray({ duration: 0, width: 1280, height: 720, videocodecid: 7, encoder: "golive" })];
    const file = concat([flv.header(true, true), flv.tag(TagType.Script, 0, encodeAmf0(core, values))]);
    const [tag] = readFlv(file).tags;
    expect(tag!.type).toBe(18);
    expect(decodeAmf0(core, tag!.body)).toEqual(values);
  });
});

describe("FLV_BAD_ARGUMENT", () => {
  const videoCode = (h: VideoTagHeader): string => coreErrorCode(() => flv.videoTag(0, h, bytes(0)));
  const audioCode = (h: AudioTagHeader): string => coreErrorCode(() => flv.audioTag(0, h, bytes(0)));

  it("legacy AVC: frame type, packet type, composition time out of range", () => {
    for (const frameType of [0, 6, 15, -1]) expect(videoCode({ kind: "avc", frameType, packetType: 1, cts: 0 }), `frameType ${frameType}`).toBe("FLV_BAD_ARGUMENT");
    for (const packetType of [-1, 3, 255]) expect(videoCode({ kind: "avc", frameType: 1, packetType, cts: 0 }), `packetType ${packetType}`).toBe("FLV_BAD_ARGUMENT");
    for (const cts of [0x800000, -0x800001, 2 ** 31, 2 ** 32]) expect(videoCode({ kind: "avc", frameType: 1, packetType: 1, cts }), `cts ${cts}`).toBe("FLV_BAD_ARGUMENT");
  });

  it("legacy AVC: a composition time on a sequence header or end of sequence (E.4.3.1: 'ELSE 0')", () => {
    expect(videoCode({ kind: "avc", frameType: 1, packetType: 0, cts: 5 })).toBe("FLV_BAD_ARGUMENT");
    expect(videoCode({ kind: "avc", frameType: 1, packetType: 2, cts: -1 })).toBe("FLV_BAD_ARGUMENT");
  });

  it("ExHeader video: frame type, packet type, and a composition time that would be dropped", () => {
    const ex = (frameType: number, packetType: number, fourcc: string, cts = 0): VideoTagHeader => ({ kind: "ex", frameType, packetType, fourcc, cts });
    for (const frameType of [0, 5, 6, 8, -1]) expect(videoCode(ex(frameType, 1, "hvc1")), `frameType ${frameType}`).toBe("FLV_BAD_ARGUMENT");
    for (const packetType of [-1, 4, 5, 6, 7, 15]) expect(videoCode(ex(1, packetType, "hvc1")), `packetType ${packetType}`).toBe("FLV_BAD_ARGUMENT");
    expect(videoCode(ex(1, 1, "hvc1", 0x800000))).toBe("FLV_BAD_ARGUMENT");
    expect(videoCode(ex(1, 3, "hvc1", 5))).toBe("FLV_BAD_ARGUMENT"); // CodedFramesX: cts is 0 by definition
    expect(videoCode(ex(1, 1, "av01", 5))).toBe("FLV_BAD_ARGUMENT"); // AV1 has no cts field
    expect(videoCode(ex(1, 0, "avc1", 5))).toBe("FLV_BAD_ARGUMENT"); // SequenceStart
  });

  it("legacy audio: field widths, the ExHeader format 9, and AACPacketType on the wrong format", () => {
    const legacy = (format: number, rate: number, size: number, channels: number, aacPacketType?: 0 | 1): AudioTagHeader =>
      aacPacketType === undefined ? { kind: "legacy", format, rate, size, channels } : { kind: "legacy", format, rate, size, channels, aacPacketType };
    for (const [f, r, s, c] of [[16, 3, 1, 1], [-1, 3, 1, 1], [2, 4, 1, 1], [2, -1, 1, 1], [2, 3, 2, 1], [2, 3, 1, 2], [9, 3, 1, 1]] as const) {
      expect(audioCode(legacy(f, r, s, c)), `format ${f} rate ${r} size ${s} channels ${c}`).toBe("FLV_BAD_ARGUMENT");
    }
    expect(audioCode(legacy(10, 3, 1, 1))).toBe("FLV_BAD_ARGUMENT"); // AAC needs an AACPacketType
    expect(audioCode(legacy(2, 3, 1, 1, 1))).toBe("FLV_BAD_ARGUMENT"); // MP3 has none
    expect(audioCode({ kind: "aac", packetType: 2 as 0 })).toBe("FLV_BAD_ARGUMENT");
  });

  it("ExHeader audio: packet type out of range", () => {
    for (const packetType of [-1, 3, 4, 5, 7, 15]) expect(audioCode({ kind: "ex", packetType, fourcc: "Opus" }), `packetType ${packetType}`).toBe("FLV_BAD_ARGUMENT");
  });

  it("tag(): a type other than 8, 9, 18 is FLV_BAD_ARGUMENT; a non-integer one a TypeError", () => {
    for (const type of [0, 7, 10, 19, 2 ** 32 + 9]) expect(coreErrorCode(() => flv.tag(type, 0, bytes(0))), `type ${type}`).toBe("FLV_BAD_ARGUMENT");
    expect(() => flv.tag(9.5, 0, bytes(0))).toThrow(TypeError);
  });

  it("raw flvTag: tag type, prefix length, payload length", () => {
    const out = core.output.ensure(64);
    for (const type of [0, 7, 10, 17, 19, 255]) expect(core.exports.flvTag(type, 0, 0, 0, 0, out, 64), `type ${type}`).toBe(-32);
    expect(core.exports.flvTag(9, 0, 65, 0, 0, out, 128)).toBe(-32);
    expect(core.exports.flvTag(9, 0, -1, 0, 0, out, 64)).toBe(-32);
    expect(core.exports.flvTag(9, 0, 0, 0, -1, out, 64)).toBe(-32);
    expect(core.exports.flvTag(9, 0, 0, 0, 0, out, 14)).toBe(-31); // WASM_NO_SPACE: 15 bytes needed
    expect(core.exports.flvTag(9, 0, 0, 0, 0, out, 15)).toBe(15);
  });

  it("raw flvTagHeaders: header, prefix and PreviousTagSize as flvTag writes them; the whole size; the same statuses", () => {
    const out = core.output.ensure(256);
    const payload = Uint8Array.from({ length: 100 }, (_, i) => (i * 7 + 9) & 0xff);
    const ptr = core.putInput(payload);
    const n = core.exports.flvTag(9, 0x01020304, 0, ptr, 100, out, 256);
    const whole = core.u8.slice(out, out + n);
    expect(core.exports.flvTagHeaders(9, 0x01020304, 0, 100, out, 256)).toBe(n);
    expect(Array.from(core.u8.subarray(out, out + 11))).toEqual(Array.from(whole.subarray(0, 11)));
    expect(Array.from(core.u8.subarray(out + 11, out + 15))).toEqual(Array.from(whole.subarray(n - 4)));
    for (const type of [0, 7, 10, 17, 19, 255]) expect(core.exports.flvTagHeaders(type, 0, 0, 0, out, 64), `type ${type}`).toBe(-32);
    expect(core.exports.flvTagHeaders(9, 0, 65, 0, out, 128)).toBe(-32);
    expect(core.exports.flvTagHeaders(9, 0, 0, -1, out, 64)).toBe(-32);
    expect(core.exports.flvTagHeaders(9, 0x80000000 | 0, 0, 0, out, 64)).toBe(-32);
    expect(core.exports.flvTagHeaders(9, 0, 0, 0x1000000, out, 64)).toBe(-30);
    expect(core.exports.flvTagHeaders(9, 0, 0, 1000, out, 14)).toBe(-31); // 15 bytes of headers needed, whatever the payload
    expect(core.exports.flvTagHeaders(9, 0, 0, 1000, out, 15)).toBe(1015);
  });

  it("header fields that are not integers are a TypeError; integers past i32 do not wrap into range", () => {
    expect(() => flv.videoTag(0, { kind: "avc", frameType: 1.5, packetType: 1, cts: 0 }, bytes(0))).toThrow(TypeError);
    expect(() => flv.videoTag(0, { kind: "avc", frameType: 1, packetType: 1, cts: Number.NaN }, bytes(0))).toThrow(TypeError);
    expect(() => flv.audioTag(0, { kind: "legacy", format: 2, rate: 3.5, size: 1, channels: 1 }, bytes(0))).toThrow(TypeError);
    // 2**32 + 1 would reach the core as 1 (ToInt32) and be accepted.
    expect(videoCode({ kind: "avc", frameType: 2 ** 32 + 1, packetType: 1, cts: 0 })).toBe("FLV_BAD_ARGUMENT");
    expect(audioCode({ kind: "ex", packetType: 2 ** 32 + 1, fourcc: "Opus" })).toBe("FLV_BAD_ARGUMENT");
  });

  it("a FourCC that is not 4 ASCII characters is a TypeError", () => {
    for (const fourcc of ["avc", "avc1 ", "", "hvé1"]) {
      expect(() => flv.videoTag(0, { kind: "ex", frameType: 1, packetType: 0, fourcc, cts: 0 }, bytes(0))).toThrow(TypeError);
      expect(() => flv.audioTag(0, { kind: "ex", packetType: 0, fourcc }, bytes(0))).toThrow(TypeError);
    }
  });
});

describe("FLV_TAG_TOO_LONG", () => {
  it("refuses a body over 0xFFFFFF bytes (16 MiB payload) before copying it into the core", () => {
    const big = new Uint8Array(0x1000000); // 16 MiB
    const before = core.memory.buffer.byteLength;
    expect(coreErrorCode(() => flv.videoTag(0, { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, big))).toBe("FLV_TAG_TOO_LONG");
    expect(coreErrorCode(() => flv.audioTag(0, { kind: "aac", packetType: 1 }, big))).toBe("FLV_TAG_TOO_LONG");
    expect(coreErrorCode(() => flv.tag(TagType.Script, 0, big))).toBe("FLV_TAG_TOO_LONG");
    // The 5-byte AVC header counts: 0xFFFFFB + 5 = 0x1000000.
    expect(coreErrorCode(() => flv.videoTag(0, { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, big.subarray(0, 0xfffffb)))).toBe("FLV_TAG_TOO_LONG");
    expect(core.memory.buffer.byteLength).toBe(before);
    // The core checks too, for callers of the raw export (nothing is read).
    const out = core.output.ensure(64);
    expect(core.exports.flvTag(9, 0, 0, 0, 0x1000000, out, 64)).toBe(-30);
    expect(core.exports.flvTag(9, 0, 5, 0, 0xfffffb, out, 64)).toBe(-30);
  });

  it("accepts exactly 0xFFFFFF bytes of body", () => {
    const payload = new Uint8Array(0xfffffa).fill(0x5a); // + 5 header bytes = 0xFFFFFF
    const tag = flv.videoTag(0, { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, payload);
    expect(tag.byteLength).toBe(11 + 0xffffff + 4);
    expect(tag.subarray(0, 4)).toEqual(bytes(0x09, 0xff, 0xff, 0xff)); // DataSize 0xFFFFFF
    expect(tag.subarray(tag.length - 4)).toEqual(bytes(0x01, 0x00, 0x00, 0x0a)); // PreviousTagSize 0xFFFFFF + 11
    expect(tag[tag.length - 5]).toBe(0x5a);
  });
});
