/**
 * Structured JSON logs (pino). Stream keys never reach a log line: URLs are
 * logged redacted by the code that has them, and as a second line of
 * defence pino censors any field named key, streamKey, token or resume.
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** The bridge's logger; `level` from --log-level or LOG_LEVEL (default info). */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: "golive",
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: ["key", "streamKey", "token", "resume", "resumeToken", "*.key", "*.streamKey", "*.token"], censor: "****" },
      base: { pid: process.pid },
    },
    options.destination ?? process.stdout,
  );
}
