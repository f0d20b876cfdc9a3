/**
 * Chunk writer -> chunk reader round trips (RTMP 1.0 §5.3), property-based:
 * random message sequences on a small pool of chunk streams, random chunk
 * sizes announced with Set Chunk Size, writer resets, timestamps past
 * 0xFFFFFF, going backwards and wrapping, and the bytes split anywhere. The
 * reader must return exactly the messages written.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Core } from "../../wasm/host/core.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { ChunkReader, type RtmpMessage } from "../../wasm/host/chunk-reader.js";
import { ChunkWriter } from "../../wasm/host/chunk-writer.js";
import type { AudioTagHeader, VideoTagHeader } from "../../wasm/host/tag-headers.js";
import { be32, bytes, msg, pattern, sameMessages, splitAt, views } from "../support/chunk-vectors.js";

let core: Core;

beforeAll(async () => {
  core = await loadCoreNode();
});

/** How a message's timestamp follows the previous one on its chunk stream. */
type TimeStep =
  | { readonly kind: "delta"; readonly d: number } //     small step forward
  | { readonly kind: "big"; readonly d: number } //       step of about 0xFFFFFF: extended delta
  | { readonly kind: "back"; readonly d: number } //      backwards: forces fmt 0
  | { readonly kind: "abs"; readonly t: number }; //      anywhere in 32 bits

/** One operation on the writer. */
type Op =
  /** A new message on pool[pick]. */
  | { readonly kind: "fresh"; readonly pick: number; readonly type: number; readonly stream: number; readonly size: number; readonly time: TimeStep }
  /** The last message on pool[pick] again, same delta: fmt 3 territory. */
  | { readonly kind: "repeat"; readonly pick: number }
  /** Set Chunk Size through the writer itself, then setChunkSize(). */
  | { readonly kind: "chunkSize"; readonly size: number }
  /** writer.reset(): every csid back to fmt 0. */
  | { readonly kind: "reset" };

const csidArb = fc.oneof(
  fc.integer({ min: 2, max: 63 }), //       1-byte basic header
  fc.integer({ min: 64, max: 319 }), //     2-byte
  fc.integer({ min: 320, max: 65599 }), //  3-byte
);

const timeArb: fc.Arbitrary<TimeStep> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("delta" as const), d: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("big" as const), d: fc.integer({ min: 0xfffff0, max: 0x3000000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("back" as const), d: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("abs" as const), t: fc.integer({ min: 0, max: 0xffffffff }) }) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("fresh" as const),
      pick: fc.nat(),
      // Types 1 and 2 are protocol control messages the reader acts on: they
      // get their own operation (chunkSize) and test (Abort, in the reader tests).
      type: fc.integer({ min: 3, max: 255 }),
      stream: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 0xffffffff })),
      size: fc.oneof(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 20000 }),
        fc.constantFrom(0, 127, 128, 129, 4095, 4096, 4097),
      ),
      time: timeArb,
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("repeat" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("chunkSize" as const), size: fc.integer({ min: 128, max: 70000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
);

/** A random session: first chunk size, csid pool, operations, split points. */
const sessionArb = fc.record({
  chunkSize: fc.oneof(fc.integer({ min: 128, max: 70000 }), fc.constantFrom(128, 129, 4096, 65536)),
  pool: fc.uniqueArray(csidArb, { minLength: 1, maxLength: 4 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 30, size: "max" }),
  splits: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12, size: "max" }),
});

type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

/** Per-csid memory of the model: the last message and its delta. */
interface Last {
  readonly m: RtmpMessage;
  readonly delta: number;
}

/** Runs a session through one writer; returns the wire bytes and the messages written. */
function writeSession(s: Session): { wire: Uint8Array; written: RtmpMessage[]; forms: Set<string> } {
  const w = new ChunkWriter(core);
  const written: RtmpMessage[] = [];
  const out: Uint8Array[] = [];
  const forms = new Set<string>();
  const last = new Map<number, Last>();
  const send = (m: RtmpMessage): void => {
    const chunk = w.write(m.csid, m.type, m.streamId, m.timestamp, m.payload);
    out.push(chunk);
    written.push(m);
    // Classify the first chunk header (§5.3.1): fmt, basic header size, and
    // whether the 3-byte timestamp field says "extended".
    const fmt = (chunk[0] ?? 0) >> 6;
    const basic = m.csid < 64 ? 1 : m.csid < 320 ? 2 : 3;
    forms.add(`fmt${fmt}`).add(`basic${basic}`);
    if (fmt !== 3 && chunk[basic] === 0xff && chunk[basic + 1] === 0xff && chunk[basic + 2] === 0xff) forms.add("extended");
  };
  const announce = (size: number): void => {
    // Set Chunk Size (§5.4.1) goes out at the old size; then the writer switches.
    send(msg(2, 1, 0, 0, bytes(be32(size))));
    w.setChunkSize(size);
  };
  announce(s.chunkSize);
  for (const [i, op] of s.ops.entries()) {
    switch (op.kind) {
      case "fresh": {
        const csid = s.pool[op.pick % s.pool.length] ?? 3;
        const prev = last.get(csid)?.m.timestamp ?? 0;
        const t = op.time;
        const timestamp = t.kind === "abs" ? t.t : t.kind === "back" ? (prev - t.d) >>> 0 : (prev + t.d) >>> 0;
        const m = msg(csid, op.type, op.stream, timestamp, pattern(op.size, i));
        send(m);
        last.set(csid, { m, delta: (timestamp - prev) >>> 0 });
        break;
      }
      case "repeat": {
        const csid = s.pool[op.pick % s.pool.length] ?? 3;
        const l = last.get(csid);
        if (!l) break;
        const m = msg(csid, l.m.type, l.m.streamId, (l.m.timestamp + l.delta) >>> 0, pattern(l.m.payload.length, i));
        send(m);
        last.set(csid, { m, delta: l.delta });
        break;
      }
      case "chunkSize":
        announce(op.size);
        break;
      case "reset":
        w.reset();
        break;
    }
  }
  w.dispose();
  return { wire: bytes(...out), written, forms };
}

/** Reads `pieces` through a fresh reader. */
function readAll(pieces: readonly Uint8Array[]): RtmpMessage[] {
  const r = new ChunkReader(core, { maxMessageLength: 0xffffff });
  try {
    return pieces.flatMap((p) => r.push(p));
  } finally {
    r.dispose();
  }
}

describe("chunk writer -> reader round trip", () => {
  it("returns exactly the messages written, whatever the split", () => {
    fc.assert(
      fc.property(sessionArb, (s) => {
        const { wire, written } = writeSession(s);
        const pieces = splitAt(wire, s.splits.map((f) => Math.floor(f * wire.length)));
        const read = readAll(pieces);
        if (!sameMessages(read, written)) expect(views(read)).toEqual(views(written));
      }),
      { numRuns: 300 },
    );
  });

  it("the sessions exercise every header form, every basic header size and extended timestamps", () => {
    // Guards the property above: if the generator stopped producing, say,
    // fmt 3 headers or extended timestamps, the round trip would prove less.
    const seen = new Set<string>();
    for (const s of fc.sample(sessionArb, { numRuns: 150, seed: 42 })) {
      for (const form of writeSession(s).forms) seen.add(form);
    }
    expect([...seen].sort()).toEqual([
      "basic1", "basic2", "basic3", "extended", "fmt0", "fmt1", "fmt2", "fmt3",
    ]);
  });

  it("video and audio through the prefix path read back as tag header + payload", () => {
    const video: VideoTagHeader = { kind: "avc", frameType: 2, packetType: 1, cts: 40 };
    const audio: AudioTagHeader = { kind: "aac", packetType: 1 };
    fc.assert(
      fc.property(
        fc.integer({ min: 128, max: 5000 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 100 })), { minLength: 1, maxLength: 20 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        (chunkSize, frames, splits) => {
          const w = new ChunkWriter(core);
          const out: Uint8Array[] = [w.write(2, 1, 0, 0, bytes(be32(chunkSize)))];
          w.setChunkSize(chunkSize);
          const expected: RtmpMessage[] = [msg(2, 1, 0, 0, bytes(be32(chunkSize)))];
          let ts = 0;
          for (const [i, [isVideo, size, step]] of frames.entries()) {
            ts += step;
            const payload = pattern(size, i);
            if (isVideo) {
              out.push(w.writeVideo(6, 1, ts, video, payload));
              // [frameType 2 | codec 7][NALU][cts 40, 24-bit]
              expected.push(msg(6, 9, 1, ts, bytes(0x27, 0x01, 0x00, 0x00, 0x28, payload)));
            } else {
              out.push(w.writeAudio(4, 1, ts, audio, payload));
              // [AAC | 44 kHz | 16-bit | stereo][raw]
              expected.push(msg(4, 8, 1, ts, bytes(0xaf, 0x01, payload)));
            }
          }
          w.dispose();
          const wire = bytes(...out);
          const read = readAll(splitAt(wire, splits.map((f) => Math.floor(f * wire.length))));
          if (!sameMessages(read, expected)) expect(views(read)).toEqual(views(expected));
        },
      ),
      { numRuns: 100 },
    );
  });
});
