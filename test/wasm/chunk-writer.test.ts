/**
 * RTMP chunk stream writer (RTMP 1.0 §5.3): hand-built vectors commented byte
 * by byte (test/support/chunk-vectors.ts), header compression as FFmpeg's
 * ff_rtmp_packet_write, extended timestamps, chunking, the FLV prefix path,
 * and one test per writer status code.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Core } from "../../wasm/host/core.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { ChunkWriter } from "../../wasm/host/chunk-writer.js";
import { CoreError, statusCode } from "../../wasm/host/status.js";
import type { AudioTagHeader, VideoTagHeader } from "../../wasm/host/tag-headers.js";
import {
  WRITER_VECTORS, be24, bytes, chunked, hex, pattern, thrown, type ChunkVector,
} from "../support/chunk-vectors.js";

let core: Core;

beforeAll(async () => {
  core = await loadCoreNode();
});

/** Writes a vector's messages through one writer, as a peer would. */
function writeVector(v: ChunkVector): Uint8Array {
  const w = new ChunkWriter(core);
  const out: Uint8Array[] = [];
  for (const m of v.messages) {
    out.push(w.write(m.csid, m.type, m.streamId, m.timestamp, m.payload));
    // Set Chunk Size applies to the chunks after it (§5.4.1).
    if (m.type === 1) w.setChunkSize(new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0));
  }
  w.dispose();
  return bytes(...out);
}

/** The code of the CoreError `fn` throws (fails if it throws anything else). */
function coreCode(fn: () => unknown): string {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(CoreError);
  return (err as CoreError).code;
}

/** The fmt (top two bits of the basic header) of a chunk starting at `data`. */
function fmtOf(data: Uint8Array): number {
  return (data[0] ?? 0xff) >> 6;
}

describe("ChunkWriter: hand-built vectors", () => {
  it.each(WRITER_VECTORS.map((v) => [v.name, v] as const))("%s", (_name, v) => {
    expect(hex(writeVector(v))).toBe(hex(v.wire));
  });
});

describe("ChunkWriter: basic header (§5.3.1.1)", () => {
  it("uses the 1-byte form up to csid 63 and the 2-byte form from 64", () => {
    const w = new ChunkWriter(core);
    expect(Array.from(w.write(63, 18, 0, 0, new Uint8Array(0)).subarray(0, 1))).toEqual([0x3f]);
    expect(Array.from(w.write(64, 18, 0, 0, new Uint8Array(0)).subarray(0, 2))).toEqual([0x00, 0x00]);
    expect(Array.from(w.write(319, 18, 0, 0, new Uint8Array(0)).subarray(0, 2))).toEqual([0x00, 0xff]);
  });

  it("writes the 3-byte form as csid - 64 little-endian, on first and continuation chunks", () => {
    const w = new ChunkWriter(core);
    const payload = pattern(129, 1);
    // csid 320: 320 - 64 = 0x0100 -> 0x01 (3-byte marker), 0x00 (low), 0x01 (high).
    const out = w.write(320, 9, 1, 0, payload);
    expect(Array.from(out.subarray(0, 3))).toEqual([0x01, 0x00, 0x01]);
    // Continuation after 3 + 11 header bytes + 128 payload bytes: fmt 3 marker 0xc1.
    expect(Array.from(out.subarray(3 + 11 + 128, 3 + 11 + 128 + 3))).toEqual([0xc1, 0x00, 0x01]);
    expect(out.length).toBe(3 + 11 + 129 + 3);
    // A reader decodes csid = 64 + byte1 + byte2 * 256; any other order
    // (Node-Media-Server's, or big-endian) gets another csid from these bytes.
    const b1 = out[1] ?? -1;
    const b2 = out[2] ?? -1;
    expect(64 + b1 + b2 * 256).toBe(320);
    expect(64 + b1 * 256 + b2).not.toBe(320);
  });

  it("writes csid 65599 as 0x01 0xff 0xff and a 2-byte csid continuation as 0xc0 N", () => {
    const w = new ChunkWriter(core);
    expect(Array.from(w.write(65599, 18, 0, 0, new Uint8Array(0)))).toEqual([
      0x01, 0xff, 0xff, // 3-byte form, 65599 - 64 = 0xffff
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, // ts 0, len 0, type 18, stream 0
    ]);
    const out = w.write(100, 9, 0, 0, pattern(130, 2));
    expect(Array.from(out.subarray(0, 2))).toEqual([0x00, 36]); // 100 - 64
    expect(Array.from(out.subarray(2 + 11 + 128, 2 + 11 + 128 + 2))).toEqual([0xc0, 36]);
  });

  it.each([0, 1, 65600, -1, 0x7fffffff])("refuses csid %d with RTMP_BAD_CSID", (csid) => {
    const w = new ChunkWriter(core);
    const err = thrown(() => w.write(csid, 18, 0, 0, bytes(1)));
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe("RTMP_BAD_CSID");
    expect((err as CoreError).status).toBe(-1);
  });

  it("refuses a csid that only wraps into range as a 32-bit integer", () => {
    const w = new ChunkWriter(core);
    // 2^32 + 3 would be csid 3 after ToInt32: it must not alias.
    expect(coreCode(() => w.write(2 ** 32 + 3, 18, 0, 0, bytes(1)))).toBe("RTMP_BAD_CSID");
    expect(thrown(() => w.write(3.5, 18, 0, 0, bytes(1)))).toBeInstanceOf(TypeError);
    expect(thrown(() => w.write(Number.NaN, 18, 0, 0, bytes(1)))).toBeInstanceOf(TypeError);
    // Nothing was recorded for csid 3: its first message is still fmt 0.
    expect(fmtOf(w.write(3, 18, 0, 0, bytes(1)))).toBe(0);
  });
});

describe("ChunkWriter: message header compression (§5.3.1.2, FFmpeg rules)", () => {
  it("first message on a csid is fmt 0 with an 11-byte header", () => {
    const w = new ChunkWriter(core);
    expect(Array.from(w.write(5, 20, 0x0a0b0c0d, 0x010203, bytes(0xee)))).toEqual([
      0x05, //                  fmt 0 | csid 5
      0x01, 0x02, 0x03, //      timestamp 0x010203
      0x00, 0x00, 0x01, //      length 1
      0x14, //                  type 20
      0x0d, 0x0c, 0x0b, 0x0a, // stream id 0x0a0b0c0d little-endian
      0xee,
    ]);
  });

  it("same stream, new type or length -> fmt 1; same type and length -> fmt 2; same delta after fmt 1/2 -> fmt 3", () => {
    const w = new ChunkWriter(core);
    expect(fmtOf(w.write(3, 9, 1, 0, pattern(10, 0)))).toBe(0);
    expect(Array.from(w.write(3, 9, 1, 33, pattern(11, 0)).subarray(0, 8))).toEqual([
      0x43, 0x00, 0x00, 0x21, 0x00, 0x00, 0x0b, 0x09, // fmt 1: delta 33, length 11, type 9
    ]);
    expect(Array.from(w.write(3, 8, 1, 66, pattern(11, 0)).subarray(0, 8))).toEqual([
      0x43, 0x00, 0x00, 0x21, 0x00, 0x00, 0x0b, 0x08, // fmt 1: only the type changed
    ]);
    expect(Array.from(w.write(3, 8, 1, 100, pattern(11, 0)).subarray(0, 4))).toEqual([
      0x83, 0x00, 0x00, 0x22, // fmt 2: delta 34
    ]);
    const fmt3 = w.write(3, 8, 1, 134, pattern(11, 7));
    expect(hex(fmt3)).toBe(hex(bytes(0xc3, pattern(11, 7)))); // fmt 3: header-less
  });

  it("timestamp going backwards or another stream id -> fmt 0", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 1000, bytes(1));
    w.write(3, 9, 1, 1010, bytes(1));
    expect(hex(w.write(3, 9, 1, 999, bytes(1)))).toBe(hex(bytes(
      0x03, 0x00, 0x03, 0xe7, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00, 1, // fmt 0, absolute 999
    )));
    expect(fmtOf(w.write(3, 9, 1, 1009, bytes(1)))).toBe(2);
    expect(hex(w.write(3, 9, 7, 1019, bytes(1)))).toBe(hex(bytes(
      0x03, 0x00, 0x03, 0xfb, 0x00, 0x00, 0x01, 0x09, 0x07, 0x00, 0x00, 0x00, 1, // fmt 0, stream 7
    )));
  });

  it("does not use fmt 3 right after fmt 0, even when the delta equals the fmt 0 timestamp", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 20, bytes(1));
    expect(Array.from(w.write(3, 9, 1, 40, bytes(1)))).toEqual([0x83, 0x00, 0x00, 0x14, 1]);
    expect(Array.from(w.write(3, 9, 1, 60, bytes(1)))).toEqual([0xc3, 1]);
  });

  it("keeps header state per csid", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 0, bytes(1));
    w.write(3, 9, 1, 10, bytes(1)); // csid 3: fmt 2, delta 10
    expect(fmtOf(w.write(4, 9, 1, 20, bytes(1)))).toBe(0); // csid 4's own first message
    expect(fmtOf(w.write(3, 9, 1, 20, bytes(1)))).toBe(3); // csid 3 still knows delta 10
  });

  it("reset() makes the next header on every csid fmt 0", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 0, bytes(1));
    w.write(3, 9, 1, 10, bytes(1));
    w.write(4, 8, 1, 0, bytes(2));
    expect(fmtOf(w.write(4, 8, 1, 0, bytes(2)))).toBe(2); // without reset: compressed
    w.reset();
    expect(hex(w.write(3, 9, 1, 20, bytes(1)))).toBe(hex(bytes(
      0x03, 0x00, 0x00, 0x14, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00, 1, // fmt 0, absolute 20
    )));
    expect(fmtOf(w.write(4, 8, 1, 0, bytes(2)))).toBe(0);
  });
});

describe("ChunkWriter: extended timestamp (§5.3.1.3)", () => {
  it("uses the extended field from 0xFFFFFF on a fmt 0 timestamp", () => {
    const w = new ChunkWriter(core);
    expect(Array.from(w.write(3, 9, 1, 0xfffffe, new Uint8Array(0)).subarray(1, 4))).toEqual([0xff, 0xff, 0xfe]);
    expect(Array.from(w.write(4, 9, 1, 0xffffff, new Uint8Array(0)))).toEqual([
      0x04, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x09, 0x01, 0x00, 0x00, 0x00,
      0x00, 0xff, 0xff, 0xff, // extended timestamp
    ]);
  });

  it("uses the extended field for a fmt 1/2 delta of 0xFFFFFF or more", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 5, bytes(1));
    expect(Array.from(w.write(3, 9, 1, 5 + 0xfffffe, bytes(1)))).toEqual([0x83, 0xff, 0xff, 0xfe, 1]);
    expect(Array.from(w.write(3, 9, 1, 5 + 0xfffffe + 0xffffff, bytes(2, 2)))).toEqual([
      0x43, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x09, // fmt 1, extended delta
      0x00, 0xff, 0xff, 0xff, //                        delta 0xFFFFFF
      2, 2,
    ]);
  });

  it("repeats the 4 extended bytes after every fmt 3 continuation (fmt 0, fmt 1 and fmt 2)", () => {
    for (const chunkSize of [128, 131, 1000]) {
      const w = new ChunkWriter(core, { chunkSize });
      const payload = pattern(chunkSize * 3 + 17, chunkSize);
      const len = be24(payload.length);
      // fmt 0, absolute 0x12345678.
      expect(hex(w.write(3, 9, 1, 0x12345678, payload))).toBe(hex(chunked(
        [0x03, 0xff, 0xff, 0xff, ...len, 0x09, 0x01, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78],
        [0xc3, 0x12, 0x34, 0x56, 0x78],
        payload, chunkSize,
      )));
      // fmt 2, extended delta 0x02000000.
      expect(hex(w.write(3, 9, 1, 0x14345678, payload))).toBe(hex(chunked(
        [0x83, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00],
        [0xc3, 0x02, 0x00, 0x00, 0x00],
        payload, chunkSize,
      )));
      // Same extended delta again: still fmt 2 (fmt 3 is never used with an extended delta).
      expect(fmtOf(w.write(3, 9, 1, 0x16345678, payload))).toBe(2);
      // fmt 1 (other length), extended delta 0x01000000.
      const longer = pattern(payload.length + 1, 3);
      expect(hex(w.write(3, 9, 1, 0x17345678, longer))).toBe(hex(chunked(
        [0x43, 0xff, 0xff, 0xff, ...be24(longer.length), 0x09, 0x01, 0x00, 0x00, 0x00],
        [0xc3, 0x01, 0x00, 0x00, 0x00],
        longer, chunkSize,
      )));
    }
  });

  it("does not repeat anything on continuations of a non-extended message", () => {
    const w = new ChunkWriter(core);
    const payload = pattern(300, 1);
    expect(hex(w.write(3, 9, 1, 0xfffffe, payload))).toBe(hex(chunked(
      [0x03, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x2c, 0x09, 0x01, 0x00, 0x00, 0x00],
      [0xc3],
      payload, 128,
    )));
  });
});

describe("ChunkWriter: chunking", () => {
  const sizes = [128, 129, 200, 1000, 4096, 4097, 65536, 70000];
  it.each(sizes)("chunk size %d: 0, size-1, size, size+1, 2*size+1 and 3*size+5 bytes", (chunkSize) => {
    for (const len of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize + 1, 3 * chunkSize + 5]) {
      const w = new ChunkWriter(core, { chunkSize });
      const payload = pattern(len, len);
      const expected = chunked(
        [0x06, 0x00, 0x00, 0x00, ...be24(len), 0x09, 0x01, 0x00, 0x00, 0x00],
        [0xc6],
        payload, chunkSize,
      );
      const out = w.write(6, 9, 1, 0, payload);
      expect(out.length).toBe(expected.length);
      expect(hex(out)).toBe(hex(expected));
      w.dispose();
    }
  });

  it("setChunkSize() applies to the next message", () => {
    const w = new ChunkWriter(core);
    const payload = pattern(300, 5);
    expect(w.write(3, 9, 1, 0, payload).length).toBe(12 + 300 + 2); // 128 + 128 + 44
    w.setChunkSize(200);
    expect(w.chunkSize).toBe(200);
    expect(hex(w.write(3, 9, 1, 0, payload))).toBe(hex(chunked([0x83, 0x00, 0x00, 0x00], [0xc3], payload, 200)));
  });

  it("accepts chunk size 0x7FFFFFFF: one chunk per message", () => {
    const w = new ChunkWriter(core, { chunkSize: 0x7fffffff });
    const payload = pattern(20000, 1);
    expect(hex(w.write(3, 9, 1, 0, payload))).toBe(hex(bytes(
      0x03, 0x00, 0x00, 0x00, 0x00, 0x4e, 0x20, 0x09, 0x01, 0x00, 0x00, 0x00, payload,
    )));
  });

  it.each([127, 0, -1, 0x80000000, 0xffffffff, 128.5, Number.NaN])(
    "refuses chunk size %d with a TypeError (constructor and setChunkSize)",
    (size) => {
      expect(thrown(() => new ChunkWriter(core, { chunkSize: size }))).toBeInstanceOf(TypeError);
      const w = new ChunkWriter(core, { chunkSize: 256 });
      expect(thrown(() => w.setChunkSize(size))).toBeInstanceOf(TypeError);
      expect(w.chunkSize).toBe(256);
      expect(w.write(3, 9, 1, 0, pattern(300, 0)).length).toBe(12 + 300 + 1); // still 256
    },
  );

  it("the core refuses chunk sizes under 128 or with bit 31 set (RTMP_BAD_CHUNK_SIZE)", () => {
    const x = core.exports;
    for (const size of [127, 0, -1, 0x80000000 | 0]) {
      expect(x.writerNew(size)).toBe(-2);
    }
    expect(statusCode(-2)).toBe("RTMP_BAD_CHUNK_SIZE");
    const h = x.writerNew(128);
    expect(h).toBeGreaterThan(0);
    expect(x.writerSetChunkSize(h, 127)).toBe(-2);
    expect(x.writerSetChunkSize(h, 0x80000000 | 0)).toBe(-2);
    expect(x.writerSetChunkSize(h, 0x7fffffff)).toBe(0);
    x.writerFree(h);
  });
});

describe("ChunkWriter: FLV tag header prefix (writeVideo / writeAudio)", () => {
  const videos: { header: VideoTagHeader; prefix: number[] }[] = [
    // AVC keyframe NALU, cts 0: [frameType 1 | codec 7][AVCPacketType 1][cts 0]
    { header: { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, prefix: [0x17, 0x01, 0x00, 0x00, 0x00] },
    // AVC inter frame, cts -1 (signed 24-bit).
    { header: { kind: "avc", frameType: 2, packetType: 1, cts: -1 }, prefix: [0x27, 0x01, 0xff, 0xff, 0xff] },
    // Enhanced RTMP: [0x80 | frameType 1 << 4 | CodedFrames 1]['hvc1'][cts 0x10]
    {
      header: { kind: "ex", frameType: 1, packetType: 1, fourcc: "hvc1", cts: 0x10 },
      prefix: [0x91, 0x68, 0x76, 0x63, 0x31, 0x00, 0x00, 0x10],
    },
  ];
  const audios: { header: AudioTagHeader; prefix: number[] }[] = [
    // AAC raw: [format 10 | 44 kHz | 16-bit | stereo][AACPacketType 1]
    { header: { kind: "aac", packetType: 1 }, prefix: [0xaf, 0x01] },
    // Enhanced audio: [9 << 4 | CodedFrames 1]['Opus']
    { header: { kind: "ex", packetType: 1, fourcc: "Opus" }, prefix: [0x91, 0x4f, 0x70, 0x75, 0x73] },
  ];
  const lengths = [0, 1, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 250, 251, 252, 253, 1000];

  it.each([128, 200])("writeVideo() = write() of prefix + payload, chunk size %d", (chunkSize) => {
    const a = new ChunkWriter(core, { chunkSize });
    const b = new ChunkWriter(core, { chunkSize });
    let ts = 0;
    for (const v of videos) {
      for (const len of lengths) {
        const payload = pattern(len, len + v.prefix.length);
        ts += 33;
        const viaPrefix = a.writeVideo(6, 1, ts, v.header, payload);
        const viaBody = b.write(6, 9, 1, ts, bytes(v.prefix, payload));
        expect(hex(viaPrefix)).toBe(hex(viaBody));
      }
    }
  });

  it.each([128, 131])("writeAudio() = write() of prefix + payload, chunk size %d", (chunkSize) => {
    const a = new ChunkWriter(core, { chunkSize });
    const b = new ChunkWriter(core, { chunkSize });
    let ts = 0;
    for (const au of audios) {
      for (const len of lengths) {
        const payload = pattern(len, len * 3);
        ts += 21;
        expect(hex(a.writeAudio(4, 1, ts, au.header, payload))).toBe(hex(b.write(4, 8, 1, ts, bytes(au.prefix, payload))));
      }
    }
  });

  it("writes the tag header as the first payload bytes, then compresses by the total length", () => {
    const w = new ChunkWriter(core);
    const header: VideoTagHeader = { kind: "avc", frameType: 1, packetType: 1, cts: 0 };
    expect(Array.from(w.writeVideo(6, 1, 0, header, bytes(0xaa, 0xbb)))).toEqual([
      0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x09, 0x01, 0x00, 0x00, 0x00, // len 5 + 2 = 7, type 9
      0x17, 0x01, 0x00, 0x00, 0x00, // AVC NALU, cts 0
      0xaa, 0xbb,
    ]);
    // The same total length through write(): fmt 2, so the prefix counted in the length.
    expect(fmtOf(w.write(6, 9, 1, 40, pattern(7, 0)))).toBe(2);
  });

  it("refuses a prefix + payload longer than 0xFFFFFF (RTMP_MESSAGE_TOO_LONG)", () => {
    const w = new ChunkWriter(core, { chunkSize: 0x7fffffff });
    const payload = new Uint8Array(0xffffff - 4); // + 5-byte AVC header = 0x1000000
    expect(coreCode(() => w.writeVideo(6, 1, 0, videos[0]!.header, payload))).toBe("RTMP_MESSAGE_TOO_LONG");
    const ok = w.writeVideo(6, 1, 0, videos[0]!.header, payload.subarray(1));
    expect(Array.from(ok.subarray(4, 7))).toEqual([0xff, 0xff, 0xff]);
  });
});

describe("ChunkWriter: status codes", () => {
  it("RTMP_BAD_CSID (-1): csid outside 2..65599", () => {
    const w = new ChunkWriter(core);
    expect(coreCode(() => w.write(65600, 9, 0, 0, bytes(1)))).toBe("RTMP_BAD_CSID");
    expect(statusCode(-1)).toBe("RTMP_BAD_CSID");
  });

  it("RTMP_BAD_CHUNK_SIZE (-2): see the chunk size tests; the host turns it into a TypeError first", () => {
    expect(core.exports.writerNew(127)).toBe(-2);
    expect(new CoreError(-2, "x").code).toBe("RTMP_BAD_CHUNK_SIZE");
  });

  it("RTMP_MESSAGE_TOO_LONG (-3): 0x1000000 bytes refused, 0xFFFFFF accepted", () => {
    const w = new ChunkWriter(core, { chunkSize: 0x7fffffff });
    const big = new Uint8Array(0x1000000);
    const err = thrown(() => w.write(3, 9, 1, 0, big));
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe("RTMP_MESSAGE_TOO_LONG");
    expect((err as CoreError).status).toBe(-3);
    const out = w.write(3, 9, 1, 0, big.subarray(1));
    expect(out.length).toBe(12 + 0xffffff);
    expect(Array.from(out.subarray(0, 8))).toEqual([0x03, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x09]);
  });

  it("WASM_NO_SPACE (-4): output region too small; nothing written, no state (not even a slot) kept", () => {
    const x = core.exports;
    const h = x.writerNew(128);
    const payload = core.putInput(pattern(300, 1));
    const out = core.output.ensure(1024);
    // 300 bytes at 128 need 12 + 300 + 2 = 314 bytes.
    expect(x.chunkWrite(h, 3, 9, 1, 0, 0, payload, 300, out, 313)).toBe(-4);
    expect(statusCode(-4)).toBe("WASM_NO_SPACE");
    // 16 failed writes on new csids must not use up the writer's 16 slots.
    for (let csid = 10; csid < 26; csid++) {
      expect(x.chunkWrite(h, csid, 9, 1, 0, 0, payload, 300, out, 100)).toBe(-4);
    }
    for (let csid = 30; csid < 46; csid++) {
      expect(x.chunkWrite(h, csid, 9, 1, 0, 0, payload, 300, out, 1024)).toBe(314);
    }
    // Those 16 took every slot: csid 3's failed write had not kept one either.
    expect(x.chunkWrite(h, 3, 9, 1, 0, 0, payload, 300, out, 1024)).toBe(-5);
    x.writerReset(h);
    expect(x.chunkWrite(h, 3, 9, 1, 0, 0, payload, 300, out, 314)).toBe(314);
    expect(core.u8[out]).toBe(0x03); // fmt 0 | csid 3
    x.writerFree(h);
  });

  it("chunkHeaders: the same headers as chunkWrite, one continuation header, the whole size; its own WASM_NO_SPACE leaves no state", () => {
    const x = core.exports;
    const full = x.writerNew(128);
    const heads = x.writerNew(128);
    const out = core.output.ensure(2048);
    const payload = pattern(700, 3);
    const ptr = core.putInput(payload);
    // Extended timestamps (4-byte continuation headers) and a 2-byte basic header (csid 100) too.
    for (const [csid, ts] of [[3, 0], [3, 40], [3, 80], [100, 0x1000000], [100, 0x1000040], [4, 5]] as const) {
      const n = x.chunkWrite(full, csid, 9, 1, ts, 0, ptr, payload.length, out, 2048);
      const expected = core.u8.slice(out, out + n);
      expect(x.chunkHeaders(heads, csid, 9, 1, ts, 0, payload.length, out, 2048), `csid ${csid} ts ${ts}`).toBe(n);
      const layout = x.chunkLayout();
      const first = layout >>> 8;
      const cont = layout & 0xff;
      expect(Array.from(core.u8.subarray(out, out + first))).toEqual(Array.from(expected.subarray(0, first)));
      expect(Array.from(core.u8.subarray(out + first, out + first + cont))).toEqual(Array.from(expected.subarray(first + 128, first + 128 + cont)));
    }
    // Too small for the headers: nothing kept (a new csid takes no slot).
    expect(x.chunkHeaders(heads, 50, 9, 1, 0, 0, 700, out, 12)).toBe(-4);
    expect(x.chunkHeaders(heads, 50, 9, 1, 0, 0, 700, out, 13)).toBe(12 + 700 + 5);
    expect(core.u8[out]).toBe(50); // fmt 0: the failed call left csid 50 unknown
    x.writerFree(full);
    x.writerFree(heads);
  });

  it("RTMP_TOO_MANY_CSIDS (-5): a 17th distinct csid; the 16 known ones keep working", () => {
    const w = new ChunkWriter(core);
    for (let i = 0; i < 16; i++) expect(fmtOf(w.write(3 + i, 9, 1, 0, bytes(i)))).toBe(0);
    const err = thrown(() => w.write(100, 9, 1, 0, bytes(1)));
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe("RTMP_TOO_MANY_CSIDS");
    expect((err as CoreError).status).toBe(-5);
    for (let i = 0; i < 16; i++) expect(fmtOf(w.write(3 + i, 9, 1, 10, bytes(i)))).toBe(2);
    // reset() forgets them all: 16 other csids fit.
    w.reset();
    for (let i = 0; i < 16; i++) expect(fmtOf(w.write(100 + i, 9, 1, 0, bytes(i)))).toBe(0);
    expect(coreCode(() => w.write(3, 9, 1, 0, bytes(1)))).toBe("RTMP_TOO_MANY_CSIDS");
  });

  it("RTMP_BAD_ARGUMENT (-6): message type outside 0..255, and no state change", () => {
    const w = new ChunkWriter(core);
    w.write(3, 9, 1, 0, bytes(1));
    expect(coreCode(() => w.write(3, 256, 1, 10, bytes(1)))).toBe("RTMP_BAD_ARGUMENT");
    expect(coreCode(() => w.write(3, -1, 1, 10, bytes(1)))).toBe("RTMP_BAD_ARGUMENT");
    expect(coreCode(() => w.write(3, 2 ** 32 + 9, 1, 10, bytes(1)))).toBe("RTMP_BAD_ARGUMENT"); // not type 9
    expect(thrown(() => w.write(3, 9.5, 1, 10, bytes(1)))).toBeInstanceOf(TypeError);
    // The failed writes left csid 3 as after the first message: fmt 2, delta 10.
    expect(Array.from(w.write(3, 9, 1, 10, bytes(1)))).toEqual([0x83, 0x00, 0x00, 0x0a, 1]);
    // The core's own check on the prefix length.
    const x = core.exports;
    const h = x.writerNew(128);
    const out = core.output.ensure(1024);
    expect(x.chunkWrite(h, 3, 9, 1, 0, 65, 0, 0, out, 1024)).toBe(-6);
    expect(x.chunkWrite(h, 3, 9, 1, 0, -1, 0, 0, out, 1024)).toBe(-6);
    expect(x.chunkWrite(h, 3, 9, 1, 0, 0, 0, -1, out, 1024)).toBe(-6);
    x.writerFree(h);
  });

  it("refuses a stream id outside 0..0xFFFFFFFF instead of wrapping it", () => {
    const w = new ChunkWriter(core);
    expect(thrown(() => w.write(3, 9, -1, 0, bytes(1)))).toBeInstanceOf(TypeError);
    expect(thrown(() => w.write(3, 9, 2 ** 32, 0, bytes(1)))).toBeInstanceOf(TypeError);
    expect(Array.from(w.write(3, 9, 0xffffffff, 0, bytes(1)).subarray(8, 12))).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it("throws a TypeError after dispose()", () => {
    const w = new ChunkWriter(core);
    w.dispose();
    expect(thrown(() => w.write(3, 9, 1, 0, bytes(1)))).toBeInstanceOf(TypeError);
    expect(thrown(() => w.reset())).toBeInstanceOf(TypeError);
  });
});
