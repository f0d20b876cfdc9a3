/**
 * A bounds-checked, MSB-first bit reader for H.264 RBSPs and MPEG-4 audio
 * configs, with the descriptors of ITU-T H.264 §7.2: u(n), ue(v), se(v)
 * (Exp-Golomb, §9.1) and more_rbsp_data(); plus unescapeRbsp, which turns a
 * NAL unit's payload into its RBSP (§7.4.1: emulation_prevention_three_byte).
 *
 * Running out of bits never throws a RangeError and never yields undefined:
 * it throws a MediaError with the code the caller gave (BAD_SPS for an SPS,
 * BAD_AAC_CONFIG for an AudioSpecificConfig), naming the structure and the
 * field being read.
 */
import { MediaError, type MediaErrorCodeValue } from "./errors.js";

/** Exp-Golomb codes longer than this many leading zero bits are refused (values would pass 2^32 - 2). */
export const MAX_EXP_GOLOMB_LEADING_ZEROS = 31;

/** Reads bits from a byte array, most significant bit first. */
export class BitReader {
  readonly #bytes: Uint8Array;
  readonly #code: MediaErrorCodeValue;
  readonly #what: string;
  readonly #totalBits: number;
  #pos = 0;

  /**
   * @param bytes the data (an RBSP for H.264: see unescapeRbsp).
   * @param code the MediaError code thrown when the data ends early or a code is malformed.
   * @param what the structure's name in messages, e.g. "SPS" or "AudioSpecificConfig".
   */
  constructor(bytes: Uint8Array, code: MediaErrorCodeValue, what: string) {
    this.#bytes = bytes;
    this.#code = code;
    this.#what = what;
    this.#totalBits = bytes.byteLength * 8;
  }

  /** Position of the next bit, counted from the first bit of the data. */
  get position(): number {
    return this.#pos;
  }

  /** Bits not yet read. */
  get bitsLeft(): number {
    return this.#totalBits - this.#pos;
  }

  /** True when the next bit starts a byte. */
  get byteAligned(): boolean {
    return (this.#pos & 7) === 0;
  }

  /** A MediaError with this reader's code, prefixed with the structure's name. */
  error(message: string): MediaError {
    return new MediaError(this.#code, `${this.#what}: ${message}`);
  }

  #need(n: number, field: string): void {
    if (n > this.bitsLeft) {
      throw this.error(
        `truncated: reading ${field} needs ${n} bit${n === 1 ? "" : "s"} at bit ${this.#pos}, ` +
          `but the ${this.#bytes.byteLength}-byte data has ${this.bitsLeft} left`,
      );
    }
  }

  /** u(n): an n-bit unsigned integer, 0 <= n <= 32. */
  u(n: number, field = "a field"): number {
    if (!Number.isInteger(n) || n < 0 || n > 32) throw new TypeError(`BitReader.u: n must be an integer in 0..32, got ${n}`);
    this.#need(n, field);
    let value = 0;
    let pos = this.#pos;
    let left = n;
    while (left > 0) {
      const byte = this.#bytes[pos >>> 3]!;
      const bitInByte = pos & 7;
      const take = Math.min(8 - bitInByte, left);
      const chunk = (byte >>> (8 - bitInByte - take)) & ((1 << take) - 1);
      // Multiplication, not <<: a 32-bit value must stay unsigned.
      value = value * (1 << take) + chunk;
      pos += take;
      left -= take;
    }
    this.#pos = pos;
    return value;
  }

  /** The next n bits as u(n) would read them, without consuming them. */
  peek(n: number, field = "a field"): number {
    const pos = this.#pos;
    const value = this.u(n, field);
    this.#pos = pos;
    return value;
  }

  /** u(1) as a boolean. */
  flag(field = "a flag"): boolean {
    return this.u(1, field) === 1;
  }

  /** Skips n bits (bounds-checked like a read). */
  skip(n: number, field = "skipped bits"): void {
    if (!Number.isInteger(n) || n < 0) throw new TypeError(`BitReader.skip: n must be a non-negative integer, got ${n}`);
    this.#need(n, field);
    this.#pos += n;
  }

  /** ue(v): an unsigned Exp-Golomb code (H.264 §9.1), 0 .. 2^32 - 2. */
  ue(field = "a ue(v) field"): number {
    let leadingZeros = 0;
    while (this.u(1, field) === 0) {
      leadingZeros++;
      if (leadingZeros > MAX_EXP_GOLOMB_LEADING_ZEROS) {
        throw this.error(`${field} is an Exp-Golomb code with more than ${MAX_EXP_GOLOMB_LEADING_ZEROS} leading zero bits (at bit ${this.#pos - leadingZeros})`);
      }
    }
    return 2 ** leadingZeros - 1 + this.u(leadingZeros, field);
  }

  /** se(v): a signed Exp-Golomb code (H.264 §9.1.1): 0, 1, -1, 2, -2, ... */
  se(field = "an se(v) field"): number {
    const k = this.ue(field);
    // k = 0 gives 0, not -0.
    return k % 2 === 1 ? (k + 1) / 2 : k === 0 ? 0 : -(k / 2);
  }

  /**
   * more_rbsp_data() (H.264 §7.2): true if there is data before the
   * rbsp_stop_one_bit, i.e. the last 1 bit of the RBSP is after the current
   * position. Trailing zero bytes (cabac_zero_words) are skipped over.
   */
  moreRbspData(): boolean {
    let last = this.#bytes.byteLength - 1;
    while (last >= 0 && this.#bytes[last] === 0) last--;
    if (last < 0) return false;
    const byte = this.#bytes[last]!;
    // Bit index (from the start) of the last 1 bit: the stop bit.
    let trailingZeros = 0;
    while (((byte >>> trailingZeros) & 1) === 0) trailingZeros++;
    const stopBit = last * 8 + (7 - trailingZeros);
    return this.#pos < stopBit;
  }
}

/**
 * Removes emulation_prevention_three_bytes (H.264 §7.3.1, §7.4.1): every 0x03
 * that follows two zero bytes inside a NAL unit. Returns `nal` itself when
 * there is none, else a new array.
 */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let first = -1;
  for (let i = 2; i < nal.byteLength; i++) {
    if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) {
      first = i;
      break;
    }
  }
  if (first < 0) return nal;
  const out = new Uint8Array(nal.byteLength - 1);
  out.set(nal.subarray(0, first));
  let n = first;
  let zeros = 0;
  for (let i = first + 1; i < nal.byteLength; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}
