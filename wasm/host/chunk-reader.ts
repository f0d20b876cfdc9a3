/**
 * RTMP chunk stream reader (RTMP 1.0 §5.3) over the WebAssembly core: push
 * bytes as they come off the socket, split anywhere, get whole messages.
 * Errors are `CoreError`s with codes such as RTMP_BAD_CHUNK_SIZE; after one,
 * the reader refuses all further input (the connection must be closed).
 */
import type { Core } from "./core.js";
import { CoreError } from "./status.js";

/** A complete RTMP message. */
export interface RtmpMessage {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  /** Absolute timestamp in ms (32-bit, wraps). */
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

export interface ChunkReaderOptions {
  /** Longest message accepted, bytes (default 1 MiB, like nginx-rtmp's max_message; at most 0xFFFFFF). */
  maxMessageLength?: number;
  /** Most distinct chunk streams the peer may open (default 32, like nginx-rtmp's max_streams). */
  maxChunkStreams?: number;
}

/** Bytes handed to the core per call; bounds the input region. */
const FEED_SLICE = 64 * 1024;

export class ChunkReader {
  readonly #core: Core;
  #handle: number;

  constructor(core: Core, options: ChunkReaderOptions = {}) {
    const maxMessageLength = options.maxMessageLength ?? 1024 * 1024;
    const maxChunkStreams = options.maxChunkStreams ?? 32;
    if (!Number.isInteger(maxMessageLength) || maxMessageLength < 1 || maxMessageLength > 0xffffff) {
      throw new TypeError(`maxMessageLength must be 1..0xFFFFFF, got ${maxMessageLength}`);
    }
    if (!Number.isInteger(maxChunkStreams) || maxChunkStreams < 1 || maxChunkStreams > 65598) {
      throw new TypeError(`maxChunkStreams must be 1..65598, got ${maxChunkStreams}`);
    }
    this.#core = core;
    this.#handle = core.exports.readerNew(maxMessageLength, maxChunkStreams);
    if (this.#handle < 0) throw new CoreError(this.#handle, "chunk reader");
  }

  /** The chunk size the peer set (128 until it sends Set Chunk Size). */
  get chunkSize(): number {
    return this.#core.exports.readerChunkSize(this.#live());
  }

  /** Parses `bytes`; returns the messages they complete, in order. */
  push(bytes: Uint8Array): RtmpMessage[] {
    const core = this.#core;
    const handle = this.#live();
    const messages: RtmpMessage[] = [];
    const info = core.exports.readerInfo(handle);
    for (let start = 0; start < bytes.byteLength; start += FEED_SLICE) {
      const slice = bytes.subarray(start, Math.min(bytes.byteLength, start + FEED_SLICE));
      const ptr = core.putInput(slice);
      let off = 0;
      while (off < slice.byteLength) {
        const status = core.exports.readerFeed(handle, ptr + off, slice.byteLength - off);
        if (status < 0) throw new CoreError(status, "RTMP chunk stream");
        // readerFeed may have grown memory: take the view afresh.
        const view = core.view;
        const consumed = view.getUint32(info + 24, true);
        off += consumed;
        if (status === 1) {
          const length = view.getUint32(info + 16, true);
          const payloadPtr = view.getUint32(info + 20, true);
          messages.push({
            csid: view.getUint32(info, true),
            type: view.getUint32(info + 4, true),
            streamId: view.getUint32(info + 8, true),
            timestamp: view.getUint32(info + 12, true),
            payload: core.copyOut(payloadPtr, length),
          });
        } else {
          break;
        }
      }
    }
    return messages;
  }

  /** Releases the reader and any partial messages it holds. */
  dispose(): void {
    if (this.#handle > 0) this.#core.exports.readerFree(this.#handle);
    this.#handle = 0;
  }

  #live(): number {
    if (this.#handle <= 0) throw new TypeError("ChunkReader used after dispose()");
    return this.#handle;
  }
}
