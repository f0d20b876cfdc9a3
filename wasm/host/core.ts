/**
 * Loads the golive WebAssembly core and owns its memory.
 *
 * One `Core` = one instance = one `WebAssembly.Memory`, shared by every
 * writer, reader and codec created on it (all work is synchronous, so the
 * scratch regions can be shared). Scratch regions are allocated once and grow
 * only when a larger input arrives; in steady state nothing is allocated per
 * frame. Any export that can allocate may grow memory, which detaches old
 * views: always take `core.u8` / `core.view` afresh after such a call.
 *
 * Works in Node and in browsers: pass the module bytes, a `Response`, or a
 * compiled `WebAssembly.Module`. In Node, `loadCoreNode()` (load-node.ts)
 * reads wasm/build/golive.wasm.
 */
import { GoliveError } from "../../protocol/errors.js";

/** The raw exports of golive.wasm. Pointers and statuses are i32. */
export interface CoreExports {
  prefixPtr(): number;
  writerNew(chunkSize: number): number;
  writerFree(w: number): void;
  writerSetChunkSize(w: number, chunkSize: number): number;
  writerReset(w: number): void;
  chunkWrite(
    w: number, csid: number, type: number, streamId: number, timestamp: number,
    prefixLen: number, payloadPtr: number, payloadLen: number, out: number, outCap: number,
  ): number;
  chunkHeaders(
    w: number, csid: number, type: number, streamId: number, timestamp: number,
    prefixLen: number, payloadLen: number, out: number, outCap: number,
  ): number;
  chunkLayout(): number;
  readerNew(maxMessageLength: number, maxChunkStreams: number): number;
  readerFree(r: number): void;
  readerInfo(r: number): number;
  readerChunkSize(r: number): number;
  readerFeed(r: number, ptr: number, len: number): number;
  amfDecode(ptr: number, len: number, tok: number, tokCap: number, maxDepth: number, maxString: number): number;
  amfEncode(tok: number, count: number, out: number, outCap: number): number;
  flvHeader(hasAudio: number, hasVideo: number, out: number): number;
  flvTag(type: number, timestamp: number, prefixLen: number, payloadPtr: number, payloadLen: number, out: number, outCap: number): number;
  flvTagHeaders(type: number, timestamp: number, prefixLen: number, payloadLen: number, out: number, outCap: number): number;
  videoHeader(frameType: number, codecId: number, avcPacketType: number, cts: number): number;
  videoHeaderEx(frameType: number, packetType: number, fourcc: number, cts: number): number;
  audioHeader(format: number, rate: number, size: number, channels: number, aacPacketType: number): number;
  audioHeaderEx(packetType: number, fourcc: number): number;
  alloc(size: number): number;
  realloc(ptr: number, size: number): number;
  free(ptr: number): void;
}

/** A trap inside the core: always a golive bug, never bad input. */
export class CoreTrapError extends GoliveError {
  constructor(detail: string) {
    super("WASM_TRAP", `WebAssembly core aborted: ${detail}`);
  }
}

/** A growable scratch allocation in the core's memory. */
export class Region {
  #core: Core;
  #ptr: number;
  #cap: number;

  constructor(core: Core, initialCapacity: number) {
    this.#core = core;
    this.#cap = Math.max(64, initialCapacity);
    this.#ptr = core.exports.alloc(this.#cap);
  }

  /** Address of the region (stable until the next `ensure` that grows it). */
  get ptr(): number {
    return this.#ptr;
  }

  /** Capacity in bytes. */
  get capacity(): number {
    return this.#cap;
  }

  /**
   * Makes the region at least `size` bytes; returns its address. Growing may
   * grow memory (re-derive views afterwards). Contents are not preserved.
   */
  ensure(size: number): number {
    if (size > this.#cap) {
      let cap = this.#cap;
      while (cap < size) cap *= 2;
      this.#core.exports.free(this.#ptr);
      this.#ptr = this.#core.exports.alloc(cap);
      this.#cap = cap;
    }
    return this.#ptr;
  }
}

/** Initial scratch sizes: enough for a 720p keyframe without growing. */
const INITIAL_IN = 256 * 1024;
const INITIAL_OUT = 320 * 1024;
const INITIAL_TOK = 16 * 1024;

/** One instance of the core, with its memory and scratch regions. */
export class Core {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  /** Input scratch: payloads to chunk or tag, bytes to parse, AMF strings. */
  readonly input: Region;
  /** Output scratch: chunked messages, FLV tags, encoded AMF. */
  readonly output: Region;
  /** AMF0 token tape. */
  readonly tokens: Region;
  /** Address of the 64-byte prefix region (FLV tag body headers). */
  readonly prefixPtr: number;
  #buffer: ArrayBuffer | SharedArrayBuffer;
  #u8: Uint8Array;
  #view: DataView;

  constructor(instance: WebAssembly.Instance, memory: WebAssembly.Memory) {
    this.exports = instance.exports as unknown as CoreExports;
    this.memory = memory;
    this.#buffer = memory.buffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
    this.prefixPtr = this.exports.prefixPtr();
    this.input = new Region(this, INITIAL_IN);
    this.output = new Region(this, INITIAL_OUT);
    this.tokens = new Region(this, INITIAL_TOK);
  }

  /** A byte view of the whole memory, re-derived if memory grew. */
  get u8(): Uint8Array {
    if (this.memory.buffer !== this.#buffer) this.#refresh();
    return this.#u8;
  }

  /** A DataView of the whole memory, re-derived if memory grew. */
  get view(): DataView {
    if (this.memory.buffer !== this.#buffer) this.#refresh();
    return this.#view;
  }

  #refresh(): void {
    this.#buffer = this.memory.buffer;
    this.#u8 = new Uint8Array(this.#buffer);
    this.#view = new DataView(this.#buffer);
  }

  /** Copies `bytes` into the input region; returns its address. */
  putInput(bytes: Uint8Array): number {
    const ptr = this.input.ensure(bytes.byteLength);
    this.u8.set(bytes, ptr);
    return ptr;
  }

  /** Copies `len` bytes at `ptr` out of memory into a new array. */
  copyOut(ptr: number, len: number): Uint8Array {
    return this.u8.slice(ptr, ptr + len);
  }
}

type Alloc = (size: number) => Uint8Array;
const NodeBuffer = (globalThis as { Buffer?: { allocUnsafe: Alloc } }).Buffer;

/**
 * A new array for output that is about to be overwritten whole. In Node, a
 * plain Uint8Array view of Buffer.allocUnsafe memory (pooled for small
 * sizes, never zero-filled; a view, so slice() copies as for any
 * Uint8Array, but `.buffer` may be shared: use byteOffset/byteLength);
 * elsewhere a new Uint8Array.
 */
export const allocOutput: Alloc = NodeBuffer
  ? (size) => {
      const b = NodeBuffer.allocUnsafe(size);
      return new Uint8Array(b.buffer, b.byteOffset, size);
    }
  : (size) => new Uint8Array(size);

/** Anything the core can be instantiated from. */
export type CoreSource = BufferSource | Response | WebAssembly.Module;

let compiled: Promise<WebAssembly.Module> | undefined;

/** Instantiates the core from module bytes, a fetch `Response`, or a compiled module. */
export async function loadCore(source: CoreSource): Promise<Core> {
  let module: WebAssembly.Module;
  if (source instanceof WebAssembly.Module) {
    module = source;
  } else if (typeof Response !== "undefined" && source instanceof Response) {
    module = await WebAssembly.compile(await source.arrayBuffer());
  } else {
    module = await WebAssembly.compile(source as BufferSource);
  }
  return instantiate(module);
}

/** Instantiates a compiled module synchronously (e.g. a second core). */
export function instantiate(module: WebAssembly.Module): Core {
  // Initial 2 pages (asconfig.json); maximum 4 GiB, the wasm32 limit.
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536 });
  const imports = {
    env: {
      memory,
      abort(_msgPtr: number, _filePtr: number, line: number, column: number): never {
        throw new CoreTrapError(`at line ${line}:${column}`);
      },
    },
  };
  return new Core(new WebAssembly.Instance(module, imports), memory);
}

/** Compiles once per process and caches the module. */
export function cachedCompile(load: () => Promise<BufferSource>): Promise<WebAssembly.Module> {
  compiled ??= load().then((bytes) => WebAssembly.compile(bytes));
  return compiled;
}
