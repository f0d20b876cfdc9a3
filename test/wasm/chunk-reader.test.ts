/**
 * RTMP chunk stream reader (RTMP 1.0 §5.3, §5.4): every hand-built vector
 * read whole, split at every byte offset and byte by byte; the peer's Set
 * Chunk Size and Abort; one test per reader status code (-10..-16); and a
 * bound on memory over 10,000 messages.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Core } from "../../wasm/host/core.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { ChunkReader, type ChunkReaderOptions, type RtmpMessage } from "../../wasm/host/chunk-reader.js";
import { ChunkWriter } from "../../wasm/host/chunk-writer.js";
import { CoreError, statusCode } from "../../wasm/host/status.js";
import {
  READER_VECTORS, WRITER_VECTORS, be32, bytes, msg, pattern, sameMessages, setChunkSizeBytes, thrown, views, type ChunkVector,
} from "../support/chunk-vectors.js";

let core: Core;

beforeAll(async () => {
  core = await loadCoreNode();
});

/** Pushes each piece in turn through a fresh reader; returns every message. */
function readPieces(pieces: readonly Uint8Array[], options?: ChunkReaderOptions): RtmpMessage[] {
  const r = new ChunkReader(core, options);
  const out: RtmpMessage[] = [];
  try {
    for (const p of pieces) out.push(...r.push(p));
  } finally {
    r.dispose();
  }
  return out;
}

/** The CoreError `fn` throws, checked to carry `code` and `status`. */
function expectCoreError(fn: () => unknown, code: string, status: number): void {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(CoreError);
  expect((err as CoreError).code).toBe(code);
  expect((err as CoreError).status).toBe(status);
}

/** A fmt 0 chunk header on a 1-byte csid (ts, length, type, stream id 1). */
function fmt0(csid: number, ts: number, length: number, type: number): number[] {
  return [csid, (ts >> 16) & 0xff, (ts >> 8) & 0xff, ts & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, type, 1, 0, 0, 0];
}

/** A message on csid 2, type `type`, stream 0, with `body` (control messages). */
function control(type: number, body: Uint8Array): Uint8Array {
  return bytes(0x02, 0, 0, 0, 0, 0, body.length, type, 0, 0, 0, 0, body);
}

const ALL_VECTORS: readonly ChunkVector[] = [...WRITER_VECTORS, ...READER_VECTORS];
const vectorCases = ALL_VECTORS.map((v) => [v.name, v] as const);

describe("ChunkReader: hand-built vectors", () => {
  it.each(vectorCases)("whole: %s", (_name, v) => {
    expect(views(readPieces([v.wire]))).toEqual(views(v.read ?? v.messages));
  });

  it.each(vectorCases)("split at every byte offset: %s", (_name, v) => {
    const expected = v.read ?? v.messages;
    for (let cut = 0; cut <= v.wire.length; cut++) {
      const got = readPieces([v.wire.subarray(0, cut), v.wire.subarray(cut)]);
      // Only build the readable (slow) comparison when something differs.
      if (!sameMessages(got, expected)) expect({ cut, got: views(got) }).toEqual({ cut, got: views(expected) });
    }
  });

  it.each(vectorCases)("byte by byte: %s", (_name, v) => {
    const pieces = Array.from({ length: v.wire.length }, (_, i) => v.wire.subarray(i, i + 1));
    expect(views(readPieces(pieces))).toEqual(views(v.read ?? v.messages));
  });
});

describe("ChunkReader: basic header parsing (§5.3.1.1)", () => {
  it("decodes the 3-byte form as 64 + byte1 + byte2 * 256", () => {
    const one = (b1: number, b2: number): number => {
      const [m] = readPieces([bytes(0x01, b1, b2, 0, 0, 0, 0, 0, 1, 0x12, 0, 0, 0, 0, 0x77)]);
      return m?.csid ?? -1;
    };
    expect(one(0x00, 0x01)).toBe(320);
    expect(one(0x01, 0x00)).toBe(65); // a big-endian reading would say 320
    expect(one(0xa8, 0x03)).toBe(1000);
    expect(one(0xff, 0xff)).toBe(65599);
    expect(one(0x00, 0x00)).toBe(64); // the 3-byte form may also carry small csids
  });

  it("decodes the 2-byte form as 64 + byte1", () => {
    const [m] = readPieces([bytes(0x00, 0xec, 0, 0, 0, 0, 0, 1, 0x12, 0, 0, 0, 0, 0x77)]);
    expect(m?.csid).toBe(300);
  });
});

describe("ChunkReader: Set Chunk Size from the peer (§5.4.1)", () => {
  it("applies it to the following chunks, in the same push", () => {
    const r = new ChunkReader(core);
    expect(r.chunkSize).toBe(128);
    const body = pattern(1000, 1);
    const msgs = r.push(bytes(setChunkSizeBytes(1000), fmt0(3, 0, 1000, 9), body));
    expect(r.chunkSize).toBe(1000);
    expect(views(msgs)).toEqual(views([msg(2, 1, 0, 0, bytes(be32(1000))), msg(3, 9, 1, 0, body)]));
    r.dispose();
  });

  it("applies it to the next chunk of a message already in progress", () => {
    const body = pattern(300, 2);
    const wire = bytes(
      fmt0(4, 0, 300, 9), body.subarray(0, 128), // first chunk at 128
      setChunkSizeBytes(172), //                    the peer raises its chunk size
      0xc4, body.subarray(128), //                  the remaining 172 bytes in one chunk
      fmt0(5, 0, 1, 9), 0x99, //                    and the stream goes on
    );
    for (let cut = 0; cut <= wire.length; cut++) {
      expect(views(readPieces([wire.subarray(0, cut), wire.subarray(cut)]))).toEqual(views([
        msg(2, 1, 0, 0, bytes(be32(172))),
        msg(4, 9, 1, 0, body),
        msg(5, 9, 1, 0, bytes(0x99)),
      ]));
    }
  });

  it.each([0, 0x80000000, 0xffffffff])("refuses Set Chunk Size %d (RTMP_BAD_CHUNK_SIZE), without dividing by zero", (size) => {
    // Node-Media-Server takes the size and later computes offsets modulo it:
    // 0 breaks it. Here the following chunk is in the same push and the
    // reader must stop at the Set Chunk Size.
    const r = new ChunkReader(core);
    expectCoreError(() => r.push(bytes(setChunkSizeBytes(size), fmt0(3, 0, 300, 9), pattern(300, 0))), "RTMP_BAD_CHUNK_SIZE", -10);
    expect(r.chunkSize).toBe(128);
    r.dispose();
  });

  it("accepts the extremes 1 and 0x7FFFFFFF", () => {
    const r = new ChunkReader(core);
    r.push(setChunkSizeBytes(1));
    expect(r.chunkSize).toBe(1);
    // At chunk size 1 the next Set Chunk Size comes in four 1-byte chunks.
    r.push(bytes(
      0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, // fmt 0, csid 2, length 4, type 1
      0x7f, 0xc2, 0xff, 0xc2, 0xff, 0xc2, 0xff, // 0x7FFFFFFF, one byte per chunk
    ));
    expect(r.chunkSize).toBe(0x7fffffff);
    const body = pattern(5000, 3);
    expect(views(r.push(bytes(fmt0(3, 0, 5000, 9), body)))).toEqual(views([
      msg(3, 9, 1, 0, body), // 5000 bytes in a single chunk
    ]));
    r.dispose();
  });
});

describe("ChunkReader: Abort Message (§5.4.2)", () => {
  it("is a no-op for a chunk stream with no partial message", () => {
    const wire = bytes(fmt0(4, 0, 1, 9), 0x10, control(2, bytes(be32(4))), control(2, bytes(be32(77))), 0x84, 0, 0, 5, 0x11);
    expect(views(readPieces([wire]))).toEqual(views([
      msg(4, 9, 1, 0, bytes(0x10)),
      msg(2, 2, 0, 0, bytes(be32(4))),
      msg(2, 2, 0, 0, bytes(be32(77))),
      msg(4, 9, 1, 5, bytes(0x11)), // fmt 2 still continues csid 4's header
    ]));
  });

  it("without it, a new fmt 0 on a chunk stream with a partial message is refused", () => {
    // The abort vector minus its Abort: proves the Abort is what makes it legal.
    const wire = bytes(fmt0(4, 10, 200, 9), pattern(128, 0), fmt0(4, 30, 10, 9), pattern(10, 23));
    expect(thrown(() => readPieces([wire]))).toBeInstanceOf(CoreError);
  });
});

describe("ChunkReader: timestamps", () => {
  it("reads fmt 1/2/3 deltas cumulatively, past 0xFFFFFF and around 2^32", () => {
    const wire = bytes(
      fmt0(3, 0xfffff0, 1, 9), 1, //                    ts 0xFFFFF0
      0x83, 0, 0, 0x20, 2, //                           +0x20 = 0x1000010, past 24 bits
      0xc3, 3, //                                       +0x20 = 0x1000030
      0x83, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 4, // +0xFE000000 (extended delta) = 0xFF000030
      0x83, 0x01, 0x00, 0x00, 5, //                     +0x10000 = 0xFF010030
      0x83, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 6, // +0x01000000 wraps: 0x00010030
    );
    expect(readPieces([wire]).map((m) => m.timestamp)).toEqual([
      0xfffff0, 0x1000010, 0x1000030, 0xff000030, 0xff010030, 0x00010030,
    ]);
  });
});

describe("ChunkReader: large input", () => {
  it("reads a 200,000-byte message at chunk size 128 pushed whole and in 3 pieces", () => {
    const w = new ChunkWriter(core);
    const body = pattern(200000, 5);
    const wire = w.write(6, 9, 1, 1234, body);
    expect(views(readPieces([wire]))).toEqual(views([msg(6, 9, 1, 1234, body)]));
    expect(views(readPieces([wire.subarray(0, 70000), wire.subarray(70000, 140001), wire.subarray(140001)]))).toEqual(
      views([msg(6, 9, 1, 1234, body)]),
    );
  });

  it("keeps 20 partial messages on 20 chunk streams (slot table growth while messages are open)", () => {
    const bodies = Array.from({ length: 20 }, (_, i) => pattern(200, i));
    const firsts = bodies.map((b, i) => bytes(fmt0(3 + i, i, 200, 9), b.subarray(0, 128)));
    const rests = bodies.map((b, i) => bytes(0xc0 | (3 + i), b.subarray(128)));
    const got = readPieces([bytes(...firsts), bytes(...rests.reverse())]);
    expect(views(got)).toEqual(views(bodies.map((b, i) => msg(3 + i, 9, 1, i, b)).reverse()));
  });
});

describe("ChunkReader: status codes", () => {
  it("RTMP_BAD_CHUNK_SIZE (-10): Set Chunk Size 0", () => {
    const r = new ChunkReader(core);
    expectCoreError(() => r.push(setChunkSizeBytes(0)), "RTMP_BAD_CHUNK_SIZE", -10);
    r.dispose();
  });

  it("RTMP_MESSAGE_TOO_LONG (-11): refused from the header alone, before the payload", () => {
    const r = new ChunkReader(core, { maxMessageLength: 100 });
    expect(r.push(bytes(fmt0(3, 0, 100, 9), pattern(100, 0)))).toHaveLength(1); // at the limit: fine
    const r2 = new ChunkReader(core, { maxMessageLength: 100 });
    expectCoreError(() => r2.push(bytes(fmt0(3, 0, 101, 9))), "RTMP_MESSAGE_TOO_LONG", -11);
    // A fmt 1 header that raises the length over the limit, also header only.
    const r3 = new ChunkReader(core, { maxMessageLength: 100 });
    r3.push(bytes(fmt0(3, 0, 1, 9), 0));
    expectCoreError(() => r3.push(bytes(0x43, 0, 0, 0, 0, 0, 101, 9)), "RTMP_MESSAGE_TOO_LONG", -11);
    // With the default limit of 1 MiB, an extended-timestamp header of 0xFFFFFF bytes.
    const r4 = new ChunkReader(core);
    expectCoreError(() => r4.push(bytes(0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0, 0, 0, 0, 1)), "RTMP_MESSAGE_TOO_LONG", -11);
    for (const x of [r, r2, r3, r4]) x.dispose();
  });

  it("RTMP_TOO_MANY_CHUNK_STREAMS (-12): one csid more than maxChunkStreams", () => {
    const r = new ChunkReader(core, { maxChunkStreams: 3 });
    const open = (csid: number): RtmpMessage[] => r.push(bytes(fmt0(csid, 0, 0, 9)));
    expect([...open(3), ...open(4), ...open(5), ...open(3)]).toHaveLength(4); // reuse is fine
    expectCoreError(() => open(6), "RTMP_TOO_MANY_CHUNK_STREAMS", -12);
    r.dispose();
  });

  it("RTMP_NO_PREVIOUS_HEADER (-13): fmt 1, 2 or 3 on a chunk stream never opened", () => {
    const cases = [
      bytes(0x43, 0, 0, 0, 0, 0, 1, 9, 0), //  fmt 1, csid 3
      bytes(0x83, 0, 0, 0, 0), //              fmt 2, csid 3
      bytes(0xc3), //                          fmt 3, csid 3: known from the basic header alone
      bytes(0xc0, 0x05), //                    fmt 3, 2-byte form, csid 69
      bytes(fmt0(4, 0, 0, 9), 0xc5), //        csid 4 open, csid 5 not
    ];
    for (const wire of cases) {
      const r = new ChunkReader(core);
      expectCoreError(() => r.push(wire), "RTMP_NO_PREVIOUS_HEADER", -13);
      r.dispose();
    }
  });

  it("RTMP_UNEXPECTED_HEADER (-14): fmt 0, 1 or 2 in the middle of a message", () => {
    const first = bytes(fmt0(3, 0, 200, 9), pattern(128, 0));
    for (const next of [bytes(fmt0(3, 0, 10, 9)), bytes(0x43, 0, 0, 0, 0, 0, 10, 9), bytes(0x83, 0, 0, 0)]) {
      const r = new ChunkReader(core);
      expect(r.push(first)).toEqual([]);
      expectCoreError(() => r.push(next), "RTMP_UNEXPECTED_HEADER", -14);
      r.dispose();
    }
  });

  it("RTMP_BAD_CONTROL_MESSAGE (-15): Set Chunk Size or Abort not 4 bytes long", () => {
    for (const wire of [control(1, bytes(0, 0, 16)), control(1, bytes(0, 0, 16, 0, 0)), control(2, bytes(0, 0, 0, 0, 3))]) {
      const r = new ChunkReader(core);
      expectCoreError(() => r.push(wire), "RTMP_BAD_CONTROL_MESSAGE", -15);
      r.dispose();
    }
  });

  it("RTMP_BAD_LIMITS (-16): readerNew refuses limits out of range", () => {
    const x = core.exports;
    expect(x.readerNew(0, 1)).toBe(-16);
    expect(x.readerNew(0x1000000, 1)).toBe(-16);
    expect(x.readerNew(-1, 1)).toBe(-16);
    expect(x.readerNew(1, 0)).toBe(-16);
    expect(x.readerNew(1, 65599)).toBe(-16);
    expect(statusCode(-16)).toBe("RTMP_BAD_LIMITS");
    const ok = x.readerNew(0xffffff, 65598);
    expect(ok).toBeGreaterThan(0);
    x.readerFree(ok);
  });

  it("maps each reader status to its stable code", () => {
    expect([-10, -11, -12, -13, -14, -15, -16].map(statusCode)).toEqual([
      "RTMP_BAD_CHUNK_SIZE", "RTMP_MESSAGE_TOO_LONG", "RTMP_TOO_MANY_CHUNK_STREAMS", "RTMP_NO_PREVIOUS_HEADER",
      "RTMP_UNEXPECTED_HEADER", "RTMP_BAD_CONTROL_MESSAGE", "RTMP_BAD_LIMITS",
    ]);
  });

  it.each<[string, Uint8Array, number]>([
    ["RTMP_NO_PREVIOUS_HEADER", bytes(0xc3), -13],
    // These two fail at a message boundary, with no partial header left
    // behind: only the poisoned status can make the next push fail.
    ["RTMP_BAD_CHUNK_SIZE", setChunkSizeBytes(0), -10],
    ["RTMP_BAD_CONTROL_MESSAGE", control(2, bytes(0, 0, 0, 0, 3)), -15],
  ])("stays failed after %s: every later push throws the same error", (code, bad, status) => {
    const r = new ChunkReader(core, { maxMessageLength: 100 });
    expectCoreError(() => r.push(bad), code, status);
    // Perfectly valid input is refused now.
    expectCoreError(() => r.push(bytes(fmt0(3, 0, 1, 9), 1)), code, status);
    expectCoreError(() => r.push(setChunkSizeBytes(4096)), code, status);
    expect(r.chunkSize).toBe(128);
    r.dispose();
  });

  it.each<[string, ChunkReaderOptions]>([
    ["maxMessageLength 0", { maxMessageLength: 0 }],
    ["maxMessageLength 0x1000000", { maxMessageLength: 0x1000000 }],
    ["maxMessageLength 1.5", { maxMessageLength: 1.5 }],
    ["maxMessageLength NaN", { maxMessageLength: Number.NaN }],
    ["maxChunkStreams 0", { maxChunkStreams: 0 }],
    ["maxChunkStreams 65599", { maxChunkStreams: 65599 }],
    ["maxChunkStreams 2.5", { maxChunkStreams: 2.5 }],
  ])("bad option %s -> TypeError", (_name, options) => {
    expect(thrown(() => new ChunkReader(core, options))).toBeInstanceOf(TypeError);
  });

  it("accepts the largest limits", () => {
    new ChunkReader(core, { maxMessageLength: 0xffffff, maxChunkStreams: 65598 }).dispose();
  });

  it("throws a TypeError after dispose()", () => {
    const r = new ChunkReader(core);
    r.dispose();
    expect(thrown(() => r.push(bytes(1)))).toBeInstanceOf(TypeError);
    expect(thrown(() => r.chunkSize)).toBeInstanceOf(TypeError);
  });
});

describe("ChunkReader: memory", () => {
  // Each memory test gets its own core: the heap grows by doubling, so in a
  // core that earlier tests had grown, a leak could hide in the slack.
  it("does not grow memory after the first few hundred of 10,000 messages", async () => {
    const c = await loadCoreNode();
    const w = new ChunkWriter(c);
    const r = new ChunkReader(c);
    let seen = 0;
    let before = 0;
    let pending = new Uint8Array(0);
    for (let i = 0; i < 10000; i++) {
      const csid = 3 + (i % 4);
      const size = (i * 7919) % 6000;
      let wire = w.write(csid, 9, 1, i * 10, pattern(size, i));
      if (i % 50 === 7 && size > 128) {
        // Every 50th: cut the message after its first chunk and Abort it
        // (§5.4.2), so the reader must free a partial message too.
        // (The aborted message never arrives; the Abort itself does.)
        const headerLen = [12, 8, 4, 1][(wire[0] ?? 0) >> 6] ?? 0;
        wire = bytes(wire.subarray(0, headerLen + 128), control(2, bytes(be32(csid))));
      }
      // Split the stream at arbitrary points: partial chunks stay inside the reader.
      const all = bytes(pending, wire);
      const cut = Math.floor(all.length * ((i % 7) / 7));
      pending = all.slice(cut);
      seen += r.push(all.subarray(0, cut)).length;
      if (i === 300) before = c.memory.buffer.byteLength;
    }
    seen += r.push(pending).length;
    expect(seen).toBe(10000);
    expect(before).toBeGreaterThan(0);
    expect(c.memory.buffer.byteLength).toBe(before);
    w.dispose();
    r.dispose();
  });

  it("dispose() frees partial messages, the slot table and the last payload", async () => {
    const c = await loadCoreNode();
    // Each reader holds 20 partial 10,000-byte messages (and so a grown slot
    // table) and one delivered 50,000-byte payload: 250 kB a reader if
    // dispose() leaked any of them.
    const wire = bytes(
      ...Array.from({ length: 20 }, (_, i) => bytes(fmt0(3 + i, 0, 10000, 9), pattern(128, i))),
      new ChunkWriter(c).write(31, 9, 1, 0, pattern(50000, 1)), // delivered, held until the next push
    );
    let before = 0;
    for (let i = 0; i < 400; i++) {
      const r = new ChunkReader(c, { maxChunkStreams: 32 });
      expect(r.push(wire)).toHaveLength(1);
      r.dispose();
      if (i === 20) before = c.memory.buffer.byteLength;
    }
    expect(c.memory.buffer.byteLength).toBe(before);
  });
});
