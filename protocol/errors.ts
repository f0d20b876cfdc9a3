/**
 * The one error family of golive. Every failure a person or a program may
 * see carries a stable `code` (for logs, metrics and the wire protocol) and a
 * readable `message` (for people). `TypeError` is kept for API misuse.
 */
export class GoliveError extends Error {
  /** Stable, upper-snake-case identifier, e.g. `RTMP_BAD_CHUNK_SIZE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Throws if `condition` is false: for invariants, never for input validation. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(`golive internal error: ${message}`);
}

/** Marks a switch as exhaustive at compile time. */
export function assertNever(value: never): never {
  throw new Error(`golive internal error: unexpected value ${String(value)}`);
}
