// AMF0 (Action Message Format 0, Adobe AMF0 specification §2) encoder and
// decoder over a "token tape": a flat array of fixed-size tokens that the
// TypeScript host builds from, or turns into, JS values. One call encodes or
// decodes a whole command, so no managed objects cross the boundary.
//
// Token (TOKEN_SIZE = 24 bytes):
//   0 kind u32 (the AMF0 type marker, or T_KEY / T_ARRAY_END)
//   4 a    u32 (string: address of its UTF-8 bytes; arrays: element count;
//               date: time zone as i16)
//   8 b    u32 (string: byte length)
//   16 num f64 (number, date milliseconds)
//
// The decoder is written for bytes from untrusted servers: it checks every
// length against the bytes left before reading, rejects unknown markers,
// bounds nesting with an explicit stack (no recursion) and bounds strings.
// Each step consumes at least one input byte or closes a container, so the
// loop always ends.

import { get16be, get32be, get8, getF64be, put16be, put32be, put8, putF64be } from "./bytes";
import { AMF_BAD_MARKER, AMF_BAD_TOKEN, AMF_NO_SPACE, AMF_STRING_TOO_LONG, AMF_TOO_DEEP, AMF_TRUNCATED } from "./status";

export const TOKEN_SIZE: usize = 24;

const M_NUMBER: u32 = 0x00;
const M_BOOLEAN: u32 = 0x01;
const M_STRING: u32 = 0x02;
const M_OBJECT: u32 = 0x03;
const M_NULL: u32 = 0x05;
const M_UNDEFINED: u32 = 0x06;
const M_ECMA_ARRAY: u32 = 0x08;
const M_OBJECT_END: u32 = 0x09;
const M_STRICT_ARRAY: u32 = 0x0a;
const M_DATE: u32 = 0x0b;
const M_LONG_STRING: u32 = 0x0c;
/** Token kind for a property name inside an object or ECMA array. */
const T_KEY: u32 = 100;
/** Token kind closing a strict array (which has a count and no end marker). */
const T_ARRAY_END: u32 = 101;

/** Deepest nesting any caller may ask for; the stack below is this big. */
const STACK_MAX: i32 = 64;
// Decoder stack entry: u32 kind (M_OBJECT / M_ECMA_ARRAY / M_STRICT_ARRAY),
// u32 elements left (strict arrays).
const stack: usize = memory.data(<i32>STACK_MAX * 8, 8);

// @ts-ignore: decorator
@inline function token(t: usize, kind: u32, a: u32, b: u32, num: f64): void {
  store<u32>(t, kind);
  store<u32>(t, a, 4);
  store<u32>(t, b, 8);
  store<u32>(t, 0, 12);
  store<f64>(t, num, 16);
}

/**
 * Decodes the AMF0 values in [ptr, ptr+len) into tokens at `tok` (room for
 * `tokCap` tokens). Returns the number of tokens, or a negative status.
 * String tokens point into the input.
 */
export function amfDecode(ptr: usize, len: u32, tok: usize, tokCap: u32, maxDepth: i32, maxString: u32): i32 {
  if (maxDepth > STACK_MAX) maxDepth = STACK_MAX;
  let pos: u32 = 0;
  let depth: i32 = 0;
  let n: u32 = 0;
  while (true) {
    if (n >= tokCap) return AMF_NO_SPACE;
    const t = tok + <usize>n * TOKEN_SIZE;
    if (depth > 0) {
      const top = stack + <usize>(depth - 1) * 8;
      const kind = load<u32>(top);
      if (kind == M_STRICT_ARRAY) {
        const left = load<u32>(top, 4);
        if (left == 0) {
          token(t, T_ARRAY_END, 0, 0, 0);
          n++;
          depth--;
          continue;
        }
        store<u32>(top, left - 1, 4);
      } else {
        // Object or ECMA array: a property name, or the end marker 00 00 09.
        if (len - pos < 2) return AMF_TRUNCATED;
        const klen = get16be(ptr + pos);
        if (klen == 0 && len - pos >= 3 && get8(ptr + pos + 2) == M_OBJECT_END) {
          pos += 3;
          token(t, M_OBJECT_END, 0, 0, 0);
          n++;
          depth--;
          continue;
        }
        if (klen > maxString) return AMF_STRING_TOO_LONG;
        if (len - pos - 2 < klen) return AMF_TRUNCATED;
        token(t, T_KEY, <u32>(ptr + pos + 2), klen, 0);
        n++;
        pos += 2 + klen;
        if (n >= tokCap) return AMF_NO_SPACE;
      }
    } else if (pos == len) {
      return <i32>n;
    }
    const v = tok + <usize>n * TOKEN_SIZE;
    if (pos >= len) return AMF_TRUNCATED;
    const marker = get8(ptr + pos);
    pos++;
    const left = len - pos;
    switch (marker) {
      case M_NUMBER: {
        if (left < 8) return AMF_TRUNCATED;
        token(v, M_NUMBER, 0, 0, getF64be(ptr + pos));
        pos += 8;
        break;
      }
      case M_BOOLEAN: {
        if (left < 1) return AMF_TRUNCATED;
        token(v, M_BOOLEAN, get8(ptr + pos) != 0 ? 1 : 0, 0, 0);
        pos += 1;
        break;
      }
      case M_STRING: {
        if (left < 2) return AMF_TRUNCATED;
        const slen = get16be(ptr + pos);
        if (slen > maxString) return AMF_STRING_TOO_LONG;
        if (left - 2 < slen) return AMF_TRUNCATED;
        token(v, M_STRING, <u32>(ptr + pos + 2), slen, 0);
        pos += 2 + slen;
        break;
      }
      case M_LONG_STRING: {
        if (left < 4) return AMF_TRUNCATED;
        const slen = get32be(ptr + pos);
        if (slen > maxString) return AMF_STRING_TOO_LONG;
        if (left - 4 < slen) return AMF_TRUNCATED;
        token(v, M_LONG_STRING, <u32>(ptr + pos + 4), slen, 0);
        pos += 4 + slen;
        break;
      }
      case M_NULL:
      case M_UNDEFINED: {
        token(v, marker, 0, 0, 0);
        break;
      }
      case M_DATE: {
        if (left < 10) return AMF_TRUNCATED;
        token(v, M_DATE, <u32>get16be(ptr + pos + 8), 0, getF64be(ptr + pos));
        pos += 10;
        break;
      }
      case M_OBJECT:
      case M_ECMA_ARRAY:
      case M_STRICT_ARRAY: {
        let count: u32 = 0;
        if (marker != M_OBJECT) {
          if (left < 4) return AMF_TRUNCATED;
          count = get32be(ptr + pos);
          pos += 4;
        }
        if (depth >= maxDepth) return AMF_TOO_DEEP;
        token(v, marker, count, 0, 0);
        const top = stack + <usize>depth * 8;
        store<u32>(top, marker);
        store<u32>(top, count, 4);
        depth++;
        break;
      }
      default:
        // 0x04 movieclip, 0x07 reference, 0x0D unsupported, 0x0E recordset,
        // 0x0F XML, 0x10 typed object, 0x11 AVM+ and anything else; a bare
        // 0x09 outside an object is also malformed.
        return AMF_BAD_MARKER;
    }
    n++;
  }
  return <i32>n; // unreachable
}

/**
 * Encodes `count` tokens at `tok` into [out, out+outCap). Returns the number
 * of bytes written or a negative status. T_KEY tokens must be followed by a
 * value; strings longer than 0xFFFF bytes are written as Long String.
 */
export function amfEncode(tok: usize, count: u32, out: usize, outCap: u32): i32 {
  let p: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const t = tok + <usize>i * TOKEN_SIZE;
    const kind = load<u32>(t);
    const a = load<u32>(t, 4);
    const b = load<u32>(t, 8);
    const room = outCap - p;
    const o = out + p;
    switch (kind) {
      case M_NUMBER: {
        if (room < 9) return AMF_NO_SPACE;
        put8(o, M_NUMBER);
        putF64be(o + 1, load<f64>(t, 16));
        p += 9;
        break;
      }
      case M_BOOLEAN: {
        if (room < 2) return AMF_NO_SPACE;
        put8(o, M_BOOLEAN);
        put8(o + 1, a != 0 ? 1 : 0);
        p += 2;
        break;
      }
      case M_STRING:
      case M_LONG_STRING: {
        if (kind == M_STRING && b <= 0xffff) {
          if (<u64>room < 3 + <u64>b) return AMF_NO_SPACE;
          put8(o, M_STRING);
          put16be(o + 1, b);
          memory.copy(o + 3, <usize>a, b);
          p += 3 + b;
        } else {
          if (<u64>room < 5 + <u64>b) return AMF_NO_SPACE;
          put8(o, M_LONG_STRING);
          put32be(o + 1, b);
          memory.copy(o + 5, <usize>a, b);
          p += 5 + b;
        }
        break;
      }
      case T_KEY: {
        if (b > 0xffff) return AMF_BAD_TOKEN;
        if (<u64>room < 2 + <u64>b) return AMF_NO_SPACE;
        put16be(o, b);
        memory.copy(o + 2, <usize>a, b);
        p += 2 + b;
        break;
      }
      case M_OBJECT:
      case M_NULL:
      case M_UNDEFINED: {
        if (room < 1) return AMF_NO_SPACE;
        put8(o, kind);
        p += 1;
        break;
      }
      case M_OBJECT_END: {
        if (room < 3) return AMF_NO_SPACE;
        put16be(o, 0);
        put8(o + 2, M_OBJECT_END);
        p += 3;
        break;
      }
      case M_ECMA_ARRAY:
      case M_STRICT_ARRAY: {
        if (room < 5) return AMF_NO_SPACE;
        put8(o, kind);
        put32be(o + 1, a);
        p += 5;
        break;
      }
      case M_DATE: {
        if (room < 11) return AMF_NO_SPACE;
        put8(o, M_DATE);
        putF64be(o + 1, load<f64>(t, 16));
        put16be(o + 9, a & 0xffff);
        p += 11;
        break;
      }
      case T_ARRAY_END:
        break;
      default:
        return AMF_BAD_TOKEN;
    }
  }
  return <i32>p;
}
