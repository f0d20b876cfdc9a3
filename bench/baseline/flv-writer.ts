/**
 * FLV tag writer (Adobe FLV v10.1, Annex E) in plain TypeScript: the bench's
 * reference for wasm/host/flv-writer.ts, producing byte-identical tags. Used
 * only by bench/core.ts, never by the product.
 *
 * Each tag is returned as a new Uint8Array of exactly the bytes to append:
 * 11-byte tag header, body (tag body header + payload), PreviousTagSize.
 */
import type { AudioTagHeader, VideoTagHeader } from "../../wasm/host/tag-headers.js";
import { allocFresh, put24be, put32be, type Allocator } from "./bytes.js";
import { prefix, writeAudioHeader, writeVideoHeader } from "./tag-headers.js";

/** FLV DataSize is 24 bits. */
const MAX_TAG_BODY = 0xffffff;

export class BaselineFlvWriter {
  readonly #alloc: Allocator;

  /** `alloc` supplies each tag's array (default: a new Uint8Array). */
  constructor(alloc: Allocator = allocFresh) {
    this.#alloc = alloc;
  }

  /** A video tag: tag body header + payload. */
  videoTag(timestamp: number, header: VideoTagHeader, payload: Uint8Array): Uint8Array {
    return this.#tag(9, timestamp, writeVideoHeader(header), payload);
  }

  /** An audio tag: tag body header + payload. */
  audioTag(timestamp: number, header: AudioTagHeader, payload: Uint8Array): Uint8Array {
    return this.#tag(8, timestamp, writeAudioHeader(header), payload);
  }

  #tag(type: number, timestamp: number, prefixLen: number, payload: Uint8Array): Uint8Array {
    const size = prefixLen + payload.byteLength;
    if (size > MAX_TAG_BODY) throw new RangeError(`FLV tag body of ${size} bytes exceeds 0xFFFFFF`);
    const ts = timestamp >>> 0;
    const out = this.#alloc(size + 15);
    out[0] = type; // Reserved:2 | Filter:1 | TagType:5
    put24be(out, 1, size); // DataSize
    put24be(out, 4, ts & 0xffffff); // Timestamp, low 24 bits
    out[7] = ts >>> 24; // TimestampExtended, high 8 bits
    put24be(out, 8, 0); // StreamID, always 0
    for (let i = 0; i < prefixLen; i++) out[11 + i] = prefix[i]!;
    out.set(payload, 11 + prefixLen);
    put32be(out, 11 + size, size + 11); // PreviousTagSize
    return out;
  }
}
