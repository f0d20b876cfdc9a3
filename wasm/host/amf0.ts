/**
 * AMF0 values <-> bytes over the WebAssembly core (Adobe AMF0 spec §2).
 *
 * JS values map to AMF0 as: number -> Number, boolean -> Boolean, string ->
 * String (Long String past 65535 UTF-8 bytes), null -> Null, undefined ->
 * Undefined, Date -> Date, array -> Strict Array, `EcmaArray` -> ECMA Array,
 * plain object -> Object. Decoding gives the same back, so encode/decode is
 * the identity on these values.
 */
import type { Core } from "./core.js";
import { CoreError } from "./status.js";

/** An AMF0 ECMA array (associative array), as used by onMetaData. */
export class EcmaArray {
  readonly entries: Record<string, AmfValue>;

  constructor(entries: Record<string, AmfValue> = {}) {
    this.entries = entries;
  }
}

/** An AMF0 Object: a plain object of AMF0 values. */
export interface AmfObject {
  [key: string]: AmfValue;
}

export type AmfValue = number | boolean | string | null | undefined | Date | EcmaArray | AmfValue[] | AmfObject;

export interface AmfDecodeOptions {
  /** Deepest nesting of objects/arrays accepted (default 32, at most 64; encodeAmf0 writes at most 64). */
  maxDepth?: number;
  /** Longest string or property name accepted, in bytes (default 65535). */
  maxStringLength?: number;
}

// Token kinds: AMF0 markers, plus two of the core's own.
const T = {
  Number: 0x00, Boolean: 0x01, String: 0x02, Object: 0x03, Null: 0x05, Undefined: 0x06,
  EcmaArray: 0x08, ObjectEnd: 0x09, StrictArray: 0x0a, Date: 0x0b, LongString: 0x0c,
  Key: 100, ArrayEnd: 101,
} as const;
const TOKEN_SIZE = 24;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

interface PendingToken {
  kind: number;
  a: number;
  /** String bytes, for String/LongString/Key tokens. */
  bytes?: Uint8Array;
  num: number;
}

/** Deepest nesting decodeAmf0 can ever accept (its maxDepth is at most 64). */
const MAX_DEPTH = 64;

/** `depth` is the number of containers enclosing `value`. */
function flatten(value: AmfValue, out: PendingToken[], depth: number): void {
  // A container at depth 64 would be the 65th level: refuse what no decoder
  // here could read back (and keep this recursion shallow).
  if (depth >= MAX_DEPTH && value !== null && typeof value === "object" && !(value instanceof Date)) {
    throw new TypeError(`AMF0 value nested deeper than ${MAX_DEPTH} levels`);
  }
  if (value === null) out.push({ kind: T.Null, a: 0, num: 0 });
  else if (value === undefined) out.push({ kind: T.Undefined, a: 0, num: 0 });
  else if (typeof value === "number") out.push({ kind: T.Number, a: 0, num: value });
  else if (typeof value === "boolean") out.push({ kind: T.Boolean, a: value ? 1 : 0, num: 0 });
  else if (typeof value === "string") out.push({ kind: T.String, a: 0, bytes: utf8.encode(value), num: 0 });
  else if (value instanceof Date) out.push({ kind: T.Date, a: 0, num: value.getTime() });
  else if (Array.isArray(value)) {
    out.push({ kind: T.StrictArray, a: value.length, num: 0 });
    for (const item of value) flatten(item, out, depth + 1);
    out.push({ kind: T.ArrayEnd, a: 0, num: 0 });
  } else if (value instanceof EcmaArray) {
    const keys = Object.keys(value.entries);
    out.push({ kind: T.EcmaArray, a: keys.length, num: 0 });
    flattenProperties(value.entries, keys, out, depth);
  } else if (typeof value === "object") {
    out.push({ kind: T.Object, a: 0, num: 0 });
    flattenProperties(value, Object.keys(value), out, depth);
  } else {
    throw new TypeError(`cannot encode ${typeof value} as AMF0`);
  }
}

function flattenProperties(obj: Record<string, AmfValue>, keys: string[], out: PendingToken[], depth: number): void {
  for (const key of keys) {
    const bytes = utf8.encode(key);
    if (bytes.byteLength > 0xffff) throw new TypeError("AMF0 property name longer than 65535 bytes");
    out.push({ kind: T.Key, a: 0, bytes, num: 0 });
    flatten(obj[key], out, depth + 1);
  }
  out.push({ kind: T.ObjectEnd, a: 0, num: 0 });
}

/** Encodes values one after another (an RTMP command is several values). */
export function encodeAmf0(core: Core, values: readonly AmfValue[]): Uint8Array {
  const pending: PendingToken[] = [];
  for (const v of values) flatten(v, pending, 0);
  let strBytes = 0;
  for (const t of pending) strBytes += t.bytes?.byteLength ?? 0;
  // Strings go in the input region, tokens in the token region, output last.
  const strPtr = core.input.ensure(strBytes);
  const tokPtr = core.tokens.ensure(pending.length * TOKEN_SIZE);
  const outCap = pending.length * 11 + strBytes;
  const outPtr = core.output.ensure(outCap);
  const u8 = core.u8;
  const view = core.view;
  let s = strPtr;
  for (let i = 0; i < pending.length; i++) {
    const t = pending[i]!;
    const at = tokPtr + i * TOKEN_SIZE;
    let a = t.a;
    let b = 0;
    if (t.bytes) {
      u8.set(t.bytes, s);
      a = s;
      b = t.bytes.byteLength;
      s += b;
    }
    view.setUint32(at, t.kind, true);
    view.setUint32(at + 4, a, true);
    view.setUint32(at + 8, b, true);
    view.setFloat64(at + 16, t.num, true);
  }
  const n = core.exports.amfEncode(tokPtr, pending.length, outPtr, outCap);
  if (n < 0) throw new CoreError(n, "AMF0 encode");
  return core.copyOut(outPtr, n);
}

/** Decodes every AMF0 value in `bytes`. Throws `CoreError` (AMF_*) on bad input. */
export function decodeAmf0(core: Core, bytes: Uint8Array, options: AmfDecodeOptions = {}): AmfValue[] {
  const maxDepth = options.maxDepth ?? 32;
  const maxString = options.maxStringLength ?? 0xffff;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 64) throw new TypeError("maxDepth must be 1..64");
  if (!Number.isInteger(maxString) || maxString < 0 || maxString > 0x7fffffff) throw new TypeError("maxStringLength must be 0..0x7FFFFFFF");
  const inPtr = core.putInput(bytes);
  // Every token but ArrayEnd consumes at least one byte; ArrayEnd follows a
  // 5-byte array header: len + 1 tokens always suffice.
  const tokCap = bytes.byteLength + 1;
  const tokPtr = core.tokens.ensure(tokCap * TOKEN_SIZE);
  const n = core.exports.amfDecode(inPtr, bytes.byteLength, tokPtr, tokCap, maxDepth, maxString);
  if (n < 0) throw new CoreError(n, "AMF0 decode");
  return buildValues(core, tokPtr, n);
}

type Container =
  | { kind: "array"; items: AmfValue[] }
  | { kind: "object"; obj: Record<string, AmfValue>; key: string | undefined };

function buildValues(core: Core, tokPtr: number, count: number): AmfValue[] {
  const view = core.view;
  const u8 = core.u8;
  const top: AmfValue[] = [];
  const stack: Container[] = [];
  const values: AmfValue[] = [];
  const str = (ptr: number, len: number): string => utf8Decoder.decode(u8.subarray(ptr, ptr + len));

  const place = (v: AmfValue): void => {
    const c = stack[stack.length - 1];
    if (!c) top.push(v);
    else if (c.kind === "array") c.items.push(v);
    else {
      // defineProperty, not assignment: a peer's "__proto__" key must become
      // an own property, not replace the decoded object's prototype.
      Object.defineProperty(c.obj, c.key ?? "", { value: v, writable: true, enumerable: true, configurable: true });
      c.key = undefined;
    }
  };

  for (let i = 0; i < count; i++) {
    const at = tokPtr + i * TOKEN_SIZE;
    const kind = view.getUint32(at, true);
    const a = view.getUint32(at + 4, true);
    const b = view.getUint32(at + 8, true);
    switch (kind) {
      case T.Number: place(view.getFloat64(at + 16, true)); break;
      case T.Boolean: place(a !== 0); break;
      case T.String:
      case T.LongString: place(str(a, b)); break;
      case T.Null: place(null); break;
      case T.Undefined: place(undefined); break;
      case T.Date: place(new Date(view.getFloat64(at + 16, true))); break;
      case T.Key: {
        const c = stack[stack.length - 1];
        if (c?.kind === "object") c.key = str(a, b);
        break;
      }
      case T.Object:
      case T.EcmaArray: {
        const obj: Record<string, AmfValue> = {};
        const v = kind === T.Object ? obj : new EcmaArray(obj);
        values.push(v);
        place(v);
        stack.push({ kind: "object", obj, key: undefined });
        break;
      }
      case T.StrictArray: {
        const items: AmfValue[] = [];
        place(items);
        stack.push({ kind: "array", items });
        break;
      }
      case T.ObjectEnd:
      case T.ArrayEnd:
        stack.pop();
        break;
      default:
        throw new Error(`golive internal error: unknown AMF0 token ${kind}`);
    }
  }
  return top;
}
