// RTMP chunk stream writer (RTMP 1.0 §5.3, "Chunking").
//
// A writer context remembers, per chunk stream id (csid), the last message
// header it sent, so that each new message is sent with the most compact
// header that still describes it exactly (fmt 0 -> 1 -> 2 -> 3), as FFmpeg's
// ff_rtmp_packet_write does:
//   fmt 0 (11 bytes): first message on the csid, a different message stream
//                     id, or a timestamp that went backwards;
//   fmt 1 (7 bytes):  same stream id, type or length changed;
//   fmt 2 (3 bytes):  same stream id, type and length, new timestamp delta;
//   fmt 3 (0 bytes):  everything including the delta repeats. We only use it
//                     for a new message after a fmt 1/2 header, where every
//                     reader agrees on what the repeated delta is.
// A message longer than the chunk size continues in fmt 3 chunks; when the
// header carried an extended timestamp, every continuation repeats it (as
// FFmpeg, OBS and Flash do).
//
// Message payload = a short prefix (the FLV tag body header that
// flv-tags.ts writes into the prefix region) followed by the payload bytes,
// so a media frame is chunked in one pass without first being concatenated.

import { put8, put24be, put32be, put32le } from "./bytes";
import {
  W_BAD_ARGUMENT, W_BAD_CHUNK_SIZE, W_BAD_CSID, W_MESSAGE_TOO_LONG, W_NO_SPACE, W_TOO_MANY_CSIDS,
} from "./status";

/** Chunk streams one writer can track; a publisher uses four or five. */
const MAX_CSIDS: u32 = 16;
const SLOT_SIZE: usize = 32;
// Writer context layout (bytes):
//   0  chunkSize   u32
//   4  slotCount   u32
//   8  slots[MAX_CSIDS], each SLOT_SIZE bytes:
//        0 csid  4 timestamp  8 tsField (delta or absolute, as sent)
//        12 length  16 type  20 streamId  24 flags
const CTX_SIZE: usize = 8 + <usize>MAX_CSIDS * SLOT_SIZE;
/** flags bit: the last header on this csid was fmt 1 or 2 (a delta header). */
const F_DELTA: u32 = 1;
/** flags bit: a header was sent on this csid since the last reset. */
const F_KNOWN: u32 = 2;

/** Size of the prefix region shared with flv-tags.ts. */
export const PREFIX_CAP: i32 = 64;
const prefixRegion: usize = memory.data(64, 8);

/** Address of the 64-byte prefix region (FLV tag body header). */
export function prefixPtr(): usize {
  return prefixRegion;
}

/** Creates a writer with the given outgoing chunk size; returns its handle or a status. */
export function writerNew(chunkSize: i32): i32 {
  if (chunkSize < 128) return W_BAD_CHUNK_SIZE; // also rejects bit 31
  const w = heap.alloc(CTX_SIZE);
  memory.fill(w, 0, CTX_SIZE);
  store<u32>(w, <u32>chunkSize);
  return <i32>w;
}

/** Frees a writer. */
export function writerFree(w: usize): void {
  heap.free(w);
}

/** Changes the outgoing chunk size (after sending Set Chunk Size). */
export function writerSetChunkSize(w: usize, chunkSize: i32): i32 {
  if (chunkSize < 128) return W_BAD_CHUNK_SIZE;
  store<u32>(w, <u32>chunkSize);
  return 0;
}

/** Forgets every previous header, so the next message on each csid is fmt 0. */
export function writerReset(w: usize): void {
  memory.fill(w + 4, 0, CTX_SIZE - 4);
}

function findSlot(w: usize, csid: u32): usize {
  const n = load<u32>(w, 4);
  let s = w + 8;
  for (let i: u32 = 0; i < n; i++, s += SLOT_SIZE) {
    if (load<u32>(s) == csid) return s;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function basicHeaderLen(csid: u32): usize {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

// @ts-ignore: decorator
@inline function putBasicHeader(p: usize, fmt: u32, csid: u32): usize {
  if (csid < 64) {
    put8(p, (fmt << 6) | csid);
    return 1;
  }
  if (csid < 320) {
    put8(p, fmt << 6);
    put8(p + 1, csid - 64);
    return 2;
  }
  // 3-byte form: the csid - 64 is little-endian.
  put8(p, (fmt << 6) | 1);
  put8(p + 1, (csid - 64) & 0xff);
  put8(p + 2, (csid - 64) >> 8);
  return 3;
}

/**
 * Chunks one message into `out`.
 *
 * The message payload is `prefixLen` bytes of the prefix region followed by
 * `payloadLen` bytes at `payloadPtr`. Returns the number of bytes written, or
 * a negative status. Nothing is written and no state changes on failure.
 */
export function chunkWrite(
  w: usize, csid: i32, type: i32, streamId: u32, timestamp: u32,
  prefixLen: i32, payloadPtr: usize, payloadLen: i32, out: usize, outCap: i32,
): i32 {
  return encode(w, csid, type, streamId, timestamp, prefixLen, payloadPtr, payloadLen, out, outCap, true);
}

// Layout of the last chunkHeaders call: the first chunk's header + prefix
// length, and the length of each continuation chunk's header.
let layoutFirst: u32 = 0;
let layoutCont: u32 = 0;

/**
 * The same message as chunkWrite, but without its payload bytes: writes the
 * first chunk's header and the prefix, then (when the message needs more
 * than one chunk) ONE continuation header, which every continuation chunk
 * repeats. Returns the size of the whole chunked message; chunkLayout() says
 * where the payload goes. The host copies the payload straight from its own
 * array into the output, once: a large frame is never copied through this
 * memory. The writer's header state advances as for chunkWrite.
 */
export function chunkHeaders(
  w: usize, csid: i32, type: i32, streamId: u32, timestamp: u32,
  prefixLen: i32, payloadLen: i32, out: usize, outCap: i32,
): i32 {
  return encode(w, csid, type, streamId, timestamp, prefixLen, 0, payloadLen, out, outCap, false);
}

/** (first header + prefix length) << 8 | continuation header length, of the last chunkHeaders call. */
export function chunkLayout(): u32 {
  return (layoutFirst << 8) | layoutCont;
}

function encode(
  w: usize, csid: i32, type: i32, streamId: u32, timestamp: u32,
  prefixLen: i32, payloadPtr: usize, payloadLen: i32, out: usize, outCap: i32, withPayload: bool,
): i32 {
  if (csid < 2 || csid > 65599) return W_BAD_CSID;
  if (type < 0 || type > 255 || prefixLen < 0 || prefixLen > PREFIX_CAP || payloadLen < 0) {
    return W_BAD_ARGUMENT;
  }
  const total = <u32>prefixLen + <u32>payloadLen;
  if (total > 0xffffff) return W_MESSAGE_TOO_LONG;
  const chunkSize = load<u32>(w);
  const ucsid = <u32>csid;
  let slot = findSlot(w, ucsid);
  // A new csid's slot is claimed only once the write is sure to succeed (a
  // failed write must leave no trace, not even a used-up slot).
  const n = load<u32>(w, 4);
  if (slot == 0 && n >= MAX_CSIDS) return W_TOO_MANY_CSIDS;
  const known = slot != 0 && (load<u32>(slot, 24) & F_KNOWN) != 0;
  const prevTs = known ? load<u32>(slot, 4) : 0;
  const prevField = known ? load<u32>(slot, 8) : 0;
  const prevLen = known ? load<u32>(slot, 12) : 0;
  const prevType = known ? load<u32>(slot, 16) : 0;
  const prevStream = known ? load<u32>(slot, 20) : 0;
  const prevFlags = known ? load<u32>(slot, 24) : 0;

  // Pick the header form (see the file comment).
  let fmt: u32 = 0;
  let field = timestamp;
  if (known && prevStream == streamId && timestamp >= prevTs) {
    field = timestamp - prevTs;
    if (prevType == <u32>type && prevLen == total) {
      fmt = 2;
      if ((prevFlags & F_DELTA) != 0 && field == prevField && field < 0xffffff) fmt = 3;
    } else {
      fmt = 1;
    }
  }
  const ext = field >= 0xffffff;
  const extLen: usize = ext ? 4 : 0;
  const bh = basicHeaderLen(ucsid);
  const mh: usize = fmt == 0 ? 11 : fmt == 1 ? 7 : fmt == 2 ? 3 : 0;

  // Exact output size: first header, continuation headers, payload.
  const chunks: u32 = total == 0 ? 1 : (total + chunkSize - 1) / chunkSize;
  const need: u64 = <u64>(bh + mh + extLen) + <u64>(chunks - 1) * <u64>(bh + extLen) + <u64>total;
  const written: u64 = withPayload ? need : <u64>(bh + mh + extLen) + <u64>prefixLen + (chunks > 1 ? <u64>(bh + extLen) : 0);
  if (written > <u64>outCap) return W_NO_SPACE;

  let p = out;
  // Basic header, then message header (RTMP 1.0 §5.3.1.2).
  p += putBasicHeader(p, fmt, ucsid);
  const tsField = ext ? 0xffffff : field;
  if (fmt <= 2) {
    put24be(p, tsField); // timestamp (fmt 0) or timestamp delta (fmt 1/2)
    p += 3;
  }
  if (fmt <= 1) {
    put24be(p, total); // message length
    put8(p + 3, <u32>type); // message type id
    p += 4;
  }
  if (fmt == 0) {
    put32le(p, streamId); // message stream id, little-endian
    p += 4;
  }
  if (ext) {
    put32be(p, field); // extended timestamp (§5.3.1.3)
    p += 4;
  }

  // Payload: prefix then payload bytes, cut into chunkSize pieces.
  let room = chunkSize;
  if (prefixLen > 0) {
    // chunkSize >= 128 > PREFIX_CAP, so the prefix always fits the first chunk.
    memory.copy(p, prefixRegion, <usize>prefixLen);
    p += <usize>prefixLen;
    room -= <u32>prefixLen;
  }
  if (!withPayload) {
    layoutFirst = <u32>(p - out);
    layoutCont = <u32>(bh + extLen);
    if (chunks > 1) {
      p += putBasicHeader(p, 3, ucsid);
      if (ext) put32be(p, field);
    }
  }
  let src = payloadPtr;
  let left = withPayload ? <u32>payloadLen : 0;
  while (withPayload) {
    const n = left < room ? left : room;
    memory.copy(p, src, n);
    p += n;
    src += n;
    left -= n;
    if (left == 0) break;
    p += putBasicHeader(p, 3, ucsid);
    if (ext) {
      put32be(p, field);
      p += 4;
    }
    room = chunkSize;
  }

  if (slot == 0) {
    slot = w + 8 + <usize>n * SLOT_SIZE;
    store<u32>(slot, ucsid);
    store<u32>(w, n + 1, 4);
  }
  store<u32>(slot, timestamp, 4);
  store<u32>(slot, field, 8);
  store<u32>(slot, total, 12);
  store<u32>(slot, <u32>type, 16);
  store<u32>(slot, streamId, 20);
  store<u32>(slot, fmt == 0 ? F_KNOWN : F_KNOWN | F_DELTA, 24);
  return withPayload ? <i32>(p - out) : <i32>need;
}
