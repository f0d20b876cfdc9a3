/**
 * RTMP chunk stream writer (RTMP 1.0 §5.3) over the WebAssembly core.
 * Turns messages into chunks with compressed headers (fmt 0..3 per chunk
 * stream); see wasm/assembly/chunk-writer.ts for the rules.
 */
import { allocOutput, type Core } from "./core.js";
import { CoreError } from "./status.js";
import { writeAudioHeader, writeVideoHeader, type AudioTagHeader, type VideoTagHeader } from "./tag-headers.js";

/** RTMP message type ids (RTMP 1.0 §5.4, §7.1). */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  CommandAmf3: 17,
  DataAmf0: 18,
  CommandAmf0: 20,
} as const;

export interface ChunkWriterOptions {
  /** Outgoing chunk size, 128..0x7FFFFFFF (default 128, the protocol's initial size). */
  chunkSize?: number;
}

/** Upper bound of the chunked size of a `len`-byte message. */
export function chunkedSizeBound(len: number, chunkSize: number): number {
  const chunks = Math.max(1, Math.ceil(len / chunkSize));
  return len + 18 + (chunks - 1) * 7;
}

/** One direction of one RTMP connection: its chunk size and header state. */
export class ChunkWriter {
  readonly #core: Core;
  #handle: number;
  #chunkSize: number;

  constructor(core: Core, options: ChunkWriterOptions = {}) {
    const chunkSize = options.chunkSize ?? 128;
    validateChunkSize(chunkSize);
    this.#core = core;
    this.#handle = core.exports.writerNew(chunkSize);
    if (this.#handle < 0) throw new CoreError(this.#handle, "chunk writer");
    this.#chunkSize = chunkSize;
  }

  /** The current outgoing chunk size. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Changes the chunk size; send Set Chunk Size with the same value first. */
  setChunkSize(size: number): void {
    validateChunkSize(size);
    this.#check(this.#core.exports.writerSetChunkSize(this.#live(), size), "set chunk size");
    this.#chunkSize = size;
  }

  /** Forgets header state: the next message on every chunk stream uses fmt 0. */
  reset(): void {
    this.#core.exports.writerReset(this.#live());
  }

  /** Chunks a message; returns the bytes to send (a new array). */
  write(csid: number, type: number, streamId: number, timestamp: number, payload: Uint8Array): Uint8Array {
    return this.#write(csid, type, streamId, timestamp, 0, payload);
  }

  /** Chunks a video message: tag body header + payload (one pass, no concat). */
  writeVideo(csid: number, streamId: number, timestamp: number, header: VideoTagHeader, payload: Uint8Array): Uint8Array {
    const prefixLen = writeVideoHeader(this.#core, header);
    return this.#write(csid, 9, streamId, timestamp, prefixLen, payload);
  }

  /** Chunks an audio message: tag body header + payload. */
  writeAudio(csid: number, streamId: number, timestamp: number, header: AudioTagHeader, payload: Uint8Array): Uint8Array {
    const prefixLen = writeAudioHeader(this.#core, header);
    return this.#write(csid, 8, streamId, timestamp, prefixLen, payload);
  }

  /** Releases the writer's state in the core. */
  dispose(): void {
    if (this.#handle > 0) this.#core.exports.writerFree(this.#handle);
    this.#handle = 0;
  }

  #write(csid: number, type: number, streamId: number, timestamp: number, prefixLen: number, payload: Uint8Array): Uint8Array {
    const core = this.#core;
    const handle = this.#live();
    if (!Number.isInteger(csid)) throw new TypeError(`chunk stream id must be an integer, got ${csid}`);
    if (!Number.isInteger(type)) throw new TypeError(`message type must be an integer, got ${type}`);
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
      throw new TypeError(`message stream id must be an integer 0..0xFFFFFFFF, got ${streamId}`);
    }
    const len = payload.byteLength;
    // The core writes the headers (the first chunk's, and the one every
    // continuation chunk repeats); the payload goes from `payload` straight
    // into the output, once, never through the core's memory.
    const headerCap = 18 + prefixLen + 7;
    const outPtr = core.output.ensure(headerCap);
    // The core range-checks csid and type; int32() keeps out-of-range values
    // out of range (ToInt32 alone would turn csid 2^32 + 3 into csid 3).
    const n = core.exports.chunkHeaders(
      handle, int32(csid), int32(type), streamId, timestamp >>> 0, prefixLen, len, outPtr, headerCap,
    );
    this.#check(n, "chunk write");
    const layout = core.exports.chunkLayout();
    const first = layout >>> 8;
    const cont = layout & 0xff;
    const mem = core.u8;
    const out = allocOutput(n);
    out.set(mem.subarray(outPtr, outPtr + first), 0);
    const room = this.#chunkSize - prefixLen;
    if (len <= room) {
      out.set(payload, first);
      return out;
    }
    // Continuation header bytes (1 to 7), copied by index: cheaper than a view per chunk.
    const c0 = mem[outPtr + first]!;
    const cRest = cont > 1 ? mem.subarray(outPtr + first + 1, outPtr + first + cont) : undefined;
    out.set(payload.subarray(0, room), first);
    let at = first + room;
    let from = room;
    const size = this.#chunkSize;
    while (from < len) {
      out[at] = c0;
      if (cRest) out.set(cRest, at + 1);
      at += cont;
      const take = len - from < size ? len - from : size;
      out.set(payload.subarray(from, from + take), at);
      at += take;
      from += take;
    }
    return out;
  }

  #live(): number {
    if (this.#handle <= 0) throw new TypeError("ChunkWriter used after dispose()");
    return this.#handle;
  }

  #check(status: number, context: string): void {
    if (status < 0) throw new CoreError(status, context);
  }
}

/** An integer as an i32 argument, or -1 (refused by the core) if it does not fit. */
function int32(v: number): number {
  return v >= -0x80000000 && v <= 0x7fffffff ? v : -1;
}

function validateChunkSize(size: number): void {
  if (!Number.isInteger(size) || size < 128 || size > 0x7fffffff) {
    throw new TypeError(`chunk size must be an integer 128..0x7FFFFFFF, got ${size}`);
  }
}
