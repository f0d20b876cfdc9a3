/**
 * RtmpHandshake (RTMP 1.0 §5.2), client side: golden C0/C1 and C2 bytes with
 * an injected clock and random source, S0/S1/S2 fed whole and split at every
 * offset, bytes after S2 handed back, and the server's mistakes.
 */
import { describe, expect, it } from "vitest";
import { RtmpError, RtmpErrorCode } from "../../server/rtmp/rtmp-errors.js";
import { HANDSHAKE_SIZE, RtmpHandshake, type HandshakeStep } from "../../server/rtmp/rtmp-handshake.js";

/** Fills with 0x10, 0x11, ...: C1's recognisable "random" part. */
function fakeRandom(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (0x10 + i) & 0xff;
}

/** A handshake whose clock reads `times` in turn (C1 time, then C2's read time). */
function handshake(times: number[]): RtmpHandshake {
  let i = 0;
  return new RtmpHandshake({ now: () => times[Math.min(i++, times.length - 1)]!, random: fakeRandom });
}

/** S1: server time 0x0a0b0c0d, zero, then bytes (i * 3 + 1) & 0xff. */
function makeS1(): Uint8Array {
  const s1 = new Uint8Array(HANDSHAKE_SIZE);
  s1.set([0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0]);
  for (let i = 8; i < HANDSHAKE_SIZE; i++) s1[i] = (i * 3 + 1) & 0xff;
  return s1;
}

/** S2 echoing C1 as a correct server does: C1 time, server read time, C1 random. */
function makeS2(c1: Uint8Array): Uint8Array {
  const s2 = new Uint8Array(c1);
  s2.set([0, 0, 0x30, 0x39], 4); // time2: when the server read C1
  return s2;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Feeds `pieces` in turn; collects what the handshake sends, its warnings, and the result. */
function feed(hs: RtmpHandshake, pieces: Uint8Array[]): { sent: Uint8Array[]; warnings: string[]; done: boolean; rest: Uint8Array[]; doneAt: number } {
  const sent: Uint8Array[] = [];
  const warnings: string[] = [];
  const rest: Uint8Array[] = [];
  let done = false;
  let doneAt = -1;
  pieces.forEach((p, i) => {
    const step: HandshakeStep = hs.receive(p);
    if (step.send) sent.push(step.send);
    warnings.push(...step.warnings);
    if (step.rest && step.rest.length > 0) rest.push(step.rest);
    if (step.done && !done) doneAt = i;
    done ||= step.done;
  });
  return { sent, warnings, done, rest, doneAt };
}

describe("C0 + C1", () => {
  it("golden bytes: version 3, then time, four zero bytes, random", () => {
    const hs = handshake([0x01020304]);
    expect(hs.state).toBe("uninitialized");
    const out = hs.start();
    expect(out.length).toBe(1 + 1536);
    expect(out[0]).toBe(3); // C0: RTMP version 3
    expect([...out.subarray(1, 5)]).toEqual([0x01, 0x02, 0x03, 0x04]); // C1 time, big-endian
    expect([...out.subarray(5, 9)]).toEqual([0, 0, 0, 0]); // zero: the simple handshake
    const random = out.subarray(9);
    expect(random.length).toBe(1528);
    for (let i = 0; i < random.length; i++) {
      if (random[i] !== ((0x10 + i) & 0xff)) throw new Error(`C1 random byte ${i} is ${random[i]}`);
    }
    expect(hs.state).toBe("versionSent");
  });

  it("the time wraps to 32 bits", () => {
    const out = handshake([0x1_0000_0005]).start();
    expect([...out.subarray(1, 5)]).toEqual([0, 0, 0, 5]);
  });

  it("the default random source fills C1 (not all zeros) and differs per handshake", () => {
    const a = new RtmpHandshake().start().subarray(9);
    const b = new RtmpHandshake().start().subarray(9);
    expect(a.some((x) => x !== 0)).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("start() twice or receive() before start() is API misuse", () => {
    const hs = handshake([0]);
    expect(() => hs.receive(new Uint8Array([3]))).toThrow(TypeError);
    hs.start();
    expect(() => hs.start()).toThrow(TypeError);
  });
});

describe("S0 + S1 + S2 -> C2", () => {
  const C1_TIME = 0x01020304;
  const READ_TIME = 0x11223344;

  function golden(): { hs: RtmpHandshake; c1: Uint8Array; s0s1s2: Uint8Array } {
    const hs = handshake([C1_TIME, READ_TIME]);
    const c1 = hs.start().subarray(1);
    return { hs, c1, s0s1s2: concat(new Uint8Array([3]), makeS1(), makeS2(c1)) };
  }

  it("C2 echoes S1 with our read time at bytes 4..7", () => {
    const { hs, s0s1s2 } = golden();
    const r = feed(hs, [s0s1s2]);
    expect(r.done).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(r.sent).toHaveLength(1);
    const c2 = r.sent[0]!;
    const s1 = makeS1();
    expect(c2.length).toBe(1536);
    expect([...c2.subarray(0, 4)]).toEqual([0x0a, 0x0b, 0x0c, 0x0d]); // S1's time
    expect([...c2.subarray(4, 8)]).toEqual([0x11, 0x22, 0x33, 0x44]); // our read time
    expect(Buffer.from(c2.subarray(8)).equals(Buffer.from(s1.subarray(8)))).toBe(true); // S1's random
    expect(r.rest).toEqual([]);
    expect(hs.state).toBe("done");
  });

  it("C2 is sent as soon as S1 is complete, before S2 arrives", () => {
    const { hs, s0s1s2 } = golden();
    const first = hs.receive(s0s1s2.subarray(0, 1 + 1536));
    expect(first.send).toBeDefined();
    expect(first.done).toBe(false);
    expect(hs.state).toBe("ackSent");
    const second = hs.receive(s0s1s2.subarray(1 + 1536));
    expect(second.send).toBeUndefined();
    expect(second.done).toBe(true);
  });

  it("split at every offset: the same C2, exactly once, done exactly at the end", () => {
    const { s0s1s2 } = golden();
    const expected = feed(golden().hs, [s0s1s2]).sent[0]!;
    for (let cut = 0; cut <= s0s1s2.length; cut++) {
      const hs = golden().hs;
      const r = feed(hs, [s0s1s2.subarray(0, cut), s0s1s2.subarray(cut)]);
      if (!r.done || r.sent.length !== 1 || !Buffer.from(r.sent[0]!).equals(Buffer.from(expected)) || r.warnings.length > 0 || r.rest.length > 0) {
        throw new Error(`split at ${cut}: done=${r.done} sent=${r.sent.length} warnings=${r.warnings.join()}`);
      }
      if (r.doneAt !== (cut === s0s1s2.length ? 0 : 1)) throw new Error(`split at ${cut}: done after piece ${r.doneAt}`);
    }
  });

  it("one byte at a time", () => {
    const { hs, s0s1s2 } = golden();
    const pieces = Array.from({ length: s0s1s2.length }, (_, i) => s0s1s2.subarray(i, i + 1));
    const r = feed(hs, pieces);
    expect(r.done).toBe(true);
    expect(r.doneAt).toBe(s0s1s2.length - 1);
    expect(r.sent).toHaveLength(1);
  });

  it("bytes after S2 come back as `rest` (the start of the chunk stream), split anywhere", () => {
    const tail = new Uint8Array([0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0]);
    for (const cut of [0, 1, 1536, 1537, 3072, 3073, 3074, 3073 + tail.length - 1]) {
      const { hs, s0s1s2 } = golden();
      const all = concat(s0s1s2, tail);
      const r = feed(hs, [all.subarray(0, cut), all.subarray(cut)]);
      expect(r.done).toBe(true);
      // Cut inside the handshake: all of the tail comes back with S2's last
      // byte. Cut inside the tail: the handshake completes in the first
      // piece with the tail's head as rest; the second piece (fed after
      // done) comes back whole. Nothing lost, nothing duplicated.
      expect([...concat(...r.rest)]).toEqual([...tail]);
    }
  });

  it("after done, receive() hands every byte back as rest", () => {
    const { hs, s0s1s2 } = golden();
    feed(hs, [s0s1s2]);
    const more = new Uint8Array([1, 2, 3]);
    const step = hs.receive(more);
    expect(step.done).toBe(true);
    expect([...step.rest!]).toEqual([1, 2, 3]);
  });
});

describe("the server's mistakes", () => {
  function versionError(first: number): RtmpError {
    const hs = handshake([0]);
    hs.start();
    try {
      hs.receive(new Uint8Array([first, 0, 0, 0]));
    } catch (err) {
      expect(err).toBeInstanceOf(RtmpError);
      return err as RtmpError;
    }
    throw new Error(`S0 ${first} was accepted`);
  }

  it("S0 version 6 (RTMPE) is RTMP_BAD_VERSION", () => {
    const err = versionError(6);
    expect(err.code).toBe(RtmpErrorCode.BadVersion);
    expect(err.message).toMatch(/version 6, expected 3/);
  });

  it("an HTTP server's answer ('H' = 0x48) is RTMP_BAD_VERSION, on its first byte alone", () => {
    const hs = handshake([0]);
    hs.start();
    expect(() => hs.receive(new TextEncoder().encode("H"))).toThrow(expect.objectContaining({ code: RtmpErrorCode.BadVersion }) as Error);
    expect(versionError(0x48).message).toMatch(/version 72.*is this an RTMP server/);
  });

  it("every version but 3 is refused", () => {
    for (let v = 0; v < 256; v++) {
      const hs = handshake([0]);
      hs.start();
      const ok = (() => {
        try {
          hs.receive(new Uint8Array([v]));
          return true;
        } catch {
          return false;
        }
      })();
      if (ok !== (v === 3)) throw new Error(`version ${v}: accepted=${ok}`);
    }
  });

  it("an S2 that does not echo C1 is only a warning", () => {
    const hs = handshake([1, 2]);
    hs.start();
    const s2 = new Uint8Array(1536).fill(0xee);
    const r = feed(hs, [concat(new Uint8Array([3]), makeS1(), s2)]);
    expect(r.done).toBe(true);
    expect(r.sent).toHaveLength(1);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/S2 does not echo C1/);
    expect(hs.state).toBe("done");
  });

  it("an S2 whose time fields differ but whose random part echoes C1 gives no warning", () => {
    const hs = handshake([1, 2]);
    const c1 = hs.start().subarray(1);
    const s2 = new Uint8Array(c1);
    s2.set([9, 9, 9, 9, 9, 9, 9, 9], 0);
    expect(feed(hs, [concat(new Uint8Array([3]), makeS1(), s2)]).warnings).toEqual([]);
  });

  it("an S2 differing in its last byte warns", () => {
    const hs = handshake([1, 2]);
    const c1 = hs.start().subarray(1);
    const s2 = makeS2(c1);
    s2[1535] = s2[1535]! ^ 1;
    expect(feed(hs, [concat(new Uint8Array([3]), makeS1(), s2)]).warnings).toHaveLength(1);
  });
});
