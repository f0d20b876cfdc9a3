/**
 * FLV file writer (Adobe FLV v10.1, Annex E) over the WebAssembly core:
 * header once, then one tag per call, each returned as the exact bytes to
 * append (tag header + body + PreviousTagSize), so a file written tag by tag
 * is playable up to its last complete tag.
 */
import { allocOutput, type Core } from "./core.js";
import { CoreError } from "./status.js";
import { writeAudioHeader, writeVideoHeader, type AudioTagHeader, type VideoTagHeader } from "./tag-headers.js";

/** Statuses of wasm/assembly/status.ts checked here before calling the core. */
const F_TOO_LONG = -30;
const F_BAD_ARGUMENT = -32;

/** FLV tag types. */
export const TagType = { Audio: 8, Video: 9, Script: 18 } as const;

export class FlvWriter {
  readonly #core: Core;

  constructor(core: Core) {
    this.#core = core;
  }

  /** The 9-byte file header and PreviousTagSize0. */
  header(hasAudio: boolean, hasVideo: boolean): Uint8Array {
    const core = this.#core;
    const out = core.output.ensure(13);
    const n = core.exports.flvHeader(hasAudio ? 1 : 0, hasVideo ? 1 : 0, out);
    return core.copyOut(out, n);
  }

  /**
   * A tag whose body is `body` as given (e.g. script data: AMF0 bytes).
   * Timestamps are integer milliseconds 0..0x7FFFFFFF.
   */
  tag(type: number, timestamp: number, body: Uint8Array): Uint8Array {
    return this.#tag(type, timestamp, 0, body);
  }

  /** A video tag: tag body header + payload. */
  videoTag(timestamp: number, header: VideoTagHeader, payload: Uint8Array): Uint8Array {
    return this.#tag(TagType.Video, timestamp, writeVideoHeader(this.#core, header), payload);
  }

  /** An audio tag: tag body header + payload. */
  audioTag(timestamp: number, header: AudioTagHeader, payload: Uint8Array): Uint8Array {
    return this.#tag(TagType.Audio, timestamp, writeAudioHeader(this.#core, header), payload);
  }

  #tag(type: number, timestamp: number, prefixLen: number, payload: Uint8Array): Uint8Array {
    const core = this.#core;
    // E.4.1: Timestamp + TimestampExtended form an SI32 of milliseconds. Check
    // here rather than let `>>> 0` wrap -1 to 0xFFFFFFFF or 2**32 to 0.
    if (!Number.isInteger(type)) throw new TypeError(`FLV tag type must be an integer, got ${type}`);
    // Checked here too: ToInt32 would turn 2**32 + 9 into 9 for the core.
    if (type !== TagType.Audio && type !== TagType.Video && type !== TagType.Script) throw new CoreError(F_BAD_ARGUMENT, `FLV tag type ${type}`);
    if (!Number.isInteger(timestamp)) throw new TypeError(`FLV timestamp must be an integer, got ${timestamp}`);
    if (timestamp < 0 || timestamp > 0x7fffffff) throw new CoreError(F_BAD_ARGUMENT, `FLV timestamp ${timestamp}`);
    // DataSize is a UI24: refuse before copying the payload into (and maybe
    // growing) the core's memory.
    if (prefixLen + payload.byteLength > 0xffffff) throw new CoreError(F_TOO_LONG, "FLV tag");
    // The core writes the tag header, the body header (prefix) and the
    // PreviousTagSize; the payload goes from `payload` into the output once.
    const cap = prefixLen + 15;
    const ptr = core.output.ensure(cap);
    const n = core.exports.flvTagHeaders(type, timestamp, prefixLen, payload.byteLength, ptr, cap);
    if (n < 0) throw new CoreError(n, "FLV tag");
    const head = 11 + prefixLen;
    const mem = core.u8;
    const out = allocOutput(n);
    out.set(mem.subarray(ptr, ptr + head), 0);
    out.set(payload, head);
    out.set(mem.subarray(ptr + head, ptr + head + 4), n - 4);
    return out;
  }
}
