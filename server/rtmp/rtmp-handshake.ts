/**
 * RTMP handshake, client side (RTMP 1.0 §5.2), without I/O.
 *
 *   client -> C0 (1 byte: version 3) + C1 (1536: time, 4 zero bytes, random)
 *   server -> S0 (version) + S1 (1536) + S2 (1536: echo of C1)
 *   client -> C2 (echo of S1, with our read time)
 *
 * The "simple" handshake (C1 bytes 4..7 zero), which nginx-rtmp, SRS,
 * ffmpeg -listen, Node-Media-Server and the big ingest services accept. S0
 * must say version 3 (6 would be RTMPE, which we do not speak). An S2 that
 * does not echo C1 is only a warning, as in librtmp: some servers put their
 * own bytes there.
 */
import { RtmpError, RtmpErrorCode } from "./rtmp-errors.js";

export const HANDSHAKE_SIZE = 1536;
const RTMP_VERSION = 3;

/** Handshake progress. */
export type HandshakeState =
  /** C0+C1 not yet produced. */
  | "uninitialized"
  /** C0+C1 sent; waiting for S0+S1. */
  | "versionSent"
  /** C2 sent; waiting for S2. */
  | "ackSent"
  /** S2 received: the chunk stream starts. */
  | "done";

/** What one `receive` call produced. */
export interface HandshakeStep {
  /** Bytes to send now (C2), if any. */
  send?: Uint8Array;
  /** True once the handshake is complete. */
  done: boolean;
  /** Bytes after S2: the start of the chunk stream. */
  rest?: Uint8Array;
  /** Non-fatal oddities (e.g. S2 does not echo C1). */
  warnings: string[];
}

export class RtmpHandshake {
  #state: HandshakeState = "uninitialized";
  #c1 = new Uint8Array(HANDSHAKE_SIZE);
  #buf = new Uint8Array(1 + 2 * HANDSHAKE_SIZE);
  #have = 0;
  readonly #now: () => number;
  readonly #random: (bytes: Uint8Array) => void;

  /**
   * `now` gives the epoch for C1's time field (ms); `random` fills C1's
   * random part (crypto.getRandomValues by default). Both are injectable
   * so tests get golden bytes.
   */
  constructor(options: { now?: () => number; random?: (bytes: Uint8Array) => void } = {}) {
    const start = Date.now();
    this.#now = options.now ?? (() => Date.now() - start);
    this.#random = options.random ?? ((b) => {
      // getRandomValues takes at most 65536 bytes; C1's random part is 1528.
      crypto.getRandomValues(b);
    });
  }

  get state(): HandshakeState {
    return this.#state;
  }

  /** C0 + C1. */
  start(): Uint8Array {
    if (this.#state !== "uninitialized") throw new TypeError("handshake already started");
    const out = new Uint8Array(1 + HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION; // C0: version
    const c1 = this.#c1;
    new DataView(c1.buffer).setUint32(0, this.#now() >>> 0); // C1 time
    // bytes 4..7 stay zero: the simple handshake
    this.#random(c1.subarray(8));
    out.set(c1, 1);
    this.#state = "versionSent";
    return out;
  }

  /** Feeds server bytes. Throws RtmpError(RTMP_BAD_VERSION) on a wrong S0. */
  receive(bytes: Uint8Array): HandshakeStep {
    const step: HandshakeStep = { done: false, warnings: [] };
    if (this.#state === "uninitialized") throw new TypeError("receive() before start()");
    if (this.#state === "done") return { done: true, rest: bytes, warnings: [] };
    const total = this.#buf.byteLength;
    const take = Math.min(bytes.byteLength, total - this.#have);
    this.#buf.set(bytes.subarray(0, take), this.#have);
    const before = this.#have;
    this.#have += take;
    if (before === 0 && this.#have > 0 && this.#buf[0] !== RTMP_VERSION) {
      throw new RtmpError(
        RtmpErrorCode.BadVersion,
        `the server answered with RTMP version ${this.#buf[0]}, expected 3: is this an RTMP server?`,
      );
    }
    if (this.#state === "versionSent" && this.#have >= 1 + HANDSHAKE_SIZE) {
      // C2 echoes S1: its time, then our time, then its random bytes.
      const s1 = this.#buf.subarray(1, 1 + HANDSHAKE_SIZE);
      const c2 = new Uint8Array(s1);
      new DataView(c2.buffer).setUint32(4, this.#now() >>> 0);
      step.send = c2;
      this.#state = "ackSent";
    }
    if (this.#state === "ackSent" && this.#have === total) {
      const s2 = this.#buf.subarray(1 + HANDSHAKE_SIZE);
      if (!equal(s2.subarray(8), this.#c1.subarray(8))) {
        step.warnings.push("the server's S2 does not echo C1 (tolerated, as librtmp does)");
      }
      this.#state = "done";
      step.done = true;
      if (take < bytes.byteLength) step.rest = bytes.subarray(take);
    }
    return step;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
