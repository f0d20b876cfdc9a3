/**
 * AMF0 encoder/decoder (Adobe AMF0 specification §2) over the WebAssembly
 * core: hand-built vectors commented byte by byte, real RTMP commands as
 * nginx-rtmp sends them, a fast-check round trip, and one test per status code
 * the decoder can return on untrusted bytes, plus a fuzz test.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeAmf0, EcmaArray, encodeAmf0, type AmfDecodeOptions, type AmfValue } from "../../wasm/host/amf0.js";
import type { Core } from "../../wasm/host/core.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { CoreError, statusCode } from "../../wasm/host/status.js";

let core: Core;
beforeAll(async () => {
  core = await loadCoreNode();
});

// ---------------------------------------------------------------- helpers

/** Bytes from numbers (one byte each) and ASCII strings (their characters). */
function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") {
      if (!Number.isInteger(p) || p < 0 || p > 255) throw new Error(`not a byte: ${p}`);
      out.push(p);
    } else {
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        if (c > 0x7f) throw new Error(`not ASCII: ${p}`);
        out.push(c);
      }
    }
  }
  return Uint8Array.from(out);
}

function concat(...arrays: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.byteLength;
  }
  return out;
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

const decodeCode = (input: Uint8Array, options?: AmfDecodeOptions): string => coreErrorCode(() => decodeAmf0(core, input, options));

function ownValue(obj: object, key: string): unknown {
  const d: PropertyDescriptor | undefined = Object.getOwnPropertyDescriptor(obj, key);
  return d?.value;
}

/**
 * Where `actual` differs from `expected` (undefined if nowhere), comparing
 * numbers and dates with Object.is (NaN equals NaN, 0 differs from -0), and
 * telling Object, EcmaArray, strict array and Date apart. Unlike toEqual it
 * does not ignore `undefined`-valued keys and reads "__proto__" as an own key.
 */
function amfDiff(actual: unknown, expected: unknown, path = "$"): string | undefined {
  if (expected instanceof Date) {
    if (!(actual instanceof Date)) return `${path}: expected a Date`;
    return Object.is(actual.getTime(), expected.getTime()) ? undefined : `${path}: ${actual.getTime()} != ${expected.getTime()}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected a strict array`;
    if (actual.length !== expected.length) return `${path}: length ${actual.length} != ${expected.length}`;
    for (let i = 0; i < expected.length; i++) {
      const d = amfDiff(actual[i], expected[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (expected instanceof EcmaArray) {
    if (!(actual instanceof EcmaArray)) return `${path}: expected an EcmaArray`;
    return propsDiff(actual.entries, expected.entries, path);
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual) || actual instanceof Date || actual instanceof EcmaArray) {
      return `${path}: expected an Object`;
    }
    if (Object.getPrototypeOf(actual) !== Object.prototype) return `${path}: decoded object has a foreign prototype`;
    return propsDiff(actual, expected, path);
  }
  return Object.is(actual, expected) ? undefined : `${path}: ${String(actual)} != ${String(expected)}`;
}

function propsDiff(actual: object, expected: object, path: string): string | undefined {
  const a = Object.keys(actual).sort();
  const e = Object.keys(expected).sort();
  if (JSON.stringify(a) !== JSON.stringify(e)) return `${path}: keys ${JSON.stringify(a)} != ${JSON.stringify(e)}`;
  for (const k of e) {
    const d = amfDiff(ownValue(actual, k), ownValue(expected, k), `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

// ---------------------------------------------------------------- vectors

interface Vector {
  readonly name: string;
  readonly values: AmfValue[];
  readonly bytes: Uint8Array;
  readonly options?: AmfDecodeOptions;
}

/** 65,536 'a': one byte past what a String's U16 length can hold. */
const LONG = "a".repeat(0x10000);

const VECTORS: Vector[] = [
  {
    name: "Number 1.5",
    values: [1.5],
    bytes: bytes(
      0x00, //                                          Number marker (§2.2)
      0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 1.5 as big-endian IEEE-754 double
    ),
  },
  {
    name: "Numbers -0, Infinity, -Infinity, NaN",
    values: [-0, Infinity, -Infinity, Number.NaN],
    bytes: bytes(
      0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number -0: only the sign bit
      0x00, 0x7f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number +Infinity: exponent all ones
      0x00, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number -Infinity
      0x00, 0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number NaN (the quiet NaN JS writes)
    ),
  },
  {
    name: "Boolean true, false",
    values: [true, false],
    bytes: bytes(
      0x01, 0x01, // Boolean marker (§2.3), 1 = true
      0x01, 0x00, // Boolean marker, 0 = false
    ),
  },
  {
    name: "String",
    values: ["hi", "", "é€😀"],
    bytes: bytes(
      0x02, //                  String marker (§2.4)
      0x00, 0x02, //            U16 byte length 2
      "hi", //                  UTF-8 bytes
      0x02, 0x00, 0x00, //      String, length 0 (the empty string)
      0x02, 0x00, 0x09, //      String, length 9: the length counts UTF-8 bytes, not characters
      0xc3, 0xa9, //            "é"  U+00E9, 2 bytes
      0xe2, 0x82, 0xac, //      "€"  U+20AC, 3 bytes
      0xf0, 0x9f, 0x98, 0x80, // "😀" U+1F600, 4 bytes (one surrogate pair in JS)
    ),
  },
  {
    name: "String of 65535 bytes (the longest String)",
    values: ["b".repeat(0xffff)],
    bytes: concat(
      bytes(0x02, 0xff, 0xff), // String marker, U16 length 0xFFFF: still fits
      new Uint8Array(0xffff).fill(0x62), // 'b' x 65535
    ),
  },
  {
    name: "Long String (65536 bytes chooses marker 0x0C)",
    values: [LONG],
    bytes: concat(
      bytes(
        0x0c, //                   Long String marker (§2.14)
        0x00, 0x01, 0x00, 0x00, // U32 byte length 0x10000
      ),
      new Uint8Array(0x10000).fill(0x61), // 'a' x 65536
    ),
    options: { maxStringLength: 0x10000 },
  },
  {
    name: "Object",
    values: [{ a: 1, "": "x" }],
    bytes: bytes(
      0x03, //                                                Object marker (§2.5)
      0x00, 0x01, "a", //                                     property name: U16 length 1, "a" (no marker)
      0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // value: Number 1
      0x00, 0x00, //                                          property name: the empty string...
      0x02, 0x00, 0x01, "x", //                               ...followed by a value, so not the end marker
      0x00, 0x00, 0x09, //                                    UTF-8-empty + Object End marker (§2.11)
    ),
  },
  {
    name: "Null and Undefined",
    values: [null, undefined],
    bytes: bytes(
      0x05, // Null marker (§2.7)
      0x06, // Undefined marker (§2.8)
    ),
  },
  {
    name: "ECMA Array",
    values: [new EcmaArray({ x: true, y: null })],
    bytes: bytes(
      0x08, //                   ECMA Array marker (§2.10)
      0x00, 0x00, 0x00, 0x02, // U32 associative-count 2
      0x00, 0x01, "x", //        property name "x"
      0x01, 0x01, //             value: Boolean true
      0x00, 0x01, "y", //        property name "y"
      0x05, //                   value: Null
      0x00, 0x00, 0x09, //       end marker, as for an Object
    ),
  },
  {
    name: "Strict Array",
    values: [[1, "a", []]],
    bytes: bytes(
      0x0a, //                                                Strict Array marker (§2.12)
      0x00, 0x00, 0x00, 0x03, //                              U32 array-count 3, no end marker
      0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // [0] Number 1
      0x02, 0x00, 0x01, "a", //                               [1] String "a"
      0x0a, 0x00, 0x00, 0x00, 0x00, //                        [2] Strict Array of 0 elements
    ),
  },
  {
    name: "Date",
    values: [new Date(Date.UTC(2024, 0, 1))],
    bytes: bytes(
      0x0b, //                                          Date marker (§2.13)
      0x42, 0x78, 0xcc, 0x25, 0x1f, 0x40, 0x00, 0x00, // 1704067200000 ms since the epoch (2024-01-01Z), double
      0x00, 0x00, //                                    S16 time-zone: "should be 0x0000"
    ),
  },
  {
    // RTMP 1.0 §7.2.1.1 connect, as an encoder publishing with FMLE flags sends it.
    name: "RTMP connect command",
    values: [
      "connect",
      1,
      { app: "live", type: "nonprivate", flashVer: "FMLE/3.0 (compatible; FMSc/1.0)", tcUrl: "rtmp://127.0.0.1/live" },
    ],
    bytes: bytes(
      0x02, 0x00, 0x07, "connect", //                         String: command name
      0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number: transaction id 1
      0x03, //                                                Object: command object
      0x00, 0x03, "app", //                                   name "app"
      0x02, 0x00, 0x04, "live", //                            String "live"
      0x00, 0x04, "type", //                                  name "type"
      0x02, 0x00, 0x0a, "nonprivate", //                      String "nonprivate" (10)
      0x00, 0x08, "flashVer", //                              name "flashVer"
      0x02, 0x00, 0x1f, "FMLE/3.0 (compatible; FMSc/1.0)", // String of 31 bytes
      0x00, 0x05, "tcUrl", //                                 name "tcUrl"
      0x02, 0x00, 0x15, "rtmp://127.0.0.1/live", //           String of 21 bytes
      0x00, 0x00, 0x09, //                                    Object End
    ),
  },
  {
    // nginx-rtmp's reply to connect (ngx_rtmp_cmd_module.c, ngx_rtmp_cmd_connect):
    // properties {fmsVer, capabilities}, information {level, code, description, objectEncoding}.
    name: "nginx-rtmp _result for connect",
    values: [
      "_result",
      1,
      { fmsVer: "FMS/3,0,1,123", capabilities: 31 },
      { level: "status", code: "NetConnection.Connect.Success", description: "Connection succeeded.", objectEncoding: 0 },
    ],
    bytes: bytes(
      0x02, 0x00, 0x07, "_result", //                         String: "_result"
      0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number: transaction id 1, echoed
      0x03, //                                                Object: properties
      0x00, 0x06, "fmsVer", //                                name "fmsVer"
      0x02, 0x00, 0x0d, "FMS/3,0,1,123", //                   String of 13 bytes
      0x00, 0x0c, "capabilities", //                          name "capabilities" (12)
      0x00, 0x40, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number 31
      0x00, 0x00, 0x09, //                                    Object End
      0x03, //                                                Object: information
      0x00, 0x05, "level", //                                 name "level"
      0x02, 0x00, 0x06, "status", //                          String "status"
      0x00, 0x04, "code", //                                  name "code"
      0x02, 0x00, 0x1d, "NetConnection.Connect.Success", //   String of 29 bytes
      0x00, 0x0b, "description", //                           name "description" (11)
      0x02, 0x00, 0x15, "Connection succeeded.", //           String of 21 bytes
      0x00, 0x0e, "objectEncoding", //                        name "objectEncoding" (14)
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number 0 (AMF0)
      0x00, 0x00, 0x09, //                                    Object End
    ),
  },
  {
    // nginx-rtmp's answer to publish (ngx_rtmp_send.c, ngx_rtmp_create_status with
    // "NetStream.Publish.Start", "status", "Start publishing"): onStatus, 0, null, info.
    name: "nginx-rtmp onStatus NetStream.Publish.Start",
    values: ["onStatus", 0, null, { level: "status", code: "NetStream.Publish.Start", description: "Start publishing" }],
    bytes: bytes(
      0x02, 0x00, 0x08, "onStatus", //                        String: "onStatus"
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number: transaction id 0
      0x05, //                                                Null: no command object
      0x03, //                                                Object: information
      0x00, 0x05, "level", //                                 name "level"
      0x02, 0x00, 0x06, "status", //                          String "status"
      0x00, 0x04, "code", //                                  name "code"
      0x02, 0x00, 0x17, "NetStream.Publish.Start", //         String of 23 bytes
      0x00, 0x0b, "description", //                           name "description"
      0x02, 0x00, 0x10, "Start publishing", //                String of 16 bytes
      0x00, 0x00, 0x09, //                                    Object End
    ),
  },
  {
    // nginx-rtmp's reply to createStream: "_result", transaction id, null, stream id 1.
    name: "nginx-rtmp _result for createStream",
    values: ["_result", 4, null, 1],
    bytes: bytes(
      0x02, 0x00, 0x07, "_result", //                         String "_result"
      0x00, 0x40, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number 4: transaction id
      0x05, //                                                Null
      0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Number 1: message stream id
    ),
  },
];

/** Vectors small enough to cut at every offset, mutate and fuzz. */
const SMALL_VECTORS = VECTORS.filter((v) => v.bytes.byteLength < 4096);

describe("AMF0 hand-built vectors", () => {
  for (const v of VECTORS) {
    it(`encodes ${v.name}`, () => {
      expect(encodeAmf0(core, v.values)).toEqual(v.bytes);
    });
    it(`decodes ${v.name}`, () => {
      expect(amfDiff(decodeAmf0(core, v.bytes, v.options), v.values)).toBeUndefined();
    });
  }

  it("chooses Long String by UTF-8 byte length, not by string length", () => {
    // 21,846 x "€" is 21,846 UTF-16 units but 65,538 UTF-8 bytes.
    const s = "€".repeat(21846);
    const enc = encodeAmf0(core, [s]);
    expect(enc.subarray(0, 5)).toEqual(bytes(0x0c, 0x00, 0x01, 0x00, 0x02)); // Long String, U32 65538
    expect(decodeAmf0(core, enc, { maxStringLength: 65538 })).toEqual([s]);
  });

  it("reads any non-zero Boolean byte as true", () => {
    expect(decodeAmf0(core, bytes(0x01, 0x02, 0x01, 0xff))).toEqual([true, true]);
  });

  it("ignores a Date's time-zone field (the spec says to)", () => {
    // Date 0 ms with time-zone -60 (0xFFC4): still the epoch.
    const d = decodeAmf0(core, bytes(0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xc4));
    expect(amfDiff(d, [new Date(0)])).toBeUndefined();
  });

  it("ignores the ECMA Array count (writers often get it wrong) and reads to the end marker", () => {
    const d = decodeAmf0(core, bytes(0x08, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, "k", 0x05, 0x00, 0x00, 0x09));
    expect(amfDiff(d, [new EcmaArray({ k: null })])).toBeUndefined();
  });

  it("decodes the empty input as no values", () => {
    expect(decodeAmf0(core, new Uint8Array(0))).toEqual([]);
  });

  it("keeps a peer's \"__proto__\" key as an own property, not as the prototype", () => {
    const enc = bytes(
      0x03, //                                           Object
      0x00, 0x09, "__proto__", //                        name "__proto__"
      0x03, 0x00, 0x01, "x", 0x01, 0x01, 0x00, 0x00, 0x09, // value: Object {x: true}
      0x00, 0x00, 0x09, //                               Object End
    );
    const [obj] = decodeAmf0(core, enc) as [Record<string, unknown>];
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    expect(Object.keys(obj)).toEqual(["__proto__"]);
    expect(obj.x).toBeUndefined();
    // ...and it round-trips.
    expect(encodeAmf0(core, [obj as AmfValue])).toEqual(enc);
  });

  it("writes a sparse array's holes as Undefined", () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(encodeAmf0(core, [[, 1] as AmfValue[]])).toEqual(bytes(0x0a, 0, 0, 0, 2, 0x06, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0));
  });

  it("refuses values with no AMF0 form with a TypeError", () => {
    for (const bad of [() => 1, Symbol("s"), 1n]) {
      expect(() => encodeAmf0(core, [bad as unknown as AmfValue])).toThrow(TypeError);
      expect(() => encodeAmf0(core, [{ k: bad as unknown as AmfValue }])).toThrow(TypeError);
    }
  });

  it("refuses a property name over 65535 UTF-8 bytes with a TypeError (names have a U16 length)", () => {
    expect(() => encodeAmf0(core, [{ ["k".repeat(0x10000)]: 1 }])).toThrow(TypeError);
    const ok = encodeAmf0(core, [{ ["k".repeat(0xffff)]: 1 }]);
    expect(ok.subarray(0, 3)).toEqual(bytes(0x03, 0xff, 0xff));
  });
});

// ---------------------------------------------------------------- round trip

/** Property names: any text, plus the ones that are special in JS objects. */
const propertyName = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "0", "length"),
);

const amfArbitrary = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double(), // includes NaN, -0, +-Infinity, subnormals
    fc.integer(),
    fc.boolean(),
    fc.string(), // ASCII graphemes, with "__proto__"-like names mixed in
    fc.string({ unit: "binary" }), // any code point, astral ones included
    fc.constant(null),
    fc.constant(undefined),
    fc.date(), // includes Invalid Date (NaN ms)
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(propertyName, tie("value"), { maxKeys: 5 }),
    fc.dictionary(propertyName, tie("value"), { maxKeys: 5 }).map((entries) => new EcmaArray(entries)),
  ),
})).value;

describe("AMF0 round trip", () => {
  it("decodeAmf0(encodeAmf0(values)) is the identity on arbitrary nested values", () => {
    fc.assert(
      fc.property(fc.array(amfArbitrary, { maxLength: 4 }), (values) => {
        const decoded = decodeAmf0(core, encodeAmf0(core, values), { maxDepth: 64, maxStringLength: 0x7fffffff });
        expect(amfDiff(decoded, values)).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it("round-trips 64 levels of nesting, the most either side allows", () => {
    const deep = nestValue(["object", "ecma", "strict"], 64);
    const enc = encodeAmf0(core, [deep]);
    expect(amfDiff(decodeAmf0(core, enc, { maxDepth: 64 }), [deep])).toBeUndefined();
  });
});

// ---------------------------------------------------------------- untrusted bytes

type Kind = "object" | "ecma" | "strict";

/** `levels` nested containers (kinds taken in turn) around a Null, as bytes. */
function nestBytes(kinds: Kind[], levels: number): Uint8Array {
  const open: number[] = [];
  const close: number[] = [];
  for (let i = 0; i < levels; i++) {
    const kind = kinds[i % kinds.length]!;
    if (kind === "object") open.push(0x03, 0x00, 0x01, 0x61); // Object, name "a"
    else if (kind === "ecma") open.push(0x08, 0, 0, 0, 1, 0x00, 0x01, 0x61); // ECMA Array, count 1, name "a"
    else open.push(0x0a, 0, 0, 0, 1); // Strict Array of 1
    if (kind !== "strict") close.unshift(0x00, 0x00, 0x09); // Object End; a Strict Array has none
  }
  return Uint8Array.from([...open, 0x05, ...close]);
}

/** The same nesting as a JS value (around `leaf`). */
function nestValue(kinds: Kind[], levels: number, leaf: AmfValue = null): AmfValue {
  let v: AmfValue = leaf;
  for (let i = levels - 1; i >= 0; i--) {
    const kind = kinds[i % kinds.length]!;
    v = kind === "object" ? { a: v } : kind === "ecma" ? new EcmaArray({ a: v }) : [v];
  }
  return v;
}

describe("AMF0 decoder on untrusted bytes", () => {
  it("AMF_TRUNCATED: every valid vector cut at every offset that is not a value boundary", () => {
    for (const v of VECTORS) {
      // Top-level value boundaries: a cut there is a shorter, valid sequence.
      const boundaries = new Map<number, number>([[0, 0]]);
      let at = 0;
      v.values.forEach((value, i) => {
        at += encodeAmf0(core, [value]).byteLength;
        boundaries.set(at, i + 1);
      });
      expect(at).toBe(v.bytes.byteLength);
      for (let cut = 0; cut < v.bytes.byteLength; cut++) {
        const prefix = v.bytes.subarray(0, cut);
        const whole = boundaries.get(cut);
        if (whole !== undefined) {
          expect(amfDiff(decodeAmf0(core, prefix, v.options), v.values.slice(0, whole)), `${v.name} cut at ${cut}`).toBeUndefined();
        } else {
          expect(decodeCode(prefix, v.options), `${v.name} cut at ${cut}`).toBe("AMF_TRUNCATED");
        }
      }
    }
  });

  it("AMF_TRUNCATED: lengths and counts that promise more than is there", () => {
    expect(decodeCode(bytes(0x02, 0x00, 0x05, "abc"))).toBe("AMF_TRUNCATED"); // String of 5, 3 given
    expect(decodeCode(bytes(0x0c, 0x00, 0x00, 0x00, 0x05, "ab"))).toBe("AMF_TRUNCATED"); // Long String of 5
    expect(decodeCode(bytes(0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05))).toBe("AMF_TRUNCATED"); // 4 billion elements
    expect(decodeCode(bytes(0x03, 0x00, 0x01, "a", 0x05))).toBe("AMF_TRUNCATED"); // Object never ended
    expect(decodeCode(bytes(0x03, 0x00, 0x00))).toBe("AMF_TRUNCATED"); // "00 00" with no 09: an empty name, no value
  });

  it("AMF_BAD_MARKER: unsupported markers and a bare Object End, wherever a value may start", () => {
    // 0x04 movieclip, 0x07 reference, 0x0D unsupported, 0x0E recordset, 0x0F XML
    // document, 0x10 typed object, 0x11 switch to AVM+ (AMF3), 0xFF undefined, 0x09 alone.
    for (const m of [0x04, 0x07, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x80, 0xff, 0x09]) {
      const pad = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
      expect(decodeCode(bytes(m)), `0x${m.toString(16)} alone`).toBe("AMF_BAD_MARKER");
      expect(decodeCode(bytes(m, ...pad)), `0x${m.toString(16)} with data`).toBe("AMF_BAD_MARKER");
      expect(decodeCode(bytes(0x05, m, ...pad)), `0x${m.toString(16)} second`).toBe("AMF_BAD_MARKER");
      expect(decodeCode(bytes(0x03, 0x00, 0x01, "a", m, ...pad, 0x00, 0x00, 0x09)), `0x${m.toString(16)} as property`).toBe("AMF_BAD_MARKER");
      expect(decodeCode(bytes(0x0a, 0x00, 0x00, 0x00, 0x01, m, ...pad)), `0x${m.toString(16)} as element`).toBe("AMF_BAD_MARKER");
    }
  });

  it("AMF_TOO_DEEP: one level over maxDepth, for every container kind", () => {
    const mixes: Kind[][] = [["object"], ["ecma"], ["strict"], ["object", "strict", "ecma"]];
    for (const kinds of mixes) {
      for (const maxDepth of [1, 2, 7, 32, 64]) {
        const label = `${kinds.join("+")} maxDepth ${maxDepth}`;
        expect(amfDiff(decodeAmf0(core, nestBytes(kinds, maxDepth), { maxDepth }), [nestValue(kinds, maxDepth)]), label).toBeUndefined();
        expect(decodeCode(nestBytes(kinds, maxDepth + 1), { maxDepth }), label).toBe("AMF_TOO_DEEP");
      }
      // The default is 32.
      expect(decodeAmf0(core, nestBytes(kinds, 32))).toHaveLength(1);
      expect(decodeCode(nestBytes(kinds, 33))).toBe("AMF_TOO_DEEP");
    }
  });

  it("AMF_TOO_DEEP: 10,000 nested objects return the code, with no stack overflow", { timeout: 5000 }, () => {
    for (const kinds of [["object"], ["ecma"], ["strict"]] as Kind[][]) {
      expect(decodeCode(nestBytes(kinds, 10_000), { maxDepth: 64 })).toBe("AMF_TOO_DEEP");
    }
    // 10,000 Objects opened and never closed: the depth limit comes first.
    const open = bytes(0x03, 0x00, 0x01, "a"); // Object, name "a", value:
    expect(decodeCode(concat(...Array.from({ length: 10_000 }, () => open)), { maxDepth: 64 })).toBe("AMF_TOO_DEEP");
  });

  it("encodeAmf0 refuses 65 levels (what no decoder here accepts) with a TypeError, even 10,000 deep", () => {
    for (const kinds of [["object"], ["ecma"], ["strict"]] as Kind[][]) {
      expect(() => encodeAmf0(core, [nestValue(kinds, 65)])).toThrow(TypeError);
      // The 65th level an empty container: nothing inside it to trip a check.
      for (const empty of [{}, [], new EcmaArray()]) {
        expect(() => encodeAmf0(core, [nestValue(kinds, 64, empty)])).toThrow(TypeError);
      }
      expect(encodeAmf0(core, [nestValue(kinds, 63, [])]).byteLength).toBeGreaterThan(0);
      expect(() => encodeAmf0(core, [nestValue(kinds, 10_000)])).toThrow(TypeError);
    }
  });

  it("AMF_STRING_TOO_LONG: String, Long String and property name over maxStringLength", () => {
    const opts = { maxStringLength: 3 };
    expect(decodeAmf0(core, bytes(0x02, 0x00, 0x03, "abc"), opts)).toEqual(["abc"]);
    expect(decodeCode(bytes(0x02, 0x00, 0x04, "abcd"), opts)).toBe("AMF_STRING_TOO_LONG");
    expect(decodeAmf0(core, bytes(0x0c, 0, 0, 0, 3, "abc"), opts)).toEqual(["abc"]);
    expect(decodeCode(bytes(0x0c, 0, 0, 0, 4, "abcd"), opts)).toBe("AMF_STRING_TOO_LONG");
    expect(decodeAmf0(core, bytes(0x03, 0x00, 0x03, "abc", 0x05, 0x00, 0x00, 0x09), opts)).toEqual([{ abc: null }]);
    expect(decodeCode(bytes(0x03, 0x00, 0x04, "abcd", 0x05, 0x00, 0x00, 0x09), opts)).toBe("AMF_STRING_TOO_LONG");
    expect(decodeCode(bytes(0x08, 0, 0, 0, 1, 0x00, 0x04, "abcd", 0x05, 0x00, 0x00, 0x09), opts)).toBe("AMF_STRING_TOO_LONG");
    // maxStringLength 0 still allows empty strings and names.
    expect(decodeAmf0(core, bytes(0x02, 0x00, 0x00, 0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09), { maxStringLength: 0 })).toEqual(["", { "": null }]);
  });

  it("AMF_STRING_TOO_LONG: the limit is checked on the length field, before waiting for the bytes", () => {
    // Default limit 65535: a Long String header claiming 4 GiB, with nothing after it.
    expect(decodeCode(bytes(0x0c, 0xff, 0xff, 0xff, 0xff))).toBe("AMF_STRING_TOO_LONG");
    expect(decodeCode(bytes(0x0c, 0x00, 0x01, 0x00, 0x00))).toBe("AMF_STRING_TOO_LONG"); // 65536
    expect(decodeCode(bytes(0x02, 0xff, 0xff), { maxStringLength: 100 })).toBe("AMF_STRING_TOO_LONG");
  });

  it("options out of range are a TypeError", () => {
    const input = bytes(0x05);
    for (const maxDepth of [0, -1, 65, 1.5, Number.NaN, Infinity]) {
      expect(() => decodeAmf0(core, input, { maxDepth }), `maxDepth ${maxDepth}`).toThrow(TypeError);
    }
    for (const maxStringLength of [-1, 0.5, 0x80000000, Number.NaN, Infinity]) {
      expect(() => decodeAmf0(core, input, { maxStringLength }), `maxStringLength ${maxStringLength}`).toThrow(TypeError);
    }
    expect(decodeAmf0(core, input, { maxDepth: 64, maxStringLength: 0x7fffffff })).toEqual([null]);
    expect(decodeAmf0(core, input, { maxDepth: 1, maxStringLength: 0 })).toEqual([null]);
  });

  it("AMF_BAD_VALUE: the raw encoder refuses a token of unknown kind or a name over 0xFFFF bytes", () => {
    const TOKEN = 24;
    const encodeRaw = (kind: number, a: number, b: number): number => {
      const tok = core.tokens.ensure(TOKEN);
      const out = core.output.ensure(64);
      const view = core.view;
      view.setUint32(tok, kind, true); // kind
      view.setUint32(tok + 4, a, true); // a: string address
      view.setUint32(tok + 8, b, true); // b: string length
      view.setFloat64(tok + 16, 0, true);
      return core.exports.amfEncode(tok, 1, out, 64);
    };
    // Markers the encoder has no token for, and kinds past T_ARRAY_END (101).
    for (const kind of [0x04, 0x07, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 99, 102, 0xffffffff]) {
      const status = encodeRaw(kind, 0, 0);
      expect(status, `kind ${kind}`).toBe(-25);
      expect(statusCode(status)).toBe("AMF_BAD_VALUE");
      expect(new CoreError(status, "AMF0 encode").code).toBe("AMF_BAD_VALUE");
    }
    // A property name (T_KEY = 100) of 0x10000 bytes cannot have a U16 length.
    expect(statusCode(encodeRaw(100, core.input.ptr, 0x10000))).toBe("AMF_BAD_VALUE");
    // The well-formed neighbours succeed: Null, and an empty name.
    expect(encodeRaw(0x05, 0, 0)).toBe(1);
    expect(encodeRaw(100, core.input.ptr, 0)).toBe(2);
  });

  it("WASM_NO_SPACE: the raw encoder never writes past its output capacity", () => {
    const tok = core.tokens.ensure(24);
    const out = core.output.ensure(64);
    const view = core.view;
    view.setUint32(tok, 0x00, true); // Number: needs 9 bytes
    view.setFloat64(tok + 16, 1, true);
    core.u8.fill(0xee, out, out + 16);
    expect(core.exports.amfEncode(tok, 1, out, 8)).toBe(-24);
    expect(core.u8.subarray(out, out + 9)).toEqual(new Uint8Array(9).fill(0xee));
    expect(core.exports.amfEncode(tok, 1, out, 9)).toBe(9);
  });
});

// ---------------------------------------------------------------- fuzz

/** A valid vector with a few bytes overwritten, inserted, deleted or cut. */
const mutatedVector = fc
  .tuple(
    fc.constantFrom(...SMALL_VECTORS.map((v) => v.bytes)),
    fc.array(
      fc.tuple(fc.constantFrom("set", "insert", "delete", "cut"), fc.nat(), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([base, edits]) => {
    const b = [...base];
    for (const [op, where, value] of edits) {
      const i = b.length === 0 ? 0 : where % b.length;
      if (op === "set") b[i] = value;
      else if (op === "insert") b.splice(i, 0, value);
      else if (op === "delete") b.splice(i, 1);
      else b.length = i;
    }
    return Uint8Array.from(b);
  });

/** Bytes drawn mostly from the markers and small lengths, to reach deep paths. */
const markerSoup = fc
  .array(fc.constantFrom(0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x61, 0xff), { maxLength: 512 })
  .map((a) => Uint8Array.from(a));

/** Nested containers of random kinds (up to 80 deep), some with a byte changed. */
const nested = fc
  .tuple(
    fc.array(fc.constantFrom<Kind>("object", "ecma", "strict"), { minLength: 1, maxLength: 80 }),
    fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))),
  )
  .map(([kinds, edit]) => {
    const b = nestBytes(kinds, kinds.length);
    if (edit) b[edit[0] % b.length] = edit[1];
    return b;
  });

describe("AMF0 decoder fuzz", () => {
  it("random and mutated bytes give values or a CoreError with an AMF_* code; memory stays bounded", () => {
    // Warm up the scratch regions with the largest input the fuzz makes.
    decodeAmf0(core, new Uint8Array(4096).fill(0x05));
    const before = core.memory.buffer.byteLength;
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 4096 }), mutatedVector, markerSoup, nested),
        fc.record({ maxDepth: fc.integer({ min: 1, max: 64 }), maxStringLength: fc.integer({ min: 0, max: 300 }) }, { requiredKeys: [] }),
        (input, options) => {
          try {
            decodeAmf0(core, input, options);
            seen.add("ok");
          } catch (e) {
            if (!(e instanceof CoreError)) throw e;
            expect(e.code).toMatch(/^AMF_(TRUNCATED|BAD_MARKER|TOO_DEEP|STRING_TOO_LONG)$/);
            seen.add(e.code);
          }
        },
      ),
      { numRuns: 5000 },
    );
    expect(core.memory.buffer.byteLength).toBe(before);
    // The generators reached every outcome (so the property was not vacuous).
    expect([...seen].sort()).toEqual(["AMF_BAD_MARKER", "AMF_STRING_TOO_LONG", "AMF_TOO_DEEP", "AMF_TRUNCATED", "ok"]);
  });
});
