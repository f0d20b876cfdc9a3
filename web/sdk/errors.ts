/**
 * Errors the SDK reports: a stable `code` for programs and a message a
 * person can act on ("camera permission denied", "the server rejected the
 * stream key").
 */
export class BroadcastError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BroadcastError";
    this.code = code;
  }
}

/** Maps getUserMedia/getDisplayMedia failures to readable errors. */
export function captureError(err: unknown, what: "camera" | "microphone" | "camera or microphone" | "screen"): BroadcastError {
  const name = err instanceof DOMException ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return new BroadcastError("PERMISSION_DENIED", `${what} permission denied: allow it in the browser's address bar and try again`, { cause: err });
    case "NotFoundError":
    case "OverconstrainedError":
      return new BroadcastError("DEVICE_NOT_FOUND", `no ${what} matching the chosen settings was found`, { cause: err });
    case "NotReadableError":
    case "AbortError":
      return new BroadcastError("DEVICE_BUSY", `the ${what} is in use by another application or could not be started`, { cause: err });
    default:
      return new BroadcastError("CAPTURE_FAILED", `could not start the ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
