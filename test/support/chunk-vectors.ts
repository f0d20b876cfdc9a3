/**
 * Hand-built RTMP chunk stream vectors (RTMP 1.0 §5.3), commented byte by
 * byte, shared by the chunk writer, reader and round-trip tests.
 *
 * A vector is the exact bytes on the wire plus the messages they carry. The
 * writer vectors are what our ChunkWriter must produce, header compression
 * included (FFmpeg's ff_rtmp_packet_write rules); the reader must read every
 * vector back. Reader-only vectors use encodings a peer may send but our
 * writer never produces (chunk size 1, interleaving, Abort, fmt 3 after fmt 0,
 * timestamp wraparound through a delta).
 *
 * Chunk sizes other than 128 are announced in the stream itself by a Set
 * Chunk Size message (csid 2, type 1), as a real peer does: the writer test
 * calls setChunkSize() after writing it, the reader applies it by itself.
 */
import type { RtmpMessage } from "../../wasm/host/chunk-reader.js";

/** One byte, a list of bytes, or a byte array. */
export type Part = number | readonly number[] | Uint8Array;

/** Concatenates bytes and byte arrays. */
export function bytes(...parts: Part[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += typeof p === "number" ? 1 : p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (typeof p === "number") {
      if (!Number.isInteger(p) || p < 0 || p > 255) throw new RangeError(`not a byte: ${p}`);
      out[o++] = p;
    } else {
      out.set(p, o);
      o += p.length;
    }
  }
  return out;
}

/** A recognisable payload: byte i is (i * 7 + seed) & 0xff. */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** Big-endian u32. */
export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** Big-endian u24. */
export function be24(v: number): number[] {
  return [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** Little-endian u32 (the message stream id, §5.3.1.2.1). */
export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * A whole message on the wire: `first` (basic + message header + extended
 * timestamp), then the payload cut into `chunkSize` pieces with `cont` (the
 * fmt 3 basic header, plus the repeated extended timestamp) between them.
 * An oracle independent of the writer's loop.
 */
export function chunked(first: readonly number[], cont: readonly number[], payload: Uint8Array, chunkSize: number): Uint8Array {
  const parts: Part[] = [first];
  for (let off = 0; off < payload.length || off === 0; off += chunkSize) {
    if (off > 0) parts.push(cont);
    parts.push(payload.subarray(off, Math.min(payload.length, off + chunkSize)));
    if (payload.length === 0) break;
  }
  return bytes(...parts);
}

/** A message as given to the writer and returned by the reader. */
export function msg(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): RtmpMessage {
  return { csid, type, streamId, timestamp, payload };
}

/** The Set Chunk Size message (§5.4.1) as a message. */
export function setChunkSizeMessage(size: number): RtmpMessage {
  return msg(2, 1, 0, 0, bytes(be32(size)));
}

/** The Set Chunk Size message on the wire, as the first message on csid 2. */
export function setChunkSizeBytes(size: number): Uint8Array {
  return bytes(
    0x02, //                  basic header: fmt 0, csid 2 (protocol control)
    0x00, 0x00, 0x00, //      timestamp 0
    0x00, 0x00, 0x04, //      message length 4
    0x01, //                  type 1, Set Chunk Size
    0x00, 0x00, 0x00, 0x00, // message stream id 0
    be32(size), //            the new chunk size, big-endian, bit 31 zero
  );
}

export interface ChunkVector {
  readonly name: string;
  /** The exact bytes on the wire. */
  readonly wire: Uint8Array;
  /** The messages, in the order the writer is given them. */
  readonly messages: readonly RtmpMessage[];
  /** Messages in the order the reader completes them (default: `messages`). */
  readonly read?: readonly RtmpMessage[];
}

// ---------------------------------------------------------------------------
// Vectors our writer produces byte for byte (and the reader reads back).

const basicPayload = (i: number): Uint8Array => bytes(0xa0 + i, 0xb0 + i);

/** §5.3.1.1: the 1-, 2- and 3-byte basic header forms at their boundaries. */
const basicHeaders: ChunkVector = {
  name: "basic header forms: csid 2, 63, 64, 319, 320, 1000, 65599",
  messages: [2, 63, 64, 319, 320, 1000, 65599].map((csid, i) => msg(csid, 18, 1, 0, basicPayload(i))),
  wire: bytes(
    // csid 2: 1-byte form, fmt 0 in the top 2 bits, csid in the low 6.
    0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00, // ts 0, len 2, type 18, stream 1
    basicPayload(0),
    // csid 63: the largest 1-byte csid.
    0x3f,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(1),
    // csid 64: 2-byte form, low 6 bits 0, then csid - 64 = 0.
    0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(2),
    // csid 319: 2-byte form, csid - 64 = 255, the largest it holds.
    0x00, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(3),
    // csid 320: 3-byte form, low 6 bits 1, then csid - 64 = 256 = 0x0100
    // LITTLE-endian: 0x00 then 0x01 (big-endian would be 0x01 0x00).
    0x01, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(4),
    // csid 1000: csid - 64 = 936 = 0x03a8, low byte first. Node-Media-Server
    // computes (64 + 0xa8 + 0x03) << 8 from these bytes.
    0x01, 0xa8, 0x03,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(5),
    // csid 65599: csid - 64 = 65535, the largest csid.
    0x01, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x12, 0x01, 0x00, 0x00, 0x00,
    basicPayload(6),
  ),
};

const c = (len: number, seed: number): Uint8Array => pattern(len, seed);

/** §5.3.1.2: header compression on one csid, fmt 0 -> 1 -> 3 -> 2 -> 3 ... */
const compression: ChunkVector = {
  name: "message header compression fmt 0/1/2/3 on csid 3",
  messages: [
    msg(3, 20, 1, 1000, c(5, 1)), //  0: first on csid 3 -> fmt 0
    msg(3, 18, 1, 1010, c(5, 2)), //  1: type changed -> fmt 1, delta 10
    msg(3, 18, 1, 1020, c(7, 3)), //  2: length changed (same delta) -> fmt 1
    msg(3, 18, 1, 1030, c(7, 4)), //  3: all equal, delta 10 again after fmt 1 -> fmt 3
    msg(3, 18, 1, 1050, c(7, 5)), //  4: delta 20 -> fmt 2
    msg(3, 18, 1, 1070, c(7, 6)), //  5: delta 20 again -> fmt 3
    msg(3, 18, 1, 1090, c(7, 7)), //  6: and again -> fmt 3
    msg(3, 18, 1, 1090, c(7, 8)), //  7: delta 0 -> fmt 2
    msg(3, 18, 1, 1090, c(7, 9)), //  8: delta 0 again -> fmt 3
    msg(3, 18, 1, 1000, c(7, 10)), // 9: timestamp went backwards -> fmt 0
    msg(3, 18, 1, 2000, c(7, 11)), // 10: delta 1000, equal to the fmt 0 field, but after fmt 0 -> fmt 2
    msg(3, 18, 2, 2000, c(7, 12)), // 11: other message stream -> fmt 0
    msg(4, 9, 2, 2010, c(1, 13)), //  12: another csid: its own fmt 0
    msg(3, 18, 2, 2010, c(7, 14)), // 13: csid 3 state untouched by csid 4 -> fmt 2, delta 10
  ],
  wire: bytes(
    // 0: fmt 0, 11-byte message header.
    0x03, //                  fmt 0 | csid 3
    0x00, 0x03, 0xe8, //      timestamp 1000
    0x00, 0x00, 0x05, //      message length 5
    0x14, //                  type 20 (AMF0 command)
    0x01, 0x00, 0x00, 0x00, // message stream id 1, little-endian
    c(5, 1),
    // 1: fmt 1, 7 bytes: delta, length, type; the stream id is implied.
    0x43, //                  fmt 1 | csid 3
    0x00, 0x00, 0x0a, //      timestamp delta 10
    0x00, 0x00, 0x05, //      message length 5
    0x12, //                  type 18 (AMF0 data)
    c(5, 2),
    // 2: fmt 1 again: the length changed.
    0x43, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x07, 0x12,
    c(7, 3),
    // 3: fmt 3, no message header at all: delta 10 repeats.
    0xc3,
    c(7, 4),
    // 4: fmt 2, 3 bytes: only the delta.
    0x83, //                  fmt 2 | csid 3
    0x00, 0x00, 0x14, //      timestamp delta 20
    c(7, 5),
    // 5, 6: fmt 3.
    0xc3,
    c(7, 6),
    0xc3,
    c(7, 7),
    // 7: fmt 2, delta 0.
    0x83, 0x00, 0x00, 0x00,
    c(7, 8),
    // 8: fmt 3.
    0xc3,
    c(7, 9),
    // 9: backwards -> fmt 0 with the absolute timestamp.
    0x03, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0x12, 0x01, 0x00, 0x00, 0x00,
    c(7, 10),
    // 10: fmt 2 with delta 1000 (fmt 3 is only used after a fmt 1/2 header).
    0x83, 0x00, 0x03, 0xe8,
    c(7, 11),
    // 11: stream id 2 -> fmt 0.
    0x03, 0x00, 0x07, 0xd0, 0x00, 0x00, 0x07, 0x12, 0x02, 0x00, 0x00, 0x00,
    c(7, 12),
    // 12: csid 4, fmt 0: ts 2010, len 1, type 9, stream 2.
    0x04, 0x00, 0x07, 0xda, 0x00, 0x00, 0x01, 0x09, 0x02, 0x00, 0x00, 0x00,
    c(1, 13),
    // 13: csid 3, fmt 2, delta 10.
    0x83, 0x00, 0x00, 0x0a,
    c(7, 14),
  ),
};

/** A 4-byte message stream id is written little-endian (§5.3.1.2.1). */
const streamIdEndian: ChunkVector = {
  name: "message stream id 0x01020304 is little-endian",
  messages: [msg(8, 18, 0x01020304, 0, bytes(0x55))],
  wire: bytes(
    0x08, //                  fmt 0 | csid 8
    0x00, 0x00, 0x00, //      timestamp 0
    0x00, 0x00, 0x01, //      length 1
    0x12, //                  type 18
    0x04, 0x03, 0x02, 0x01, // stream id 0x01020304, low byte first
    0x55,
  ),
};

const ext300 = pattern(300, 0x40);

/** §5.3.1.3: extended timestamp on a fmt 0 header and on every continuation. */
const extendedFmt0: ChunkVector = {
  name: "extended timestamp on fmt 0, repeated after each fmt 3 continuation; 0xFFFFFE vs 0xFFFFFF",
  messages: [
    msg(3, 9, 1, 0x12345678, ext300),
    msg(5, 9, 1, 0xfffffe, bytes(0x01)),
    msg(6, 9, 1, 0xffffff, bytes(0x02)),
  ],
  wire: bytes(
    chunked(
      [
        0x03, //                  fmt 0 | csid 3
        0xff, 0xff, 0xff, //      timestamp field 0xFFFFFF: see the extended timestamp
        0x00, 0x01, 0x2c, //      message length 300
        0x09, //                  type 9 (video)
        0x01, 0x00, 0x00, 0x00, // stream id 1
        0x12, 0x34, 0x56, 0x78, // extended timestamp 0x12345678, big-endian
      ],
      [
        0xc3, //                  fmt 3 | csid 3: continuation
        0x12, 0x34, 0x56, 0x78, // the extended timestamp, repeated
      ],
      ext300, 128,
    ),
    // 0xFFFFFE fits the 3-byte field: no extended timestamp.
    0x05, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00,
    0x01,
    // 0xFFFFFF itself needs the extended field (">= 0xFFFFFF").
    0x06, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, // extended timestamp 0x00FFFFFF
    0x02,
  ),
};

const ext200 = pattern(200, 0x80);

/** Extended timestamp carrying a delta (fmt 1/2), and no fmt 3 when extended. */
const extendedDelta: ChunkVector = {
  name: "extended timestamp delta on fmt 1 and fmt 2, with continuations",
  messages: [
    msg(4, 8, 1, 0, c(3, 1)), //             fmt 0
    msg(4, 8, 1, 0x01000000, c(4, 2)), //    fmt 1, delta 0x1000000 (extended)
    msg(4, 8, 1, 0x02000000, c(4, 3)), //    fmt 2, delta 0x1000000 (extended)
    msg(4, 8, 1, 0x03000000, c(4, 4)), //    same extended delta: fmt 2 again, not 3
    msg(4, 8, 1, 0x03fffffe, c(4, 5)), //    fmt 2, delta 0xFFFFFE (fits)
    msg(4, 8, 1, 0x04fffffc, c(4, 6)), //    fmt 3, delta 0xFFFFFE again
    msg(4, 8, 1, 0x05fffffb, ext200), //     fmt 1, delta 0xFFFFFF (extended), 2 chunks
  ],
  wire: bytes(
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x01, 0x00, 0x00, 0x00,
    c(3, 1),
    0x44, //                  fmt 1 | csid 4
    0xff, 0xff, 0xff, //      delta field 0xFFFFFF: extended
    0x00, 0x00, 0x04, //      length 4
    0x08, //                  type 8 (audio)
    0x01, 0x00, 0x00, 0x00, // extended delta 0x01000000
    c(4, 2),
    0x84, //                  fmt 2 | csid 4
    0xff, 0xff, 0xff, //      delta field: extended
    0x01, 0x00, 0x00, 0x00, // extended delta 0x01000000
    c(4, 3),
    0x84, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00,
    c(4, 4),
    0x84, 0xff, 0xff, 0xfe, // fmt 2, delta 0xFFFFFE in the field itself
    c(4, 5),
    0xc4, //                  fmt 3 | csid 4: delta 0xFFFFFE again
    c(4, 6),
    chunked(
      [
        0x44, //                  fmt 1 | csid 4
        0xff, 0xff, 0xff, //      extended
        0x00, 0x00, 0xc8, //      length 200
        0x08, //                  type 8
        0x00, 0xff, 0xff, 0xff, // extended delta 0x00FFFFFF
      ],
      [0xc4, 0x00, 0xff, 0xff, 0xff], // continuation repeats the extended delta
      ext200, 128,
    ),
  ),
};

const p128 = pattern(128, 3);
const p129 = pattern(129, 4);
const p127 = pattern(127, 5);

/** Messages of exactly chunkSize, chunkSize + 1, 0 and chunkSize - 1 bytes. */
const sizes: ChunkVector = {
  name: "messages of 128, 129, 0, 0 and 127 bytes at chunk size 128",
  messages: [
    msg(5, 9, 1, 0, p128),
    msg(5, 9, 1, 0, p129),
    msg(5, 9, 1, 0, new Uint8Array(0)),
    msg(5, 9, 1, 0, new Uint8Array(0)),
    msg(5, 9, 1, 0, p127),
  ],
  wire: bytes(
    // 128 bytes: exactly one chunk, no continuation header after it.
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x09, 0x01, 0x00, 0x00, 0x00,
    p128,
    // 129 bytes: fmt 1 (length changed), 128 bytes, fmt 3 continuation, 1 byte.
    0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x81, 0x09,
    p129.subarray(0, 128),
    0xc5,
    p129.subarray(128),
    // 0 bytes: fmt 1 header and nothing else.
    0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
    // 0 bytes again, delta 0 again: a lone fmt 3 basic header is a whole message.
    0xc5,
    // 127 bytes: fmt 1.
    0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x09,
    p127,
  ),
};

/** Zero-length messages through fmt 0, 2 and 3. */
const zeroLength: ChunkVector = {
  name: "zero-length messages with fmt 0, 2, 3",
  messages: [
    msg(3, 18, 0, 5, new Uint8Array(0)),
    msg(3, 18, 0, 10, new Uint8Array(0)),
    msg(3, 18, 0, 15, new Uint8Array(0)),
  ],
  wire: bytes(
    0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, // fmt 0, ts 5, len 0
    0x83, 0x00, 0x00, 0x05, // fmt 2, delta 5
    0xc3, //                   fmt 3: delta 5 again -> ts 15
  ),
};

const p8200 = pattern(8200, 9);

/** Chunk size 4096, announced by Set Chunk Size. */
const chunk4096: ChunkVector = {
  name: "Set Chunk Size 4096, then an 8200-byte message in 3 chunks",
  messages: [setChunkSizeMessage(4096), msg(6, 9, 1, 40, p8200)],
  wire: bytes(
    setChunkSizeBytes(4096),
    chunked(
      [
        0x06, //                  fmt 0 | csid 6
        0x00, 0x00, 0x28, //      timestamp 40
        0x00, 0x20, 0x08, //      length 8200
        0x09, //                  type 9
        0x01, 0x00, 0x00, 0x00, // stream 1
      ],
      [0xc6], // continuations: 4096, 4096, 8
      p8200, 4096,
    ),
  ),
};

const p2500 = pattern(2500, 11);
const p1001 = pattern(1001, 12);

/** An odd chunk size with the 2- and 3-byte basic header on continuations. */
const chunk1000: ChunkVector = {
  name: "chunk size 1000 with 2- and 3-byte csids on continuation chunks",
  messages: [setChunkSizeMessage(1000), msg(300, 8, 1, 0, p2500), msg(1000, 9, 1, 0, p1001)],
  wire: bytes(
    setChunkSizeBytes(1000),
    chunked(
      [
        0x00, 0xec, //            fmt 0, 2-byte form: csid 300 = 64 + 0xec
        0x00, 0x00, 0x00, //      timestamp 0
        0x00, 0x09, 0xc4, //      length 2500
        0x08, //                  type 8
        0x01, 0x00, 0x00, 0x00, // stream 1
      ],
      [0xc0, 0xec], //            fmt 3, 2-byte form, csid 300
      p2500, 1000,
    ),
    chunked(
      [
        0x01, 0xa8, 0x03, //      fmt 0, 3-byte form: csid 1000 = 64 + 0x03a8
        0x00, 0x00, 0x00, //      timestamp 0
        0x00, 0x03, 0xe9, //      length 1001
        0x09, //                  type 9
        0x01, 0x00, 0x00, 0x00, // stream 1
      ],
      [0xc1, 0xa8, 0x03], //      fmt 3, 3-byte form, csid 1000
      p1001, 1000,
    ),
  ),
};

const p300 = pattern(300, 13);

/** Chunk size 129, 3-byte csid 65599 and extended timestamp 0xFFFFFFFF together. */
const chunk129: ChunkVector = {
  name: "chunk size 129, csid 65599, timestamp 0xFFFFFFFF",
  messages: [setChunkSizeMessage(129), msg(65599, 9, 1, 0xffffffff, p300)],
  wire: bytes(
    setChunkSizeBytes(129),
    chunked(
      [
        0x01, 0xff, 0xff, //      fmt 0, 3-byte form, csid 65599
        0xff, 0xff, 0xff, //      timestamp: extended
        0x00, 0x01, 0x2c, //      length 300
        0x09, //                  type 9
        0x01, 0x00, 0x00, 0x00, // stream 1
        0xff, 0xff, 0xff, 0xff, // extended timestamp 0xFFFFFFFF
      ],
      [0xc1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // fmt 3 csid 65599 + extended timestamp
      p300, 129,
    ),
  ),
};

/** Vectors the writer must produce exactly and the reader must read back. */
export const WRITER_VECTORS: readonly ChunkVector[] = [
  basicHeaders, compression, streamIdEndian, extendedFmt0, extendedDelta, sizes, zeroLength,
  chunk4096, chunk1000, chunk129,
];

// ---------------------------------------------------------------------------
// Vectors only a peer produces: the reader must read them.

/** FFmpeg's writer may follow fmt 0 with fmt 3; its reader (rtmppkt.c) then
 *  reuses the fmt 0 timestamp field as the delta. */
const fmt3AfterFmt0: ChunkVector = {
  name: "fmt 3 new message right after fmt 0 reuses the fmt 0 field as delta",
  messages: [msg(3, 18, 0, 100, bytes(1, 2)), msg(3, 18, 0, 200, bytes(3, 4))],
  wire: bytes(
    0x03, 0x00, 0x00, 0x64, 0x00, 0x00, 0x02, 0x12, 0x00, 0x00, 0x00, 0x00, // fmt 0, ts 100, len 2
    1, 2,
    0xc3, //   fmt 3: new message, same header, "delta" 100 -> ts 200
    3, 4,
  ),
};

/** FFmpeg writes fmt 3 with the extended delta when an extended delta repeats. */
const fmt3ExtendedNewMessage: ChunkVector = {
  name: "fmt 3 new message after an extended fmt 2 delta carries the 4 extended bytes",
  messages: [
    msg(4, 9, 1, 0, bytes(1)),
    msg(4, 9, 1, 0x01000000, bytes(2)),
    msg(4, 9, 1, 0x02000000, bytes(3)),
  ],
  wire: bytes(
    0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00, // fmt 0, ts 0, len 1
    1,
    0x84, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, // fmt 2, extended delta 0x1000000
    2,
    0xc4, 0x01, 0x00, 0x00, 0x00, // fmt 3 + extended delta repeated: ts 0x2000000
    3,
  ),
};

/** §5.4.1 allows any chunk size 1..0x7FFFFFFF, including 1. */
const chunkSize1: ChunkVector = {
  name: "peer chunk size 1: a 3-byte message in three 1-byte chunks",
  messages: [setChunkSizeMessage(1), msg(3, 18, 0, 7, bytes(0xa1, 0xa2, 0xa3))],
  wire: bytes(
    setChunkSizeBytes(1),
    0x03, 0x00, 0x00, 0x07, 0x00, 0x00, 0x03, 0x12, 0x00, 0x00, 0x00, 0x00, // fmt 0, ts 7, len 3
    0xa1,
    0xc3, 0xa2, // continuation
    0xc3, 0xa3, // continuation
  ),
};

/** The largest legal chunk size: a 300-byte message in one chunk. */
const chunkSizeMax: ChunkVector = {
  name: "peer chunk size 0x7FFFFFFF",
  messages: [setChunkSizeMessage(0x7fffffff), msg(3, 9, 1, 0, p300)],
  wire: bytes(
    setChunkSizeBytes(0x7fffffff),
    0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2c, 0x09, 0x01, 0x00, 0x00, 0x00,
    p300, // one chunk: no continuation header at 128
  ),
};

const p200 = pattern(200, 21);
const p50 = pattern(50, 22);

/** §5.3.2.3: chunks of two messages on different csids interleave. */
const interleaved: ChunkVector = {
  name: "interleaved chunks of two messages on csids 4 and 6",
  messages: [msg(4, 9, 1, 10, p200), msg(6, 8, 1, 20, p50)],
  read: [msg(6, 8, 1, 20, p50), msg(4, 9, 1, 10, p200)],
  wire: bytes(
    0x04, 0x00, 0x00, 0x0a, 0x00, 0x00, 0xc8, 0x09, 0x01, 0x00, 0x00, 0x00, // csid 4, len 200
    p200.subarray(0, 128), // its first chunk
    0x06, 0x00, 0x00, 0x14, 0x00, 0x00, 0x32, 0x08, 0x01, 0x00, 0x00, 0x00, // csid 6, len 50
    p50, //                   complete: delivered first
    0xc4, //                  csid 4 continues
    p200.subarray(128),
  ),
};

/** §5.4.2: Abort drops the partial message on the named chunk stream. */
const abort: ChunkVector = {
  name: "Abort drops a partial message; the csid can then start afresh with fmt 0",
  messages: [msg(2, 2, 0, 0, bytes(be32(4))), msg(4, 9, 1, 30, pattern(10, 23))],
  wire: bytes(
    0x04, 0x00, 0x00, 0x0a, 0x00, 0x00, 0xc8, 0x09, 0x01, 0x00, 0x00, 0x00, // csid 4, len 200
    p200.subarray(0, 128), // first chunk only
    0x02, //                  fmt 0 | csid 2
    0x00, 0x00, 0x00, //      ts 0
    0x00, 0x00, 0x04, //      length 4
    0x02, //                  type 2, Abort Message
    0x00, 0x00, 0x00, 0x00, // stream 0
    0x00, 0x00, 0x00, 0x04, // chunk stream id 4
    0x04, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x00, 0x00, 0x00, // csid 4 fmt 0, len 10
    pattern(10, 23),
  ),
};

/** 32-bit timestamps wrap: 0xFFFFFFF0 + delta 0x20 = 0x10. */
const wraparound: ChunkVector = {
  name: "timestamp wraps around 2^32 through a delta",
  messages: [msg(3, 9, 1, 0xfffffff0, bytes(1)), msg(3, 9, 1, 0x10, bytes(2))],
  wire: bytes(
    0x03, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xf0, // extended timestamp 0xFFFFFFF0
    1,
    0x83, 0x00, 0x00, 0x20, // fmt 2, delta 0x20
    2,
  ),
};

/** Vectors the reader must read (our writer would encode them differently). */
export const READER_VECTORS: readonly ChunkVector[] = [
  fmt3AfterFmt0, fmt3ExtendedNewMessage, chunkSize1, chunkSizeMax, interleaved, abort, wraparound,
];

// ---------------------------------------------------------------------------
// Small helpers for the chunk tests.

/** Bytes as spaced hex, for readable diffs. */
export function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Runs `fn` and returns what it threw; throws if it did not throw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an exception, none was thrown");
}

/** Splits `data` at the given offsets (any order, duplicates allowed). */
export function splitAt(data: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const cuts = [...new Set(offsets.map((o) => Math.max(0, Math.min(data.length, o))))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(data.subarray(start, cut));
    start = cut;
  }
  pieces.push(data.subarray(start));
  return pieces;
}

/** A message with its payload as hex: compares fast (toEqual walks typed arrays byte by byte) and diffs readably. */
export interface MessageView {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  readonly timestamp: number;
  readonly payload: string;
}

/** Messages as MessageViews, for toEqual. */
export function views(messages: readonly RtmpMessage[]): MessageView[] {
  return messages.map((m) => ({ csid: m.csid, type: m.type, streamId: m.streamId, timestamp: m.timestamp, payload: hex(m.payload) }));
}

/** True if both lists hold the same messages (a fast check; diff with views() when false). */
export function sameMessages(a: readonly RtmpMessage[], b: readonly RtmpMessage[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((m, i) => {
    const n = b[i];
    return n !== undefined && m.csid === n.csid && m.type === n.type && m.streamId === n.streamId &&
      m.timestamp === n.timestamp && Buffer.compare(m.payload, n.payload) === 0;
  });
}
