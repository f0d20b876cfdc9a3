/**
 * `npm run bench:core`: the WebAssembly core against a plain TypeScript
 * implementation (bench/baseline/, bench-only) on the per-frame work of the
 * bridge: for each media frame, produce (a) the FLV tag for the recording and
 * (b) the RTMP chunked message (chunk size 4096, csid 6 video / 4 audio,
 * message stream 1), each as a standalone Uint8Array for fs or a socket.
 *
 * Cases: 300-byte AAC frames (21 ms apart), 3 KiB P-frames and 150 KiB
 * keyframes (AVC, 33 ms apart). Variants, in pairs that do the same work:
 *   ts               the baseline: a new Uint8Array per output, headers written
 *                    by index, payload copied in with `set` (portable);
 *   wasm             the shipped host API (FlvWriter + ChunkWriter): each call
 *                    copies the payload into wasm memory and the result out of
 *                    it with `slice` (a new Uint8Array);
 *   ts-unsafe        the baseline with Node's Buffer.allocUnsafe per output;
 *   wasm-1in-unsafe  Core API: payload copied in once for both outputs, each
 *                    output copied out into a Buffer.allocUnsafe;
 *   ts-reuse         the baseline writing into one reusable array per output;
 *   wasm-noout       Core API: payload copied in once, outputs left in
 *                    reusable regions of wasm memory (no copy out);
 * and, to show where the time of `wasm` goes:
 *   wasm-1in         Core API: payload copied in once, outputs copied out with
 *                    `slice` (wasm minus the second copy in);
 *   wasm-encode      payloads already resident in wasm memory: the export
 *                    calls alone (the floor of the wasm path).
 *
 * Before timing, every variant must produce byte-identical output to the
 * baseline (and the baseline to the shipped writers on a mixed stream);
 * otherwise the bench fails. Then, in one process: a warm-up, R rounds in
 * which every variant runs once (order rotated, a forced GC before each
 * run), and a heap measurement. Reports per case and variant the median
 * wall-clock MB/s (10^6 payload bytes per second) and ns per frame (both
 * outputs), the process CPU time per frame beside it (V8's background GC
 * threads included), throughput ratios as medians of the per-round ratios
 * (robust to other load on the machine), and heap growth per 100k frames in
 * steady state. Run it on a quiet machine: it warns when the load is high.
 *
 * Usage: npm run bench:core [-- --quick] [-- --json out.json]
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ChunkWriter, chunkedSizeBound } from "../wasm/host/chunk-writer.js";
import { Region, type Core } from "../wasm/host/core.js";
import { FlvWriter } from "../wasm/host/flv-writer.js";
import { loadCoreNode } from "../wasm/host/load-node.js";
import { CoreError } from "../wasm/host/status.js";
import {
  AvcPacketType, FrameType, writeAudioHeader, writeVideoHeader, type AudioTagHeader, type VideoTagHeader,
} from "../wasm/host/tag-headers.js";
import { allocFresh, allocNodeUnsafe, reusableAllocator, type Allocator } from "./baseline/bytes.js";
import { BaselineChunkWriter } from "./baseline/chunk-writer.js";
import { BaselineFlvWriter } from "./baseline/flv-writer.js";
import { median, summarize, type Summary } from "./stats.js";
import { aacSpeedReport, benchAacSpeed } from "./aac-speed.js";

const CHUNK_SIZE = 4096;
const STREAM_ID = 1;
const CSID_AUDIO = 4;
const CSID_VIDEO = 6;
/** Distinct payloads per case, used round-robin (a power of two). */
const POOL = 8;
const POOL_MASK = POOL - 1;
/** Heap growth is reported per this many frames. */
const HEAP_UNIT = 100_000;
/** Pause after the forced GC before each timed run, ms (see settle()). */
const SETTLE_MS = 15;
/** Below this growth per 100k frames (after a full GC) the heap counts as flat. */
const FLAT_HEAP_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------
// Cases and variants

interface BenchCase {
  readonly id: "audio" | "pframe" | "keyframe";
  readonly label: string;
  readonly payloadBytes: number;
  readonly video: boolean;
  readonly frameType: number;
  /** Timestamp advance per frame, ms. */
  readonly tsStep: number;
  /** Frames per timed run (full mode). */
  readonly messagesPerRun: number;
  /** Frames for the heap measurement (full mode); growth is scaled to 100k. */
  readonly heapMessages: number;
}

const CASES: readonly BenchCase[] = [
  { id: "audio", label: "audio 300 B", payloadBytes: 300, video: false, frameType: 0, tsStep: 21, messagesPerRun: 100_000, heapMessages: 100_000 },
  { id: "pframe", label: "P-frame 3 KiB", payloadBytes: 3 * 1024, video: true, frameType: FrameType.Inter, tsStep: 33, messagesPerRun: 60_000, heapMessages: 100_000 },
  { id: "keyframe", label: "keyframe 150 KiB", payloadBytes: 150 * 1024, video: true, frameType: FrameType.Key, tsStep: 33, messagesPerRun: 3_000, heapMessages: 10_000 },
];

const VARIANTS = ["ts", "ts-unsafe", "ts-reuse", "wasm", "wasm-1in", "wasm-1in-unsafe", "wasm-noout", "wasm-encode"] as const;
type VariantName = (typeof VARIANTS)[number];

/** One implementation bound to one case, with its own writer state. */
interface Runner {
  /** Encodes frame `i` (payload `i % POOL`) at `timestamp`; returns the output bytes. */
  step(i: number, timestamp: number): number;
  /** Encodes `n` frames continuing this runner's own timeline; returns the output bytes. */
  run(n: number): number;
  /** Copies of the last frame's FLV tag and RTMP message. */
  last(): readonly [Uint8Array, Uint8Array];
  /** Frees what the runner holds in wasm memory. */
  dispose(): void;
}

const EMPTY: Uint8Array = new Uint8Array(0);

function videoHeaderOf(c: BenchCase): VideoTagHeader {
  return { kind: "avc", frameType: c.frameType, packetType: AvcPacketType.Nalu, cts: 0 };
}

const AAC_RAW: AudioTagHeader = { kind: "aac", packetType: 1 };

/** The pure-TypeScript baseline, with one of three ways to get output arrays. */
class TsRunner implements Runner {
  readonly #flv: BaselineFlvWriter;
  readonly #chunks: BaselineChunkWriter;
  readonly #pool: readonly Uint8Array[];
  readonly #video: boolean;
  readonly #vh: VideoTagHeader;
  readonly #tsStep: number;
  #flvOut = EMPTY;
  #rtmpOut = EMPTY;
  #i = 0;
  #ts = 0;

  constructor(c: BenchCase, pool: readonly Uint8Array[], alloc: "fresh" | "unsafe" | "reuse") {
    // Each writer gets its own scratch in "reuse" mode: both outputs live until the next frame.
    const make = (): Allocator => (alloc === "fresh" ? allocFresh : alloc === "unsafe" ? allocNodeUnsafe : reusableAllocator());
    this.#flv = new BaselineFlvWriter(make());
    this.#chunks = new BaselineChunkWriter(CHUNK_SIZE, make());
    this.#pool = pool;
    this.#video = c.video;
    this.#vh = videoHeaderOf(c);
    this.#tsStep = c.tsStep;
  }

  step(i: number, ts: number): number {
    const payload = this.#pool[i & POOL_MASK]!;
    let flv: Uint8Array;
    let rtmp: Uint8Array;
    if (this.#video) {
      flv = this.#flv.videoTag(ts, this.#vh, payload);
      rtmp = this.#chunks.writeVideo(CSID_VIDEO, STREAM_ID, ts, this.#vh, payload);
    } else {
      flv = this.#flv.audioTag(ts, AAC_RAW, payload);
      rtmp = this.#chunks.writeAudio(CSID_AUDIO, STREAM_ID, ts, AAC_RAW, payload);
    }
    this.#flvOut = flv;
    this.#rtmpOut = rtmp;
    return flv.byteLength + rtmp.byteLength;
  }

  run(n: number): number {
    let bytes = 0;
    let i = this.#i;
    let ts = this.#ts;
    for (let k = 0; k < n; k++, i++, ts += this.#tsStep) bytes += this.step(i, ts);
    this.#i = i;
    this.#ts = ts;
    return bytes;
  }

  last(): readonly [Uint8Array, Uint8Array] {
    return [this.#flvOut.slice(), this.#rtmpOut.slice()];
  }

  dispose(): void {}
}

/**
 * The shipped host API: FlvWriter + ChunkWriter. The same shape as TsRunner
 * on purpose: one class per kind of writer keeps each variant's call sites
 * monomorphic, so neither pays for the other in the JIT.
 */
class WasmRunner implements Runner {
  readonly #flv: FlvWriter;
  readonly #chunks: ChunkWriter;
  readonly #pool: readonly Uint8Array[];
  readonly #video: boolean;
  readonly #vh: VideoTagHeader;
  readonly #tsStep: number;
  #flvOut = EMPTY;
  #rtmpOut = EMPTY;
  #i = 0;
  #ts = 0;

  constructor(core: Core, c: BenchCase, pool: readonly Uint8Array[]) {
    this.#flv = new FlvWriter(core);
    this.#chunks = new ChunkWriter(core, { chunkSize: CHUNK_SIZE });
    this.#pool = pool;
    this.#video = c.video;
    this.#vh = videoHeaderOf(c);
    this.#tsStep = c.tsStep;
  }

  step(i: number, ts: number): number {
    const payload = this.#pool[i & POOL_MASK]!;
    let flv: Uint8Array;
    let rtmp: Uint8Array;
    if (this.#video) {
      flv = this.#flv.videoTag(ts, this.#vh, payload);
      rtmp = this.#chunks.writeVideo(CSID_VIDEO, STREAM_ID, ts, this.#vh, payload);
    } else {
      flv = this.#flv.audioTag(ts, AAC_RAW, payload);
      rtmp = this.#chunks.writeAudio(CSID_AUDIO, STREAM_ID, ts, AAC_RAW, payload);
    }
    this.#flvOut = flv;
    this.#rtmpOut = rtmp;
    return flv.byteLength + rtmp.byteLength;
  }

  run(n: number): number {
    let bytes = 0;
    let i = this.#i;
    let ts = this.#ts;
    for (let k = 0; k < n; k++, i++, ts += this.#tsStep) bytes += this.step(i, ts);
    this.#i = i;
    this.#ts = ts;
    return bytes;
  }

  last(): readonly [Uint8Array, Uint8Array] {
    return [this.#flvOut.slice(), this.#rtmpOut.slice()];
  }

  dispose(): void {
    this.#chunks.dispose();
  }
}

/** How CoreApiRunner returns its outputs. */
const enum CopyOut {
  /** `core.copyOut` (Uint8Array.prototype.slice), as the shipped writers do. */
  Slice,
  /** `Buffer.allocUnsafe` + `set`: pooled below 4 KiB, never zero-filled (Node only). */
  NodeUnsafe,
  /** Not at all: both outputs stay in reusable regions of wasm memory. */
  None,
}

/**
 * The Core API used directly: tag body header written once, payload copied in
 * once (`copyIn`) or already resident, both outputs encoded into reusable
 * regions and then copied out (or not, see CopyOut). Covers wasm-1in,
 * wasm-1in-unsafe, wasm-noout and wasm-encode; the modes are fixed per
 * instance, so the branches are perfectly predicted.
 */
class CoreApiRunner implements Runner {
  readonly #core: Core;
  readonly #handle: number;
  readonly #pool: readonly Uint8Array[];
  readonly #video: boolean;
  readonly #vh: VideoTagHeader;
  readonly #tsStep: number;
  readonly #copyIn: boolean;
  readonly #copyOut: CopyOut;
  /** Addresses of the resident payloads (copyIn false). */
  readonly #resident: readonly number[];
  readonly #residentRegion: Region | null;
  readonly #flvRegion: Region;
  readonly #rtmpRegion: Region;
  #flvOut = EMPTY;
  #rtmpOut = EMPTY;
  #flvLen = 0;
  #rtmpLen = 0;
  #i = 0;
  #ts = 0;

  constructor(core: Core, c: BenchCase, pool: readonly Uint8Array[], copyIn: boolean, copyOut: CopyOut) {
    this.#core = core;
    const handle = core.exports.writerNew(CHUNK_SIZE);
    if (handle < 0) throw new CoreError(handle, "chunk writer");
    this.#handle = handle;
    this.#pool = pool;
    this.#video = c.video;
    this.#vh = videoHeaderOf(c);
    this.#tsStep = c.tsStep;
    this.#copyIn = copyIn;
    this.#copyOut = copyOut;
    // Sized once: nothing grows in steady state.
    this.#flvRegion = new Region(core, c.payloadBytes + 64 + 15);
    this.#rtmpRegion = new Region(core, chunkedSizeBound(c.payloadBytes + 64, CHUNK_SIZE));
    const resident: number[] = [];
    this.#residentRegion = copyIn ? null : new Region(core, POOL * c.payloadBytes);
    if (this.#residentRegion !== null) {
      const base = this.#residentRegion.ptr;
      pool.forEach((p, k) => {
        core.u8.set(p, base + k * c.payloadBytes);
        resident.push(base + k * c.payloadBytes);
      });
    }
    this.#resident = resident;
  }

  step(i: number, ts: number): number {
    const core = this.#core;
    const x = core.exports;
    const payload = this.#pool[i & POOL_MASK]!;
    const len = payload.byteLength;
    const inPtr = this.#copyIn ? core.putInput(payload) : this.#resident[i & POOL_MASK]!;
    const type = this.#video ? 9 : 8;
    const prefixLen = this.#video ? writeVideoHeader(core, this.#vh) : writeAudioHeader(core, AAC_RAW);
    const flvCap = len + prefixLen + 15;
    const flvPtr = this.#flvRegion.ensure(flvCap);
    const nf = x.flvTag(type, ts >>> 0, prefixLen, inPtr, len, flvPtr, flvCap);
    if (nf < 0) throw new CoreError(nf, "FLV tag");
    const rtmpCap = chunkedSizeBound(len + prefixLen, CHUNK_SIZE);
    const rtmpPtr = this.#rtmpRegion.ensure(rtmpCap);
    const csid = this.#video ? CSID_VIDEO : CSID_AUDIO;
    const nr = x.chunkWrite(this.#handle, csid, type, STREAM_ID, ts >>> 0, prefixLen, inPtr, len, rtmpPtr, rtmpCap);
    if (nr < 0) throw new CoreError(nr, "chunk write");
    if (this.#copyOut === CopyOut.Slice) {
      this.#flvOut = core.copyOut(flvPtr, nf);
      this.#rtmpOut = core.copyOut(rtmpPtr, nr);
    } else if (this.#copyOut === CopyOut.NodeUnsafe) {
      const mem = core.u8;
      const flv = Buffer.allocUnsafe(nf);
      flv.set(mem.subarray(flvPtr, flvPtr + nf));
      const rtmp = Buffer.allocUnsafe(nr);
      rtmp.set(mem.subarray(rtmpPtr, rtmpPtr + nr));
      this.#flvOut = flv;
      this.#rtmpOut = rtmp;
    }
    this.#flvLen = nf;
    this.#rtmpLen = nr;
    return nf + nr;
  }

  run(n: number): number {
    let bytes = 0;
    let i = this.#i;
    let ts = this.#ts;
    for (let k = 0; k < n; k++, i++, ts += this.#tsStep) bytes += this.step(i, ts);
    this.#i = i;
    this.#ts = ts;
    return bytes;
  }

  last(): readonly [Uint8Array, Uint8Array] {
    if (this.#copyOut !== CopyOut.None) return [this.#flvOut.slice(), this.#rtmpOut.slice()];
    return [
      this.#core.copyOut(this.#flvRegion.ptr, this.#flvLen),
      this.#core.copyOut(this.#rtmpRegion.ptr, this.#rtmpLen),
    ];
  }

  dispose(): void {
    const x = this.#core.exports;
    x.writerFree(this.#handle);
    x.free(this.#flvRegion.ptr);
    x.free(this.#rtmpRegion.ptr);
    if (this.#residentRegion !== null) x.free(this.#residentRegion.ptr);
  }
}

function makeRunner(name: VariantName, core: Core, c: BenchCase, pool: readonly Uint8Array[]): Runner {
  switch (name) {
    case "ts":
      return new TsRunner(c, pool, "fresh");
    case "ts-unsafe":
      return new TsRunner(c, pool, "unsafe");
    case "ts-reuse":
      return new TsRunner(c, pool, "reuse");
    case "wasm":
      return new WasmRunner(core, c, pool);
    case "wasm-1in":
      return new CoreApiRunner(core, c, pool, true, CopyOut.Slice);
    case "wasm-1in-unsafe":
      return new CoreApiRunner(core, c, pool, true, CopyOut.NodeUnsafe);
    case "wasm-noout":
      return new CoreApiRunner(core, c, pool, true, CopyOut.None);
    case "wasm-encode":
      return new CoreApiRunner(core, c, pool, false, CopyOut.None);
  }
}

// ---------------------------------------------------------------------------
// Inputs and equivalence checks

/** Deterministic pseudo-random bytes (xorshift32), so every run sees the same data. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s;
  }
  return out;
}

function makePool(c: BenchCase): Uint8Array[] {
  return Array.from({ length: POOL }, (_, k) => randomBytes(c.payloadBytes, 0x9e3779b9 ^ (k * 7919 + c.payloadBytes)));
}

class MismatchError extends Error {}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}

function expectSame(what: string, expected: Uint8Array, actual: Uint8Array): void {
  const at = firstDifference(expected, actual);
  if (at >= 0) {
    throw new MismatchError(
      `${what}: output differs from the baseline at byte ${at} ` +
        `(lengths ${expected.byteLength} vs ${actual.byteLength}); the comparison would not be of equal work`,
    );
  }
}

/**
 * Every variant against the baseline on the case's own frames, from three
 * starting timestamps: 0; just below 2^24 (the FLV TimestampExtended byte
 * changes); and 0x12345678 (an RTMP extended timestamp, repeated on every
 * continuation chunk of a keyframe).
 */
function checkCase(core: Core, c: BenchCase, pool: readonly Uint8Array[]): void {
  const frames = 24;
  for (const start of [0, 0xffffff - 2 * c.tsStep, 0x12345678]) {
    const ref = makeRunner("ts", core, c, pool);
    const others = VARIANTS.filter((v) => v !== "ts").map((v) => [v, makeRunner(v, core, c, pool)] as const);
    for (let i = 0; i < frames; i++) {
      const ts = start + i * c.tsStep;
      ref.step(i, ts);
      const [flv, rtmp] = ref.last();
      for (const [name, r] of others) {
        r.step(i, ts);
        const [f, m] = r.last();
        expectSame(`${c.label}, ${name}, frame ${i} from ts ${start}, FLV tag`, flv, f);
        expectSame(`${c.label}, ${name}, frame ${i} from ts ${start}, RTMP message`, rtmp, m);
      }
    }
    ref.dispose();
    for (const [, r] of others) r.dispose();
  }
}

/**
 * The baseline against the shipped writers on a mixed stream: audio, video
 * (legacy and Enhanced RTMP headers) and data messages on several chunk
 * streams (1-, 2- and 3-byte basic headers), varying lengths, two message
 * streams, backward and extended timestamps. Guards the baseline itself.
 */
function checkMixed(core: Core): void {
  const flvW = new FlvWriter(core);
  const chunkW = new ChunkWriter(core, { chunkSize: CHUNK_SIZE });
  const flvB = new BaselineFlvWriter();
  const chunkB = new BaselineChunkWriter(CHUNK_SIZE);
  const big = randomBytes(150 * 1024 + 17, 7);
  let s = 12345;
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
  let ts = 0;
  for (let i = 0; i < 600; i++) {
    const r = rnd(100);
    ts = r < 3 ? Math.max(0, ts - 500) : r < 5 ? ts + 0x1000000 : ts + (r < 50 ? 0 : 21);
    const size = r % 10 === 0 ? big.byteLength - rnd(9000) : rnd(4) === 0 ? 300 : rnd(12000);
    const payload = big.subarray(0, size);
    const sid = rnd(10) === 0 ? 2 : 1;
    const what = `mixed stream, message ${i} (ts ${ts}, ${size} B)`;
    switch (rnd(5)) {
      case 0: {
        const h: AudioTagHeader = { kind: "aac", packetType: 1 };
        expectSame(`${what}, audio FLV`, flvB.audioTag(ts, h, payload), flvW.audioTag(ts, h, payload));
        expectSame(`${what}, audio RTMP`, chunkB.writeAudio(4, sid, ts, h, payload), chunkW.writeAudio(4, sid, ts, h, payload));
        break;
      }
      case 1:
      case 2: {
        const h: VideoTagHeader = { kind: "avc", frameType: rnd(2) + 1, packetType: 1, cts: rnd(200) - 100 };
        expectSame(`${what}, AVC FLV`, flvB.videoTag(ts, h, payload), flvW.videoTag(ts, h, payload));
        expectSame(`${what}, AVC RTMP`, chunkB.writeVideo(6, sid, ts, h, payload), chunkW.writeVideo(6, sid, ts, h, payload));
        break;
      }
      case 3: {
        const packetType = rnd(4);
        const h: VideoTagHeader = { kind: "ex", frameType: 2, packetType, fourcc: "hvc1", cts: packetType === 1 ? rnd(50) : 0 };
        const csid = rnd(2) === 0 ? 70 : 400;
        expectSame(`${what}, Enhanced FLV`, flvB.videoTag(ts, h, payload), flvW.videoTag(ts, h, payload));
        expectSame(`${what}, Enhanced RTMP`, chunkB.writeVideo(csid, sid, ts, h, payload), chunkW.writeVideo(csid, sid, ts, h, payload));
        break;
      }
      default: {
        const data = payload.subarray(0, rnd(600));
        expectSame(`${what}, data RTMP`, chunkB.write(5, 18, sid, ts, data), chunkW.write(5, 18, sid, ts, data));
      }
    }
  }
  chunkW.dispose();
}

// ---------------------------------------------------------------------------
// Measurement

function gcFull(): void {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error("global.gc is missing: run node with --expose-gc");
  gc();
  gc();
}

interface HeapGrowth {
  /** Frames actually run; the byte figures below are scaled to 100k frames. */
  readonly frames: number;
  readonly heapUsed: number;
  /** Off-heap memory tracked by V8; includes the ArrayBuffers below. */
  readonly external: number;
  readonly arrayBuffers: number;
  /** Change of the wasm memory (not scaled): must be 0 in steady state. */
  readonly wasmMemory: number;
}

function heapOnce(core: Core, r: Runner | null, frames: number): HeapGrowth {
  gcFull();
  const m0 = process.memoryUsage();
  const w0 = core.memory.buffer.byteLength;
  r?.run(frames);
  gcFull();
  const m1 = process.memoryUsage();
  const w1 = core.memory.buffer.byteLength;
  const scale = HEAP_UNIT / frames;
  return {
    frames,
    heapUsed: Math.round((m1.heapUsed - m0.heapUsed) * scale),
    external: Math.round((m1.external - m0.external) * scale),
    arrayBuffers: Math.round((m1.arrayBuffers - m0.arrayBuffers) * scale),
    wasmMemory: w1 - w0,
  };
}

/**
 * Growth over `frames` frames in steady state, measured twice back to back;
 * the smaller of the two is kept. A leak shows in both, while a collection
 * that happens to land in one window (a negative or a spurious positive
 * figure) does not.
 */
function measureHeap(core: Core, r: Runner | null, frames: number): HeapGrowth {
  const a = heapOnce(core, r, frames);
  const b = heapOnce(core, r, frames);
  const size = (h: HeapGrowth): number => Math.abs(h.heapUsed + h.external) + h.wasmMemory;
  return size(a) <= size(b) ? a : b;
}

interface VariantResult {
  readonly variant: VariantName;
  /** From wall-clock time (the primary figures). */
  readonly mbPerSec: Summary;
  readonly nsPerFrame: Summary;
  /** From process CPU time: adds what V8's background threads (GC) spent meanwhile. */
  readonly cpuNsPerFrame: Summary;
  /**
   * Throughput over the baseline's: the median over rounds of the ratio
   * within each round (both measured moments apart), which cancels the slow
   * and fast periods that other load on the machine causes.
   */
  readonly vsTs: number;
  /** The same, as the ratio of the two medians (for reference). */
  readonly vsTsOfMedians: number;
  /** Wall-clock time of each run. */
  readonly wallMs: readonly number[];
  /** CPU time of each run: user + system of the whole process (GC helper threads included). */
  readonly cpuMs: readonly number[];
  readonly heap: HeapGrowth;
}

interface CaseResult {
  readonly case: BenchCase["id"];
  readonly label: string;
  readonly payloadBytes: number;
  readonly framesPerRun: number;
  /** FLV + RTMP bytes produced per frame (identical for every variant). */
  readonly outputBytesPerFrame: number;
  readonly variants: readonly VariantResult[];
}

interface Options {
  readonly runs: number;
  readonly scale: number;
}

/**
 * A full GC, then a short pause so that V8's background threads (concurrent
 * sweeping, freeing the previous run's ArrayBuffers) finish before the clock
 * starts: that work belongs to the previous run, and on two cores it would
 * compete with this one (and show in its CPU time).
 */
async function settle(): Promise<void> {
  gcFull();
  await sleep(SETTLE_MS);
}

async function benchCase(core: Core, c: BenchCase, opt: Options, log: (s: string) => void): Promise<CaseResult> {
  const pool = makePool(c);
  checkCase(core, c, pool);
  const frames = Math.max(100, Math.round(c.messagesPerRun * opt.scale));
  const runners = VARIANTS.map((v) => makeRunner(v, core, c, pool));

  // Warm-up: same amount of work as a timed run, so every variant reaches its optimized code.
  for (const r of runners) r.run(frames);

  const cpuMs: number[][] = VARIANTS.map(() => []);
  const wallMs: number[][] = VARIANTS.map(() => []);
  let outputBytes = 0;
  for (let k = 0; k < opt.runs; k++) {
    const bytes: number[] = [];
    // Rotate the order each run, so no variant always follows the same one.
    for (let j = 0; j < runners.length; j++) {
      const v = (j + k) % runners.length;
      await settle();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      bytes[v] = runners[v]!.run(frames);
      const t1 = performance.now();
      const c1 = process.cpuUsage(c0);
      wallMs[v]!.push(t1 - t0);
      cpuMs[v]!.push((c1.user + c1.system) / 1000);
    }
    if (bytes.some((b) => b !== bytes[0])) throw new MismatchError(`${c.label}: variants produced different byte counts ${bytes.join(", ")}`);
    outputBytes = bytes[0]!;
    log(".");
  }

  const heapFrames = Math.max(1000, Math.round(c.heapMessages * opt.scale));
  const heaps = runners.map((r) => measureHeap(core, r, heapFrames));
  for (const r of runners) r.dispose();
  log(" ");

  const results = VARIANTS.map((variant, v): Omit<VariantResult, "vsTs" | "vsTsOfMedians"> => {
    const cpu = cpuMs[v]!;
    const wall = wallMs[v]!;
    return {
      variant,
      mbPerSec: summarize(wall.map((t) => (c.payloadBytes * frames) / (t / 1000) / 1e6)),
      nsPerFrame: summarize(wall.map((t) => (t * 1e6) / frames)),
      cpuNsPerFrame: summarize(cpu.map((t) => (t * 1e6) / frames)),
      wallMs: wall,
      cpuMs: cpu,
      heap: heaps[v]!,
    };
  });
  const base = results[0]!.mbPerSec.median;
  const tsWall = wallMs[0]!;
  return {
    case: c.id,
    label: c.label,
    payloadBytes: c.payloadBytes,
    framesPerRun: frames,
    outputBytesPerFrame: outputBytes / frames,
    variants: results.map((r) => ({
      ...r,
      vsTs: pairedRatio(tsWall, r.wallMs),
      vsTsOfMedians: r.mbPerSec.median / base,
    })),
  };
}

// ---------------------------------------------------------------------------
// Report

function fmtNum(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtBytes(n: number): string {
  const a = Math.abs(n);
  if (a < 1024) return `${n} B`;
  if (a < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function table(rows: readonly (readonly string[])[], rightFrom: number): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows
    .map((r) => r.map((cell, col) => (col >= rightFrom ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!))).join("  "))
    .join("\n");
}

function report(results: readonly CaseResult[], noise: HeapGrowth): string {
  const speed: string[][] = [["case", "variant", "MB/s", "ns/frame", "min..max ns", "IQR", "cpu ns", "vs ts", "vs pair"]];
  const heap: string[][] = [["case", "variant", "frames", "heapUsed/100k", "external/100k", "arrayBuffers/100k", "wasm memory"]];
  for (const c of results) {
    c.variants.forEach((v, k) => {
      const label = k === 0 ? c.label : "";
      speed.push([
        label, v.variant, fmtNum(v.mbPerSec.median, 1), fmtNum(v.nsPerFrame.median),
        `${fmtNum(v.nsPerFrame.min)}..${fmtNum(v.nsPerFrame.max)}`, `${(v.nsPerFrame.relIqr * 100).toFixed(1)}%`,
        fmtNum(v.cpuNsPerFrame.median), `${v.vsTs.toFixed(2)}x`,
        PAIRS.has(v.variant) ? `${pairRatio(c, v.variant, PAIRS.get(v.variant)!).toFixed(2)}x ${PAIRS.get(v.variant)}` : "",
      ]);
      heap.push([
        label, v.variant, fmtNum(v.heap.frames), fmtBytes(v.heap.heapUsed), fmtBytes(v.heap.external),
        fmtBytes(v.heap.arrayBuffers), v.heap.wasmMemory === 0 ? "+0" : `+${fmtBytes(v.heap.wasmMemory)}`,
      ]);
    });
  }
  return [
    "Throughput (medians of wall-clock time; MB = 10^6 payload bytes; one frame = FLV tag + RTMP message;",
    "cpu ns = median process CPU time per frame, all threads; vs ts / vs pair = throughput ratio, median of",
    "the per-round ratios; pair = the baseline variant doing the same work)",
    table(speed, 2),
    "",
    `Heap growth after a full GC, per ${fmtNum(HEAP_UNIT)} frames, smaller of two back-to-back measurements (noise floor, no work: heapUsed ${fmtBytes(noise.heapUsed)}, external ${fmtBytes(noise.external)})`,
    table(heap, 2),
  ].join("\n");
}

/** Each wasm variant and the baseline variant that does the same work. */
const PAIRS: ReadonlyMap<VariantName, VariantName> = new Map<VariantName, VariantName>([
  ["wasm", "ts"],
  ["wasm-1in-unsafe", "ts-unsafe"],
  ["wasm-noout", "ts-reuse"],
]);

/** Throughput of `times` over that of `baseTimes`: median of the per-round ratios. */
function pairedRatio(baseTimes: readonly number[], times: readonly number[]): number {
  return median(times.map((t, k) => baseTimes[k]! / t));
}

/** Throughput of variant `a` over variant `b` in one case (paired by round). */
function pairRatio(c: CaseResult, a: VariantName, b: VariantName): number {
  const of = (name: VariantName): readonly number[] => c.variants.find((v) => v.variant === name)!.wallMs;
  return pairedRatio(of(b), of(a));
}

function summaryLine(results: readonly CaseResult[]): { line: string; met: boolean } {
  const pairs = (a: VariantName, b: VariantName): string => results.map((c) => pairRatio(c, a, b).toFixed(2)).join("/");
  const ratios = results.map((c) => `${c.label} ${pairRatio(c, "wasm", "ts").toFixed(2)}x`);
  const wasmHeap = results.map((c) => c.variants.find((v) => v.variant === "wasm")!.heap);
  const worst = Math.max(...wasmHeap.map((h) => h.heapUsed + h.external));
  const wasmGrew = wasmHeap.some((h) => h.wasmMemory !== 0);
  const faster = results.every((c) => c.variants.find((v) => v.variant === "wasm")!.vsTs >= 1);
  const flat = worst < FLAT_HEAP_BYTES && !wasmGrew;
  const met = faster && flat;
  return {
    met,
    line:
      `bench:core wasm/ts throughput: ${ratios.join(", ")} ` +
      `(wasm-1in-unsafe/ts-unsafe ${pairs("wasm-1in-unsafe", "ts-unsafe")}, wasm-noout/ts-reuse ${pairs("wasm-noout", "ts-reuse")}); ` +
      `wasm heap growth <= ${fmtBytes(worst)} per 100k frames, wasm memory ${wasmGrew ? "GREW" : "+0"}; ` +
      `target (wasm >= ts on every case, flat heap): ${met ? "met" : `NOT met (${[faster ? "" : "slower", flat ? "" : "heap grows"].filter(Boolean).join(", ")})`}`,
  };
}

// ---------------------------------------------------------------------------
// Main

function respawnWithGc(): number {
  if (process.env.GOLIVE_BENCH_CHILD === "1") throw new Error("--expose-gc did not take effect in the re-spawned bench");
  const script = process.argv[1];
  if (script === undefined) throw new Error("cannot find the bench script to re-spawn");
  const child = spawnSync(process.execPath, [...process.execArgv, "--expose-gc", script, ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, GOLIVE_BENCH_CHILD: "1" },
  });
  if (child.error) throw child.error;
  return child.status ?? 1;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write("usage: npm run bench:core [-- --quick] [-- --json out.json]\n");
    return 0;
  }
  // Heap growth needs a forced GC: re-run this script with --expose-gc.
  if (typeof globalThis.gc !== "function") return respawnWithGc();

  const opt: Options = values.quick ? { runs: 3, scale: 0.3 } : { runs: 9, scale: 1 };
  const cpu = os.cpus()[0]?.model.trim() ?? "unknown";
  const machine = {
    cpu,
    cpus: os.availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
  const log = (s: string): void => void process.stdout.write(s);
  log(`bench:core  ${cpu}, ${machine.cpus} CPUs, node ${machine.node}, load ${machine.loadavg.join(" ")}\n`);
  if (machine.loadavg[0]! > machine.cpus / 2) {
    log(`warning: load average ${machine.loadavg[0]} on ${machine.cpus} CPUs: other processes are running, figures will be noisy\n`);
  }
  log(`${opt.runs} rounds (each variant once per round, order rotated; medians reported), chunk size ${CHUNK_SIZE}${values.quick ? ", --quick" : ""}\n`);

  const t0 = performance.now();
  const core = await loadCoreNode();
  checkMixed(core);
  log("equivalence: baseline = shipped writers on a mixed stream; every variant = baseline on every case\n");

  const results: CaseResult[] = [];
  for (const c of CASES) {
    log(`${c.label} `);
    results.push(await benchCase(core, c, opt, log));
  }
  const noise = measureHeap(core, null, HEAP_UNIT);
  log(`\n\n${report(results, noise)}\n\n`);
  const { line, met } = summaryLine(results);
  log(`${line}\n`);
  log("\nAAC ");
  const aac = await benchAacSpeed(values.quick ? 3 : 7, values.quick ? 5 : 20, log);
  log(`\n\n${aacSpeedReport(aac)}\n`);
  const seconds = (performance.now() - t0) / 1000;
  log(`(${seconds.toFixed(1)} s)\n`);

  if (values.json !== undefined) {
    const doc = {
      bench: "core",
      command: `npm run bench:core${values.quick ? " -- --quick" : ""}`,
      date: new Date().toISOString(),
      machine,
      config: { runs: opt.runs, chunkSize: CHUNK_SIZE, streamId: STREAM_ID, pool: POOL, heapUnit: HEAP_UNIT },
      cases: results,
      aacSpeed: aac,
      heapNoise: noise,
      summary: line,
      targetMet: met,
      seconds,
    };
    writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
    log(`wrote ${values.json}\n`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof MismatchError) process.stderr.write(`bench:core FAILED: ${err.message}\n`);
    else process.stderr.write(`bench:core FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
