/**
 * Byte helpers of the pure-TypeScript baseline: big-endian writes into a
 * Uint8Array, and the ways of getting output arrays the bench compares.
 * Writing by index is what a careful Node developer does for a handful of
 * header bytes: it is faster than creating a DataView per message, and RTMP
 * and FLV need 24-bit fields a DataView does not have anyway.
 */

/** Writes `v` as a big-endian 24-bit unsigned integer at `p`. */
export function put24be(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 16;
  out[p + 1] = v >>> 8;
  out[p + 2] = v;
}

/** Writes `v` as a big-endian 32-bit unsigned integer at `p`. */
export function put32be(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
}

/** Writes `v` as a little-endian 32-bit unsigned integer at `p`. */
export function put32le(out: Uint8Array, p: number, v: number): void {
  out[p] = v;
  out[p + 1] = v >>> 8;
  out[p + 2] = v >>> 16;
  out[p + 3] = v >>> 24;
}

/**
 * Supplies the output array of one tag or message: exactly `n` bytes, which
 * the writer overwrites entirely (so the bytes need not be zeroed).
 */
export type Allocator = (n: number) => Uint8Array;

/** A new zero-filled Uint8Array per output: portable (Node and browsers). */
export const allocFresh: Allocator = (n) => new Uint8Array(n);

/**
 * Node's `Buffer.allocUnsafe`: uninitialized memory, carved from a shared
 * 8 KiB pool for outputs under 4 KiB. Node only.
 */
export const allocNodeUnsafe: Allocator = (n) => Buffer.allocUnsafe(n);

/**
 * One growable scratch array, reused: each output is valid only until the
 * writer's next call (for a caller that writes it out synchronously).
 */
export function reusableAllocator(initialCapacity = 4096): Allocator {
  let scratch = new Uint8Array(initialCapacity);
  return (n) => {
    if (n > scratch.byteLength) scratch = new Uint8Array(Math.max(n, scratch.byteLength * 2));
    return scratch.subarray(0, n);
  };
}
