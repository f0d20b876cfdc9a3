/**
 * BitReader and unescapeRbsp (ITU-T H.264 §7.2, §9.1, §7.4.1): u(n) across
 * byte boundaries and at 32 bits, the Exp-Golomb tables of §9.1 (Table 9-2,
 * 9-3), the 31-leading-zero limit, running out of bits as a MediaError with
 * the caller's code, more_rbsp_data, and emulation prevention both ways.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BitReader, MAX_EXP_GOLOMB_LEADING_ZEROS, unescapeRbsp } from "../../server/media/bit-reader.js";
import { MediaError, MediaErrorCode, type MediaErrorCodeValue } from "../../server/media/errors.js";

/** Bytes from a bit string ("0101 1"); spaces are ignored, the last byte is zero-padded. */
function bits(s: string): Uint8Array {
  const b = s.replace(/\s+/g, "");
  if (!/^[01]*$/.test(b)) throw new Error(`not a bit string: ${s}`);
  const out = new Uint8Array(Math.ceil(b.length / 8));
  for (let i = 0; i < b.length; i++) if (b[i] === "1") out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

const reader = (s: string | Uint8Array, code: MediaErrorCodeValue = MediaErrorCode.BadSps): BitReader =>
  new BitReader(typeof s === "string" ? bits(s) : s, code, "test data");

/** The MediaError `fn` throws; fails if it throws anything else or nothing. */
function mediaError(fn: () => unknown): MediaError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MediaError);
    return err as MediaError;
  }
  throw new Error("did not throw");
}

/** The Exp-Golomb codeword of k (§9.1: leading zeros, a 1, then the info bits). */
function ueBits(k: number): string {
  const code = (k + 1).toString(2);
  return "0".repeat(code.length - 1) + code;
}

describe("BitReader.u", () => {
  it("reads MSB first, across byte boundaries", () => {
    // 1010 1100 | 0101 0011
    const r = reader(new Uint8Array([0xac, 0x53]));
    expect(r.u(1)).toBe(1);
    expect(r.u(3)).toBe(0b010);
    expect(r.u(6)).toBe(0b110001); // last 4 bits of byte 0, first 2 of byte 1
    expect(r.position).toBe(10);
    expect(r.u(6)).toBe(0b010011);
    expect(r.bitsLeft).toBe(0);
    expect(r.byteAligned).toBe(true);
  });

  it("u(32) of 0xFFFFFFFF is 4294967295, not -1; u(32) at an odd offset", () => {
    expect(reader(new Uint8Array([0xff, 0xff, 0xff, 0xff])).u(32)).toBe(0xffffffff);
    const r = reader(new Uint8Array([0x01, 0x23, 0x45, 0x67, 0x89]));
    r.skip(4);
    expect(r.u(32)).toBe(0x12345678);
    expect(r.u(4)).toBe(9);
  });

  it("u(0) is 0 and consumes nothing, even at the end", () => {
    const r = reader(new Uint8Array([0xff]));
    r.skip(8);
    expect(r.u(0)).toBe(0);
    expect(r.position).toBe(8);
  });

  it("peek returns the next bits without consuming them", () => {
    const r = reader("1011 0000");
    expect(r.peek(3)).toBe(0b101);
    expect(r.position).toBe(0);
    expect(r.u(4)).toBe(0b1011);
  });

  it("n outside 0..32 is API misuse: TypeError", () => {
    expect(() => reader("1").u(33)).toThrow(TypeError);
    expect(() => reader("1").u(-1)).toThrow(TypeError);
    expect(() => reader("1").u(1.5)).toThrow(TypeError);
  });

  it("reading past the end throws a MediaError with the caller's code, naming the field", () => {
    const sps = mediaError(() => reader(new Uint8Array([0xff]), MediaErrorCode.BadSps).u(9, "level_idc"));
    expect(sps.code).toBe("BAD_SPS");
    expect(sps.message).toBe("test data: truncated: reading level_idc needs 9 bits at bit 0, but the 1-byte data has 8 left");
    const aac = mediaError(() => reader(new Uint8Array(0), MediaErrorCode.BadAacConfig).flag("frameLengthFlag"));
    expect(aac.code).toBe("BAD_AAC_CONFIG");
    expect(aac.message).toContain("frameLengthFlag");
  });

  it("a failed read does not move the position", () => {
    const r = reader("1111 1111");
    r.skip(5);
    mediaError(() => r.u(4));
    expect(r.position).toBe(5);
    expect(r.u(3)).toBe(7);
  });
});

describe("BitReader.ue / se (H.264 §9.1)", () => {
  it("Table 9-2: the first codewords", () => {
    const table: [string, number][] = [
      ["1", 0], ["010", 1], ["011", 2], ["00100", 3], ["00101", 4], ["00110", 5], ["00111", 6], ["0001000", 7], ["0001110", 13], ["000011111", 30],
    ];
    for (const [code, value] of table) expect(reader(code).ue(), code).toBe(value);
  });

  it("Table 9-3: se(v) maps k to 0, 1, -1, 2, -2, ...", () => {
    const expected = [0, 1, -1, 2, -2, 3, -3, 4, -4];
    expected.forEach((v, k) => expect(reader(ueBits(k)).se()).toBe(v));
  });

  it("31 leading zeros is the longest accepted code: up to 2^32 - 2", () => {
    expect(MAX_EXP_GOLOMB_LEADING_ZEROS).toBe(31);
    expect(reader("0".repeat(31) + "1" + "1".repeat(31)).ue()).toBe(2 ** 32 - 2);
    expect(reader("0".repeat(31) + "1" + "0".repeat(31)).ue()).toBe(2 ** 31 - 1);
    // se of the largest: k = 2^32 - 2 is even, so -(2^31 - 1).
    expect(reader("0".repeat(31) + "1" + "1".repeat(31)).se()).toBe(-(2 ** 31 - 1));
  });

  it("32 leading zeros is refused with the caller's code (not read as a huge number)", () => {
    const err = mediaError(() => reader("0".repeat(32) + "1" + "0".repeat(32), MediaErrorCode.BadAacConfig).ue("max_num_ref_frames"));
    expect(err.code).toBe("BAD_AAC_CONFIG");
    expect(err.message).toMatch(/max_num_ref_frames is an Exp-Golomb code with more than 31 leading zero bits/);
  });

  it("all zeros until the end is a truncation, not a hang", () => {
    const err = mediaError(() => reader(new Uint8Array(3)).ue("pic_width_in_mbs_minus1"));
    expect(err.message).toMatch(/truncated: reading pic_width_in_mbs_minus1/);
  });

  it("a codeword whose info bits are cut off is a truncation", () => {
    const r = new BitReader(Uint8Array.of(0b00000001), MediaErrorCode.BadSps, "x");
    expect(() => r.ue()).toThrow(MediaError); // 7 zeros, a 1, then 7 info bits missing
  });

  it("round trip: every value's codeword reads back (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 2 }), { minLength: 1, maxLength: 20 }), (values) => {
        const r = reader(values.map(ueBits).join(""));
        for (const v of values) expect(r.ue()).toBe(v);
      }),
    );
  });
});

describe("BitReader.moreRbspData (H.264 §7.2)", () => {
  it("is true before the last 1 bit (the rbsp_stop_one_bit), false at it", () => {
    const r = reader("1011 0100"); // data "1011 0", stop bit at bit 5
    expect(r.moreRbspData()).toBe(true);
    r.skip(5);
    expect(r.moreRbspData()).toBe(false);
  });

  it("ignores trailing zero bytes (cabac_zero_words), and all-zero data has none", () => {
    const r = reader(new Uint8Array([0b1100_0000, 0, 0]));
    r.skip(1);
    expect(r.moreRbspData()).toBe(false);
    expect(reader(new Uint8Array([0, 0])).moreRbspData()).toBe(false);
  });
});

/** Adds emulation prevention as an encoder does (§7.4.1): 03 after 00 00 when the next byte is <= 3, and after a final 00 00. */
function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  // An RBSP ending in a cabac_zero_word (00 00) gets a final 03: a NAL unit cannot end in 00.
  if (zeros >= 2) out.push(3);
  return Uint8Array.from(out);
}

describe("unescapeRbsp (H.264 §7.4.1)", () => {
  it("returns the same array when there is nothing to remove", () => {
    const nal = Uint8Array.of(0x67, 0x42, 0x00, 0x1e, 0x00, 0x04);
    expect(unescapeRbsp(nal)).toBe(nal);
  });

  it("removes each 03 after two zero bytes, and only those", () => {
    // 00 00 03 01 -> 00 00 01; a 03 after a single zero stays.
    expect(unescapeRbsp(Uint8Array.of(0x00, 0x00, 0x03, 0x01, 0x00, 0x03))).toEqual(Uint8Array.of(0x00, 0x00, 0x01, 0x00, 0x03));
    // Back to back: 00 00 03 00 00 03 00 -> 00 00 00 00 00
    expect(unescapeRbsp(Uint8Array.of(0, 0, 3, 0, 0, 3, 0))).toEqual(Uint8Array.of(0, 0, 0, 0, 0));
    // The 03 resets the zero count: 00 00 03 00 03 keeps the second 03.
    expect(unescapeRbsp(Uint8Array.of(0, 0, 3, 0, 3))).toEqual(Uint8Array.of(0, 0, 0, 3));
    // At the very end (cabac_zero_word 00 00 03).
    expect(unescapeRbsp(Uint8Array.of(0x80, 0, 0, 3))).toEqual(Uint8Array.of(0x80, 0, 0));
    // Three zeros then 03: still removed.
    expect(unescapeRbsp(Uint8Array.of(0, 0, 0, 3, 2))).toEqual(Uint8Array.of(0, 0, 0, 2));
  });

  it("the SPS x264 writes for 1920x1080 High (ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=25 -t 0.2 -c:v libx264 -profile:v high -f flv)", () => {
    // Its timing_info (num_units_in_tick 1, time_scale 50) contains two escapes.
    const nal = Uint8Array.of(0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58);
    const rbsp = unescapeRbsp(nal);
    expect(rbsp.byteLength).toBe(nal.byteLength - 2);
    expect(Array.from(rbsp.subarray(12, 19))).toEqual([0x44, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00]);
  });

  it("round trip: unescape(escape(x)) = x for random data (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }).map((a) => a.map((b) => (b < 200 ? b & 3 : b))), (rbsp) => {
        const escaped = escape(rbsp);
        // No start code prefix (00 00 0x, x <= 2) survives escaping.
        for (let i = 2; i < escaped.length; i++) {
          expect(escaped[i - 2] === 0 && escaped[i - 1] === 0 && escaped[i]! <= 2).toBe(false);
        }
        expect(Array.from(unescapeRbsp(escaped))).toEqual(Array.from(rbsp));
      }),
    );
  });
});

describe("BitReader fuzz", () => {
  it("any sequence of reads on any data throws only MediaError", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("u" as const), n: fc.integer({ min: 0, max: 32 }) }),
      fc.record({ kind: fc.constantFrom("ue" as const, "se" as const, "more" as const) }),
      fc.record({ kind: fc.constant("skip" as const), n: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), fc.array(op, { maxLength: 30 }), (data, ops) => {
        const r = reader(data);
        try {
          for (const o of ops) {
            const before = r.position;
            if (o.kind === "u") expect(r.u(o.n)).toBeLessThan(2 ** o.n);
            else if (o.kind === "ue") expect(r.ue()).toBeGreaterThanOrEqual(0);
            else if (o.kind === "se") expect(Number.isInteger(r.se())).toBe(true);
            else if (o.kind === "more") r.moreRbspData();
            else if (o.kind === "skip") r.skip(o.n);
            expect(r.position).toBeGreaterThanOrEqual(before);
            expect(r.position).toBeLessThanOrEqual(data.length * 8);
          }
        } catch (err) {
          if (!(err instanceof MediaError)) throw err;
          expect(err.code).toBe("BAD_SPS");
        }
      }),
      { numRuns: 3000 },
    );
  });
});
