// RTMP chunk stream reader (RTMP 1.0 §5.3), for bytes from an untrusted peer.
//
// A streaming parser: feed it bytes as they arrive, split anywhere, and it
// returns one complete message at a time. Partial headers are kept inside the
// reader, so the caller never has to hold back unconsumed bytes. Every length
// and count from the peer is checked against a limit before anything is
// allocated:
//   - Set Chunk Size must be 1..0x7FFFFFFF (0 would divide by zero, as it does
//     in Node-Media-Server; bit 31 must be zero, §5.4.1);
//   - message length <= maxMessageLength;
//   - distinct chunk streams <= maxChunkStreams;
//   - a fmt 1/2/3 header needs an earlier fmt 0 on its chunk stream, and a
//     message in progress may only continue with fmt 3.
// Set Chunk Size (type 1) and Abort (type 2) take effect inside the reader,
// before the next chunk header is parsed, and are still returned to the host.
// After an error the reader is poisoned: every later feed returns that error.

import { get24be, get32be, get32le, get8 } from "./bytes";
import {
  R_BAD_CHUNK_SIZE, R_BAD_CONTROL, R_BAD_LIMITS, R_MESSAGE_TOO_LONG, R_NO_PREVIOUS_HEADER,
  R_TOO_MANY_CHUNK_STREAMS, R_UNEXPECTED_HEADER,
} from "./status";

/** feed(): no complete message in the input; all of it was consumed. */
export const R_NEED_MORE: i32 = 0;
/** feed(): a message is ready; its description is in the info block. */
export const R_MESSAGE: i32 = 1;

// Reader context layout (bytes):
//   0 status  4 chunkSize  8 maxMessageLength  12 maxChunkStreams
//   16 streamCount  20 hdrLen (header bytes gathered)  24 slots (ptr)
//   28 curSlot (slot whose chunk payload is being read, 0 = reading a header)
//   32 chunkLeft (payload bytes left in the current chunk)
//   36 pendingFree (payload handed to the host, freed on the next feed)
//   40 info block: csid, type, streamId, timestamp, length, payloadPtr, consumed
//   68 hdrBuf[20]: 3 basic + 11 message + 4 extended = 18 at most
//   88 slotCap (slots allocated)
const CTX_SIZE: usize = 92;
const SLOT_CAP: usize = 88;
const INFO: usize = 40;
const HDR: usize = 68;
// Per chunk stream slot:
//   0 csid  4 timestamp  8 tsField (last delta or absolute, as received)
//   12 length  16 type  20 streamId  24 ext (last fmt 0/1/2 header had an
//   extended timestamp)  28 buf  32 got (payload bytes received so far)
const SLOT_SIZE: usize = 36;

/**
 * Creates a reader. maxMessageLength: 1..0xFFFFFF; maxChunkStreams: 1..65598.
 * Returns its handle or R_BAD_LIMITS.
 */
export function readerNew(maxMessageLength: i32, maxChunkStreams: i32): i32 {
  if (maxMessageLength < 1 || maxMessageLength > 0xffffff) return R_BAD_LIMITS;
  if (maxChunkStreams < 1 || maxChunkStreams > 65598) return R_BAD_LIMITS;
  const r = heap.alloc(CTX_SIZE);
  memory.fill(r, 0, CTX_SIZE);
  store<u32>(r, 128, 4); // §5.4.1: the chunk size starts at 128
  store<u32>(r, <u32>maxMessageLength, 8);
  store<u32>(r, <u32>maxChunkStreams, 12);
  // Slots grow on demand: start with room for 8 chunk streams.
  const slots = heap.alloc(8 * SLOT_SIZE);
  store<u32>(r, <u32>slots, 24);
  store<u32>(r, 8, SLOT_CAP);
  return <i32>r;
}

/** Frees a reader and every buffer it holds. */
export function readerFree(r: usize): void {
  const n = load<u32>(r, 16);
  const slots = <usize>load<u32>(r, 24);
  for (let i: u32 = 0; i < n; i++) {
    const b = <usize>load<u32>(slots + <usize>i * SLOT_SIZE, 28);
    if (b != 0) heap.free(b);
  }
  const pending = <usize>load<u32>(r, 36);
  if (pending != 0) heap.free(pending);
  heap.free(slots);
  heap.free(r);
}

/** Address of the reader's info block (7 u32: csid, type, streamId, timestamp, length, payloadPtr, consumed). */
export function readerInfo(r: usize): usize {
  return r + INFO;
}

/** The chunk size the peer last set. */
export function readerChunkSize(r: usize): u32 {
  return load<u32>(r, 4);
}

function findSlot(r: usize, csid: u32): usize {
  const n = load<u32>(r, 16);
  let s = <usize>load<u32>(r, 24);
  for (let i: u32 = 0; i < n; i++, s += SLOT_SIZE) {
    if (load<u32>(s) == csid) return s;
  }
  return 0;
}

function newSlot(r: usize, csid: u32): usize {
  const n = load<u32>(r, 16);
  if (n >= load<u32>(r, 12)) return 0;
  let slots = <usize>load<u32>(r, 24);
  const cap = load<u32>(r, SLOT_CAP);
  if (n == cap) {
    const grown = cap * 2;
    slots = heap.realloc(slots, <usize>grown * SLOT_SIZE);
    store<u32>(r, <u32>slots, 24);
    store<u32>(r, grown, SLOT_CAP);
  }
  const s = slots + <usize>n * SLOT_SIZE;
  memory.fill(s, 0, SLOT_SIZE);
  store<u32>(s, csid);
  store<u32>(r, n + 1, 16);
  return s;
}

// @ts-ignore: decorator
@inline function fail(r: usize, status: i32): i32 {
  store<i32>(r, status);
  return status;
}

/** Header length implied by the bytes gathered so far; 0 = need more to tell. */
function headerLen(r: usize, have: u32): i32 {
  const h = r + HDR;
  const b0 = get8(h);
  const fmt = b0 >> 6;
  const low = b0 & 63;
  const basic: u32 = low == 0 ? 2 : low == 1 ? 3 : 1;
  if (have < basic) return 0;
  const mh: u32 = fmt == 0 ? 11 : fmt == 1 ? 7 : fmt == 2 ? 3 : 0;
  if (fmt == 3) {
    const csid = low == 0 ? get8(h + 1) + 64 : low == 1 ? get8(h + 1) + (get8(h + 2) << 8) + 64 : low;
    const s = findSlot(r, csid);
    if (s == 0) return R_NO_PREVIOUS_HEADER;
    return <i32>(basic + (load<u32>(s, 24) != 0 ? 4 : 0));
  }
  if (have < basic + 3) return 0;
  const ext = get24be(h + basic) == 0xffffff;
  return <i32>(basic + mh + (ext ? 4 : 0));
}

/**
 * Parses bytes [ptr, ptr+len). Returns R_MESSAGE when a message is complete
 * (its description in the info block; info.consumed = input bytes used, the
 * payload valid until the next feed), R_NEED_MORE when every byte was
 * consumed without completing one, or a negative status.
 */
export function readerFeed(r: usize, ptr: usize, len: u32): i32 {
  const st = load<i32>(r);
  if (st < 0) return st;
  const pending = <usize>load<u32>(r, 36);
  if (pending != 0) {
    heap.free(pending);
    store<u32>(r, 0, 36);
  }
  let pos: u32 = 0;
  while (true) {
    const cur = <usize>load<u32>(r, 28);
    if (cur != 0) {
      // Inside a chunk's payload.
      const left = load<u32>(r, 32);
      const avail = len - pos;
      const n = left < avail ? left : avail;
      const got = load<u32>(cur, 32);
      memory.copy(<usize>load<u32>(cur, 28) + got, ptr + pos, n);
      store<u32>(cur, got + n, 32);
      pos += n;
      store<u32>(r, left - n, 32);
      if (left - n != 0) {
        store<u32>(r, pos, INFO + 24);
        return R_NEED_MORE;
      }
      store<u32>(r, 0, 28);
      if (got + n == load<u32>(cur, 12)) return deliver(r, cur, pos);
      continue;
    }
    if (pos == len) {
      store<u32>(r, pos, INFO + 24);
      return R_NEED_MORE;
    }
    // Gather header bytes one at a time: headers are at most 18 bytes.
    let have = load<u32>(r, 20);
    store<u8>(r + HDR + have, load<u8>(ptr + pos));
    pos++;
    have++;
    store<u32>(r, have, 20);
    const need = headerLen(r, have);
    if (need < 0) return fail(r, need);
    if (need == 0 || have < <u32>need) continue;
    store<u32>(r, 0, 20);
    const status = startChunk(r);
    if (status < 0) return fail(r, status);
    if (status == R_MESSAGE) {
      // A zero-length message completes with its header.
      return deliver(r, <usize>load<u32>(r, 28), pos);
    }
  }
  return R_NEED_MORE; // unreachable
}

/** Applies a complete header in hdrBuf: opens or continues a message. */
function startChunk(r: usize): i32 {
  const h = r + HDR;
  const b0 = get8(h);
  const fmt = b0 >> 6;
  const low = b0 & 63;
  let p = h + 1;
  let csid = low;
  if (low == 0) {
    csid = get8(p) + 64;
    p += 1;
  } else if (low == 1) {
    csid = get8(p) + (get8(p + 1) << 8) + 64;
    p += 2;
  }
  let s = findSlot(r, csid);
  if (s == 0) {
    if (fmt != 0) return R_NO_PREVIOUS_HEADER;
    s = newSlot(r, csid);
    if (s == 0) return R_TOO_MANY_CHUNK_STREAMS;
  }
  const got = load<u32>(s, 32);
  if (got != 0) {
    // A message is in progress on this chunk stream: only fmt 3 continues it.
    if (fmt != 3) return R_UNEXPECTED_HEADER;
    return openPayload(r, s);
  }
  if (fmt == 3) {
    // New message, everything as before, same delta again (§5.3.1.2.4).
    store<u32>(s, load<u32>(s, 4) + load<u32>(s, 8), 4);
  } else {
    let field = get24be(p);
    const ext = field == 0xffffff;
    let length = load<u32>(s, 12);
    let type = load<u32>(s, 16);
    if (fmt <= 1) {
      length = get24be(p + 3);
      type = get8(p + 6);
    }
    if (fmt == 0) store<u32>(s, get32le(p + 7), 20);
    if (ext) field = get32be(p + (fmt == 0 ? 11 : fmt == 1 ? 7 : 3));
    if (length > load<u32>(r, 8)) return R_MESSAGE_TOO_LONG;
    store<u32>(s, fmt == 0 ? field : load<u32>(s, 4) + field, 4);
    store<u32>(s, field, 8);
    store<u32>(s, length, 12);
    store<u32>(s, type, 16);
    store<u32>(s, ext ? 1 : 0, 24);
  }
  const length = load<u32>(s, 12);
  const size: usize = length > 0 ? <usize>length : 1;
  store<u32>(s, <u32>heap.alloc(size), 28);
  if (length == 0) {
    store<u32>(r, <u32>s, 28);
    return R_MESSAGE;
  }
  return openPayload(r, s);
}

function openPayload(r: usize, s: usize): i32 {
  const left = load<u32>(s, 12) - load<u32>(s, 32);
  const cs = load<u32>(r, 4);
  store<u32>(r, left < cs ? left : cs, 32);
  store<u32>(r, <u32>s, 28);
  return 0;
}

/** Hands a complete message to the host and applies protocol control messages. */
function deliver(r: usize, s: usize, consumed: u32): i32 {
  store<u32>(r, 0, 28);
  const buf = <usize>load<u32>(s, 28);
  const length = load<u32>(s, 12);
  const type = load<u32>(s, 16);
  const info = r + INFO;
  store<u32>(info, load<u32>(s));
  store<u32>(info, type, 4);
  store<u32>(info, load<u32>(s, 20), 8);
  store<u32>(info, load<u32>(s, 4), 12);
  store<u32>(info, length, 16);
  store<u32>(info, <u32>buf, 20);
  store<u32>(info, consumed, 24);
  store<u32>(s, 0, 28);
  store<u32>(s, 0, 32);
  store<u32>(r, <u32>buf, 36); // freed on the next feed
  if (type == 1) {
    // Set Chunk Size (§5.4.1): 31 bits, bit 31 zero, and 0 is meaningless.
    if (length != 4) return fail(r, R_BAD_CONTROL);
    const size = get32be(buf);
    if (size == 0 || size > 0x7fffffff) return fail(r, R_BAD_CHUNK_SIZE);
    store<u32>(r, size, 4);
  } else if (type == 2) {
    // Abort Message (§5.4.2): drop the partial message on that chunk stream.
    if (length != 4) return fail(r, R_BAD_CONTROL);
    const target = findSlot(r, get32be(buf));
    if (target != 0 && load<u32>(target, 32) != 0) {
      heap.free(<usize>load<u32>(target, 28));
      store<u32>(target, 0, 28);
      store<u32>(target, 0, 32);
    }
  }
  return R_MESSAGE;
}
