/**
 * The media frames of a ReplayMedia as wire protocol v1 binary messages
 * (16-byte header + payload, protocol/wire.ts), built once per loop pass and
 * shared by every session replaying the file: N sessions cost one copy of
 * the file per pass in flight, not N. The `ws` client copies while masking
 * (or sends the buffer as is with a zero mask), so sharing is safe.
 *
 * Pass k carries the timestamps of pass 0 plus k * media.durationUs, so
 * time keeps going forward across loops.
 */
import { MEDIA_HEADER_SIZE, writeMediaHeader } from "../../protocol/wire.js";
import type { ReplayMedia } from "./media.js";

/** Wire track numbers: one video and one audio track per session. */
export const WIRE_TRACK = { video: 0, audio: 1 } as const;

interface Pass {
  readonly messages: Buffer[];
  refs: number;
}

/** The shared wire messages of one ReplayMedia; see the module comment. */
export class WireFeed {
  readonly media: ReplayMedia;
  /** Header offset of each frame in a pass's block. */
  readonly #offsets: number[] = [];
  readonly #blockBytes: number;
  readonly #passes = new Map<number, Pass>();
  readonly #first: Buffer;

  constructor(media: ReplayMedia) {
    this.media = media;
    let at = 0;
    for (const f of media.frames) {
      this.#offsets.push(at);
      at += MEDIA_HEADER_SIZE + f.data.byteLength;
    }
    this.#blockBytes = at;
    const block = Buffer.allocUnsafe(at);
    media.frames.forEach((f, i) => {
      const o = this.#offsets[i]!;
      block.set(f.data, o + MEDIA_HEADER_SIZE);
    });
    this.#first = block;
    this.#writeHeaders(block, 0);
    // Pass 0 is kept for the feed's lifetime: every session starts with it.
    this.#passes.set(0, { messages: this.#slice(block), refs: 1 });
  }

  /** Number of frames per pass. */
  get length(): number {
    return this.media.frames.length;
  }

  /** Bytes of one pass on the wire (headers included). */
  get passBytes(): number {
    return this.#blockBytes;
  }

  /** Passes currently built (for tests and stats). */
  get builtPasses(): number {
    return this.#passes.size;
  }

  /** Takes a reference on pass `pass`, building it if needed; returns its messages (frame order). */
  acquire(pass: number): readonly Buffer[] {
    if (!Number.isSafeInteger(pass) || pass < 0) throw new TypeError(`pass must be a non-negative integer, got ${pass}`);
    let p = this.#passes.get(pass);
    if (!p) {
      const block = Buffer.from(this.#first); // one copy, then only the timestamps change
      this.#writeHeaders(block, pass);
      p = { messages: this.#slice(block), refs: 0 };
      this.#passes.set(pass, p);
    }
    p.refs++;
    return p.messages;
  }

  /** Drops a reference taken by acquire; a pass nobody uses is freed (pass 0 never is). */
  release(pass: number): void {
    const p = this.#passes.get(pass);
    if (!p || p.refs === 0) throw new TypeError(`release(${pass}) without acquire`);
    if (--p.refs === 0 && pass !== 0) this.#passes.delete(pass);
  }

  #writeHeaders(block: Buffer, pass: number): void {
    const shift = pass * this.media.durationUs;
    this.media.frames.forEach((f, i) => {
      writeMediaHeader(block.subarray(this.#offsets[i]), {
        track: WIRE_TRACK[f.track],
        keyframe: f.keyframe,
        timestampUs: f.dtsUs + shift,
        compositionUs: f.ctsUs,
      });
    });
  }

  #slice(block: Buffer): Buffer[] {
    return this.media.frames.map((f, i) => {
      const o = this.#offsets[i]!;
      return block.subarray(o, o + MEDIA_HEADER_SIZE + f.data.byteLength);
    });
  }
}
