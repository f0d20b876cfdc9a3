/**
 * RTMP chunk stream writer (RTMP 1.0 §5.3) in plain TypeScript: the bench's
 * reference for wasm/assembly/chunk-writer.ts, with the same header
 * compression rules, so both produce byte-identical chunks. Used only by
 * bench/core.ts, never by the product.
 *
 * Per chunk stream it remembers the last message header and picks the most
 * compact form that still describes the new message exactly:
 *   fmt 0 (11 bytes): first message on the csid, another message stream id,
 *                     or a timestamp that went backwards;
 *   fmt 1 (7 bytes):  same stream id, type or length changed;
 *   fmt 2 (3 bytes):  same stream id, type and length, new timestamp delta;
 *   fmt 3 (0 bytes):  a new message after a fmt 1/2 header whose delta repeats.
 * A message longer than the chunk size continues in fmt 3 chunks; when the
 * header carried an extended timestamp (§5.3.1.3), every continuation repeats it.
 */
import type { AudioTagHeader, VideoTagHeader } from "../../wasm/host/tag-headers.js";
import { allocFresh, put24be, put32be, put32le, type Allocator } from "./bytes.js";
import { prefix, writeAudioHeader, writeVideoHeader } from "./tag-headers.js";

/** The last header sent on one chunk stream. */
interface ChunkStreamState {
  timestamp: number;
  /** The timestamp field as sent: absolute (fmt 0) or delta (fmt 1/2/3). */
  field: number;
  length: number;
  type: number;
  streamId: number;
  /** The last header was fmt 1, 2 or 3, so its field is a delta. */
  delta: boolean;
}

/** Message header length by fmt (RTMP 1.0 §5.3.1.2). */
const MESSAGE_HEADER_LEN = [11, 7, 3, 0] as const;

export class BaselineChunkWriter {
  readonly #chunkSize: number;
  readonly #streams = new Map<number, ChunkStreamState>();
  readonly #alloc: Allocator;

  /** `alloc` supplies each message's array (default: a new Uint8Array). */
  constructor(chunkSize = 128, alloc: Allocator = allocFresh) {
    if (!Number.isInteger(chunkSize) || chunkSize < 128 || chunkSize > 0x7fffffff) {
      throw new TypeError(`chunk size must be an integer 128..0x7FFFFFFF, got ${chunkSize}`);
    }
    this.#chunkSize = chunkSize;
    this.#alloc = alloc;
  }

  /** Chunks a message whose payload is `payload` as given. */
  write(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): Uint8Array {
    return this.#write(csid, type, streamId, timestamp, 0, payload);
  }

  /** Chunks a video message: tag body header + payload. */
  writeVideo(csid: number, streamId: number, timestamp: number, header: VideoTagHeader, payload: Uint8Array): Uint8Array {
    return this.#write(csid, 9, streamId, timestamp, writeVideoHeader(header), payload);
  }

  /** Chunks an audio message: tag body header + payload. */
  writeAudio(csid: number, streamId: number, timestamp: number, header: AudioTagHeader, payload: Uint8Array): Uint8Array {
    return this.#write(csid, 8, streamId, timestamp, writeAudioHeader(header), payload);
  }

  /** `prefixLen` bytes of the shared tag-header scratch go in front of `payload`. */
  #write(csid: number, type: number, streamId: number, timestamp: number, prefixLen: number, payload: Uint8Array): Uint8Array {
    if (!Number.isInteger(csid) || csid < 2 || csid > 65599) throw new RangeError(`chunk stream id must be 2..65599, got ${csid}`);
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`message type must be 0..255, got ${type}`);
    const total = prefixLen + payload.byteLength;
    if (total > 0xffffff) throw new RangeError(`message of ${total} bytes exceeds 0xFFFFFF`);
    const ts = timestamp >>> 0;
    const sid = streamId >>> 0;
    const chunkSize = this.#chunkSize;

    // Pick the header form (see the file comment).
    const prev = this.#streams.get(csid);
    let fmt = 0;
    let field = ts;
    if (prev !== undefined && prev.streamId === sid && ts >= prev.timestamp) {
      field = ts - prev.timestamp;
      if (prev.type === type && prev.length === total) {
        fmt = prev.delta && field === prev.field && field < 0xffffff ? 3 : 2;
      } else {
        fmt = 1;
      }
    }
    const ext = field >= 0xffffff;
    const extLen = ext ? 4 : 0;
    const basicLen = csid < 64 ? 1 : csid < 320 ? 2 : 3;
    const chunks = total === 0 ? 1 : Math.ceil(total / chunkSize);
    const out = this.#alloc(basicLen + MESSAGE_HEADER_LEN[fmt as 0 | 1 | 2 | 3] + extLen + (chunks - 1) * (basicLen + extLen) + total);

    // Basic header, then message header.
    let p = putBasicHeader(out, 0, fmt, csid);
    if (fmt <= 2) {
      put24be(out, p, ext ? 0xffffff : field); // timestamp (fmt 0) or delta (fmt 1/2)
      p += 3;
    }
    if (fmt <= 1) {
      put24be(out, p, total); // message length
      out[p + 3] = type; // message type id
      p += 4;
    }
    if (fmt === 0) {
      put32le(out, p, sid); // message stream id, little-endian
      p += 4;
    }
    if (ext) {
      put32be(out, p, field); // extended timestamp
      p += 4;
    }

    // Payload: tag body header, then payload bytes, cut into chunkSize pieces.
    // chunkSize >= 128 exceeds any tag body header, so it fits the first chunk.
    for (let i = 0; i < prefixLen; i++) out[p + i] = prefix[i]!;
    p += prefixLen;
    let room = chunkSize - prefixLen;
    const len = payload.byteLength;
    if (len <= room) {
      out.set(payload, p);
    } else {
      let src = 0;
      for (;;) {
        const n = Math.min(len - src, room);
        out.set(payload.subarray(src, src + n), p);
        p += n;
        src += n;
        if (src === len) break;
        p = putBasicHeader(out, p, 3, csid);
        if (ext) {
          put32be(out, p, field);
          p += 4;
        }
        room = chunkSize;
      }
    }

    if (prev === undefined) {
      this.#streams.set(csid, { timestamp: ts, field, length: total, type, streamId: sid, delta: fmt !== 0 });
    } else {
      prev.timestamp = ts;
      prev.field = field;
      prev.length = total;
      prev.type = type;
      prev.streamId = sid;
      prev.delta = fmt !== 0;
    }
    return out;
  }
}

/** Writes the 1-, 2- or 3-byte basic header at `p`; returns the offset after it. */
function putBasicHeader(out: Uint8Array, p: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[p] = (fmt << 6) | csid;
    return p + 1;
  }
  if (csid < 320) {
    out[p] = fmt << 6;
    out[p + 1] = csid - 64;
    return p + 2;
  }
  out[p] = (fmt << 6) | 1; // 3-byte form: csid - 64, little-endian
  out[p + 1] = (csid - 64) & 0xff;
  out[p + 2] = (csid - 64) >>> 8;
  return p + 3;
}
