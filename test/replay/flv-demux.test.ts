/**
 * The replay FLV demuxer (server/replay/flv-demux.ts): hand-built vectors
 * commented byte by byte, parsed whole, split at every byte offset and one
 * byte at a time; one test per error code; a fuzz property (any input either
 * demuxes or throws FlvDemuxError); and ffmpeg-made golden files, whose
 * frames must equal what ffprobe reads from them, packet by packet.
 */
import fc from "fast-check";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplayError } from "../../server/replay/errors.js";
import { demuxFlv, FlvDemuxer, FlvDemuxError, FlvStreamDemuxer, type FlvFramePacket, type FlvPacket } from "../../server/replay/flv-demux.js";
import { replayMediaFromFlv } from "../../server/replay/media.js";
import { makeFixtureDir, type FixtureDir } from "../support/fixtures.js";
import { cachedTestFlv, ffprobeFrames, type ProbeResult } from "../support/ingest.js";

let fixtures: FixtureDir;

beforeAll(async () => {
  fixtures = await makeFixtureDir("golive-replay-flv-");
});

afterAll(async () => {
  await fixtures.remove();
});

// ---------------------------------------------------------------- hand vectors

function concat(...arrays: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.byteLength;
  }
  return out;
}

/** The 9-byte FLV header plus PreviousTagSize0. */
function header(flags = 0x05): Uint8Array {
  return Uint8Array.from([
    0x46, 0x4c, 0x56, // "FLV"
    0x01, //             version 1
    flags, //            TypeFlags: 0x04 audio | 0x01 video
    0x00, 0x00, 0x00, 0x09, // DataOffset = 9
    0x00, 0x00, 0x00, 0x00, // PreviousTagSize0 = 0
  ]);
}

/** One tag: 11-byte header, body, PreviousTagSize (overridable to corrupt it). */
function tag(type: number, timestamp: number, body: Uint8Array, opts: { previous?: number; first?: number; streamId?: number } = {}): Uint8Array {
  const size = body.byteLength;
  const head = Uint8Array.from([
    opts.first ?? type, //                                   Reserved(2) Filter(1) TagType(5)
    (size >> 16) & 0xff, (size >> 8) & 0xff, size & 0xff, // DataSize (UI24)
    (timestamp >> 16) & 0xff, (timestamp >> 8) & 0xff, timestamp & 0xff, // Timestamp (UI24, lower 24 bits)
    (timestamp >>> 24) & 0xff, //                            TimestampExtended (upper 8 bits)
    0x00, 0x00, opts.streamId ?? 0x00, //                    StreamID = 0
  ]);
  const prev = opts.previous ?? 11 + size;
  const tail = Uint8Array.from([(prev >>> 24) & 0xff, (prev >> 16) & 0xff, (prev >> 8) & 0xff, prev & 0xff]);
  return concat(head, body, tail);
}

/** AVCVIDEOPACKET body: FrameType|CodecID, AVCPacketType, CompositionTime (SI24), data. */
function avc(frameType: number, packetType: number, cts: number, data: number[]): Uint8Array {
  return Uint8Array.from([(frameType << 4) | 7, packetType, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff, ...data]);
}

/** AACAUDIODATA body: SoundFormat 10 | rate 3 (44 kHz) | 16-bit | stereo = 0xAF, AACPacketType, data. */
function aac(packetType: number, data: number[]): Uint8Array {
  return Uint8Array.from([0xaf, packetType, ...data]);
}

/** A small FLV: metadata, both sequence headers, a keyframe with cts 40, audio, an inter frame, an end of sequence. */
const SMALL = concat(
  header(),
  tag(18, 0, Uint8Array.from([0x02, 0x00, 0x0a, ...Buffer.from("onMetaData"), 0x05])), // script: "onMetaData", null
  tag(9, 0, avc(1, 0, 0, [0x01, 0x42, 0xc0, 0x1e])), //    AVC sequence header (4 bytes standing for an avcC)
  tag(8, 0, aac(0, [0x12, 0x10])), //                      AAC sequence header: AudioSpecificConfig 12 10
  tag(9, 0, avc(1, 1, 40, [0, 0, 0, 1, 0x65])), //         keyframe, cts 40, one 1-byte NAL unit
  tag(8, 23, aac(1, [0x21, 0x1b])), //                      raw AAC frame at 23 ms
  tag(9, 33, avc(2, 1, -33 & 0xffffff, [0, 0, 0, 1, 0x41])), // inter frame at 33 ms, cts -33
  tag(9, 66, avc(1, 2, 0, [])), //                          AVC end of sequence: no packet
);

const SMALL_PACKETS = [
  { type: "config", track: "video", timestampMs: 0, data: [0x01, 0x42, 0xc0, 0x1e] },
  { type: "config", track: "audio", timestampMs: 0, data: [0x12, 0x10] },
  { type: "frame", track: "video", dtsMs: 0, ctsMs: 40, keyframe: true, data: [0, 0, 0, 1, 0x65] },
  { type: "frame", track: "audio", dtsMs: 23, ctsMs: 0, keyframe: true, data: [0x21, 0x1b] },
  { type: "frame", track: "video", dtsMs: 33, ctsMs: -33, keyframe: false, data: [0, 0, 0, 1, 0x41] },
];

/** Packets as plain values, without offsets and with arrays for bytes. */
function plain(packets: readonly FlvPacket[]): unknown[] {
  return packets.map((p) => {
    const { offset: _offset, data, ...rest } = p;
    return { ...rest, data: [...data] };
  });
}

/** The FlvDemuxError `fn` throws (anything else fails the test). */
function demuxError(fn: () => unknown): FlvDemuxError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvDemuxError) return e;
    throw e;
  }
  throw new Error("expected an FlvDemuxError, but it demuxed");
}

describe("FLV demuxer: hand vectors", () => {
  it("demuxes a whole file: configs, frames with dts/cts/key flags, script and end-of-sequence tags skipped", () => {
    const file = demuxFlv(SMALL);
    expect(file.header).toEqual({ version: 1, hasAudio: true, hasVideo: true, dataOffset: 9 });
    expect(plain(file.packets)).toEqual(SMALL_PACKETS);
    // Offsets point at the tags: the first config follows the header (13) and the script tag (11 + 14 + 4).
    expect(file.packets[0]!.offset).toBe(13 + 29);
  });

  it("gives the same packets split at every byte offset", () => {
    for (let cut = 0; cut <= SMALL.byteLength; cut++) {
      const d = new FlvStreamDemuxer();
      const packets = [...d.push(SMALL.subarray(0, cut)), ...d.push(SMALL.subarray(cut))];
      d.end();
      expect(plain(packets), `split at ${cut}`).toEqual(SMALL_PACKETS);
    }
  });

  it("gives the same packets fed one byte at a time, and the core consumes whole units only", () => {
    const d = new FlvStreamDemuxer();
    const packets: FlvPacket[] = [];
    for (let i = 0; i < SMALL.byteLength; i++) packets.push(...d.push(SMALL.subarray(i, i + 1)));
    d.end();
    expect(plain(packets)).toEqual(SMALL_PACKETS);

    const core = new FlvDemuxer();
    const out: FlvPacket[] = [];
    expect(core.parse(SMALL.subarray(0, 12), out)).toBe(0); // header needs 13 bytes with PreviousTagSize0
    expect(core.parse(SMALL.subarray(0, 13 + 27), out)).toBe(13); // the script tag is one byte short
    expect(core.offset).toBe(13);
    expect(core.header?.dataOffset).toBe(9);
  });

  it("reads the SI32 timestamp: TimestampExtended is the upper 8 bits", () => {
    const file = concat(header(), tag(9, 0, avc(1, 0, 0, [1])), tag(9, 0x12345678, avc(1, 1, 0, [0, 0, 0, 1, 0x65])));
    const frame = demuxFlv(file).packets[1] as FlvFramePacket;
    expect(frame.dtsMs).toBe(0x12345678);
  });

  it("skips video command frames (FrameType 5), empty frames and unknown tag types", () => {
    const file = concat(
      header(),
      tag(9, 0, Uint8Array.from([0x57, 0x00])), // FrameType 5 (command), CodecID 7
      tag(9, 0, avc(1, 1, 0, [])), //              AVC NALU packet with no data
      tag(8, 0, aac(1, [])), //                    AAC raw packet with no data
      tag(9, 0, new Uint8Array(0)), //             empty video tag
      tag(15, 0, Uint8Array.from([1, 2, 3])), //   reserved tag type
    );
    expect(demuxFlv(file).packets).toEqual([]);
  });

  it("accepts a longer DataOffset and any TypeFlags", () => {
    const file = concat(
      Uint8Array.from([0x46, 0x4c, 0x56, 0x01, 0x00, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0]), // DataOffset 12: 3 extra bytes
      tag(8, 5, aac(1, [7])),
    );
    const { header: h, packets } = demuxFlv(file);
    expect(h).toEqual({ version: 1, hasAudio: false, hasVideo: false, dataOffset: 12 });
    expect(plain(packets)).toEqual([{ type: "frame", track: "audio", dtsMs: 5, ctsMs: 0, keyframe: true, data: [7] }]);
  });
});

describe("FLV demuxer: one test per error", () => {
  it("FLV_BAD_HEADER: not starting with FLV, at the first wrong byte even before the header is complete", () => {
    const e = demuxError(() => demuxFlv(Uint8Array.from([0x46, 0x4c, 0x57])));
    expect(e.code).toBe("FLV_BAD_HEADER");
    expect(e.offset).toBe(2);
    expect(demuxError(() => new FlvStreamDemuxer().push(Uint8Array.from([0x3c]))).message).toMatch(/not an FLV file/); // "<" of an HTML page
  });

  it("FLV_BAD_HEADER: DataOffset below 9 or over maxHeaderBytes, non-zero PreviousTagSize0, version 0", () => {
    const h = (version: number, dataOffset: number, prev0: number): Uint8Array =>
      Uint8Array.from([0x46, 0x4c, 0x56, version, 5, 0, 0, 0, dataOffset, 0, 0, 0, prev0]);
    expect(demuxError(() => demuxFlv(h(1, 8, 0))).message).toMatch(/DataOffset 8/);
    expect(demuxError(() => new FlvDemuxer({ maxHeaderBytes: 9 }).parse(h(1, 10, 0), [])).message).toMatch(/DataOffset 10 is outside 9..9/);
    expect(demuxError(() => demuxFlv(h(1, 9, 1))).code).toBe("FLV_BAD_HEADER");
    expect(demuxError(() => demuxFlv(h(0, 9, 0))).message).toMatch(/version 0/);
  });

  it("FLV_TRUNCATED: the file ends inside the header, or inside any tag", () => {
    expect(demuxError(() => demuxFlv(new Uint8Array(0))).code).toBe("FLV_TRUNCATED");
    expect(demuxError(() => demuxFlv(SMALL.subarray(0, 10))).code).toBe("FLV_TRUNCATED");
    // Every cut that is not at a unit boundary is a truncation; cuts at boundaries demux.
    const boundaries = new Set([13]);
    let at = 13;
    while (at < SMALL.byteLength) {
      at += 11 + ((SMALL[at + 1]! << 16) | (SMALL[at + 2]! << 8) | SMALL[at + 3]!) + 4;
      boundaries.add(at);
    }
    for (let cut = 13; cut < SMALL.byteLength; cut++) {
      if (boundaries.has(cut)) {
        expect(() => demuxFlv(SMALL.subarray(0, cut)), `cut ${cut}`).not.toThrow();
      } else {
        const e = demuxError(() => demuxFlv(SMALL.subarray(0, cut)));
        expect(e.code, `cut ${cut}`).toBe("FLV_TRUNCATED");
        expect(e.message).toMatch(/ends inside a tag/);
      }
    }
  });

  it("FLV_BAD_TAG: reserved bits, Filter (encryption) bit, StreamID, PreviousTagSize", () => {
    const body = aac(1, [1]);
    expect(demuxError(() => demuxFlv(concat(header(), tag(8, 0, body, { first: 0x48 })))).message).toMatch(/reserved bits/);
    expect(demuxError(() => demuxFlv(concat(header(), tag(8, 0, body, { first: 0x28 })))).message).toMatch(/encrypted/);
    const sid = demuxError(() => demuxFlv(concat(header(), tag(8, 0, body, { streamId: 1 }))));
    expect([sid.code, sid.offset]).toEqual(["FLV_BAD_TAG", 13 + 8]);
    const prev = demuxError(() => demuxFlv(concat(header(), tag(8, 0, body, { previous: 99 }))));
    expect(prev.message).toMatch(/PreviousTagSize is 99, the tag's size is 14/);
  });

  it("FLV_BAD_TAG: a tag over maxTagBytes is refused from its header, before its body arrives", () => {
    const d = new FlvDemuxer({ maxTagBytes: 100 });
    const big = tag(9, 0, new Uint8Array(101));
    expect(demuxError(() => d.parse(concat(header(), big.subarray(0, 11)), [])).message).toMatch(/tag of 101 bytes is over the 100-byte limit/);
  });

  it("FLV_BAD_TAG: short AVC and AAC headers, unknown packet types", () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [tag(9, 0, Uint8Array.from([0x17, 0x01, 0x00])), /shorter than its 5-byte header/],
      [tag(9, 0, avc(1, 3, 0, [1])), /AVCPacketType 3/],
      [tag(8, 0, Uint8Array.from([0xaf])), /without its AACPacketType/],
      [tag(8, 0, aac(2, [1])), /AACPacketType 2/],
    ];
    for (const [t, message] of cases) {
      const e = demuxError(() => demuxFlv(concat(header(), t)));
      expect(e.code).toBe("FLV_BAD_TAG");
      expect(e.message).toMatch(message);
    }
  });

  it("REPLAY_UNSUPPORTED_CODEC: other video codecs and audio formats, Enhanced RTMP headers", () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [tag(9, 0, Uint8Array.from([0x14, 1, 2])), /video codec 4 \(On2 VP6\)/],
      [tag(9, 0, Uint8Array.from([0x90, 0x68, 0x76, 0x63, 0x31])), /Enhanced RTMP video/], // ExVideoTagHeader, "hvc1"
      [tag(8, 0, Uint8Array.from([0x2f, 1, 2])), /audio format 2 \(MP3\)/],
      [tag(8, 0, Uint8Array.from([0x90, 0x4f, 0x70, 0x75, 0x73])), /Enhanced RTMP audio/], // ExAudioTagHeader, "Opus"
    ];
    for (const [t, message] of cases) {
      const e = demuxError(() => demuxFlv(concat(header(), t)));
      expect(e.code).toBe("REPLAY_UNSUPPORTED_CODEC");
      expect(e.message).toMatch(message);
      expect(e).toBeInstanceOf(ReplayError);
    }
  });

  it("any input either demuxes or throws FlvDemuxError (fuzz, with and without a valid header)", () => {
    const check = (bytes: Uint8Array): void => {
      try {
        demuxFlv(bytes);
      } catch (e) {
        if (!(e instanceof FlvDemuxError)) throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => check(b)), { numRuns: 2000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => check(concat(header(), b))), { numRuns: 2000 });
    // Flip any byte of a valid file.
    fc.assert(
      fc.property(fc.nat(SMALL.byteLength - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const copy = SMALL.slice();
        copy[at]! ^= x;
        check(copy);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------- replay media from FLV

// A real avcC (Constrained Baseline 3.1, 640x360) and AudioSpecificConfig (AAC LC, 44.1 kHz stereo), from docs/protocol.md.
const AVCC = [...Buffer.from("AULAH//hABlnQsAe2gKAv+XARAAAAwAEAAADAPI8WLqAAQAEaM4PyA==", "base64")];
const ASC = [0x12, 0x10];

describe("replay media from FLV", () => {
  it("merges the tracks by decode time, rebases to 0 and takes codec strings from the configs", () => {
    const file = concat(
      header(),
      tag(9, 1000, avc(1, 0, 0, AVCC)),
      tag(8, 1000, aac(0, ASC)),
      tag(8, 1000, aac(1, [1])),
      tag(9, 1000, avc(1, 1, 0, [0, 0, 0, 1, 0x65])),
      tag(9, 1033, avc(2, 1, 0, [0, 0, 0, 1, 0x41])),
      tag(8, 1023, aac(1, [2])), // late in the file, early in time
    );
    const m = replayMediaFromFlv(file, "x.flv");
    expect(m.video).toMatchObject({ codec: "avc1.42c01f", width: 640, height: 360 });
    expect(m.audio).toMatchObject({ codec: "mp4a.40.2", sampleRate: 44100, channels: 2 });
    expect(m.frames.map((f) => [f.track, f.dtsUs, f.keyframe])).toEqual([
      ["video", 0, true], // equal times: video first
      ["audio", 0, true],
      ["audio", 23_000, true],
      ["video", 33_000, false],
    ]);
    expect(m.counts).toEqual({ video: 2, audio: 2, keyframes: 1 });
    // The end of the last frame: video 33 + 33 ms step.
    expect(m.durationUs).toBe(66_000);
  });

  it("a changed sequence header rides on the next frame of its track; a repeated one is ignored", () => {
    const other = [...AVCC];
    other[other.length - 1] = other.at(-1)! ^ 1; // a different PPS byte
    const file = concat(
      header(),
      tag(9, 0, avc(1, 0, 0, AVCC)),
      tag(9, 0, avc(1, 1, 0, [0, 0, 0, 1, 0x65])),
      tag(9, 33, avc(1, 0, 0, AVCC)), // the same again: nothing
      tag(9, 33, avc(2, 1, 0, [0, 0, 0, 1, 0x41])),
      tag(9, 66, avc(1, 0, 0, other)), // changed
      tag(9, 66, avc(1, 1, 0, [0, 0, 0, 1, 0x65])),
    );
    const m = replayMediaFromFlv(file);
    expect(m.frames.map((f) => (f.config ? [...f.config] : undefined))).toEqual([undefined, undefined, other]);
    expect([...m.video!.description]).toEqual(AVCC);
  });

  it("REPLAY_MISSING_CONFIG: a frame before its sequence header; REPLAY_NO_MEDIA: no frames", () => {
    const e = (() => {
      try {
        replayMediaFromFlv(concat(header(), tag(8, 0, aac(1, [1]))), "a.flv");
      } catch (err) {
        return err as ReplayError;
      }
      throw new Error("expected an error");
    })();
    expect(e.code).toBe("REPLAY_MISSING_CONFIG");
    expect(e.message).toMatch(/a\.flv: an AAC frame comes before the AAC sequence header \(tag at byte 13\)/);
    expect(() => replayMediaFromFlv(concat(header(), tag(9, 0, avc(1, 0, 0, AVCC))), "b.flv")).toThrow(/b\.flv has no H\.264 video or AAC audio frames/);
  });

  it("a malformed avcC is the media parser's BAD_AVC_CONFIG", () => {
    const file = concat(header(), tag(9, 0, avc(1, 0, 0, [0, 0, 0, 1])), tag(9, 0, avc(1, 1, 0, [0, 0, 0, 1, 0x65])));
    expect(() => replayMediaFromFlv(file)).toThrow(expect.objectContaining({ code: "BAD_AVC_CONFIG" }));
  });
});

// ---------------------------------------------------------------- golden files from ffmpeg

/** Our frames must be ffprobe's packets: same count per stream, dts, pts, key flag and payload size. */
function expectSameAsProbe(packets: readonly FlvPacket[], probe: ProbeResult): void {
  const frames = packets.filter((p): p is FlvFramePacket => p.type === "frame");
  expect(frames.length).toBe(probe.packets.length);
  for (const kind of ["video", "audio"] as const) {
    const ours = frames.filter((f) => f.track === kind);
    const theirs = probe.packets.filter((p) => p.stream === kind);
    expect(ours.length, kind).toBe(theirs.length);
    expect(ours.map((f) => f.dtsMs), `${kind} dts`).toEqual(theirs.map((p) => p.dtsMs));
    expect(ours.map((f) => f.dtsMs + f.ctsMs), `${kind} pts`).toEqual(theirs.map((p) => p.ptsMs));
    expect(ours.map((f) => f.keyframe), `${kind} keyframes`).toEqual(theirs.map((p) => p.keyframe));
    expect(ours.map((f) => f.data.byteLength), `${kind} sizes`).toEqual(theirs.map((p) => p.size));
  }
}

describe("FLV demuxer: ffmpeg golden files against ffprobe", () => {
  it("the 10 s test FLV (640x360, GOP 60, no B-frames): 300 video frames, 5 keyframes, every packet as ffprobe reads it", async () => {
    const path = await cachedTestFlv({ seconds: 10, gop: 60 });
    const bytes = new Uint8Array(await readFile(path));
    const { packets } = demuxFlv(bytes);
    const probe = await ffprobeFrames(path);
    expectSameAsProbe(packets, probe);
    expect(probe.counts.video).toBe(300);
    expect(packets.filter((p) => p.type === "frame" && p.keyframe && p.track === "video")).toHaveLength(5);
    const m = replayMediaFromFlv(bytes, "test.flv");
    expect(m.video).toMatchObject({ width: 640, height: 360 });
    expect(m.audio).toMatchObject({ codec: "mp4a.40.2", sampleRate: 44100, channels: 1 });
    expect(m.durationUs).toBeGreaterThanOrEqual(10_000_000);
    expect(m.durationUs).toBeLessThan(10_100_000);
  });

  it("B-frames (non-zero composition times) and extended timestamps (TimestampExtended) as ffprobe reads them", async () => {
    for (const name of ["bframes", "extended"] as const) {
      const bytes = await fixtures.flv(name);
      const { packets } = demuxFlv(bytes);
      expectSameAsProbe(packets, await ffprobeFrames(fixtures.file(`${name}.flv`)));
      expect(packets.some((p) => p.type === "frame" && p.ctsMs > 0), name).toBe(true);
    }
  });

  it("streams the golden file in 4 KiB chunks to the same packets", async () => {
    const bytes = await fixtures.flv("bframes");
    const whole = plain(demuxFlv(bytes).packets);
    const d = new FlvStreamDemuxer();
    const packets: FlvPacket[] = [];
    for (let at = 0; at < bytes.byteLength; at += 4096) packets.push(...d.push(bytes.subarray(at, at + 4096)));
    d.end();
    expect(plain(packets)).toEqual(whole);
  });
});
